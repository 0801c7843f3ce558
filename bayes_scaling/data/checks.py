"""The values of a runs table: cell checks, derived C or D, unit warnings and replicates.

Every helper here reports in the terms of :func:`bayes_scaling.data.runs.load_runs`: a
:class:`~bayes_scaling.errors.Problem` per bad cell (row and column, with the fix), or a
:class:`~bayes_scaling.errors.RunsWarning` for a usable table that looks suspicious.
"""

from __future__ import annotations

import decimal
import math
import numbers
import warnings
from collections.abc import Mapping
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling.data.columns import LABELS, NUMERIC
from bayes_scaling.data.messages import short
from bayes_scaling.errors import ArgumentError, Problem, RunsWarning, column_text

#: Values below these look like the wrong unit (millions or billions written as plain numbers).
UNIT_FLOORS = {"n_params": 1e4, "n_tokens": 1e4, "compute": 1e10}
CLI_SCALE_FLAGS = {"n_params": "--n-scale", "n_tokens": "--d-scale", "compute": "--c-scale"}
#: C further than this factor from k·N·D gives a RunsWarning (the units of N, D or C disagree).
C_MISMATCH_FACTOR = 3.0
#: D/N below this gives a RunsWarning: far fewer tokens than parameters is a unit mistake.
MIN_TOKENS_PER_PARAM = 1e-3
#: Losses above this (nats) look like perplexities and give a RunsWarning.
MAX_PLAUSIBLE_LOSS = 20.0
#: Problems listed per column before the rest are counted.
MAX_PROBLEMS_PER_COLUMN = 10


def _cell(value) -> tuple[float, str | None]:
    """A cell as a float, or NaN and why it is not a usable number."""
    if value is None or value is pd.NA or value is pd.NaT:
        return math.nan, "missing value; fill it in or drop the run"
    if isinstance(value, bool | np.bool_):
        return math.nan, f"not a number: {value!r} is a boolean; give the number itself"
    if isinstance(value, datetime | date | timedelta | np.datetime64 | np.timedelta64):
        return math.nan, f"not a number: {short(value)} is a date or time"
    if isinstance(value, str | np.str_):
        text = value.strip()
        if not text:
            return math.nan, "missing value (empty text); fill it in or drop the run"
        try:
            number = float(text)
        except ValueError:
            return math.nan, f"not a number: {short(value)}"
        if math.isnan(number):
            return math.nan, "missing value; fill it in or drop the run"
        return number, None
    if isinstance(value, numbers.Real | decimal.Decimal | np.integer | np.floating):
        try:
            number = float(value)
        except (OverflowError, ValueError):
            return math.nan, f"not a usable number: {short(value)} is too large"
        if math.isnan(number):
            return math.nan, "missing value; fill it in or drop the run"
        return number, None
    if isinstance(value, numbers.Number):
        return math.nan, f"not a real number: {short(value)}"
    return math.nan, f"not a number: {type(value).__name__} {short(value)}"


