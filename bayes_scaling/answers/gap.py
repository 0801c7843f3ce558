"""Does recipe B scale better than A? Comparisons of two groups of a grouped fit, as posteriors.

For a grouped fit (:func:`bayes_scaling.inference.grouped.fit_groups`) and two groups A and B,
each posterior draw θ gives each group's loss on its own compute-optimal split
(:mod:`bayes_scaling.answers.allocation`)::

    L*_g(C) = L(N*_g(C), D*_g(C); θ_g)        (for a law in N and D with a closed-form optimum)
    L*_g(C) = L(C; θ_g)                       (for a law in compute alone)

and from it, per draw:

``difference``
    ΔL(C) = L*_B(C) − L*_A(C), nats; negative when B is better.
``P(B better)``
    P(ΔL(C) < 0), the share of draws in which B is better at C.
``crossover``
    C× in the range [C_lo, C_hi] asked where B overtakes A: the last sign change of ΔL from
    positive (A better) to negative, found on a log grid and refined with scipy's elementwise root
    finder. A draw without one in the range has one of three outcomes: B ahead throughout it, A
    ahead throughout it, or A overtakes B (B ahead lower down, A ahead at C_hi). P(no crossover in
    range) is the share of those draws.
``multiplier``
    k(C), solving L*_A(k·C) = L*_B(C): what B at C is worth in A's compute. k > 1 means B saves
    compute. k is reported as +inf when B's loss is below anything A reaches with
    ``MULTIPLIER_RANGE[1]``·C (e.g. below A's irreducible loss), and as 0 below the range.
``exponent differences``
    θ_B − θ_A for every parameter that varies by group, with P(θ_B > θ_A).

Intervals are central (equal-tailed) posterior intervals. The comparisons are parameter-only
(see :mod:`bayes_scaling.results.grouped`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import elementwise

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB, SAMPLE_DIMS
from bayes_scaling.answers.allocation import flops_of
from bayes_scaling.answers.bands import argument_of
from bayes_scaling.answers.comparison import MULTIPLIER_RANGE, OUTCOMES, Comparison, quantiles
from bayes_scaling.errors import ArgumentError
from bayes_scaling.laws import frontier_loss


def _flat(post: xr.Dataset, names) -> dict[str, np.ndarray]:
    stacked = post.stack(sample=SAMPLE_DIMS)
    return {n: stacked[n].to_numpy() for n in names}


def crossover(
    law, pa: dict, pb: dict, lo: float, hi: float, flops_per_param_token: float, n_grid: int = 121
):
    """Per draw: the crossover compute (nan when none in range) and the outcome (see module)."""
    k = flops_per_param_token
    grid = np.geomspace(lo, hi, n_grid)
    b_better = frontier_loss(law, _col(pb), grid, k) < frontier_loss(law, _col(pa), grid, k)
    outcome = np.select(
        [b_better.all(axis=1), ~b_better.any(axis=1), ~b_better[:, -1]],
        [OUTCOMES[1], OUTCOMES[2], OUTCOMES[3]],
        default=OUTCOMES[0],
    )
    found = outcome == OUTCOMES[0]
    # last grid point where A is still at least as good: the crossing is just above it
    last_a = n_grid - 1 - np.argmax(~b_better[:, ::-1], axis=1)
    where = np.full(len(outcome), np.nan)
    if found.any():
        i = last_a[found]
        names = list(pa)
        args = [pa[n][found] for n in names] + [pb[n][found] for n in names]

        def gap(log_c, *values):
            n = len(names)
            qa = dict(zip(names, values[:n], strict=True))
            qb = dict(zip(names, values[n:], strict=True))
            c = np.exp(log_c)
            return frontier_loss(law, qb, c, k) - frontier_loss(law, qa, c, k)

        res = elementwise.find_root(gap, (np.log(grid[i]), np.log(grid[i + 1])), args=args)
        _check_roots(res, "crossover")
        where[found] = np.exp(res.x)
    return where, outcome


def _col(p: dict) -> dict:
    return {n: v[:, None] for n, v in p.items()}


def _check_roots(res, what: str) -> None:
    """Warn when scipy's root finder did not converge for some draws (their value is nan)."""
    failed = int(np.size(res.success) - np.count_nonzero(res.success))
    if failed:
        warnings.warn(
            f"the {what} root finder did not converge for {failed} of {np.size(res.success)} "
            "draws; their values are nan and left out of the intervals",
            RuntimeWarning,
            stacklevel=3,
        )


