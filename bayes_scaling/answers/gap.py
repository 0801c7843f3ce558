"""Does recipe B scale better than A? Comparisons of two groups of a grouped fit, as posteriors.

For a grouped fit (:func:`bayes_scaling.inference.grouped.fit_groups`) and two groups A and B,
each posterior draw θ gives each group's loss on its own compute-optimal split
(:mod:`bayes_scaling.answers.allocation`)::

    L*_g(C) = L(N*_g(C), D*_g(C); θ_g)        (for a law in N and D with a compute-optimal split)
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

**The law's error beyond the data.** When the grouped fit learned its discrepancy (the default;
:mod:`bayes_scaling.discrepancy.grouped`), each group's loss carries a law error shared by the
groups and one of its own, L*_g(C)·exp(δ_shared(d) + δ_g(d)), with d = log10(C / C_max) ≥ 0 the
budget's decades beyond the largest run of all groups: at one budget both recipes are one
distance beyond the ladder, and each posterior draw has one shared error draw for both. So

- ``difference`` = e^{δ_shared}·(L*_B·e^{δ_B} − L*_A·e^{δ_A}): its sign, hence P(B better) and the
  crossover (found on L*_B·e^{δ_B} − L*_A·e^{δ_A}), carries the specific errors only, exactly;
  the shared draw only scales its size. That holds wherever neither loss is bent towards its E
  (:func:`~bayes_scaling.discrepancy.protocol.with_error`: a downward error that would take more
  than half a group's reducible loss); where one is, each group stays above its own E and the
  shared draw can move the sign (far out, towards that of E_B − E_A);
- ``multiplier`` compares A at k·C with B at C, two distances: the shared error enters there;
- :func:`~bayes_scaling.answers.difference.loss_difference` puts both groups at the same sizes,
  so one distance (the worst axis, as for a single fit's bands) and the same cancellation.

``discrepancy=False`` gives the parameter-only comparisons of earlier versions.

Intervals are central (equal-tailed) posterior intervals.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB, SAMPLE_DIMS
from bayes_scaling._lazy import scipy_function
from bayes_scaling.answers.allocation import flops_of
from bayes_scaling.answers.comparison import (
    MULTIPLIER_RANGE,
    OUTCOMES,
    Comparison,
    _budgets,
    _compute_range,
    check_request,
    parameter_differences,
)
from bayes_scaling.discrepancy.protocol import irreducible_loss, with_error
from bayes_scaling.laws import frontier_loss

#: SciPy's elementwise root finder, imported on first use (0.2 s: a saved fit's other answers
#: do not need it).
find_root = scipy_function("optimize.elementwise", "find_root")


def _flat(post: xr.Dataset, names) -> dict[str, np.ndarray]:
    stacked = post.stack(sample=SAMPLE_DIMS)
    return {n: stacked[n].to_numpy() for n in names}


def error_terms(disc, group: str, shape, seed) -> dict[str, np.ndarray]:
    """A group's per-draw error terms, flat in (chain, draw) order: ``shared`` and ``specific``
    coefficients and growths (see
    :meth:`~bayes_scaling.discrepancy.grouped.GroupDiscrepancy.curves`) and ``ref``, the
    largest run's compute."""
    (cs, gs), (cp, gp) = disc.curves(draws_shape=shape, seed=seed, group=group)
    ref = np.full(cs.size, disc.reference["compute"])
    return {"cs": cs.ravel(), "gs": gs.ravel(), "cp": cp.ravel(), "gp": gp.ravel(), "ref": ref}


def _loss(law, p: dict, c, k: float, t: dict | None = None, shared: bool = True):
    """L*(C; θ) with the error δ(d) elementwise, never below E (L*·e^δ upward; see
    :func:`~bayes_scaling.discrepancy.protocol.with_error`), d = max(0, log10(C / ref));
    without terms L*(C; θ).

    ``shared`` False leaves the shared error out (a common positive factor of both groups where
    the error is upward; downward, where the bound acts on each group's own reducible loss, the
    sign without it is an approximation)."""
    loss = frontier_loss(law, p, c, k)
    if t is None:
        return loss
    d = np.clip(np.log10(c / t["ref"]), 0, None)
    error = t["cp"] * d ** t["gp"] + (t["cs"] * d ** t["gs"] if shared else 0)
    return with_error(loss, error, irreducible_loss(law, p))


