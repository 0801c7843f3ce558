"""The columns of a runs table: canonical names, recognised aliases, and choosing them.

:func:`select_columns` picks each canonical column of a raw table, from an explicit mapping
first and then by alias, and reports repeated, ambiguous or wrongly mapped columns;
:func:`missing_columns` reports required columns that are missing, or a table that looks
transposed or has its header below a title line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling.data.messages import short
from bayes_scaling.errors import ArgumentError, Problem, RunsError

REQUIRED = ("n_params", "loss")
NUMERIC = ("n_params", "n_tokens", "compute", "loss", "unique_tokens", "epochs")
OPTIONAL = ("run_id", "group", "unique_tokens", "epochs", "seed")
CANONICAL = ("n_params", "n_tokens", "compute", "loss", *OPTIONAL)
LABELS = ("run_id", "group", "seed")

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

#: What each canonical column means, for messages about a missing one.
COLUMN_MEANINGS = {
    "n_params": "model parameters N",
    "n_tokens": "training tokens D",
    "compute": "training compute C in FLOPs",
    "loss": "the final loss in nats",
    "unique_tokens": "unique training tokens U",
    "epochs": "passes over the unique tokens, D / U",
}
CLI_COLUMN_FLAGS = {
    "n_params": "--n-col",
    "n_tokens": "--d-col",
    "compute": "--c-col",
    "loss": "--loss-col",
    "run_id": "--run-col",
    "group": "--group-col",
}


def normalise(name) -> str:
    """A column name as matched: stripped, lower case, spaces and hyphens as underscores."""
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _positions(labels: list, label) -> list[int]:
    out = []
    for i, lab in enumerate(labels):
        try:
            same = bool(lab == label)
        except (TypeError, ValueError):  # odd labels (arrays) compare to nothing
            same = False
        if same or lab is label:
            out.append(i)
    return out


def select_columns(df: pd.DataFrame, column_map: dict) -> pd.DataFrame:
    """The canonical columns of ``df`` (explicit mapping first, then the aliases), by position."""
    unknown = set(column_map) - set(CANONICAL)
    if unknown:
        raise RunsError(
            f"unknown canonical column(s) {sorted(unknown)} in the column map; "
            f"map one of {list(CANONICAL)} to a column of the table"
        )
    labels = list(df.columns)
    problems: list[Problem] = []
    chosen: dict[str, int] = {}
    for canon, label in column_map.items():
        if label is None:
            continue
        if not _hashable(label):
            raise ArgumentError(
                canon, f"expected a column name, got {type(label).__name__} {short(label)}"
            )
        where = _positions(labels, label)
        if not where:
            problems.append(
                Problem(
                    None,
                    str(label),
                    f"mapped to {canon!r} but not in the table (columns: {short(labels, 200)})",
                )
            )
            continue
        if len(where) > 1:
            problems.append(repeated_column(label, where))
            continue
        rival = next((c for c, i in chosen.items() if i == where[0]), None)
        if rival is not None:
            problems.append(
                Problem(
                    None,
                    str(label),
                    f"mapped to both {rival!r} and {canon!r}; map each to its own column",
                )
            )
            continue
        chosen[canon] = where[0]
    explicit = set(chosen.values())
    for canon, names in ALIASES.items():
        if canon in chosen or column_map.get(canon) is not None:
            continue
        hits = [i for i, lab in enumerate(labels) if i not in explicit and normalise(lab) in names]
        if not hits:
            continue
        distinct = len({str(labels[i]) for i in hits}) == len(hits)
        if len(hits) > 1 and distinct and same_values(df, hits):  # compute = training_flops
            named = [i for i in hits if normalise(labels[i]) == normalise(canon)]
            hits = named[:1] or hits[:1]
        if len(hits) > 1:
            first, second = labels[hits[0]], labels[hits[1]]
            if normalise(first) == normalise(second) and str(first) == str(second):
                problems.append(repeated_column(first, hits))
            else:
                problems.append(
                    Problem(
                        None,
                        str(first),
                        f"both {first!r} and {second!r} look like {canon!r}; choose one with "
                        f"{canon}={first!r} (CLI: {CLI_COLUMN_FLAGS.get(canon, '--' + canon)} "
                        f"{first})",
                    )
                )
            continue
        chosen[canon] = hits[0]
    if problems:
        raise RunsError(problems)
    out = pd.DataFrame(
        {canon: df.iloc[:, i].reset_index(drop=True) for canon, i in chosen.items()},
        index=pd.RangeIndex(len(df)),
    )
    out.attrs["source_columns"] = {canon: labels[i] for canon, i in chosen.items()}
    return out


def same_values(df: pd.DataFrame, positions: list[int]) -> bool:
    """Whether the columns at ``positions`` hold the same values (numbers equal to 1e-12
    relative, or equal text), so that choosing among them changes nothing."""
    first = df.iloc[:, positions[0]].reset_index(drop=True)
    for i in positions[1:]:
        other = df.iloc[:, i].reset_index(drop=True)
        if first.astype(str).equals(other.astype(str)):
            continue
        a = pd.to_numeric(first, errors="coerce").to_numpy(float)
        b = pd.to_numeric(other, errors="coerce").to_numpy(float)
        numbers = np.isfinite(a) == first.notna().to_numpy()  # every cell a number
        numbers &= np.isfinite(b) == other.notna().to_numpy()
        if not (numbers.all() and np.allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True)):
            return False
    return True


def repeated_column(label, where: list[int]) -> Problem:
    """The problem of a column label found at several positions ``where`` (0-based) of a table."""
    return Problem(
        None,
        str(label),
        f"appears {len(where)} times (columns {', '.join(str(i) for i in where)}); rename or "
        "drop all but one",
    )


def missing_columns(df: pd.DataFrame, table: pd.DataFrame) -> list[Problem]:
    """The required columns missing from ``table``, or why ``df`` looks laid out wrongly."""
    missing = [c for c in REQUIRED if c not in table.columns]
    if "n_tokens" not in table.columns and "compute" not in table.columns:
        missing.append("n_tokens")
    if not missing:
        return []
    layout = _layout_problem(df)
    if layout is not None:
        return [layout]
    labels = short(list(df.columns), 200)
    problems = []
    for col in missing:
        if col == "n_tokens":
            what = "training tokens D (n_tokens) or training compute C (compute), and neither is"
            example = "n_tokens='<your column>' or compute='<your column>' (CLI: --d-col/--c-col"
        else:
            what = f"{COLUMN_MEANINGS[col]} ({col}), which is not"
            example = f"{col}='<your column>' (CLI: {CLI_COLUMN_FLAGS[col]}"
        problems.append(
            Problem(
                None,
                col,
                f"missing column: the table needs {what} among the columns {labels}; name the "
                f"column as in the table docs or map it: load_runs(..., {example} NAME)",
            )
        )
    return problems


def _layout_problem(df: pd.DataFrame) -> Problem | None:
    """The column names sit in the first column (a transposed table) or in a row below a title."""
    if df.shape[0] == 0 or df.shape[1] == 0:
        return None
    names = {n for canon in REQUIRED + ("n_tokens", "compute") for n in ALIASES[canon]}
    names = {n for n in names if len(n) > 2}

    def found(values) -> list[str]:
        return [str(v) for v in values if isinstance(v, str) and normalise(v) in names][:3]

    in_column = found(df.iloc[:, 0])
    row, in_row = max(
        ((r, found(df.iloc[r])) for r in range(min(3, len(df)))), key=lambda rf: len(rf[1])
    )
    if in_column and len(in_column) >= len(in_row):
        return Problem(
            None,
            str(df.columns[0]),
            f"holds names like {in_column}: the table looks transposed (one run per column); "
            "transpose it (df.T, with those names as the header) so that each row is one run",
        )
    if in_row:
        return Problem(
            row,
            None,
            f"holds names like {in_row}: the header is not on the first line; remove the "
            "lines above it (pandas: skiprows)",
        )
    return None
