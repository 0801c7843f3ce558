"""The predictive density of a run given a discrepancy's error: the run noise (Student-t or
Normal on log loss) convolved with a Normal error of sd s = τ·d^γ at each point, exactly, by the
Gamma scale mixture behind the Student-t (:func:`log_density_with_error`). Used by the backtests'
scores and the internal evidence of :mod:`bayes_scaling.discrepancy.evidence`."""

from __future__ import annotations

import numpy as np

from bayes_scaling._lazy import scipy_function
from bayes_scaling.model.likelihoods import normal_logpdf, t_logpdf

gammaln = scipy_function("special", "gammaln")  # SciPy on first use
logsumexp = scipy_function("special", "logsumexp")

#: log w nodes of the Gamma scale mixture behind the Student-t (see log_density_with_error).
LOG_W = np.linspace(np.log(1e-6), np.log(8.0), 96)
NORMAL_NU = 50.0


def log_gamma_weights(nu) -> np.ndarray:
    """log quadrature weights of Gamma(w; ν/2, ν/2) on :data:`LOG_W` (trapezoid in log w).

    ``nu`` has shape (..., 1); the result (..., len(LOG_W)). ν is capped at :data:`NORMAL_NU`.
    """
    a = np.minimum(nu, NORMAL_NU) / 2
    return a * np.log(a) - gammaln(a) + a * LOG_W - a * np.exp(LOG_W) + np.log(LOG_W[1] - LOG_W[0])


def log_density_with_error(likelihood, y, mu, sigma, nu, scale) -> np.ndarray:
    """log ∫ p_noise(y − μ − s·z) φ(z) dz elementwise, for broadcastable arrays.

    ``scale`` s = τ·d^γ is the discrepancy's sd at each point; s = 0 gives the plain density.
    Normal noise: the exact convolution N(μ, σ² + s²). Student-t noise: the t as a Gamma scale
    mixture of Normals, t_ν(σ) = ∫ N(0, σ²/w) Gamma(w; ν/2, ν/2) dw, so that

        p(y) = ∫ N(y; μ, σ²/w + s²) Gamma(w; ν/2, ν/2) dw,

    integrated by the trapezoid rule in log w on :data:`LOG_W` (accurate to ~0.01 in log density
    for 1 ≤ ν ≤ 50, far tails included); ν > 50 is treated as Normal.
    """
    y, mu, sigma, scale = (np.asarray(v, float) for v in (y, mu, sigma, scale))
    shape = np.broadcast_shapes(y.shape, mu.shape, sigma.shape, scale.shape)
    r2, sigma2, scale2 = (y - mu) ** 2, sigma**2, scale**2
    normal = np.broadcast_to(normal_logpdf(y - mu, np.sqrt(sigma2 + scale2)), shape)
    if likelihood == "normal" or nu is None:
        return normal.copy()
    nu = np.asarray(nu, float)
    if not scale.any():  # no discrepancy: the Student-t density itself
        return np.broadcast_to(t_logpdf(y - mu, sigma, nu), shape).copy()
    # Gamma weights depend on ν only (one per draw), not on the run: computed once, and the
    # mixture summed in linear space; the rare elements where that underflows are redone in logs.
    log_q = log_gamma_weights(nu[..., None])
    total = np.zeros(shape)
    for j, log_w in enumerate(LOG_W):
        var = sigma2 / np.exp(log_w) + scale2
        total += np.exp(log_q[..., j] - 0.5 * np.log(2 * np.pi * var) - 0.5 * r2 / var)
    with np.errstate(divide="ignore"):
        out = np.log(total)
    out = np.where(np.broadcast_to(nu, shape) > NORMAL_NU, normal, out)
    redo = ~np.isfinite(out) | (total < 1e-280)
    if redo.any():
        args = (np.broadcast_to(a, shape)[redo] for a in (y, mu, sigma, nu, scale))
        out[redo] = _log_mixture_in_logs(*args)
    return out


def _log_mixture_in_logs(y, mu, sigma, nu, scale) -> np.ndarray:
    """The Gamma-mixture density of 1-D arrays by logsumexp (slow, never underflows)."""
    log_q = log_gamma_weights(nu[:, None])
    var = sigma[:, None] ** 2 / np.exp(LOG_W) + scale[:, None] ** 2
    terms = log_q - 0.5 * np.log(2 * np.pi * var) - 0.5 * (y - mu)[:, None] ** 2 / var
    mix = logsumexp(terms, axis=1)
    return np.where(nu > NORMAL_NU, normal_logpdf(y - mu, np.hypot(sigma, scale)), mix)
