"""The runs table: reading, column recognition, derived columns and validation.

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
"""

from __future__ import annotations

import hashlib
import warnings
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.errors import Problem, RunsError, RunsWarning

REQUIRED = ("n_params", "loss")
NUMERIC = ("n_params", "n_tokens", "compute", "loss", "unique_tokens", "epochs")
OPTIONAL = ("run_id", "group", "unique_tokens", "epochs", "seed")
CANONICAL = ("n_params", "n_tokens", "compute", "loss", *OPTIONAL)

#: Column names recognised without a mapping (compared after lower-casing and turning spaces and
#: hyphens into underscores). Anything else is mapped explicitly: ``load_runs(df, loss="val_ppl")``.
ALIASES: dict[str, tuple[str, ...]] = {
    "n_params": ("n_params", "params", "model_size", "n", "parameters", "num_params"),
    "n_tokens": ("n_tokens", "tokens", "d", "training_tokens", "num_tokens"),
    "compute": ("compute", "flops", "c", "training_flop", "training_flops"),
    "loss": ("loss", "final_loss", "val_loss"),
    "run_id": ("run_id", "run", "run_name", "name", "id"),
    "group": ("group",),
    "unique_tokens": ("unique_tokens", "u"),
    "epochs": ("epochs",),
    "seed": ("seed",),
}

#: Values below these look like the wrong unit (millions or billions written as plain numbers).
UNIT_FLOORS = {"n_params": 1e4, "n_tokens": 1e4, "compute": 1e10}
CLI_SCALE_FLAGS = {"n_params": "--n-scale", "n_tokens": "--d-scale", "compute": "--c-scale"}
FLOPS_PER_PARAM_TOKEN = 6.0
C_MISMATCH_FACTOR = 3.0


