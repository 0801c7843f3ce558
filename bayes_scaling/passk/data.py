"""Tables of per-problem counts for pass@k: ``load_counts`` (any table), their per-model totals
(:func:`model_table`) and their thinning to fewer samples (:func:`thin_counts`). The reference
tables, GSM8K (Pythia) and best-of-N jailbreaking, are read by :mod:`.reference` and
:mod:`.sweep`.

One row of a counts table is one (model, problem): ``samples`` drawn and ``correct`` among them.
:func:`load_counts` returns the canonical table

========== ======= ==============================================================
column     dtype   meaning
========== ======= ==============================================================
model      str     the model (one model ``"model"`` when the table has no column)
problem    str     the problem's id
samples    int64   samples drawn for this problem, n ≥ 1
correct    int64   correct samples among them, 0 ≤ c ≤ n
n_params   float   parameters N of the model (when the table has it)
n_tokens   float   training tokens D of the model (when the table has it)
========== ======= ==============================================================

with rows in the order given. Column names are recognised after lower-casing and dropping
everything but letters and digits (``"Num. Samples Correct"`` is ``numsamplescorrect``); a mapping
``columns={"samples": "draws"}`` (or the keywords ``samples="draws"``) names any other column.

A long table with a ``k`` column (one row per (model, problem, k), as the Large Language Monkeys
tables are kept; best-of-N's ``Scaling Parameter`` is one too) is collapsed to one row per (model,
problem); its rows must agree on the counts. Every other repeated (model, problem) is an error.

Bad input raises :class:`~bayes_scaling.errors.RunsError` listing every problem with its row and
column: correct > samples, negative, missing or non-integer counts, an empty model or problem
cell, a problem twice for one model (one line saying so when the table has no model column
recognised), a table without any correct sample. Messages name a column's mapping both ways:
``columns={'model': NAME}`` (Python) and ``--model-col NAME`` (the CLI).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_scaling._lazy import scipy_function
from bayes_scaling.data.read import read_table
from bayes_scaling.errors import ArgumentError, Problem, RunsError

COLUMNS = ("model", "problem", "samples", "correct")
OPTIONAL = ("n_params", "n_tokens")

#: Recognised names (normalised: lower case, letters and digits only).
ALIASES: dict[str, tuple[str, ...]] = {
    "model": ("model", "modelnickname", "modelname", "modelid", "checkpoint"),
    "problem": ("problem", "promptidx", "problemid", "problemidx", "taskid", "questionid",
                "prompt", "promptid", "question", "item"),
    "samples": ("samples", "numsamples", "nsamples", "n", "attempts", "numattempts", "total",
                "trials", "ntrials"),
    "correct": ("correct", "numsamplescorrect", "ncorrect", "numcorrect", "c", "successes",
                "nsuccesses", "solved", "numsolved"),
    "n_params": ("nparams", "params", "parameters", "modelsize", "numparams"),
    "n_tokens": ("ntokens", "tokens", "trainingtokens", "numtokens"),
}  # fmt: skip
#: Names (normalised) of the k column of a long table, one row per (model, problem, k).
K_ALIASES = ("k", "scalingparameter")
#: The CLI's flag naming each column (``bayes-scaling passk fit --model-col NAME``).
CLI_FLAGS = {canon: f"--{canon}-col" for canon in COLUMNS}
#: Cap on the problems listed in one error, and on the repeated rows listed.
MAX_LISTED = 12
MAX_REPEATS = 3
_lgamma = scipy_function("special", "gammaln")  # SciPy on first use


def _norm(name) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _cell(value, width: int = 40) -> str:
    """A cell as plain text for a message: ``nan``, ``-1e+08``, ``100.5``, ``'many'`` (never
    NumPy's reprs such as ``np.float64(nan)``)."""
    if isinstance(value, str):
        text = repr(str(value))
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        text = str(int(value))
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        x = float(value)
        text = f"{x:g}"
        if math.isfinite(x) and float(text) != x:
            text = repr(x)  # every digit, where %g would round
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _how(canons) -> str:
    """How to name columns, in Python and on the CLI: ``columns={'model': NAME} (CLI:
    --model-col NAME)``."""
    canons = [canons] if isinstance(canons, str) else list(canons)
    python = ", ".join(f"{c!r}: NAME" for c in canons)
    flags = " ".join(f"{CLI_FLAGS[c]} NAME" for c in canons if c in CLI_FLAGS)
    return f"columns={{{python}}}" + (f" (CLI: {flags})" if flags else "")


def _select(raw: pd.DataFrame, mapping: Mapping[str, str]) -> dict[str, object]:
    """Canonical name -> the raw column holding it (explicit mapping first, then aliases)."""
    by_norm: dict[str, list] = {}
    for col in raw.columns:
        by_norm.setdefault(_norm(col), []).append(col)
    chosen: dict[str, object] = {}
    for canon in (*COLUMNS, *OPTIONAL):
        if mapping.get(canon) is not None:
            name = mapping[canon]
            if name not in raw.columns:
                raise RunsError(
                    Problem(
                        None,
                        str(name),
                        f"no such column for {canon}; the table has "
                        f"{[str(c) for c in raw.columns]}: name one with {_how(canon)}",
                    )
                )
            chosen[canon] = name
            continue
        for alias in ALIASES[canon]:
            hits = [c for c in by_norm.get(alias, []) if c not in chosen.values()]
            if len(hits) == 1:
                chosen[canon] = hits[0]
                break
    return chosen


def _whole_counts(values: pd.Series, column: str, rows, found: _Found, minimum: int) -> np.ndarray:
    x = pd.to_numeric(values, errors="coerce").to_numpy(float)
    finite = np.isfinite(x)
    bad = ~finite | (x != np.floor(np.where(finite, x, 0))) | (x < minimum) | (x > 2.0**53)
    raw = values.to_numpy()
    found.count_unlisted(bad)
    for i in np.flatnonzero(bad)[: MAX_LISTED + 1]:
        v = x[i]
        if not np.isfinite(v):
            msg = f"{_cell(raw[i])} is not a count; give a whole number"
        elif v != np.floor(v):
            msg = f"{_cell(raw[i])} is not a whole number of samples"
        elif v > 2.0**53:
            msg = f"{_cell(raw[i])} is too large for a count (at most 2^53)"
        else:
            what = "negative" if v < 0 else "zero"
            msg = f"{_cell(v)} is {what}; counts are whole numbers ≥ {minimum}"
        found.problems.append(Problem(rows[i], column, msg))
    return np.where(bad, -1, x).astype(np.int64)  # a bad cell is checked no further


def _labels(values: pd.Series, column: str, rows, found: _Found, what: str) -> np.ndarray:
    """A model or problem column as text; an empty cell (missing or blank) is a problem."""
    text = values.astype(str).to_numpy(dtype=object)
    blank = values.isna().to_numpy() | np.array([not str(t).strip() for t in text], bool)
    found.count_unlisted(blank)
    for i in np.flatnonzero(blank)[: MAX_LISTED + 1]:
        msg = f"the cell is empty; give every row its {what}"
        found.problems.append(Problem(rows[i], column, msg))
    return np.where(blank, "", text)


@dataclass
class _Found:
    """The problems found in a table, and how many more bad cells were counted but not made
    into a :class:`Problem` (a column lists its first ``MAX_LISTED + 1``)."""

    problems: list = field(default_factory=list)
    unlisted: int = 0

    def count_unlisted(self, bad: np.ndarray) -> None:
        self.unlisted += max(int(np.count_nonzero(bad)) - (MAX_LISTED + 1), 0)


def _raise(problems: list, unlisted: int = 0) -> None:
    """A RunsError listing the first ``MAX_LISTED`` problems and how many more there were
    (``unlisted``: bad cells counted but not made into a :class:`Problem`)."""
    if problems:
        extra = len(problems) - MAX_LISTED + unlisted
        listed = problems[:MAX_LISTED]
        if extra > 0:
            listed.append(Problem(None, None, f"... and {extra} more problems"))
        raise RunsError(listed)


def load_counts(
    table,
    *,
    columns: Mapping[str, str] | None = None,
    model: str | None = None,
    problem: str | None = None,
    samples: str | None = None,
    correct: str | None = None,
) -> pd.DataFrame:
    """Read and check a table of per-problem counts (see the module docstring).

    Parameters
    ----------
    table : DataFrame or path
        ``.csv``, ``.parquet`` or ``.jsonl`` (anything :func:`bayes_scaling.data.read.read_table`
        reads), or a DataFrame. An already canonical table passes through checked.
    columns : mapping, optional
        Canonical name (``model``, ``problem``, ``samples``, ``correct``, ``n_params``,
        ``n_tokens``) -> the table's column.
    model, problem, samples, correct : str, optional
        The same mapping as keywords (they win over ``columns``).

    Returns
    -------
    DataFrame
        The canonical columns, one row per (model, problem), rows in the order given.

    Raises
    ------
    RunsError
        Listing every bad cell with its row and column.
    """
    keywords = dict(model=model, problem=problem, samples=samples, correct=correct)
    mapping = dict(columns or {}) | {k: v for k, v in keywords.items() if v is not None}
    unknown = set(mapping) - set(COLUMNS) - set(OPTIONAL)
    if unknown:
        raise ArgumentError(
            "columns", f"unknown names {sorted(unknown)}; use {list(COLUMNS + OPTIONAL)}"
        )
    # labels as written (model '007', problem '01' apart from '1'); counts converted below
    raw = read_table(table, text=True) if not isinstance(table, pd.DataFrame) else table
    if raw.empty:
        raise RunsError("the counts table has no rows")
    chosen = _select(raw, mapping)
    missing = [c for c in ("problem", "samples", "correct") if c not in chosen]
    if missing:
        raise RunsError(
            Problem(
                None,
                None,
                f"no column for {', '.join(missing)} among "
                f"{[str(c) for c in raw.columns]}; name {'it' if len(missing) == 1 else 'them'} "
                f"with {_how(missing)}",
            )
        )
    rows = list(raw.index)
    found = _Found()
    names = (
        _labels(raw[chosen["model"]], str(chosen["model"]), rows, found, "model")
        if "model" in chosen
        else np.full(len(raw), "model", dtype=object)
    )
    ids = _labels(raw[chosen["problem"]], str(chosen["problem"]), rows, found, "problem id")
    n = _whole_counts(raw[chosen["samples"]], str(chosen["samples"]), rows, found, 1)
    c = _whole_counts(raw[chosen["correct"]], str(chosen["correct"]), rows, found, 0)
    found.problems += [
        Problem(rows[i], str(chosen["correct"]), f"{c[i]} correct out of {n[i]} samples; "
                "correct cannot exceed samples")
        for i in np.flatnonzero((c > n) & (n >= 1))
    ]  # fmt: skip
    out = pd.DataFrame({"model": names, "problem": ids, "samples": n, "correct": c})
    for extra in OPTIONAL:
        if extra in chosen:
            out[extra] = pd.to_numeric(raw[chosen[extra]], errors="coerce").to_numpy(float)
    out.index = rows
    _raise(found.problems, found.unlisted)
    out = _collapse(out, raw, chosen, rows)
    if int(out["correct"].sum()) == 0:
        raise RunsError(
            Problem(
                None,
                str(chosen["correct"]),
                "the table has no correct sample at all; pass@k cannot be learned from it "
                "(check the column, or draw more samples)",
            )
        )
    out = out.reset_index(drop=True)
    out.attrs["columns"] = {k: str(v) for k, v in chosen.items()}
    return out


def _collapse(out: pd.DataFrame, raw: pd.DataFrame, chosen: dict, rows: list) -> pd.DataFrame:
    """One row per (model, problem): a long table with a k column (:data:`K_ALIASES`) is collapsed
    (its rows must agree); any other repeat is an error naming both rows, and without a model
    column one line saying that the model column may have gone unrecognised."""
    key = pd.Series(out["model"].to_numpy() + "\x00" + out["problem"].to_numpy())
    dup = key.duplicated(keep="first").to_numpy()
    if not dup.any():
        return out
    long = any(_norm(col) in K_ALIASES for col in raw.columns)
    firsts = ~dup
    first_of = pd.Series(np.flatnonzero(firsts), index=key[firsts].to_numpy())
    j_all = first_of.loc[key[dup].to_numpy()].to_numpy()
    i_all = np.flatnonzero(dup)
    n, c = out["samples"].to_numpy(), out["correct"].to_numpy()
    differ = (n[i_all] != n[j_all]) | (c[i_all] != c[j_all])
    i_all, j_all = (i_all[differ], j_all[differ]) if long else (i_all, j_all)
    if not len(i_all):
        return out[firsts]
    column, problem = str(chosen["problem"]), out["problem"].to_numpy()
    if "model" not in chosen:
        unused = [str(col) for col in raw.columns if col not in chosen.values()]
        many = (
            f"{len(i_all)} rows repeat problems of earlier rows"
            if len(i_all) > 1
            else "1 row repeats a problem of an earlier row"
        )
        raise RunsError(
            Problem(
                rows[i_all[0]],
                column,
                f"{many} (problem {_cell(problem[i_all[0]])} first at row "
                f"{rows[j_all[0]]}), probably because no model column was recognised and every "
                f"row was taken as one model's: name the model column with {_how('model')}, or "
                f"give one row per problem"
                + (f" (columns not used: {', '.join(unused)})" if unused else ""),
            )
        )
    what = "with other counts" if long else "again"
    problems = [
        Problem(
            rows[i],
            column,
            f"problem {_cell(problem[i])} of model {_cell(out['model'].iloc[i])} appears {what} "
            f"(first at row {rows[j]})",
        )
        for i, j in zip(i_all[:MAX_REPEATS], j_all[:MAX_REPEATS], strict=True)
    ]
    more = f" ({len(i_all) - MAX_REPEATS} more rows like these)" if len(i_all) > MAX_REPEATS else ""
    problems.append(Problem(None, None, f"give one row per (model, problem){more}"))
    raise RunsError(problems)


def model_table(counts: pd.DataFrame) -> pd.DataFrame:
    """One row per model in order of first appearance: ``model, problems, samples, correct``
    (totals) and ``n_params``, ``n_tokens`` where the counts table has them."""
    models = pd.unique(counts["model"])
    agg = {
        "problems": ("problem", "size"),
        "samples": ("samples", "sum"),
        "correct": ("correct", "sum"),
    }
    for extra in OPTIONAL:
        if extra in counts:
            agg[extra] = (extra, "first")
    return counts.groupby("model", sort=False).agg(**agg).loc[models].reset_index()


def thin_counts(counts: pd.DataFrame, samples: int, seed: int) -> pd.DataFrame:
    """Every problem thinned to ``samples`` samples drawn without replacement from those it has:
    c' ~ Hypergeometric(n, c, samples), exactly what ``samples`` of its n samples would have shown
    (seeded; problems with fewer samples are an error)."""
    short = counts["samples"] < samples
    if short.any():
        i = int(np.flatnonzero(short.to_numpy())[0])
        raise RunsError(
            Problem(
                counts.index[i],
                "samples",
                f"{int(counts['samples'].iloc[i])} samples, fewer than the {samples} to keep",
            )
        )
    rng = np.random.default_rng(seed)
    c = counts["correct"].to_numpy(np.int64)
    n = counts["samples"].to_numpy(np.int64)
    out = counts.copy()
    out["correct"] = rng.hypergeometric(c, n - c, samples).astype(np.int64)
    out["samples"] = np.int64(samples)
    return out
