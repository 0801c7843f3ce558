"""Compute allocation as a posterior: the optimal split, the risk of a chosen split, the frontier.

For the Chinchilla law L(N, D) = E + A·N^(−α) + B·D^(−β) and a budget C = k·N·D (k = 6 by default),
each posterior draw θ has its own optimum (Hoffmann et al. 2022, eq. 4):

    G = (αA / (βB))^(1/(α+β)),  a = β/(α+β),  b = α/(α+β)
    N*(C) = G·(C/k)^a,  D*(C) = G^(−1)·(C/k)^b,  tokens per parameter D*/N*,  L*(C) = L(N*, D*)

``a`` is the allocation exponent: Kaplan et al. (2020) had a ≈ 0.73 (parameters grow faster than
data), Hoffmann et al. a ≈ 0.5. ``P(a > 0.5)`` is the posterior answer to that dispute. Other laws
in N and D have their own optimum (:attr:`bayes_scaling.laws.Law.optimum`: closed form for
``kaplan``, a per-draw numerical search for ``farseer``); for them ``a`` is the slope
d log N*/d log C across the budgets asked (for Chinchilla and Kaplan it is the same at every C).

The regret of a chosen N at budget C (with D = C/(kN)) is, per draw,

    regret(θ) = L(N, D; θ) − L(N*(θ), D*(θ); θ) ≥ 0.

The regret is parameter-only: it compares each draw's law with itself. Losses — the risk-based
choice of N, the frontier and the target questions (:mod:`bayes_scaling.answers.targets`) — carry
the fit's extrapolation discrepancy δ(N, D) (see :mod:`bayes_scaling.discrepancy.record`) unless
``discrepancy=False``: it is zero inside the data and grows with the distance beyond it, so a
risk-averse choice leans towards sizes closer to the runs.

Risk measures are small factories over draws (see :func:`expected`, :func:`quantile`,
:func:`cvar`, :func:`prob_above`); pass your own ``f(draws) -> float`` anywhere one is accepted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import FLOPS_PER_PARAM_TOKEN, SAMPLE_DIMS
from bayes_scaling._numeric import minimise_bounded
from bayes_scaling.answers.choices import require_optimum
from bayes_scaling.answers.intervals import central_interval
from bayes_scaling.discrepancy.protocol import irreducible_loss, with_error
from bayes_scaling.errors import ArgumentError
from bayes_scaling.laws import frontier_loss, ratio_split

RiskMeasure = Callable[[np.ndarray], float]


# --- risk measures: factories returning closures over a 1-d array of draws ----------------------


def expected() -> RiskMeasure:
    """Posterior mean: E[x]."""
    return lambda x: float(np.mean(x))


def quantile(q: float) -> RiskMeasure:
    """Posterior q-quantile of x (e.g. 0.9, 0.95): the value exceeded with probability 1 − q."""
    q = check.fraction(q, "q")
    return lambda x: float(np.quantile(x, q))


def cvar(q: float) -> RiskMeasure:
    """Conditional value at risk: CVaR_q(x) = E[x | x ≥ VaR_q(x)], the mean of the worst 1 − q."""
    q = check.fraction(q, "q")

    def measure(x):
        x = np.asarray(x).ravel()
        return float(x[x >= np.quantile(x, q)].mean())

    return measure


def prob_above(threshold: float) -> RiskMeasure:
    """P(x > threshold), e.g. the probability of missing a target loss."""
    threshold = check.positive(threshold, "threshold")
    return lambda x: float(np.mean(np.asarray(x) > threshold))


# --- the optimal split ------------------------------------------------------------------------


def flops_of(fit, flops_per_param_token=None) -> float:
    """k in C = k·N·D: the value given, else the fit's (6 unless the table said otherwise)."""
    if flops_per_param_token is not None:
        return check.positive(flops_per_param_token, "flops_per_param_token")
    return float(fit.settings.get("flops_per_param_token", FLOPS_PER_PARAM_TOKEN))