def _normalise(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def _read(source: str | PathLike | pd.DataFrame) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.exists():
        raise RunsError(f"no such file: {str(path)!r}")
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith(".csv") or suffix.endswith(".csv.gz"):
        return pd.read_csv(path)
    if suffix.endswith(".parquet") or suffix.endswith(".pq"):
        return pd.read_parquet(path)
    if suffix.endswith((".jsonl", ".ndjson", ".jsonl.gz")):
        return pd.read_json(path, lines=True)
    raise RunsError(
        f"cannot read {path.name!r}: use a .csv, .parquet or .jsonl file, or a DataFrame"
    )


def _map_columns(df: pd.DataFrame, column_map: dict[str, str]) -> pd.DataFrame:
    unknown = set(column_map) - set(CANONICAL)
    if unknown:
        raise RunsError(
            f"unknown canonical column(s) {sorted(unknown)} in the column map; "
            f"map one of {list(CANONICAL)} to a column of the table"
        )
    rename: dict[str, str] = {}
    for canon, col in column_map.items():
        if col is None:
            continue
        if col not in df.columns:
            raise RunsError(
                Problem(
                    None,
                    col,
                    f"mapped to {canon!r} but not in the table (columns: {list(df.columns)})",
                )
            )
        rename[col] = canon
    taken = set(rename.values())
    for col in df.columns:
        if col in rename:
            continue
        key = _normalise(col)
        for canon, names in ALIASES.items():
            if canon in taken or key not in names:
                continue
            rivals = [
                c for c in df.columns if c != col and c not in rename and _normalise(c) in names
            ]
            if rivals:
                raise RunsError(
                    Problem(
                        None,
                        col,
                        f"both {col!r} and {rivals[0]!r} look like "
                        f"{canon!r}; choose one with {canon}={col!r}",
                    )
                )
            rename[col] = canon
            taken.add(canon)
            break
    return df.rename(columns=rename)


def _row_name(df: pd.DataFrame, i: int) -> str:
    if "run_id" in df.columns and pd.notna(df["run_id"].iloc[i]):
        return f"{i} (run_id {df['run_id'].iloc[i]!r})"
    return str(i)


def _check_values(df: pd.DataFrame, raw: pd.DataFrame, scale: dict[str, float]) -> list[Problem]:
    problems: list[Problem] = []
    for col in NUMERIC:
        if col not in df.columns:
            continue
        values = pd.to_numeric(raw[col], errors="coerce")
        for i in range(len(df)):
            v, original = values.iloc[i], raw[col].iloc[i]
            row = _row_name(df, i)
            if pd.isna(original):
                problems.append(Problem(row, col, "missing value; fill it in or drop the run"))
            elif pd.isna(v):
                problems.append(Problem(row, col, f"not a number: {original!r}"))
            elif not np.isfinite(v):
                problems.append(Problem(row, col, f"infinite value {v}; drop the run"))
            elif v <= 0:
                problems.append(Problem(row, col, f"must be > 0, got {v:g}"))
    for col, floor in UNIT_FLOORS.items():
        if col not in df.columns or col in scale:
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        small = [i for i in range(len(df)) if 0 < values.iloc[i] < floor]
        if small:
            i = small[0]
            more = f" (and {len(small) - 1} more rows)" if len(small) > 1 else ""
            problems.append(
                Problem(
                    _row_name(df, i),
                    col,
                    f"{values.iloc[i]:g} looks like the wrong unit (below {floor:g}){more}; if the "
                    f"column is in millions or billions pass scale={{'{col}': 1e6}} "
                    f"(CLI: {CLI_SCALE_FLAGS[col]} 1e6)",
                )
            )
    return problems


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
        Listing every problem with its row and column: missing, non-numeric, infinite or
        non-positive values, a missing required column, or values in the wrong unit.

    Examples
    --------
    >>> df = pd.DataFrame({"params": [1e8, 4e8], "tokens": [2e9, 8e9], "loss": [3.1, 2.8]})
    >>> runs = load_runs(df)
    >>> list(runs.columns)
    ['run_id', 'n_params', 'n_tokens', 'compute', 'loss']
    """
    scale = dict(scale or {})
    df = _map_columns(_read(source), column_map).reset_index(drop=True)
    missing = [c for c in REQUIRED if c not in df.columns]
    if "n_tokens" not in df.columns and "compute" not in df.columns:
        missing.append("n_tokens or compute")
    if missing:
        raise RunsError(
            Problem(
                None,
                None,
                f"missing column(s) {missing}; the table has "
                f"{list(df.columns)}. Map them, e.g. n_params='Model Size'",
            )
        )
    raw = df.copy()
    problems = _check_values(df, raw, scale)
    if problems:
        raise RunsError(problems)

    out = pd.DataFrame(index=df.index)
    out["run_id"] = (
        df["run_id"].astype(str)
        if "run_id" in df.columns
        else pd.Series([f"run{i}" for i in range(len(df))], index=df.index)
    )
    for col in ("n_params", "n_tokens", "compute", "loss", "unique_tokens", "epochs"):
        if col in df.columns:
            out[col] = pd.to_numeric(df[col]).astype(float) * scale.get(col, 1.0)
    k = float(flops_per_param_token)
    if "compute" not in out:
        out["compute"] = k * out["n_params"] * out["n_tokens"]
    if "n_tokens" not in out:
        out["n_tokens"] = out["compute"] / (k * out["n_params"])
    for col in ("group", "seed"):
        if col in df.columns:
            out[col] = df[col]
    if "unique_tokens" in out and "epochs" not in out:
        out["epochs"] = out["n_tokens"] / out["unique_tokens"]
    order = [c for c in CANONICAL if c in out.columns]
    out = out[["run_id"] + [c for c in order if c != "run_id"]]
    _warn_compute_mismatch(out, k)
    out.attrs["replicates"] = _replicates(out)
    out.attrs["flops_per_param_token"] = k
    return out


def _warn_compute_mismatch(runs: pd.DataFrame, k: float) -> None:
    ratio = runs["compute"] / (k * runs["n_params"] * runs["n_tokens"])
    bad = np.flatnonzero((ratio > C_MISMATCH_FACTOR) | (ratio < 1 / C_MISMATCH_FACTOR))
    if len(bad):
        i = int(bad[0])
        warnings.warn(
            f"row {_row_name(runs, i)}, column 'compute': C = {runs['compute'].iloc[i]:.3g} is "
            f"{ratio.iloc[i]:.2g}x {k:g}·N·D ({len(bad)} row(s) off by more than "
            f"{C_MISMATCH_FACTOR:g}x); check the units of N, D and C",
            RunsWarning,
            stacklevel=3,
        )


def _replicates(runs: pd.DataFrame) -> list[list[int]]:
    cols = [c for c in ("n_params", "n_tokens", "unique_tokens", "group") if c in runs.columns]
    keys = runs[cols].apply(lambda c: c.round(6) if c.dtype.kind == "f" else c)
    groups = keys.groupby(cols).indices
    reps = [sorted(int(i) for i in idx) for idx in groups.values() if len(idx) > 1]
    if reps:
        warnings.warn(
            f"{sum(len(r) for r in reps)} rows share ({', '.join(cols)}) with another row, "
            f"in {len(reps)} "
            f"group(s) (first: rows {reps[0]}); they are kept as replicates",
            RunsWarning,
            stacklevel=3,
        )
    return reps


#: What each column a law may read means, for messages about a missing one.
COLUMN_MEANINGS = {
    "n_params": "model parameters N",
    "n_tokens": "training tokens D",
    "compute": "training compute C in FLOPs",
    "unique_tokens": "unique training tokens U",
    "epochs": "passes over the unique tokens, D / U",
}


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
        with the fix.

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
    for col in dict.fromkeys(("loss", *inputs)):
        if col not in runs.columns:
            continue
        values = pd.to_numeric(runs[col], errors="coerce").to_numpy(float)
        for row in np.flatnonzero(~(np.isfinite(values) & (values > 0)))[:5]:
            problems.append(
                Problem(
                    runs.index[row],
                    col,
                    f"{col} is {runs[col].iloc[row]}; it must be a finite positive number "
                    "(fix or drop the row; load_runs reports every such problem at once)",
                )
            )
    if len(runs) < n_law_params:
        problems.append(
            Problem(
                None,
                None,
                f"{len(runs)} runs for a law with {n_law_params} "
                "parameters; add runs or choose a law with fewer parameters",
            )
        )
    for exponent, col in spread_needed.items():
        if col not in runs.columns:
            if col not in inputs:  # else reported above
                problems.append(
                    Problem(None, col, f"the law needs column {col!r} for {exponent!r}")
                )
            continue
        logs = np.log(runs[col].to_numpy(float))
        if np.ptp(logs) < 1e-9:
            problems.append(
                Problem(
                    None,
                    col,
                    f"every run has the same {col} ({runs[col].iloc[0]:.3g}), so the "
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