def multiplier(
    law, pa: dict, pb: dict, compute: np.ndarray, flops_per_param_token: float
) -> np.ndarray:
    """k(C) per draw (rows) and budget (columns): L*_A(k·C) = L*_B(C); see the module docstring."""
    k = flops_per_param_token
    c = np.asarray(compute, float)[None, :]
    target = frontier_loss(law, _col(pb), c, k)
    names = list(pa)
    full = [np.broadcast_to(pa[n][:, None], target.shape) for n in names]
    budget = np.broadcast_to(c, target.shape)

    def gap(log_m, c, target, *values):
        return (
            frontier_loss(law, dict(zip(names, values, strict=True)), c * np.exp(log_m), k) - target
        )

    lo, hi = np.log(MULTIPLIER_RANGE[0]), np.log(MULTIPLIER_RANGE[1])
    g_lo = gap(np.full(target.shape, lo), budget, target, *full)
    g_hi = gap(np.full(target.shape, hi), budget, target, *full)
    out = np.where(g_hi > 0, np.inf, np.where(g_lo < 0, 0.0, np.nan))
    inside = np.isnan(out)
    if inside.any():
        args = [budget[inside], target[inside], *(v[inside] for v in full)]
        bracket = (np.full(inside.sum(), lo), np.full(inside.sum(), hi))
        res = elementwise.find_root(gap, bracket, args=args)
        _check_roots(res, "multiplier")
        out[inside] = np.exp(res.x)
    return out


def parameter_differences(gfit, a: str, b: str, prob: float = DEFAULT_PROB) -> pd.DataFrame:
    """θ_B − θ_A for every law parameter (and derived one) that varies by group."""
    a, b = pick_pair(gfit.groups, a, b)
    prob = check.probability(prob, "prob")
    post = gfit.posterior
    names = [n for n in (*gfit.law.params, *gfit.law.derived) if "group" in post[n].dims]
    rows = []
    for name in names:
        diff = post[name].sel(group=b) - post[name].sel(group=a)
        lo, med, hi = quantiles(diff, prob).to_numpy()
        rows.append(
            {
                "parameter": name,
                "exponent": name in gfit.law.exponents,
                "a": float(post[name].sel(group=a).median()),
                "b": float(post[name].sel(group=b).median()),
                "difference": med,
                "lower": lo,
                "upper": hi,
                "p_b_greater": float((diff > 0).mean()),
            }
        )
    return pd.DataFrame(rows)


def check_request(
    law, groups, a: str | None, b: str | None, prob: float = DEFAULT_PROB
) -> tuple[str, str]:
    """Check a comparison before any fitting: the law has a compute frontier, the pair exists,
    0 < prob < 1. Returns the pair (see :func:`pick_pair`)."""
    if law.optimum is None and tuple(law.inputs) != ("compute",):
        frontier_loss(law, {}, 1.0)  # raises the explanation
    check.probability(prob, "prob")
    return pick_pair(groups, a, b)


def pick_pair(groups, a: str | None, b: str | None) -> tuple[str, str]:
    """The baseline A and candidate B among ``groups``: as given, or the two groups in order when
    there are two."""
    groups = [str(g) for g in groups]
    for name, g in (("a", a), ("b", b)):
        if g is not None and not isinstance(g, str):
            raise ArgumentError(name, f"expected a group name (one of {groups}), got {g!r}")
    if (a is None) != (b is None):
        raise ArgumentError(
            "a" if a is None else "b", "name both groups to compare (a and b), or neither"
        )
    if a is None and b is None:
        if len(groups) != 2:
            raise ArgumentError(
                "a",
                f"the fit has {len(groups)} groups {groups}; name the two to compare "
                "(a=..., b=...; --groups A B in the CLI)",
            )
        return groups[0], groups[1]
    for name, g in (("a", a), ("b", b)):
        if g not in groups:
            raise ArgumentError(name, f"no group {g!r} in the fit; groups: {groups}")
    if a == b:
        raise ArgumentError("b", f"compare two different groups, not {a!r} with itself")
    return a, b


