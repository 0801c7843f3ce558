"""The runs table: :func:`load_runs`, :func:`check_runs_for_law` and :func:`runs_hash`.

A runs table has one row per training run. Canonical columns:

============== ======================================================= =========
column         meaning                                                 required
============== ======================================================= =========
n_params       model parameters N                                      yes
n_tokens       training tokens D                                       yes, or C
compute        training compute C in FLOPs                             yes, or D
loss           final loss (nats)                                       yes
run_id         a name for the run                                      no
group          architecture, data recipe, ... (for comparisons)        no
unique_tokens  unique training tokens U (data-constrained laws)        no
epochs         passes over the unique tokens, D / U                    no
seed           the run's training seed                                 no
============== ======================================================= =========

``C = 6·N·D`` is derived when C is missing, and ``D = C / (6·N)`` when D is missing.
Rows are named by their position in the table (0-based), and by ``run_id`` when there is one.

Every table that cannot be used raises :class:`~bayes_scaling.errors.RunsError`, listing each
problem with its row and/or column and the fix: an unreadable or empty file, a missing, ambiguous
or duplicated column, a table that looks transposed, a missing, non-numeric (text, boolean, date),
infinite or non-positive value, values in the wrong unit, or a derived C or D that overflows. A
table that can be used but looks suspicious (C far from 6ND, D far below N, losses that look like
perplexities, replicated runs) gives a :class:`~bayes_scaling.errors.RunsWarning`.

The steps live in their own modules (their constants and read_table are re-exported here):
:mod:`~bayes_scaling.data.read` (reading a file or DataFrame), :mod:`~bayes_scaling.data.columns`
(canonical columns, aliases, choosing them) and :mod:`~bayes_scaling.data.checks` (cell values,
derived C or D, unit warnings, replicates).
"""

from __future__ import annotations

import hashlib
from os import PathLike

import numpy as np
import pandas as pd

from bayes_scaling._constants import FLOPS_PER_PARAM_TOKEN
from bayes_scaling.data.checks import (
    C_MISMATCH_FACTOR,
    CLI_SCALE_FLAGS,
    MAX_PLAUSIBLE_LOSS,
    MAX_PROBLEMS_PER_COLUMN,
    MIN_TOKENS_PER_PARAM,
    UNIT_FLOORS,
    check_arguments,
    check_derived,
    check_values,
    column_as_floats,
    find_replicates,
    warn_units,
)
from bayes_scaling.data.columns import (
    ALIASES,
    CANONICAL,
    CLI_COLUMN_FLAGS,
    COLUMN_MEANINGS,
    LABELS,
    NUMERIC,
    OPTIONAL,
    REQUIRED,
    missing_columns,
    select_columns,
)
from bayes_scaling.data.messages import short
from bayes_scaling.data.read import read_table
from bayes_scaling.errors import Problem, RunsError

__all__ = [
    "ALIASES",
    "LOADED_COLUMNS",
    "CANONICAL",
    "CLI_COLUMN_FLAGS",
    "CLI_SCALE_FLAGS",
    "COLUMN_MEANINGS",
    "C_MISMATCH_FACTOR",
    "LABELS",
    "MAX_PLAUSIBLE_LOSS",
    "MAX_PROBLEMS_PER_COLUMN",
    "MIN_TOKENS_PER_PARAM",
    "NUMERIC",
    "OPTIONAL",
    "REQUIRED",
    "UNIT_FLOORS",
    "check_runs_for_law",
    "load_runs",
    "read_table",
    "runs_hash",
]


#: Columns every table from :func:`load_runs` has: a DataFrame without them is loaded first.
LOADED_COLUMNS = frozenset({"run_id", "n_params", "compute", "loss"})


def load_runs(
    source: str | PathLike | pd.DataFrame,
    *,
    scale: dict[str, float] | None = None,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    **column_map: str,
) -> pd.DataFrame:
    """Read and validate a runs table.

    Parameters
    ----------
    source : path or DataFrame
        A ``.csv``, ``.parquet`` or ``.jsonl`` file, or a DataFrame.
    scale : dict, optional
        Multiply a canonical column by a factor, e.g. ``{"n_params": 1e6}`` when N is in millions.
    flops_per_param_token : float
        k in C = k·N·D, used to derive C or D when one is missing (6 by default).
    **column_map
        Canonical name to column name, for columns that are not recognised, e.g.
        ``load_runs("runs.csv", loss="val_loss_c4")``.

    Returns
    -------
    DataFrame
        Canonical columns (see the module docstring), one row per run. ``df.attrs["replicates"]``
        lists groups of rows that share (N, D); they are kept as replicates.

    Raises
    ------
    RunsError
        Listing every problem with its row and/or column and the fix: an unreadable or empty
        file, a missing, repeated or ambiguous column, a transposed table, missing, non-numeric
        (text, boolean, date), infinite or non-positive values, values in the wrong unit, or a
        derived C or D that is not a finite positive number.
    ArgumentError
        For a bad ``scale``, ``flops_per_param_token`` or column name in ``column_map``.

    Warns
    -----
    RunsWarning
        For a usable table that looks suspicious: C far from k·N·D, D far below N, losses above
        20 nats (perplexities?), replicated runs.

    Examples
    --------
    >>> df = pd.DataFrame({"params": [1e8, 4e8], "tokens": [2e9, 8e9], "loss": [3.1, 2.8]})
    >>> runs = load_runs(df)
    >>> list(runs.columns)
    ['run_id', 'n_params', 'n_tokens', 'compute', 'loss']
    """
    scale, k = check_arguments(scale, flops_per_param_token)
    df = read_table(source)
    if df.shape[1] == 0:
        raise RunsError(
            Problem(
                None,
                None,
                f"the table has no columns ({f'{len(df)} rows' if len(df) else 'and no rows'}); "
                "give columns n_params, n_tokens or compute, and loss, with one row per run",
            )
        )
    table = select_columns(df, column_map)
    missing = missing_columns(df, table)
    if missing:
        raise RunsError(missing)
    if len(table) == 0:
        raise RunsError(
            Problem(
                None,
                None,
                f"the table has the columns {short(list(df.columns), 200)} but no rows; add one "
                "row per training run",
            )
        )
    numeric, problems = check_values(table, scale)
    if problems:
        raise RunsError(problems)

    out = pd.DataFrame(index=table.index)
    ids = table["run_id"] if "run_id" in table.columns else [None] * len(table)
    out["run_id"] = [
        str(v) if pd.api.types.is_scalar(v) and not pd.isna(v) else f"run{i}"
        for i, v in enumerate(ids)
    ]
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        for col in NUMERIC:
            if col in numeric:
                out[col] = numeric[col] * scale.get(col, 1.0)
        if "compute" not in out:
            out["compute"] = k * out["n_params"] * out["n_tokens"]
        if "n_tokens" not in out:
            out["n_tokens"] = out["compute"] / (k * out["n_params"])
        if "unique_tokens" in out and "epochs" not in out:
            out["epochs"] = out["n_tokens"] / out["unique_tokens"]
    for col in ("group", "seed"):
        if col in table.columns:
            out[col] = table[col].to_numpy()
    problems = check_derived(out, table, numeric, scale)
    if problems:
        raise RunsError(problems)
    order = [c for c in CANONICAL if c in out.columns]
    out = out[["run_id"] + [c for c in order if c != "run_id"]]
    out.attrs["run_ids_given"] = "run_id" in table.columns
    warn_units(out, k, table.attrs.get("source_columns"))
    out.attrs["replicates"] = find_replicates(out)
    out.attrs["flops_per_param_token"] = k
    out.attrs.pop("run_ids_given", None)
    return out