def _budgets(compute) -> xr.DataArray:
    c = check.positive_array(compute, "compute")
    return xr.DataArray(c, dims="budget", coords={"budget": c})


def law_loss(fit, n_params, n_tokens, params=None) -> xr.DataArray:
    """L(N, D; θ) for every draw (or for the given parameter set ``params``)."""
    p = params if params is not None else {k: fit.posterior[k] for k in fit.law.params}
    return fit.law.fn({"n_params": n_params, "n_tokens": n_tokens}, p, np)


def loss_draws(
    fit, n_params, n_tokens, flops_per_param_token=None, seed=None, discrepancy: bool = True
):
    """L(N, D; θ) with the extrapolation error δ(N, D) per draw, never below the draw's E
    (:func:`bayes_scaling.discrepancy.protocol.with_error`: L·e^δ upward).

    δ is shared by all sizes within a draw (one "law error curve" per draw; see
    :meth:`bayes_scaling.discrepancy.record.Discrepancy.error`); without a discrepancy this is
    :func:`law_loss`.
    """
    compute = flops_of(fit, flops_per_param_token) * n_params * n_tokens
    sizes = {"n_params": n_params, "n_tokens": n_tokens, "compute": compute}
    return _with_error(fit, law_loss(fit, n_params, n_tokens), sizes, seed, discrepancy)


def frontier_draws(fit, compute, seed=None, discrepancy: bool = True):
    """L(C; θ) of a law in compute alone (:attr:`~bayes_scaling.laws.Law.reads_compute_only`)
    at budgets ``compute`` (an xarray or numpy array), with the extrapolation error δ(C) per
    draw as :func:`loss_draws` adds it: no split needed."""
    loss = frontier_loss(fit.law, {k: fit.posterior[k] for k in fit.law.params}, compute)
    sizes = {"n_params": None, "n_tokens": None, "compute": compute}
    return _with_error(fit, loss, sizes, seed, discrepancy)


def _with_error(fit, loss, sizes: dict, seed, discrepancy):
    """``loss`` with the fit's extrapolation error δ(sizes) per draw (when it has one and
    ``discrepancy``), never below the draw's E."""
    disc = fit.discrepancy if check.flag(discrepancy, "discrepancy") else None
    if disc is None:
        return loss
    seed = fit.settings.get("seed", 0) if seed is None else seed
    post = fit.posterior
    error = disc.error(sizes, draws_shape=(post.sizes["chain"], post.sizes["draw"]), seed=seed)
    return with_error(loss, error, irreducible_loss(fit.law, post))


def optimal_allocation(
    fit, compute, flops_per_param_token: float | None = None, *, exponent: bool = True
) -> xr.Dataset:
    """Per-draw compute-optimal split at each budget.

    Returns
    -------
    Dataset
        ``n_params``, ``n_tokens``, ``tokens_per_param`` and ``loss`` (L*, nats) with dims
        ``(chain, draw, budget)``, and ``allocation_exponent`` a = d log N*/d log C with dims
        ``(chain, draw)`` (β/(α+β) for Chinchilla): the slope across the budgets, from half an
        e-fold below the smallest to half an e-fold above the largest.
    """
    require_optimum(fit)
    k, c = flops_of(fit, flops_per_param_token), _budgets(compute)
    post = fit.posterior
    opt = fit.law.optimum(post, c, k)
    n, d = opt["n_params"], opt["n_tokens"]
    ds = xr.Dataset(
        {"n_params": n, "n_tokens": d, "tokens_per_param": d / n, "loss": law_loss(fit, n, d)}
    )
    if exponent:
        ds["allocation_exponent"] = _allocation_exponent(fit.law, post, c, k)
    return ds.transpose("chain", "draw", ...)


def _allocation_exponent(law, post, budgets: xr.DataArray, k: float) -> xr.DataArray:
    """a = d log N*/d log C per draw, across the budgets (exact for a power-law optimum)."""
    low, high = float(budgets.min()) * np.exp(-0.5), float(budgets.max()) * np.exp(0.5)
    n_low = law.optimum(post, low, k)["n_params"]
    n_high = law.optimum(post, high, k)["n_params"]
    return np.log(n_high / n_low) / np.log(high / low)


