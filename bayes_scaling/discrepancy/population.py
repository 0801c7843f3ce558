"""Learning the discrepancy's population prior: empirical Bayes across ladders.

:func:`fit_population` finds the hyper-parameters of the population prior of
:mod:`bayes_scaling.discrepancy.prior` from the ladders' log likelihood grids (see that module's
docstring for the model); :func:`~bayes_scaling.discrepancy.prior.population_prior` turns them into
the prior a fit uses. Only learning needs this module (``scripts/learn-discrepancy-prior``,
:mod:`bayes_scaling.trust.calibration`); a fit reads the shipped result.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.discrepancy.prior import (
    DRIFT_GRID,
    POPULATION_NU,
    logsumexp,
    population_log_weights,
)
from bayes_scaling.errors import ArgumentError


def _below(a: float, b: float) -> bool:
    """a < b, a NaN counting as +inf (never the better)."""
    return np.nan_to_num(a, nan=np.inf) < np.nan_to_num(b, nan=np.inf)


def fit_population(
    logliks, weights=None, nu: float | None = None, drift_spread: bool = False
) -> dict:
    """Empirical-Bayes hyper-parameters (μ, s, w) from ladders' log likelihood grids.

    With ``drift_spread`` the drift varies from ladder to ladder too, m_ℓ ~ Normal(m₀, s_m) on
    the grid, and (m₀, s_m) are learned with (μ, s, w)::

        max Σ_ℓ c_ℓ log Σ_{m, τ, γ} N(m; m₀, s_m)·p(τ, γ | μ, s, w)·exp(L_ℓ(m, τ, γ))

    so that a new ladder's drift is a draw from the population, not the ladders' common value
    (whose posterior narrows with every ladder added).

    Parameters
    ----------
    logliks : sequence of ndarray
        One (len(DRIFT_GRID), len(TAU_GRID), len(GAMMAS)) grid per ladder, from
        :func:`bayes_scaling.discrepancy.evidence.shared_loglik` (a grid with one drift
        value, m = 0, fits a population without drift).
    weights : sequence of float, optional
        Each ladder's weight c_ℓ (default 1).
    nu : float, optional
        Degrees of freedom of the log-t population of τ (default :data:`POPULATION_NU`).

    Returns
    -------
    dict
        ``mu``, ``s``, ``gamma_weights``, ``drift_log_weights`` (the drift's posterior given the
        ladders, or with ``drift_spread`` the population N(m₀, s_m), on the grid),
        ``log_marginal`` (the maximised objective), ``nu`` and, with ``drift_spread``,
        ``drift_mean`` and ``drift_sd``.
    """
    from scipy import optimize  # only when a population is learned

    grids = np.stack([np.asarray(g, float) for g in logliks])  # (ladder, M, T, G)
    c = np.ones(len(grids)) if weights is None else np.asarray(weights, float)

    # logsumexp over (τ, γ) of grid + log p as one matrix product: exp(grid − its max) is
    # computed once, so an evaluation costs a product, not an exp of the whole stack (~100x)
    top = grids.max(axis=(2, 3))  # (ladder, M)
    scaled = np.exp(grids - top[..., None, None]).reshape(*top.shape, -1)

    n_gamma = grids.shape[3] - 1

    def spread_weights(m0, log_sm):  # log N(m; m0, s_m) on the drift grid, normalised
        log_m = -0.5 * ((DRIFT_GRID - m0) / np.exp(log_sm)) ** 2
        return log_m - logsumexp(log_m)

    def per_ladder(mu, s, w):
        log_p = population_log_weights(mu, s, w, nu=nu)
        peak = log_p.max()
        with np.errstate(divide="ignore"):
            return np.log(scaled @ np.exp(log_p - peak).ravel()) + top + peak  # (ladder, M)

    def objective(theta):
        mu, log_s, *rest = theta
        z, extra = rest[:n_gamma], rest[n_gamma:]
        w = np.exp(np.r_[0.0, z])
        terms = per_ladder(mu, np.exp(log_s), w)
        if drift_spread:
            m0, log_sm = extra
            total = c @ logsumexp(terms + spread_weights(m0, log_sm), axis=1)
            penalty = -0.5 * ((log_sm - np.log(0.01)) / 2) ** 2  # weak, on the drift's spread
        else:
            total = logsumexp(c @ terms) - np.log(grids.shape[1])
            penalty = 0.0
        penalty += (2 - 1) * np.log(w / w.sum()).sum() - 0.5 * (log_s / 2) ** 2
        return -(total + penalty)

    # BFGS on finite-difference gradients: the objective is smooth in θ, and from each of three
    # starts it reaches the same optimum (to ~1e-5 nats) in 110-660 evaluations, where
    # Nelder-Mead took 1,300-2,300 and stopped short of it (0.002-0.017 nats on the tests'
    # ladders, 0.057 and 0.090 on the shipped evidence). A start whose BFGS run ends on a
    # non-finite value is rerun with Nelder-Mead; a non-finite result never wins.
    best = None
    for mu0 in (np.log(0.005), np.log(0.02), np.log(0.08)):
        start = np.r_[mu0, np.log(0.8), np.zeros(n_gamma)]
        if drift_spread:
            start = np.r_[start, -0.01, np.log(0.01)]
        res = optimize.minimize(objective, start, method="BFGS")
        if not np.isfinite(res.fun):
            res = optimize.minimize(
                objective, start, method="Nelder-Mead", options={"maxiter": 6000}
            )
        if best is None or _below(res.fun, best.fun):
            best = res
    if not np.isfinite(best.fun):
        raise ArgumentError(
            "logliks", "no start reached a finite marginal likelihood; check the ladders' grids"
        )
    mu, log_s, *rest = best.x
    w = np.exp(np.r_[0.0, rest[:n_gamma]])
    out = {
        "mu": float(mu),
        "s": float(np.exp(log_s)),
        "gamma_weights": (w / w.sum()).tolist(),
        "log_marginal": float(-best.fun),
        "nu": float(POPULATION_NU if nu is None else nu),
    }
    if drift_spread:
        m0, log_sm = rest[n_gamma:]
        out.update(
            drift_log_weights=spread_weights(m0, log_sm).tolist(),
            drift_mean=float(m0),
            drift_sd=float(np.exp(log_sm)),
        )
    else:
        drift = c @ per_ladder(mu, np.exp(log_s), w)
        out["drift_log_weights"] = (drift - logsumexp(drift)).tolist()
    return out