def check_runs_for_law(
    runs: pd.DataFrame,
    n_law_params: int,
    spread_needed: dict[str, str],
    *,
    inputs: tuple[str, ...] = (),
) -> None:
    """Check that a law can be fitted to the runs: its columns are there, its parameters identified.

    Parameters
    ----------
    runs : DataFrame
        A table from :func:`load_runs`.
    n_law_params : int
        Number of parameters of the law (noise parameters excluded).
    spread_needed : dict
        Exponent name to the input column that must vary for it, e.g. ``{"alpha": "n_params"}``.
    inputs : tuple of str
        Columns the law reads (``law.inputs``); each must be in the table.

    Raises
    ------
    RunsError
        Listing every problem, e.g. a missing ``unique_tokens`` column for a data-constrained law,
        too few runs for the law's parameters, or a column that does not vary, with the fix.

    Examples
    --------
    >>> runs = load_runs(pd.DataFrame({"n_params": [1e8, 4e8], "n_tokens": [2e9, 8e9],
    ...                                "loss": [3.1, 2.8]}))
    >>> try:
    ...     check_runs_for_law(runs, 2, {}, inputs=("n_params", "unique_tokens"))
    ... except RunsError as err:
    ...     print(err.problems[0].column)
    unique_tokens
    """
    if not isinstance(runs, pd.DataFrame):
        raise RunsError(
            f"expected a runs table (a DataFrame from load_runs), got {type(runs).__name__}"
        )
    problems: list[Problem] = []
    for col in dict.fromkeys(inputs):
        if col not in runs.columns:
            problems.append(
                Problem(
                    None,
                    col,
                    f"the law reads column {col!r} ({COLUMN_MEANINGS.get(col, col)}), which the "
                    f"runs table does not have; add it to the table, or map it when loading: "
                    f"load_runs(..., {col}='<your column>')",
                )
            )
    if "loss" not in runs.columns:
        problems.append(
            Problem(None, "loss", "the runs table has no loss column; load it with load_runs")
        )
    clean: dict[str, np.ndarray] = {}
    for col in dict.fromkeys(("loss", *inputs, *spread_needed.values())):
        if col not in runs.columns:
            continue
        values, _ = column_as_floats(runs[col])
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        for row in bad[:5]:
            problems.append(
                Problem(
                    runs.index[row],
                    col,
                    f"{col} is {short(runs[col].iloc[row])}; it must be a finite positive number "
                    "(fix or drop the row; load_runs reports every such problem at once)",
                )
            )
        if not len(bad):
            clean[col] = values
    if len(runs) < n_law_params:
        run_s = "run" if len(runs) == 1 else "runs"
        problems.append(
            Problem(
                None,
                None,
                f"{len(runs)} {run_s} for a law with {n_law_params} "
                "parameters; add runs (rows) or choose a law with fewer parameters",
            )
        )
    for exponent, col in spread_needed.items():
        if col not in runs.columns:
            if col not in inputs:  # else reported above
                problems.append(
                    Problem(None, col, f"the law needs column {col!r} for {exponent!r}")
                )
            continue
        if col not in clean or not len(clean[col]):
            continue
        logs = np.log(clean[col])
        if np.ptp(logs) < 1e-9:
            problems.append(
                Problem(
                    None,
                    col,
                    f"every run has the same {col} ({clean[col][0]:.3g}), so the "
                    f"exponent {exponent!r} cannot be identified: the law's {col} term is then a "
                    "constant that E absorbs. Add runs at other sizes or use a law without this "
                    "term",
                )
            )
    if problems:
        raise RunsError(problems)


def runs_hash(runs: pd.DataFrame) -> str:
    """SHA-256 of the canonical runs table (CSV bytes), stored with every fit."""
    return hashlib.sha256(runs.to_csv(index=False).encode()).hexdigest()