def mean_parameter_optimum(
    fit, compute, flops_per_param_token: float | None = None
) -> dict[str, np.ndarray]:
    """N* and D* of the posterior *mean* parameters: the point-fit answer, for comparison."""
    require_optimum(fit)
    mean = {name: float(fit.posterior[name].mean()) for name in fit.law.params}
    return fit.law.optimum(mean, np.asarray(compute, float), flops_of(fit, flops_per_param_token))


def split(fit, compute, params=None, tokens_per_param=None, flops_per_param_token=None):
    """N and D of a proposed choice at budget(s) C: a given N, or a tokens-per-parameter ratio."""
    k = flops_of(fit, flops_per_param_token)
    if (params is None) == (tokens_per_param is None):
        raise ArgumentError("params", "propose either params (N) or tokens_per_param (D/N)")
    compute = np.asarray(compute, float)
    if params is not None:
        n = np.asarray(check.positive(params, "params"))
    else:
        ratio = check.positive(tokens_per_param, "tokens_per_param")
        n = ratio_split(compute, ratio, k)["n_params"]
    return n, compute / (k * n)


def regret(
    fit, compute: float, params=None, tokens_per_param=None, flops_per_param_token=None
) -> xr.DataArray:
    """Posterior draws of regret(θ) = L(N, D; θ) − L*(θ) of a proposed choice at budget C (nats)."""
    k = flops_of(fit, flops_per_param_token)
    n, d = split(fit, compute, params, tokens_per_param, k)
    best = optimal_allocation(fit, [compute], k, exponent=False)["loss"].isel(budget=0, drop=True)
    return (law_loss(fit, n, d) - best).rename("regret")


def risk_table(draws: xr.DataArray, measures: dict[str, RiskMeasure] | None = None) -> pd.Series:
    """Apply risk measures to draws; default: mean, 90th and 95th percentiles, CVaR at 95%."""
    measures = measures or {
        "mean": expected(),
        "q90": quantile(0.90),
        "q95": quantile(0.95),
        "cvar95": cvar(0.95),
    }
    flat = np.asarray(draws).ravel()
    return pd.Series({name: f(flat) for name, f in measures.items()})


# --- choosing N under uncertainty ---------------------------------------------------------------


def choose_params(
    fit,
    compute: float,
    measure: RiskMeasure | None = None,
    flops_per_param_token=None,
    discrepancy: bool = True,
    n_star: xr.DataArray | None = None,
) -> float:
    """The N that minimises a risk measure of the posterior loss at budget C (D = C/(kN)).

    The loss carries the extrapolation discrepancy unless ``discrepancy=False``.

    ``measure = expected()`` gives the Bayes-optimal N (minimum posterior expected loss);
    ``measure = quantile(0.95)`` a tail-safe N (minimum 95th percentile of the loss).
    ``n_star``: the per-draw optimal N at this budget when already computed (it sets the search
    range, a decade either side of the draws').
    """
    k, measure = flops_of(fit, flops_per_param_token), measure or expected()
    compute = check.positive(compute, "compute")
    discrepancy = check.flag(discrepancy, "discrepancy")
    if n_star is None:
        n_star = optimal_allocation(fit, [compute], k, exponent=False)["n_params"]
    lo, hi = np.log(float(n_star.min()) / 10), np.log(float(n_star.max()) * 10)

    objective = _search_objective(fit, compute, k, measure, discrepancy)

    return float(np.exp(minimise_bounded(objective, lo, hi, xtol=1e-6)))


