"""The reference tables of pass@k counts, read from the shared data (never shipped): where they
are (:func:`locate`) and Pythia on GSM8K (:func:`gsm8k`), with N and D parsed from the models'
names. Best-of-N jailbreaking, an early-stopped sweep, is read by :mod:`.sweep`.
"""

from __future__ import annotations

import os
import re
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.passk.data import load_counts

GSM8K_PATH = Path("test-time-compute") / "gsm8k_pass_at_k.parquet"
_ENV_VAR = "BAYES_SCALING_DATA"

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMBT])$", re.IGNORECASE)
_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def parse_size(text: str) -> float:
    """``"1.4B"`` -> 1.4e9, ``"512M"`` -> 5.12e8; NaN when it is not a size."""
    m = _SIZE.match(str(text).strip())
    return float(m.group(1)) * _SCALE[m.group(2).lower()] if m else float("nan")


def sizes_from_names(models) -> pd.DataFrame:
    """N and D parsed from names like ``Pythia_1.4B_200B`` (``<family>_<N>_<D>``): a frame with
    ``model, n_params, n_tokens`` (NaN where a name does not follow the pattern)."""
    names = pd.Index(pd.unique(np.asarray(models, dtype=object)))
    parts = [str(m).split("_") for m in names]
    n = [parse_size(p[-2]) if len(p) >= 3 else np.nan for p in parts]
    d = [parse_size(p[-1]) if len(p) >= 3 else np.nan for p in parts]
    return pd.DataFrame({"model": names.astype(str), "n_params": n, "n_tokens": d})


def locate(path, relative: Path = GSM8K_PATH) -> Path:
    """The file: ``path`` (the file, or a data folder holding ``relative``), else
    ``$BAYES_SCALING_DATA/relative``, else ``../shared/data/relative`` beside the project."""
    if path is not None:
        p = Path(path)
        return p / relative if p.is_dir() else p
    env = os.environ.get(_ENV_VAR)
    if env:
        return Path(env) / relative
    return Path(__file__).resolve().parents[3] / "shared" / "data" / relative


def missing(file: Path, what: str, relative: Path) -> BayesScalingError:
    return BayesScalingError(
        f"cannot find the {what} table at {str(file)!r}; pass path= (the parquet file or a "
        f"data folder) or set {_ENV_VAR} to a folder holding {relative}"
    )


def gsm8k(path: str | PathLike | None = None) -> pd.DataFrame:
    """Pythia on GSM8K (Brown et al. 2024, as processed by Schaeffer et al. 2025): 81 models
    (9 sizes × 9 training checkpoints), ~128 problems each, per-problem counts.

    ``path``: the parquet file, or a data folder holding ``test-time-compute/gsm8k_pass_at_k.
    parquet``; default ``$BAYES_SCALING_DATA``, else ``../shared/data`` beside the project. The
    file is not shipped. N and D come from the model names (``Pythia_1.4B_200B``).
    """
    file = locate(path)
    if not file.exists():
        raise missing(file, "GSM8K counts", GSM8K_PATH)
    table = load_counts(pd.read_parquet(file))
    sizes = sizes_from_names(table["model"])
    table = table.merge(sizes, on="model", how="left", sort=False)
    table.attrs["source"] = "gsm8k"
    return table