def column_as_floats(series: pd.Series) -> tuple[np.ndarray, dict[int, str]]:
    """The column as floats, and the rows whose cells are not numbers, with the reason."""
    dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    if kind in "iuf" and not isinstance(dtype, pd.CategoricalDtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        why = {
            int(i): "missing value; fill it in or drop the run"
            for i in np.flatnonzero(np.isnan(values))
        }
        return values, why
    if kind == "b" and not isinstance(dtype, pd.CategoricalDtype):
        why = {}
        for i, v in enumerate(series.to_numpy(dtype=object)):
            why[i] = _cell(v)[1] or "not a number: a boolean"
        return np.full(len(series), np.nan), why
    values = np.empty(len(series))
    why = {}
    for i, v in enumerate(series.to_numpy(dtype=object)):
        values[i], reason = _cell(v)
        if reason:
            why[i] = reason
    return values, why


def _row_name(table: pd.DataFrame, i: int) -> str:
    if "run_id" in table.columns and table.attrs.get("run_ids_given", True):
        rid = table["run_id"].iloc[i]
        if pd.api.types.is_scalar(rid) and not pd.isna(rid):
            return f"{i} (run_id {short(rid)})"
    return str(i)


def _sources(table: pd.DataFrame) -> dict:
    """Canonical column -> the table's own header it was read from (``select_columns``)."""
    return table.attrs.get("source_columns", {})


def _capped(problems: list[Problem], column: str, total: int, source=None) -> list[Problem]:
    if total > MAX_PROBLEMS_PER_COLUMN:
        problems = problems[:MAX_PROBLEMS_PER_COLUMN]
        problems.append(
            Problem(
                None,
                column,
                f"and {total - MAX_PROBLEMS_PER_COLUMN} more rows with problems like these",
                source,
            )
        )
    return problems


def check_values(
    table: pd.DataFrame, scale: dict[str, float]
) -> tuple[dict[str, np.ndarray], list[Problem]]:
    """The numeric columns as floats, and every bad cell, bad label and value in the wrong unit."""
    problems: list[Problem] = []
    numeric: dict[str, np.ndarray] = {}
    sources = _sources(table)
    for col in NUMERIC:
        if col not in table.columns:
            continue
        values, why = column_as_floats(table[col])
        found = []
        for i in range(len(table)):
            if i in why:
                found.append(Problem(_row_name(table, i), col, why[i], sources.get(col)))
            elif not np.isfinite(values[i]):
                found.append(
                    Problem(
                        _row_name(table, i),
                        col,
                        f"infinite value {values[i]}; drop the run",
                        sources.get(col),
                    )
                )
            elif values[i] <= 0:
                found.append(
                    Problem(
                        _row_name(table, i),
                        col,
                        f"must be > 0, got {values[i]:g}; fix or drop the run",
                        sources.get(col),
                    )
                )
        problems += _capped(found, col, len(found), sources.get(col))
        numeric[col] = values
    for col in LABELS:
        if col not in table.columns:
            continue
        found = [
            Problem(
                _row_name(table, i),
                col,
                f"{type(v).__name__} {short(v)} is not a name; give one name or number per run",
                sources.get(col),
            )
            for i, v in enumerate(table[col].to_numpy(dtype=object))
            if not pd.api.types.is_scalar(v) or isinstance(v, bytes)
        ]
        problems += _capped(found, col, len(found), sources.get(col))
    for col, floor in UNIT_FLOORS.items():
        if col not in numeric or col in scale:
            continue
        values = numeric[col]
        small = np.flatnonzero((values > 0) & (values < floor))
        if len(small):
            i = int(small[0])
            more = f" (and {len(small) - 1} more rows)" if len(small) > 1 else ""
            problems.append(
                Problem(
                    _row_name(table, i),
                    col,
                    f"{values[i]:g} looks like the wrong unit (below {floor:g}){more}; if the "
                    f"column is in millions or billions pass scale={{'{col}': 1e6}} "
                    f"(CLI: {CLI_SCALE_FLAGS[col]} 1e6)",
                    sources.get(col),
                )
            )
    return numeric, problems


def check_arguments(scale, flops_per_param_token) -> tuple[dict[str, float], float]:
    """``scale`` as a dict of positive factors, and k of C = k·N·D; or an ArgumentError."""
    if scale is None:
        scale = {}
    if not isinstance(scale, Mapping):
        raise ArgumentError(
            "scale", f"expected a dict such as {{'n_params': 1e6}}, got {short(scale)}"
        )
    out = {}
    for col, factor in scale.items():
        if col not in NUMERIC:
            raise ArgumentError(
                "scale", f"unknown column {col!r}; scale one of {list(NUMERIC)}, e.g. n_params"
            )
        out[col] = check.positive(factor, f"scale[{col!r}]")
    return out, check.positive(flops_per_param_token, "flops_per_param_token")


def check_derived(
    out: pd.DataFrame, table: pd.DataFrame, given: dict[str, np.ndarray], scale: dict[str, float]
) -> list[Problem]:
    """Scaled or derived values that overflowed, and a derived D in the wrong unit."""
    problems = []
    for col in NUMERIC:
        if col not in out:
            continue
        values = out[col].to_numpy(float)
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if not len(bad) and col == "n_tokens" and col not in given:  # D = C / (k·N)
            bad = np.flatnonzero(values < UNIT_FLOORS[col])
        if not len(bad):
            continue
        i = int(bad[0])
        how = (
            f"after scale={{'{col}': {scale[col]:g}}}"
            if col in given and col in scale
            else "as derived from the other columns (C = k·N·D, D = C / (k·N), epochs = D / U)"
        )
        more = f" (and {len(bad) - 1} more rows)" if len(bad) > 1 else ""
        problems.append(
            Problem(
                _row_name(table, i),
                col,
                f"is {values[i]:g} {how}{more}; it must be a finite positive number (at least "
                f"{UNIT_FLOORS.get(col, 0):g} for {col}): check the units of N, D and C",
                _sources(table).get(col) if col in given else None,
            )
        )
    return problems


def _unit_hint(ratio: float) -> str:
    power = round(math.log10(ratio) / 3) * 3 if ratio > 0 and math.isfinite(ratio) else 0
    if power and abs(math.log10(ratio) - power) < 0.5:
        return f" (a factor near 1e{power} suggests a column in thousands, millions or billions)"
    return ""


def warn_units(runs: pd.DataFrame, k: float, sources: Mapping | None = None) -> None:
    """A RunsWarning for C far from k·N·D, D far below N, or losses that look like perplexities;
    ``sources`` (canonical column -> the table's header) names the columns as the table does."""
    sources = sources or {}
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        ratio = runs["compute"] / (k * runs["n_params"] * runs["n_tokens"])
        per_param = runs["n_tokens"] / runs["n_params"]
    bad = np.flatnonzero(
        ~np.isfinite(ratio) | (ratio > C_MISMATCH_FACTOR) | (ratio < 1 / C_MISMATCH_FACTOR)
    )
    if len(bad):
        i = int(bad[0])
        warnings.warn(
            f"row {_row_name(runs, i)}, {column_text('compute', sources.get('compute'))}: "
            f"C = {runs['compute'].iloc[i]:.3g} is "
            f"{ratio.iloc[i]:.2g}x {k:g}·N·D ({len(bad)} row(s) off by more than "
            f"{C_MISMATCH_FACTOR:g}x); check the units of N, D and C"
            f"{_unit_hint(float(ratio.iloc[i]))}",
            RunsWarning,
            stacklevel=3,
        )
    few = np.flatnonzero(per_param < MIN_TOKENS_PER_PARAM)
    if len(few):
        i = int(few[0])
        warnings.warn(
            f"row {_row_name(runs, i)}, {column_text('n_tokens', sources.get('n_tokens'))}: "
            f"D = {runs['n_tokens'].iloc[i]:.3g} "
            f"tokens for N = {runs['n_params'].iloc[i]:.3g} parameters ({len(few)} row(s) with "
            f"D/N below {MIN_TOKENS_PER_PARAM:g}); D is probably in millions or billions: pass "
            "scale={'n_tokens': 1e9} (CLI: --d-scale 1e9)",
            RunsWarning,
            stacklevel=3,
        )
    high = np.flatnonzero(runs["loss"].to_numpy(float) > MAX_PLAUSIBLE_LOSS)
    if len(high):
        i = int(high[0])
        warnings.warn(
            f"row {_row_name(runs, i)}, {column_text('loss', sources.get('loss'))}: "
            f"{runs['loss'].iloc[i]:.4g} nats is "
            f"implausibly high ({len(high)} row(s) above {MAX_PLAUSIBLE_LOSS:g}); if the column "
            "holds perplexities give their logarithm",
            RunsWarning,
            stacklevel=3,
        )


def find_replicates(runs: pd.DataFrame) -> list[list[int]]:
    """Groups of rows that share (N, D, U, group), with a RunsWarning when there are any."""
    cols = [c for c in ("n_params", "n_tokens", "unique_tokens", "group") if c in runs.columns]
    keys = runs[cols].apply(lambda c: c.round(6) if c.dtype.kind == "f" else c)
    try:
        groups = keys.groupby(cols, sort=False).indices
    except TypeError:  # group labels of mixed types: compare them as text
        if "group" in keys:
            keys["group"] = keys["group"].map(lambda v: v if pd.isna(v) else str(v))
        groups = keys.groupby(cols, sort=False).indices
    reps = sorted(sorted(int(i) for i in idx) for idx in groups.values() if len(idx) > 1)
    if reps:
        warnings.warn(
            f"{sum(len(r) for r in reps)} rows share ({', '.join(cols)}) with another row, "
            f"in {len(reps)} "
            f"group(s) (first: rows {reps[0]}); they are kept as replicates",
            RunsWarning,
            stacklevel=3,
        )
    return reps