def _search_objective(fit, compute: float, k: float, measure: RiskMeasure, discrepancy: bool):
    """log N ↦ measure of :func:`loss_draws` at (N, C/(kN)), in plain numpy per evaluation.

    The law's parameters and E are taken out of the posterior once per budget, and so are the
    discrepancy's draws: its curves (:meth:`~bayes_scaling.discrepancy.record.Discrepancy.curves`)
    and the local misfit's normals, held at the one point each call asks for
    (:meth:`~bayes_scaling.discrepancy.local.LocalMisfit.along`, the marginal that
    :meth:`~bayes_scaling.discrepancy.record.Discrepancy.error` draws for a single point), so
    the draws are those of :func:`loss_draws` (to rounding) without its xarray work per call.
    """
    post = fit.posterior
    params = {name: np.asarray(post[name]) for name in fit.law.params}
    disc = fit.discrepancy if discrepancy else None
    floor = np.asarray(irreducible_loss(fit.law, post))
    shape = (post.sizes["chain"], post.sizes["draw"])
    seed = fit.settings.get("seed", 0)
    error_at = None if disc is None else _point_error(disc, shape, seed)

    def objective(log_n: float) -> float:
        n = np.exp(log_n)
        d = compute / (k * n)
        loss = fit.law.fn({"n_params": n, "n_tokens": d}, params, np)
        if error_at is not None:
            loss = with_error(
                loss, error_at({"n_params": n, "n_tokens": d, "compute": compute}), floor
            )
        return measure(np.asarray(loss).ravel())

    return objective


def _point_error(disc, shape, seed):
    """sizes of one point ↦ δ there per draw, shape ``shape``: the scaling record's draws in
    numpy (curves and normals drawn once), another kind's through its ``error``."""
    if disc.kind != "scaling":
        return lambda sizes: np.asarray(
            disc.error(sizes, draws_shape=shape, seed=seed).transpose("chain", "draw")
        )
    curve_error, local = disc.curve_error(draws_shape=shape, seed=seed), disc.local
    if local is None:
        return curve_error
    normals = local.normals(shape, seed)
    return lambda sizes: (
        curve_error(sizes) + local.along(sizes["n_params"], sizes["n_tokens"], normals)
    )


def frontier(
    fit,
    compute: float,
    n_params=None,
    prob=None,
    flops_per_param_token=None,
    discrepancy: bool = True,
    **aliases,
) -> xr.Dataset:
    """Expected loss against N at a fixed budget C, with its bands (the allocation frontier).

    Returns
    -------
    Dataset
        Over dim ``n_params``: ``expected_loss``, ``median`` and ``lower``/``upper`` (dims
        ``prob, n_params``) of the loss L(N, C/(kN); θ)·exp(δ) (δ = 0 with ``discrepancy=False``
        or a fit without one); ``n_tokens`` as a coordinate;
        attrs ``compute``, ``bayes_n`` and ``n_star_median``.
    """
    prob = check.renamed(aliases, "probs", "prob", prob, where="frontier")
    k = flops_of(fit, flops_per_param_token)
    compute = check.positive(compute, "compute")
    discrepancy = check.flag(discrepancy, "discrepancy")
    n_star = optimal_allocation(fit, [compute], k, exponent=False)["n_params"].isel(
        budget=0, drop=True
    )
    if n_params is None:
        n_params = np.geomspace(
            float(n_star.quantile(0.01)) / 4, float(n_star.quantile(0.99)) * 4, 60
        )
    else:
        n_params = check.positive_array(n_params, "n_params")
    n = xr.DataArray(np.asarray(n_params, float), dims="n_params")
    loss = loss_draws(fit, n, compute / (k * n), k, discrepancy=discrepancy)
    loss = loss.transpose("chain", "draw", "n_params")
    probs = np.asarray(check.probabilities((0.5, 0.9) if prob is None else prob, "prob"))
    ci = central_interval(loss, probs)
    ds = xr.Dataset(
        {
            "expected_loss": loss.mean(SAMPLE_DIMS),
            "median": loss.median(SAMPLE_DIMS),
            "lower": ci["lower"],
            "upper": ci["upper"],
        }
    ).assign_coords(n_params=n.values, n_tokens=("n_params", compute / (k * n.values)))
    ds.attrs.update(
        compute=float(compute),
        bayes_n=choose_params(fit, compute, expected(), k, discrepancy, n_star=n_star),
        n_star_median=float(n_star.median()),
        converged=int(fit.converged),
    )
    return ds
