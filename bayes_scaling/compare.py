"""Does recipe B scale better than A? Comparisons of two groups of a grouped fit, as posteriors.

For a grouped fit (:func:`bayes_scaling.grouped.fit_groups`) and two groups A and B, each posterior
draw θ gives each group's loss on its own compute-optimal split (:mod:`bayes_scaling.allocation`)::

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
    finder. A draw has no crossover in the range when B is ahead throughout it, or when A is still
    ahead at C_hi; P(no crossover in range) is the share of those draws.
``multiplier``
    k(C), solving L*_A(k·C) = L*_B(C): what B at C is worth in A's compute. k > 1 means B saves
    compute. k is reported as +inf when B's loss is below anything A reaches with
    ``MULTIPLIER_RANGE[1]``·C (e.g. below A's irreducible loss), and as 0 below the range.
``exponent differences``
    θ_B − θ_A for every parameter that varies by group, with P(θ_B > θ_A).

Intervals are central (equal-tailed) posterior intervals. The comparisons are parameter-only
(see :mod:`bayes_scaling.grouped`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import elementwise

from bayes_scaling.errors import BayesScalingError

MULTIPLIER_RANGE = (1e-4, 1e6)
SAMPLE_DIMS = ("chain", "draw")
OUTCOMES = ("crossover", "B ahead throughout", "A ahead at the top")


def frontier_loss(law, params, compute, k: float = 6.0):
    """L*(C): the law's loss on its compute-optimal split at each budget (numpy or xarray)."""
    if law.optimum is not None:
        opt = law.optimum(params, compute, k)
        return law.fn({"n_params": opt["n_params"], "n_tokens": opt["n_tokens"]}, params, np)
    if tuple(law.inputs) == ("compute",):
        return law.fn({"compute": compute}, params, np)
    raise BayesScalingError(
        f"law {law.name!r} has no compute-optimal split, so groups cannot be compared at a "
        "compute budget; use a law in N and D such as 'chinchilla', or a law in compute"
    )


def _flat(post: xr.Dataset, names) -> dict[str, np.ndarray]:
    stacked = post.stack(sample=SAMPLE_DIMS)
    return {n: stacked[n].to_numpy() for n in names}


def _quantiles(x: xr.DataArray, prob: float) -> xr.DataArray:
    tail = (1 - prob) / 2
    return x.quantile([tail, 0.5, 1 - tail], dim=SAMPLE_DIMS)


