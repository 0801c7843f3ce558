"""Helpers shared by the loaders of public ladders (:mod:`~bayes_scaling.data.ladders`,
:mod:`~bayes_scaling.data.olmo`): check the raw table of a source file before it becomes runs,
and append the source's extra columns to the runs table.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.errors import Problem, RunsError


def require_columns(raw: pd.DataFrame, columns: Iterable[str], file: Path, what: str) -> None:
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise RunsError(
            [
                Problem(
                    None,
                    c,
                    f"missing from {file.name!r}; it is not {what}: pass the original file "
                    "(see data/README.md)",
                )
                for c in missing
            ]
        )


def positive_column(raw: pd.DataFrame, column: str, file: Path) -> np.ndarray:
    """A column as positive floats, or a RunsError naming every bad cell (used before deriving)."""
    values = pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if len(bad):
        raise RunsError(
            [
                Problem(
                    int(i),
                    column,
                    f"{raw[column].iloc[i]!r} in {file.name!r} is not a positive number; fix or "
                    "drop the row",
                )
                for i in bad[:10]
            ]
            + ([Problem(None, column, f"and {len(bad) - 10} more rows")] if len(bad) > 10 else [])
        )
    return values


def attach_columns(runs: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """The runs table with ``extra``'s columns appended (same rows, same order)."""
    extra = extra.drop(columns=[c for c in extra.columns if c in runs.columns])
    out = pd.concat([runs, extra.reset_index(drop=True)], axis=1)
    out.attrs = runs.attrs
    return out
