"""The pool of candidate runs: read and check a user's table, or propose isoFLOP sweeps; costs.

A candidate is a run one could train next: its size N (``params``), its tokens D (``tokens``)
and its cost in FLOPs, C = k·N·D with k = 6 by default (a ``cost`` column, when present, is used
instead: a run that reuses a checkpoint, or one on other hardware). No loss is needed. Rows keep
the order given; ``candidate`` is the 0-based row of the table as read.

>>> import pandas as pd
>>> pool = read_pool(pd.DataFrame({"params": [1e8, 2e8], "tokens": [2e9, 4e9]}))
>>> pool["cost"].tolist()
[1.2e+18, 4.8e+18]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling._constants import FLOPS_PER_PARAM_TOKEN
from bayes_scaling.data.columns import normalise, repeated_column, same_values
from bayes_scaling.data.read import read_table
from bayes_scaling.errors import Problem, RunsError

#: Names accepted for the pool's columns, canonical name first; matched as the runs table's are,
#: in any case and with spaces or hyphens for underscores
#: (:func:`bayes_scaling.data.columns.normalise`); two of them for one size must agree.
POOL_COLUMNS = {
    "params": ("params", "n_params", "n", "model_size", "parameters"),
    "tokens": ("tokens", "n_tokens", "d", "train_tokens"),
    "cost": ("cost", "cost_flops"),
}
#: Two sizes closer than this (relative) are the same run.
SAME_RUN_RTOL = 1e-6


def _columns(table: pd.DataFrame, canon: str) -> list:
    """The pool's columns that name ``canon`` (:data:`POOL_COLUMNS`), in the aliases' order."""
    found = {}
    for column in table.columns:
        found.setdefault(normalise(column), column)  # the first of equal names wins
    return [found[name] for name in POOL_COLUMNS[canon] if name in found]


def read_pool(source, *, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN) -> pd.DataFrame:
    """A table of candidate runs, checked.

    Parameters
    ----------
    source : path or DataFrame
        One row per candidate with ``params`` (N) and ``tokens`` (D) (``n_params`` / ``n_tokens``
        are accepted too); an optional ``cost`` column in FLOPs. Other columns are ignored.
    flops_per_param_token : float
        k in the default cost C = k·N·D.

    Returns
    -------
    DataFrame
        ``candidate`` (0-based row as read), ``params``, ``tokens``, ``compute`` (k·N·D) and
        ``cost``, rows in the order given.

    Raises
    ------
    RunsError
        An empty table, a missing ``params`` / ``tokens`` column, two columns that give one size
        with different values, or cells that are not positive finite numbers, each named by row
        and column.
    """
    k = check.positive(flops_per_param_token, "flops_per_param_token")
    table = read_table(source)
    if len(table) == 0:
        raise RunsError("the candidate pool is empty; give at least one row with params and tokens")
    problems, columns, names = [], {}, {}
    for canon in ("params", "tokens", "cost"):
        found = _columns(table, canon)
        name = names[canon] = found[0] if found else None
        at = [int(np.flatnonzero(table.columns == c)[0]) for c in found]
        if len(found) > 1 and not same_values(table, at):  # equal columns are no choice
            listed = " and ".join(repr(str(c)) for c in found)
            problems.append(Problem(None, name, f"{listed} both give {canon}; keep one"))
            continue
        if name is None:
            if canon != "cost":
                problems.append(
                    Problem(
                        None,
                        canon,
                        f"the candidate pool has no {canon!r} column (columns: "
                        f"{', '.join(map(str, table.columns))}); add one",
                    )
                )
            continue
        where = np.flatnonzero(table.columns == name).tolist()
        if len(where) > 1:
            problems.append(repeated_column(name, where))
            continue
        values = pd.to_numeric(table[name], errors="coerce").to_numpy(float)
        for row in np.flatnonzero(~(np.isfinite(values) & (values > 0)))[:10]:
            problems.append(
                Problem(
                    int(row), name, f"{check.shown(table[name].iloc[row])} is not a positive number"
                )
            )
        columns[canon] = values
    if problems:
        raise RunsError(problems)
    with np.errstate(over="ignore"):
        compute = k * columns["params"] * columns["tokens"]
    for row in np.flatnonzero(~np.isfinite(compute))[:10]:
        problems.append(
            Problem(
                int(row),
                names["params"],
                f"the run's compute {k:g}·N·D overflows a float (N = "
                f"{check.shown(columns['params'][row])}, D = "
                f"{check.shown(columns['tokens'][row])}); give its size in parameters and its "
                "tokens",
            )
        )
    if problems:
        raise RunsError(problems)
    return pd.DataFrame(
        {
            "candidate": np.arange(len(table)),
            "params": columns["params"],
            "tokens": columns["tokens"],
            "compute": compute,
            "cost": columns.get("cost", compute),
        }
    )


def already_run(pool: pd.DataFrame, runs: pd.DataFrame) -> np.ndarray:
    """Mask of candidates whose (N, D) equals a run's (relative tolerance :data:`SAME_RUN_RTOL`)."""
    if "n_params" not in runs or "n_tokens" not in runs or len(runs) == 0:
        return np.zeros(len(pool), bool)
    n, d = runs["n_params"].to_numpy(float), runs["n_tokens"].to_numpy(float)
    same_n = np.isclose(pool["params"].to_numpy(float)[:, None], n[None, :], rtol=SAME_RUN_RTOL)
    same_d = np.isclose(pool["tokens"].to_numpy(float)[:, None], d[None, :], rtol=SAME_RUN_RTOL)
    return (same_n & same_d).any(axis=1)


def isoflop_grid(
    runs: pd.DataFrame,
    cap: float,
    *,
    n_budgets: int = 6,
    per_budget: int = 9,
    spread: float = 0.8,
    tokens_per_param: float = 20.0,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
) -> pd.DataFrame:
    """A proposed pool: isoFLOP sweeps at budgets from the smallest run's compute up to ``cap``.

    At each budget C_b (log-spaced, ``n_budgets`` of them), ``per_budget`` sizes N log-spaced over
    ±``spread`` decades around N₀ = sqrt(C_b / (k·r)) with r = ``tokens_per_param`` (Chinchilla's
    ~20 tokens per parameter), D = C_b / (k·N): the sweeps Hoffmann et al. (2022) trained.

    Returns
    -------
    DataFrame
        As :func:`read_pool`, ordered by budget then N.

    Examples
    --------
    >>> runs = pd.DataFrame({"compute": [1e17, 1e19]})
    >>> len(isoflop_grid(runs, 1e20, n_budgets=3, per_budget=5))
    15
    """
    k = check.positive(flops_per_param_token, "flops_per_param_token")
    cap = check.positive(cap, "cap")
    n_budgets, per_budget = (
        check.count(n_budgets, "n_budgets"),
        check.count(per_budget, "per_budget"),
    )
    low = float(runs["compute"].min()) if "compute" in runs and len(runs) else cap / 1e3
    low = min(low, cap)
    budgets = np.geomspace(low, cap, n_budgets)
    offsets = np.linspace(-spread, spread, per_budget)
    n0 = np.sqrt(budgets / (k * tokens_per_param))
    n = (n0[:, None] * 10.0 ** offsets[None, :]).ravel()
    c = np.repeat(budgets, per_budget)
    return read_pool(pd.DataFrame({"params": n, "tokens": c / (k * n)}), flops_per_param_token=k)
