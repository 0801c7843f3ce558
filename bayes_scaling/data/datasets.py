"""Real runs tables from public scaling-law studies, and a small packaged demo table.

================ ========================================================== ===== =============
loader           one row is                                                 rows  licence
================ ========================================================== ===== =============
``chinchilla``   a run of Hoffmann et al. (2022), Figure 4, digitized from  245   none stated
                 the SVG by Epoch AI (Besiroglu et al. 2024). D = C / (6N);
                 ``drop_highest=5`` gives Epoch's 240-run fit set.
``datablations`` a run of Muennighoff et al. (2023), "Scaling Data-         296   Apache-2.0
                 Constrained Language Models": N, D, unique tokens U,       (182)
                 epochs D / U, final C4 validation loss. ``subset="fit182"``
                 is the authors' cleaned set; ``"all"`` keeps every seed.
``gemstones``    a (model, token budget) point of Gemstones (McLeish et     199   MIT
                 al. 2025), 20 models of 48M-2B active parameters, with     (770)
                 their ``width`` and ``depth``. ``"cool_end"``: loss at the
                 end of a cooldown; ``"hot_100b+"``: constant-LR checkpoints.
================ ========================================================== ===== =============

The tables are not shipped with the package. Each loader finds its file in this order:

1. ``path=``: the file itself, or a folder laid out like ``<folder>/chinchilla-epoch/
   svg_extracted_data.csv``, ``<folder>/datablations/datablations_c4_fit182.csv``, ...;
2. the folder named by the environment variable ``BAYES_SCALING_DATA``, same layout;
3. a download from the public repository at a pinned commit into a cache folder
   (``BAYES_SCALING_DATA`` if set, else ``~/.cache/bayes_scaling``), checked against a pinned
   SHA-256 before it is saved. Files given by 1. and 2. are used as they are, unchecked.
"""

from __future__ import annotations

import hashlib
import http.client
import numbers
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path

import pandas as pd

from bayes_scaling._disk import write_atomic
from bayes_scaling.data.columns import ALIASES, normalise
from bayes_scaling.data.datablations import parse_datablations
from bayes_scaling.data.runs import load_runs, read_table
from bayes_scaling.errors import BayesScalingError, RunsError

ENV_VAR = "BAYES_SCALING_DATA"
TIMEOUT = 30.0


class DatasetError(BayesScalingError, OSError):
    """A reference table that cannot be found, downloaded, verified or parsed."""


@dataclass(frozen=True)
class Source:
    folder: str  # sub-folder of a data folder
    name: str  # file name in that sub-folder
    repo: str
    commit: str
    path: str  # path of the file in the repository
    sha256: str  # of the file as saved (for datablations: of the table parsed from the notebook)

    @property
    def url(self) -> str:
        path = urllib.parse.quote(self.path, safe="/+")
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{path}"


_CHINCHILLA = Source(
    "chinchilla-epoch",
    "svg_extracted_data.csv",
    "epoch-research/analyzing-chinchilla",
    "92258837425e1b5f2851d624287f0120583a3d0e",
    "data/svg_extracted_data.csv",
    "193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30",
)
_GEMSTONES_REPO = ("mcleish7/gemstone-scaling-laws", "5f420478f6057b0cbb4d13405fb10ca64675bccb")
_GEMSTONES = {
    variant: Source(
        "gemstones",
        f"wandb_df_for_fitting_{variant}.jsonl",
        *_GEMSTONES_REPO,
        f"wandb_dfs/wandb_df_for_fitting_{variant}.jsonl",
        sha,
    )
    for variant, sha in {
        "cool_end": "bdf01b6b21bafc414218124a6f9e195cee07f3d69ceacbfae2fcf069d34f4e61",
        "hot_100b+": "1da97ce3d1394e0223826c8f5ca081cb0fb289ec65d2707fb5430721e92e9659",
    }.items()
}
# The datablations tables are not files of their repository: they are parsed from the dicts in
# a notebook. The notebook's own bytes are not pinned (no verified copy of them was available);
# the SHA-256 pins the CSV bytes of each parsed table instead, so a changed notebook or parser
# cannot go unnoticed.
_NOTEBOOK = (
    "huggingface/datablations",
    "13701315b163f1c54642b94ad237b2699187c3ee",
    "utils/parametric_fit.ipynb",
)
_DATABLATIONS = {
    "all": Source(
        "datablations",
        "datablations_c4_runs.csv",
        *_NOTEBOOK,
        "c40272a08d439e0ea6b05d9c1778d18c477712d6479e3799f45a25883040b5f1",
    ),
    "fit182": Source(
        "datablations",
        "datablations_c4_fit182.csv",
        *_NOTEBOOK,
        "63ea11675323a594723f7d6163e9de3bfe7eec0a1a9e1d69c3b5c785c393eac1",
    ),
}