def crossover(law, pa: dict, pb: dict, lo: float, hi: float, k: float, n_grid: int = 121):
    """Per draw: the crossover compute (nan when none in range) and the outcome (see module)."""
    grid = np.geomspace(lo, hi, n_grid)
    diff = frontier_loss(law, _col(pb), grid, k) - frontier_loss(law, _col(pa), grid, k)
    b_better = diff < 0
    outcome = np.where(
        b_better.all(axis=1), OUTCOMES[1], np.where(~b_better[:, -1], OUTCOMES[2], OUTCOMES[0])
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
        where[found] = np.exp(res.x)
    return where, outcome


def _col(p: dict) -> dict:
    return {n: v[:, None] for n, v in p.items()}


def multiplier(law, pa: dict, pb: dict, compute: np.ndarray, k: float) -> np.ndarray:
    """k(C) per draw (rows) and budget (columns): L*_A(k·C) = L*_B(C); see the module docstring."""
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
        out[inside] = np.exp(elementwise.find_root(gap, bracket, args=args).x)
    return out


@dataclass
class Comparison:
    """Group B against group A: per-draw comparisons and their summaries.

    Attributes
    ----------
    a, b : str
        Baseline and candidate groups.
    draws : Dataset
        ``loss_a``, ``loss_b``, ``difference`` (B − A) and ``multiplier`` with dims
        ``(chain, draw, compute)``, and ``crossover`` (FLOPs, nan when none in range) and
        ``outcome`` with dims ``(chain, draw)``.
    curves : Dataset
        On a log grid over the range: quantiles (``quantile`` dim: the ``prob`` interval's ends,
        0.25, 0.5, 0.75) of ``loss_a``, ``loss_b`` and ``difference``, and ``p_b_better``.
    parameters : DataFrame
        θ_B − θ_A for every parameter that varies by group.
    compute_range : tuple
        The range in which a crossover was looked for.
    prob : float
        Interval probability.
    converged, reason
        The grouped fit's diagnostics gate.
    runs, law, pool
        The grouped fit's runs, law name and pooling preset.
    """

    a: str
    b: str
    draws: xr.Dataset
    curves: xr.Dataset
    parameters: pd.DataFrame
    compute_range: tuple[float, float]
    prob: float
    converged: bool
    reason: str = ""
    runs: pd.DataFrame = field(default=None, repr=False)
    law: str = ""
    pool: str = ""

    def table(self) -> pd.DataFrame:
        """One row per budget: both losses, the difference, P(B better) and k(C), with intervals."""
        rows = []
        for c in self.draws["compute"].to_numpy():
            d = self.draws.sel(compute=c)
            row = {"compute": float(c)}
            for name in ("loss_a", "loss_b", "difference", "multiplier"):
                lo, med, hi = _quantiles(d[name], self.prob).to_numpy()
                row.update({name: med, f"{name}_lower": lo, f"{name}_upper": hi})
            row["p_b_better"] = float((d["difference"] < 0).mean())
            rows.append(row)
        table = pd.DataFrame(rows)
        table.attrs.update(self.crossover_summary(), a=self.a, b=self.b, prob=self.prob)
        return table

    def crossover_summary(self) -> dict:
        """P(crossover in range), P of each no-crossover outcome, and the crossover's median and
        interval among the draws that cross (nan when fewer than 1% cross)."""
        outcome = self.draws["outcome"].to_numpy().ravel()
        where = self.draws["crossover"].to_numpy().ravel()
        p = {o: float(np.mean(outcome == o)) for o in OUTCOMES}
        found = where[np.isfinite(where)]
        tail = (1 - self.prob) / 2
        if len(found) >= max(1, 0.01 * len(where)):
            lo, med, hi = np.quantile(found, [tail, 0.5, 1 - tail])
        else:
            lo = med = hi = float("nan")
        return {
            "range_lower": float(self.compute_range[0]),
            "range_upper": float(self.compute_range[1]),
            "p_crossover_in_range": p[OUTCOMES[0]],
            "p_no_crossover_in_range": 1 - p[OUTCOMES[0]],
            "p_b_ahead_throughout": p[OUTCOMES[1]],
            "p_a_ahead_at_top": p[OUTCOMES[2]],
            "crossover": float(med),
            "crossover_lower": float(lo),
            "crossover_upper": float(hi),
        }

    def headline(self, compute: float | None = None) -> str:
        """The decision maker's sentence at one budget (default: the largest asked)."""
        table = self.table()
        row = (
            table.iloc[-1]
            if compute is None
            else table.iloc[int(np.argmin(np.abs(np.log(table["compute"]) - np.log(compute))))]
        )
        pct = f"{self.prob:.0%}"
        k_lo, k_hi = _fmt_k(row["multiplier_lower"]), _fmt_k(row["multiplier_upper"])
        text = (
            f"{self.b} beats {self.a} at {row['compute']:.3g} FLOPs with probability "
            f"{prob_text(row['p_b_better'])}; it is worth a {_fmt_k(row['multiplier'])}× compute "
            f"multiplier ({pct} interval {k_lo}–{k_hi}×)"
        )
        return text if self.converged else f"{text}. NOT CONVERGED: {self.reason}"

    def to_json(self) -> str:
        """Table, crossover, parameter differences and convergence, as JSON."""
        return json.dumps(
            {
                "a": self.a,
                "b": self.b,
                "prob": self.prob,
                "converged": self.converged,
                "reason": self.reason,
                "crossover": self.crossover_summary(),
                "budgets": self.table().to_dict(orient="records"),
                "parameters": self.parameters.to_dict(orient="records"),
            },
            default=float,
        )


def prob_text(p: float) -> str:
    """A probability with two decimals, but "<0.01" / ">0.99" rather than a certain-looking 0 or 1
    (4000 draws cannot tell 0.997 from 1)."""
    p = float(p)
    if p > 0.99:
        return ">0.99"
    if p < 0.01:
        return "<0.01"
    return f"{p:.2f}"


def _fmt_k(k: float) -> str:
    if np.isinf(k):
        return f">{MULTIPLIER_RANGE[1]:.0e}"
    if k == 0:
        return f"<{MULTIPLIER_RANGE[0]:.0e}"
    return f"{k:.3g}"


def parameter_differences(gfit, a: str, b: str, prob: float = 0.9) -> pd.DataFrame:
    """θ_B − θ_A for every law parameter (and derived one) that varies by group."""
    post = gfit.posterior
    names = [n for n in (*gfit.law.params, *gfit.law.derived) if "group" in post[n].dims]
    rows = []
    for name in names:
        diff = post[name].sel(group=b) - post[name].sel(group=a)
        lo, med, hi = _quantiles(diff, prob).to_numpy()
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


def pick_pair(gfit, a: str | None, b: str | None) -> tuple[str, str]:
    """The baseline A and candidate B: as given, or the two groups in order when there are two."""
    groups = list(gfit.groups)
    if a is None and b is None:
        if len(groups) != 2:
            raise BayesScalingError(
                f"the fit has {len(groups)} groups {groups}; name the two to compare "
                "(a=..., b=...; --groups A B in the CLI)"
            )
        return groups[0], groups[1]
    for g in (a, b):
        if g not in groups:
            raise BayesScalingError(f"no group {g!r} in the fit; groups: {groups}")
    if a == b:
        raise BayesScalingError(f"compare two different groups, not {a!r} with itself")
    return a, b


def compare(
    gfit,
    a: str | None = None,
    b: str | None = None,
    compute=None,
    *,
    compute_range: tuple[float, float] | None = None,
    k: float | None = None,
    prob: float = 0.9,
    n_grid: int = 121,
) -> Comparison:
    """Compare group ``b`` (candidate) with group ``a`` (baseline) of a grouped fit.

    Parameters
    ----------
    gfit : GroupedFit
    a, b : str, optional
        Baseline and candidate; by default the two groups in sorted order.
    compute : sequence of float, optional
        Budgets (FLOPs) for the table; by default 10× and 100× the largest run, and 1e24.
    compute_range : (float, float), optional
        Where to look for a crossover; by default from the smallest run's compute to the
        largest budget asked (at least 100× the largest run).
    k : float, optional
        FLOPs per parameter per token; the fit's (6) by default.
    prob : float
        Interval probability (0.9).
    n_grid : int
        Points of the log grid for the crossover search and the curves.

    Returns
    -------
    Comparison
    """
    a, b = pick_pair(gfit, a, b)
    k = float(k if k is not None else gfit.settings.get("flops_per_param_token", 6.0))
    c_max = float(gfit.runs["compute"].max())
    budgets = np.sort(
        np.atleast_1d(
            np.asarray(compute if compute is not None else [10 * c_max, 100 * c_max, 1e24], float)
        )
    )
    if not np.all(np.isfinite(budgets) & (budgets > 0)):
        raise BayesScalingError(f"compute budgets must be finite and > 0 FLOPs, got {budgets}")
    if compute_range is None:
        compute_range = (float(gfit.runs["compute"].min()), max(100 * c_max, budgets.max()))
    lo, hi = map(float, compute_range)
    if not 0 < lo < hi:
        raise BayesScalingError(f"compute range must be 0 < low < high FLOPs, got {lo}, {hi}")

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
    qs = [tail, 0.25, 0.5, 0.75, 1 - tail]
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


def loss_difference(gfit, a: str, b: str, n_params, n_tokens) -> xr.DataArray:
    """ΔL = L_B(N, D) − L_A(N, D) per draw at given sizes (both groups at the same N and D);
    dims ``(chain, draw, point)``."""
    a, b = pick_pair(gfit, a, b)
    inputs = {"n_params": np.atleast_1d(n_params), "n_tokens": np.atleast_1d(n_tokens)}
    la = gfit.law.evaluate(gfit.group_posterior(a), inputs)
    lb = gfit.law.evaluate(gfit.group_posterior(b), inputs)
    return (lb - la).rename("difference")
