"""What every command shares: reading the column map, formatting tables, the exit status."""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling._disk import write_atomic
from bayes_scaling.cli.checks import save_fit
from bayes_scaling.cli.parser import EXIT_NOT_CONVERGED, EXIT_OK
from bayes_scaling.errors import ArgumentError, BayesScalingError, FitFileError
from bayes_scaling.results import GroupedFit, ScalingFit, load


def formatted(df: pd.DataFrame, fmt: str, meta: dict, gate_column: bool = False) -> str:
    """The table as CSV, JSON (``meta`` and the rows) or text (``meta``'s gate as a first line).

    ``gate_column``: a CSV carries the gate too, a ``converged`` column on every row (when the
    table has none), so that a saved stdout does not lose a fit's failure (JSON has it in
    ``meta``); commands whose columns are a contract leave theirs as they are."""
    if fmt == "csv":
        if gate_column and "converged" not in df.columns:
            df = df.assign(converged=bool(meta["converged"]))
        return df.to_csv(index=False)
    if fmt == "json":  # strict JSON: NaN and ±inf, in the rows or in meta, are null
        meta = _json_ready(meta)
        return json.dumps({**meta, "rows": json_rows(df)}, indent=1, allow_nan=False) + "\n"
    head = "converged" if meta["converged"] else f"NOT CONVERGED: {meta['reason']}"
    if df.empty:  # the columns and a word, not pandas' "Empty DataFrame" repr
        return f"# {head}\n{'  '.join(map(str, df.columns))}\n(no rows)\n"
    with pd.option_context("display.float_format", "{:.4g}".format):
        return f"# {head}\n{df.to_string(index=False)}\n"


def json_rows(df: pd.DataFrame) -> list[dict]:
    """The rows as JSON-ready dicts, numbers at full precision (Python's shortest round-trip
    form: pandas' ``to_json`` keeps 10 digits, which can print a cost sum above its budget);
    NaN and ±inf as null, as pandas writes them."""

    return [{str(k): _json_value(v) for k, v in row.items()} for row in df.to_dict("records")]


def _json_value(v):
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    return v.isoformat() if isinstance(v, pd.Timestamp) else v


def _json_ready(v):
    """``v`` with every value in its dicts and lists as :func:`json_rows` writes a cell."""
    if isinstance(v, dict):
        return {k: _json_ready(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_ready(x) for x in v]
    return _json_value(v)


def save_figure(fig, path, flag: str) -> None:
    """Write a figure atomically (as every save: the file there before is kept when this fails),
    its format from the suffix (PNG without one); a failure is an error naming ``flag`` and the
    path."""
    suffix = Path(path).suffix.lstrip(".").lower() or "png"
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=suffix, dpi=110, bbox_inches="tight")
    except ValueError:
        raise ArgumentError(
            flag, f"cannot write a figure as .{suffix}; use .png, .pdf or .svg"
        ) from None
    try:
        write_atomic(path, buffer.getbuffer())
    except OSError as exc:
        raise ArgumentError(flag, f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def write_fit(result, path) -> int:
    """Save a fitted result to ``path`` (kept elsewhere, and said, if that fails), print where it
    went, and return its exit status: what every fitting command ends with."""
    save_fit(result, path)
    print(f"wrote {path}: {result!r}")
    return status(result)


def status(result) -> int:
    if result.converged:
        return EXIT_OK
    print(f"bayes-scaling: fit did not converge: {result.diagnostics.reason()}", file=sys.stderr)
    return EXIT_NOT_CONVERGED


def result_meta(result) -> dict:
    return {
        "converged": result.converged,
        "reason": result.diagnostics.reason(),
        "law": result.law.name,
    }


def read_fit(path):
    """A saved result; any failure to read it back is a one-line :class:`FitFileError`."""
    try:
        return load(path)
    except BayesScalingError:
        raise
    except Exception as exc:  # a file with our format tag but broken attributes, ...
        raise FitFileError(
            f"{str(path)!r} is not a readable bayes_scaling fit ({type(exc).__name__}: {exc}); "
            "write fits with 'bayes-scaling fit'"
        ) from None


def law_fit(path):
    """A saved scaling-law fit (single or grouped); a capability's fit (downstream, pass@k) is a
    one-line error naming its own command."""
    result = read_fit(path)
    if not isinstance(result, ScalingFit | GroupedFit):
        raise FitFileError(
            f"{str(path)!r} is a {type(result).__name__}, not a scaling-law fit; answer it with "
            "its own command (e.g. 'bayes-scaling downstream bands', 'bayes-scaling passk bands')"
        )
    return result


def single_fit(path):
    """A saved single-law fit; a grouped fit is a one-line error naming what to use instead."""
    result = law_fit(path)
    if isinstance(result, GroupedFit):
        raise FitFileError(
            f"{str(path)!r} is a grouped fit; use 'bayes-scaling compare {path}' (or "
            "GroupedFit.group_fit(name) in Python) for one group's bands"
        )
    return result


def client_of(scheduler: str):
    """The ``client`` of :func:`bayes_scaling.fit_many` for ``--scheduler``."""
    return None if scheduler == "local" else scheduler


def column_map(args) -> dict:
    return {
        "n_params": args.n_col,
        "n_tokens": args.d_col,
        "compute": args.c_col,
        "loss": args.loss_col,
        "run_id": args.run_col,
        "group": args.group_col,
    }