def crossover(
    law,
    pa: dict,
    pb: dict,
    lo: float,
    hi: float,
    flops_per_param_token: float,
    n_grid: int = 121,
    ta: dict | None = None,
    tb: dict | None = None,
):
    """Per draw: the crossover compute (nan when none in range) and the outcome (see module).

    ``ta``, ``tb``: each group's error terms (:func:`error_terms`); the shared error, a common
    factor, is left out: it cannot move a sign change."""
    k = flops_per_param_token
    grid = np.geomspace(lo, hi, n_grid)
    ta, tb = _col(ta), _col(tb)
    b_better = _loss(law, _col(pb), grid, k, tb, False) < _loss(law, _col(pa), grid, k, ta, False)
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
        parts = [pa, pb] + ([] if ta is None else [ta, tb])
        keys = [list(q) for q in parts]
        args = [np.ravel(q[n])[found] for q in parts for n in q]

        def gap(log_c, *values):
            q, at = [], 0
            for names in keys:
                q.append(dict(zip(names, values[at : at + len(names)], strict=True)))
                at += len(names)
            ea, eb = (q[2], q[3]) if len(q) == 4 else (None, None)
            c = np.exp(log_c)
            return _loss(law, q[1], c, k, eb, False) - _loss(law, q[0], c, k, ea, False)

        res = find_root(gap, (np.log(grid[i]), np.log(grid[i + 1])), args=args)
        _check_roots(res, "crossover")
        where[found] = np.exp(res.x)
    return where, outcome


def _col(p: dict | None) -> dict | None:
    return None if p is None else {n: np.reshape(v, (-1, 1)) for n, v in p.items()}


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
    law,
    pa: dict,
    pb: dict,
    compute: np.ndarray,
    flops_per_param_token: float,
    ta: dict | None = None,
    tb: dict | None = None,
) -> np.ndarray:
    """k(C) per draw (rows) and budget (columns): L*_A(k·C) = L*_B(C); see the module docstring.

    With error terms (:func:`error_terms`) each side carries its error at its own compute, the
    shared part included (A at k·C and B at C are at different distances)."""
    k = flops_per_param_token
    c = np.asarray(compute, float)[None, :]
    target = _loss(law, _col(pb), c, k, _col(tb))
    names = list(pa) + ([] if ta is None else [f"error:{n}" for n in ta])
    values = {**pa, **({} if ta is None else {f"error:{n}": v for n, v in ta.items()})}
    full = [np.broadcast_to(np.reshape(values[n], (-1, 1)), target.shape) for n in names]
    budget = np.broadcast_to(c, target.shape)

    def gap(log_m, c, target, *values):
        q = dict(zip(names, values, strict=True))
        p = {n: v for n, v in q.items() if not n.startswith("error:")}
        t = {n[6:]: v for n, v in q.items() if n.startswith("error:")} or None
        return _loss(law, p, c * np.exp(log_m), k, t) - target

    lo, hi = np.log(MULTIPLIER_RANGE[0]), np.log(MULTIPLIER_RANGE[1])
    g_lo = gap(np.full(target.shape, lo), budget, target, *full)
    g_hi = gap(np.full(target.shape, hi), budget, target, *full)
    out = np.where(g_hi > 0, np.inf, np.where(g_lo < 0, 0.0, np.nan))
    inside = np.isnan(out)
    if inside.any():
        args = [budget[inside], target[inside], *(v[inside] for v in full)]
        bracket = (np.full(inside.sum(), lo), np.full(inside.sum(), hi))
        res = find_root(gap, bracket, args=args)
        _check_roots(res, "multiplier")
        out[inside] = np.exp(res.x)
    return out


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
    seed: int | None = None,
    discrepancy: bool = True,
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
    seed : int, optional
        Seed of the discrepancy's draws (the fit's own seed by default, so that a saved and
        re-loaded fit gives the same comparison).
    discrepancy : bool
        Carry the fit's discrepancy (when it learned one; see the module docstring). False:
        parameter-only.

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
    discrepancy = check.flag(discrepancy, "discrepancy")
    seed = gfit.settings.get("seed", 0) if seed is None else check.seed(seed)
    disc = gfit.discrepancy if discrepancy else None

    post_a, post_b = gfit.group_posterior(a), gfit.group_posterior(b)
    names = list(gfit.law.params)
    pa, pb = _flat(post_a, names), _flat(post_b, names)
    shape = (post_a.sizes["chain"], post_a.sizes["draw"])
    dims = (*SAMPLE_DIMS, "compute")
    ta = tb = None
    if disc is not None:  # the same shared draws for both groups: one seed
        ta, tb = (error_terms(disc, g, shape, seed) for g in (a, b))

    loss_a = _loss(gfit.law, _col(pa), budgets[None, :], k, _col(ta))
    loss_b = _loss(gfit.law, _col(pb), budgets[None, :], k, _col(tb))
    mult = multiplier(gfit.law, pa, pb, budgets, k, ta, tb)
    where, outcome = crossover(gfit.law, pa, pb, lo, hi, k, n_grid, ta, tb)
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
    ga = xr.DataArray(_loss(gfit.law, _col(pa), grid, k, _col(ta)), dims=("sample", "compute"))
    gb = xr.DataArray(_loss(gfit.law, _col(pb), grid, k, _col(tb)), dims=("sample", "compute"))
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
        disc.describe() if disc is not None else "off",
    )