def _budgets(gfit, compute) -> np.ndarray:
    """The budgets asked, each once, in the order given (default: 10×, 100× the largest run and
    1e24, ascending)."""
    if compute is None:
        c_max = float(gfit.runs["compute"].max())
        return np.unique([10 * c_max, 100 * c_max, 1e24])
    budgets = check.positive_array(compute, "compute")
    _, first = np.unique(budgets, return_index=True)
    return budgets[np.sort(first)]


def _compute_range(gfit, compute_range, budgets) -> tuple[float, float]:
    if compute_range is None:
        c_max = float(gfit.runs["compute"].max())
        return float(gfit.runs["compute"].min()), max(100 * c_max, float(budgets.max()))
    pair = check.positive_array(compute_range, "compute_range")
    if len(pair) != 2 or not pair[0] < pair[1]:
        raise ArgumentError(
            "compute_range", f"give (low, high) FLOPs with low < high, got {pair.tolist()}"
        )
    return float(pair[0]), float(pair[1])


def compare(
    gfit,
    a: str | None = None,
    b: str | None = None,
    compute=None,
    *,
    compute_range: tuple[float, float] | None = None,
    flops_per_param_token: float | None = None,
    prob: float = DEFAULT_PROB,
    n_grid: int = 121,
    **aliases,
) -> Comparison:
    """Compare group ``b`` (candidate) with group ``a`` (baseline) of a grouped fit.

    Parameters
    ----------
    gfit : GroupedFit
    a, b : str, optional
        Baseline and candidate; by default the two groups in sorted order.
    compute : float or sequence of float, optional
        Budgets (FLOPs) for the table, in the order given (a repeated budget is one row); by
        default 10× and 100× the largest run, and 1e24.
    compute_range : (float, float), optional
        Where to look for a crossover; by default from the smallest run's compute to the
        largest budget asked (at least 100× the largest run).
    flops_per_param_token : float, optional
        FLOPs per parameter per token; the fit's (6) by default. ``k=`` is its old name.
    prob : float
        Interval probability (:data:`bayes_scaling._constants.DEFAULT_PROB`).
    n_grid : int
        Points (≥ 3) of the log grid for the crossover search and the curves.

    Returns
    -------
    Comparison
    """
    flops_per_param_token = check.renamed(
        aliases, "k", "flops_per_param_token", flops_per_param_token, where="compare"
    )
    a, b = check_request(gfit.law, gfit.groups, a, b, prob)
    prob = check.probability(prob, "prob")
    k = flops_of(gfit, flops_per_param_token)
    n_grid = check.count(n_grid, "n_grid", minimum=3)
    budgets = _budgets(gfit, compute)
    lo, hi = _compute_range(gfit, compute_range, budgets)

    post_a, post_b = gfit.group_posterior(a), gfit.group_posterior(b)
    names = list(gfit.law.params)
    pa, pb = _flat(post_a, names), _flat(post_b, names)
    shape = (post_a.sizes["chain"], post_a.sizes["draw"])
    dims = (*SAMPLE_DIMS, "compute")

    loss_a = frontier_loss(gfit.law, _col(pa), budgets[None, :], k)
    loss_b = frontier_loss(gfit.law, _col(pb), budgets[None, :], k)
    mult = multiplier(gfit.law, pa, pb, budgets, k)
    where, outcome = crossover(gfit.law, pa, pb, lo, hi, k, n_grid)
    coords = {"chain": post_a["chain"], "draw": post_a["draw"], "compute": budgets}
    draws = xr.Dataset(
        {
            "loss_a": (dims, loss_a.reshape(*shape, -1)),
            "loss_b": (dims, loss_b.reshape(*shape, -1)),
            "difference": (dims, (loss_b - loss_a).reshape(*shape, -1)),
            "multiplier": (dims, mult.reshape(*shape, -1)),
            "crossover": (SAMPLE_DIMS, where.reshape(shape)),
            "outcome": (SAMPLE_DIMS, outcome.reshape(shape)),
        },
        coords=coords,
    )
    grid = np.geomspace(lo, hi, n_grid)
    ga = xr.DataArray(frontier_loss(gfit.law, _col(pa), grid, k), dims=("sample", "compute"))
    gb = xr.DataArray(frontier_loss(gfit.law, _col(pb), grid, k), dims=("sample", "compute"))
    tail = (1 - prob) / 2
    qs = sorted({tail, 0.25, 0.5, 0.75, 1 - tail})
    curves = xr.Dataset(
        {
            "loss_a": ga.quantile(qs, dim="sample"),
            "loss_b": gb.quantile(qs, dim="sample"),
            "difference": (gb - ga).quantile(qs, dim="sample"),
            "p_b_better": ((gb - ga) < 0).mean("sample"),
        },
        coords={"compute": grid},
    )
    return Comparison(
        a,
        b,
        draws,
        curves,
        parameter_differences(gfit, a, b, prob),
        (lo, hi),
        prob,
        gfit.converged,
        gfit.diagnostics.reason(),
        gfit.runs,
        gfit.law.name,
        gfit.pooling.preset,
    )