def _hint(source: Source) -> str:
    return (
        f"pass path= (the file, or a folder holding {source.folder}/{source.name}), or set "
        f"{ENV_VAR} to a folder holding {source.folder}/{source.name}"
    )


def _fetch(url: str, timeout: float = TIMEOUT) -> bytes:
    """Download ``url`` and return its bytes; a :class:`DatasetError` names the URL on failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
        reason = getattr(exc, "reason", None) or exc
        raise DatasetError(f"could not download {url}: {reason}") from exc


def _save(target: Path, data: bytes, source: Source) -> None:
    """Write ``data`` to ``target`` if its SHA-256 is the pinned one, atomically."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.sha256:
        raise DatasetError(
            f"SHA-256 mismatch for {source.folder}/{source.name} from {source.url}: expected "
            f"{source.sha256}, got {digest}; nothing was saved. The download may be corrupt, or "
            f"the source changed: {_hint(source)}"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
    except OSError as exc:
        raise DatasetError(
            f"cannot save {target}: {exc}; set {ENV_VAR} to a writable folder, or {_hint(source)}"
        ) from exc


def download_file(source: Source, target: Path) -> None:
    try:
        data = _fetch(source.url)
    except DatasetError as exc:
        raise DatasetError(
            f"{exc}. No copy at {str(target)!r} either. Without the network, {_hint(source)}"
        ) from exc
    _save(target, data, source)


def locate(
    source: Source, path: str | PathLike | None, download: Callable[[Source, Path], None]
) -> Path:
    """Resolve the file of ``source``: ``path``, then ``$BAYES_SCALING_DATA``, then the cache."""
    if path is not None:
        given = Path(path).expanduser()
        candidates = (
            [given / source.folder / source.name, given / source.name]
            if given.is_dir()
            else [given]
        )
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise DatasetError(
            f"no {source.folder}/{source.name} at {str(given)!r}; pass the file "
            "itself, or a folder laid out like <folder>/"
            f"{source.folder}/{source.name}"
        )
    env = os.environ.get(ENV_VAR)
    cache = Path(env).expanduser() if env else Path.home() / ".cache" / "bayes_scaling"
    target = cache / source.folder / source.name
    if not target.is_file():
        download(source, target)
    return target


def _same_choice(file: Path, sources: dict, chosen: str, argument: str) -> None:
    """A file given as ``path`` that is another choice's file is a mistake, not a choice: it
    would be read as ``chosen`` silently."""
    other = next((k for k, s in sources.items() if k != chosen and s.name == file.name), None)
    if other is not None:
        raise DatasetError(
            f"{str(file)!r} holds the {argument} {other!r}, not {chosen!r}; pass "
            f"{argument}={other!r}, or the folder holding both files"
        )


def _read(file: Path, source: Source) -> pd.DataFrame:
    """The raw table of a reference file; a file that cannot be parsed is a DatasetError."""
    try:
        return read_table(file)
    except RunsError as exc:
        raise DatasetError(
            f"{exc}; the file {str(file)!r} may be truncated or corrupt: delete it to download it "
            f"again, or {_hint(source)}"
        ) from exc


def _download_datablations(source: Source, target: Path) -> None:
    try:
        notebook = _fetch(source.url)
    except DatasetError as exc:
        raise DatasetError(f"{exc}. Without the network, {_hint(source)}") from exc
    for subset, other in _DATABLATIONS.items():  # one download gives both tables
        try:
            table = parse_datablations(notebook, subset)
        except (ValueError, KeyError, SyntaxError, TypeError, AttributeError) as exc:
            raise DatasetError(
                f"cannot parse the datablations table {subset!r} from "
                f"{source.url}: {exc}; {_hint(other)}"
            ) from exc
        # CRLF line ends, as in the CSVs the hashes were pinned on.
        data = table.to_csv(index=False, lineterminator="\r\n").encode()
        _save(target.parent / other.name, data, other)


# --- public loaders --------------------------------------------------------------------------


def demo() -> pd.DataFrame:
    """The small demo runs table packaged with bayes_scaling.

    Returns
    -------
    DataFrame
        A canonical runs table (see :func:`bayes_scaling.data.runs.load_runs`).

    Examples
    --------
    >>> runs = demo()
    >>> {"n_params", "n_tokens", "compute", "loss"} <= set(runs.columns)
    True
    """
    resource = resources.files("bayes_scaling") / "data" / "demo_runs.csv"
    if not resource.is_file():
        raise DatasetError(
            "the packaged demo table bayes_scaling/data/demo_runs.csv is missing; "
            "reinstall bayes_scaling"
        )
    with resources.as_file(resource) as file:
        return load_runs(file)


def chinchilla(path: str | PathLike | None = None, *, drop_highest: int = 0) -> pd.DataFrame:
    """Chinchilla's Figure 4 runs (Hoffmann et al. 2022), as reconstructed by Epoch AI.

    Parameters
    ----------
    path : path, optional
        ``svg_extracted_data.csv``, or a folder holding ``chinchilla-epoch/svg_extracted_data.csv``.
        By default ``$BAYES_SCALING_DATA``, then a verified download (see the module docstring).
    drop_highest : int
        Drop this many highest-loss runs first. Epoch AI's replication drops 5 (240 runs remain).

    Returns
    -------
    DataFrame
        245 runs (less ``drop_highest``): N from ``Model Size``, C from ``Training FLOP``, and
        D derived as C / (6 N). ``run_id`` is ``run<i>``, i the run's row in the file (0-based),
        with or without ``drop_highest``.

    Examples
    --------
    >>> runs = chinchilla(drop_highest=5)  # doctest: +SKIP
    >>> len(runs)  # doctest: +SKIP
    240
    """
    file = locate(_CHINCHILLA, path, download_file)
    raw = _read(file, _CHINCHILLA)
    if (
        isinstance(drop_highest, bool)
        or not isinstance(drop_highest, numbers.Integral)
        or not (0 <= drop_highest < len(raw))
    ):
        raise DatasetError(
            f"drop_highest must be an integer from 0 to {len(raw) - 1}, got {drop_highest!r}"
        )
    if not any(normalise(c) in ALIASES["run_id"] for c in raw.columns):
        # named by the file's row, so a run keeps its name when others are dropped below
        raw.insert(0, "run_id", [f"run{i}" for i in range(len(raw))])
    if drop_highest and "loss" in raw.columns:
        loss = pd.to_numeric(raw["loss"], errors="coerce")
        raw = raw.drop(index=loss.nlargest(drop_highest).index)
    return load_runs(raw, n_params="Model Size", compute="Training FLOP", loss="loss")


def datablations(path: str | PathLike | None = None, *, subset: str = "fit182") -> pd.DataFrame:
    """C4 runs of "Scaling Data-Constrained Language Models" (Muennighoff et al. 2023).

    The table is parsed from the dicts in ``utils/parametric_fit.ipynb`` of huggingface/datablations
    (pinned commit), with the notebook's own parsing rules; runs with a loss of 0 (unfinished) and
    runs on deduplicated data are left out. A download checks the SHA-256 of the *parsed* table
    (its CSV bytes), not of the notebook, and saves both tables to the cache.

    Parameters
    ----------
    path : path, optional
        ``datablations_c4_fit182.csv`` / ``datablations_c4_runs.csv``, or a folder holding
        ``datablations/<that file>``. By default ``$BAYES_SCALING_DATA``, then a download.
    subset : {"fit182", "all"}
        ``"fit182"``: the 182 runs of the authors' published data-constrained fit (notebook cell
        25). ``"all"``: all 296 runs of cell 1, seeds included (they share N, D and U).

    Returns
    -------
    DataFrame
        Canonical runs table with ``unique_tokens`` and ``epochs``; loss is the final C4
        validation loss. Caveat from the source: run ``4b284b12bc4opt2`` has 3.09e9 parameters
        by the authors' comment, but their parser (and so this table) gives 4.2465e9.

    Examples
    --------
    >>> runs = datablations(subset="fit182")  # doctest: +SKIP
    >>> len(runs), "unique_tokens" in runs  # doctest: +SKIP
    (182, True)
    """
    if subset not in _DATABLATIONS:
        raise DatasetError(f"unknown subset {subset!r}; choose one of {sorted(_DATABLATIONS)}")
    file = locate(_DATABLATIONS[subset], path, _download_datablations)
    _same_choice(file, _DATABLATIONS, subset, "subset")
    return load_runs(
        _read(file, _DATABLATIONS[subset]),
        n_params="params",
        n_tokens="tokens",
        unique_tokens="unique_tokens",
        epochs="epochs",
        loss="val_loss_c4",
        run_id="run_name",
    )


def gemstones(path: str | PathLike | None = None, *, variant: str = "cool_end") -> pd.DataFrame:
    """Gemstones runs (McLeish et al. 2025): Gemma-style models (20, or 22 in the ``hot_100b+``
    variant), 48M-2B active parameters.

    Parameters
    ----------
    path : path, optional
        The ``.jsonl`` file, or a folder holding ``gemstones/wandb_df_for_fitting_<variant>.jsonl``.
        By default ``$BAYES_SCALING_DATA``, then a verified download.
    variant : {"cool_end", "hot_100b+"}
        ``"cool_end"`` (199 rows): validation loss at the end of a linear cooldown branched off
        every ~10B tokens. ``"hot_100b+"`` (770 rows): constant-learning-rate checkpoints up to
        ~350B tokens.

    Returns
    -------
    DataFrame
        Canonical runs table (N = ``params_active_precise``, D = ``tokens``, loss =
        ``final_loss``, C = 6 N D), plus the models' ``width`` and ``depth``. ``run_id`` names the
        model, so it repeats across a model's token budgets.

    Examples
    --------
    >>> runs = gemstones()  # doctest: +SKIP
    >>> len(runs), runs["run_id"].nunique()  # doctest: +SKIP
    (199, 20)
    """
    if variant not in _GEMSTONES:
        raise DatasetError(f"unknown variant {variant!r}; choose one of {sorted(_GEMSTONES)}")
    file = locate(_GEMSTONES[variant], path, download_file)
    _same_choice(file, _GEMSTONES, variant, "variant")
    raw = _read(file, _GEMSTONES[variant])
    runs = load_runs(
        raw,
        n_params="params_active_precise",
        n_tokens="tokens",
        loss="final_loss",
        run_id="run_name",
    )
    for column in ("width", "depth"):  # load_runs keeps the canonical columns only
        if column in raw.columns:
            runs[column] = raw[column].to_numpy()
    return runs