def loss_difference(
    gfit,
    a: str | None = None,
    b: str | None = None,
    *,
    params=None,
    tokens=None,
    compute=None,
    unique_tokens=None,
    **aliases,
) -> xr.Dataset:
    """L_A, L_B and ΔL = L_B − L_A per draw at given sizes, both groups at the same inputs.

    The sizes are the law's inputs, point by point: ``params`` and ``tokens`` for a law in N and
    D (e.g. ``params=[7e10], tokens=[1.4e12]``), ``compute`` for a law in compute,
    ``unique_tokens`` as well for a data-constrained law; a single value stands for every point.
    ``n_params=`` and ``n_tokens=`` are accepted as the old names of ``params`` and ``tokens``.
    Returns a Dataset with ``loss_a``, ``loss_b`` and ``difference``, dims
    ``(chain, draw, point)``, point i at the sizes' i-th values (coordinates named by runs-table
    column: ``n_params``, ``n_tokens``, ...); :func:`difference_table` summarises it.
    """
    where = "loss_difference"
    params = check.renamed(aliases, "n_params", "params", params, where, others=("n_tokens",))
    tokens = check.renamed(aliases, "n_tokens", "tokens", tokens, where, others=("n_params",))
    a, b = pick_pair(gfit.groups, a, b)
    given = {"n_params": params, "n_tokens": tokens, "compute": compute}
    given["unique_tokens"] = unique_tokens
    needs = " and ".join(argument_of(c) for c in gfit.law.inputs)
    for col, value in given.items():
        if value is not None and col not in gfit.law.inputs:
            raise ArgumentError(
                argument_of(col), f"law {gfit.law.name!r} compares at {needs}; drop this one"
            )
    for col in gfit.law.inputs:
        if given.get(col) is None:
            raise ArgumentError(
                argument_of(col), f"law {gfit.law.name!r} compares at {needs}; give all of them"
            )
    arrays = check.matched(
        {argument_of(c): check.positive_array(given[c], argument_of(c)) for c in gfit.law.inputs}
    )
    inputs = {c: arrays[argument_of(c)] for c in gfit.law.inputs}
    la = gfit.law.evaluate(gfit.group_posterior(a), inputs)
    lb = gfit.law.evaluate(gfit.group_posterior(b), inputs)
    out = xr.Dataset({"loss_a": la, "loss_b": lb, "difference": lb - la})
    return out.assign_coords({c: ("point", v) for c, v in inputs.items()}).assign_attrs(a=a, b=b)


def difference_table(draws: xr.Dataset, prob: float = DEFAULT_PROB) -> pd.DataFrame:
    """One row per point of :func:`loss_difference`, row i for point i: both losses and ΔL with
    their central ``prob`` intervals, and P(B better)."""
    if not isinstance(draws, xr.Dataset) or not {"loss_a", "loss_b", "difference"} <= set(draws):
        raise ArgumentError("draws", "expected the Dataset that loss_difference() returns")
    prob = check.probability(prob, "prob")
    rows = []
    for i in range(draws.sizes["point"]):
        d = draws.isel(point=i)
        row = {c: float(d[c]) for c in draws.coords if c not in (*SAMPLE_DIMS, "point")}
        for name in ("loss_a", "loss_b", "difference"):
            lo, med, hi = quantiles(d[name], prob).to_numpy()
            row.update({name: med, f"{name}_lower": lo, f"{name}_upper": hi})
        row["p_b_better"] = float((d["difference"] < 0).mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs.update(draws.attrs, prob=prob)
    return table
