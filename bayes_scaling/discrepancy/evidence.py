"""What backtests say about the discrepancy (m, τ, γ): held-out runs scored on a grid of (m, τ, γ).

Given a fit below a cut (its thinned posterior draws θ_s, s = 1..S) and the held-out runs above it
(log losses y_i, distances d_i beyond the fitted runs), two likelihoods of (m, τ, γ) are offered:

- :func:`shared_loglik` (the default): the held-out runs share one error curve, as the predictive
  assumes (one η per draw), and one noise scale (the Student-t as a scale mixture of Normals with
  a scale w shared by the runs, a multivariate t; a stated approximation of independent t's)::

      p(y | m, τ, γ) = (1/S) Σ_s ∫ N(y; μ_s + ḡ + m·b, (σ_s²/w)·I + Σ + τ²·a·aᵀ)
                                   Gamma(w; ν_s/2, ν_s/2) dw,      a_i = d_i^γ,   b_i = c_i^γ

  (d_i: decades beyond the fitted runs along the farthest axis; c_i: along compute, the drift's
  direction; g ~ N(ḡ, Σ): the local misfit of the fit below the cut at the held-out runs, when
  the prior was learned with it, :attr:`DiscrepancyPrior.local`; else ḡ = 0, Σ = 0)

  in closed form in y for each w (matrix determinant lemma), the w-integral by quadrature;
- :func:`independent_loglik` (the earlier default, no drift: m = 0): Π_i of each run's density
  with its own error, which counts n shifted runs as n independent pieces of evidence and makes
  τ's posterior narrow.

The error is scored on log loss, δ added to log L; near the data, where the held-out runs lie,
that is what :func:`~bayes_scaling.discrepancy.protocol.with_error` puts on a prediction to first
order (it differs only far out, where it keeps the loss above E).

:func:`estimate` runs a table's internal cuts (:func:`internal_cuts`), multiplies a prior
(:mod:`bayes_scaling.discrepancy.prior`) by the chosen likelihood and returns the
:class:`~bayes_scaling.discrepancy.record.Discrepancy`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling._lazy import scipy_function
from bayes_scaling._numeric import cubic_spline
from bayes_scaling.discrepancy.density import LOG_W, NORMAL_NU, log_gamma_weights
from bayes_scaling.discrepancy.local import learn as learn_local
from bayes_scaling.discrepancy.prior import DiscrepancyPrior, resolve_prior
from bayes_scaling.discrepancy.record import (
    AXES,
    Discrepancy,
    distance_beyond,
    reference_sizes,
)

logsumexp = scipy_function("special", "logsumexp")  # SciPy on first use

#: Fraction of the runs below each internal cut (then snapped to the next distinct value), unless
#: the prior says otherwise (the learned prior uses one cut: ``DiscrepancyPrior.fractions``).
INTERNAL_FRACTIONS = (0.6, 0.75, 0.9)
#: Quadrature nodes of the noise's Gamma mixture lighter than e^-PRUNE (relative to the heaviest,
#: for every draw) are dropped from the shared evidence: a relative change below 1e-13.
PRUNE = 30.0
#: Posterior draws of each refit used to score its held-out runs.
THIN_DRAWS = 100
#: Discrepancy sds at which held-out densities are tabulated (dense near 0), then interpolated
#: (independent evidence). Log-spaced from 0 (0.0001 offset): smooth in log(s + 0.0001).
SCALE_OFFSET = 1e-4
SCALES = np.exp(np.linspace(np.log(SCALE_OFFSET), np.log(1.0 + SCALE_OFFSET), 49)) - SCALE_OFFSET


def distances(law, below: pd.DataFrame, above: pd.DataFrame, weights=None) -> np.ndarray:
    """d_i: decades by which each run of ``above`` lies beyond the runs of ``below`` (axes
    weighted by ``weights``, see :func:`~bayes_scaling.discrepancy.record.distance_beyond`)."""
    return np.asarray(
        distance_beyond(
            reference_sizes(below, law),
            {a: above[a].to_numpy(float) for a in AXES if a in above},
            weights,
        )
    )


def compute_distances(below: pd.DataFrame, above: pd.DataFrame) -> np.ndarray:
    """c_i: decades by which each run of ``above`` lies beyond the runs of ``below`` in compute
    (the drift's distance); None when either table has no compute column."""
    if "compute" not in below or "compute" not in above:
        return None
    reference = {"compute": float(below["compute"].max())}
    return np.asarray(distance_beyond(reference, {"compute": above["compute"].to_numpy(float)}))


def held_out(
    post: xr.Dataset, law, above: pd.DataFrame, dist: np.ndarray, drift_dist=None, local=None
) -> dict:
    """What scoring needs of the held-out runs beyond the fitted ones (``dist`` > 0): ``y`` (m,),
    ``mu`` (S, m) log losses, ``sigma`` and ``nu`` (S, 1), distances ``d`` (m,) and, when
    ``drift_dist`` is given, the drift's distances ``drift_d`` (m,); with ``local`` (the fit's
    :class:`~bayes_scaling.discrepancy.local.LocalMisfit`), its ``gp_mean`` and ``gp_cov`` at
    the runs."""
    keep = dist > 0
    extra = {}
    if local is not None:
        n, d = (above.loc[keep, c].to_numpy(float) for c in ("n_params", "n_tokens"))
        extra["gp_mean"], extra["gp_cov"] = local.joint(n, d)
    post = _thin(post, THIN_DRAWS)
    x = {c: above.loc[keep, c].to_numpy(float) for c in law.inputs}
    return {
        "y": np.log(above.loc[keep, "loss"].to_numpy(float)),
        "mu": np.log(np.asarray(law.evaluate(post, x))),
        "sigma": post["sigma"].values[:, None],
        "nu": post["nu"].values[:, None] if "nu" in post else None,
        "d": np.asarray(dist)[keep],
        **({} if drift_dist is None else {"drift_d": np.asarray(drift_dist)[keep]}),
        **extra,
    }


def shared_loglik(
    likelihood,
    y,
    mu,
    sigma,
    nu,
    d,
    tau,
    gamma,
    drift=(0.0,),
    drift_d=None,
    gp_mean=None,
    gp_cov=None,
) -> np.ndarray:
    """log p(y | m, τ, γ) on the grid, the held-out runs sharing one error curve (module docstring).

    ``drift_d`` (default ``d``): the distances the drift grows with, b_i = drift_d_i^γ in the
    residual y − μ − m·b (the compute distance: the drift runs along compute, see
    :mod:`bayes_scaling.discrepancy.record`). ``gp_mean`` (m,) and ``gp_cov`` (m, m): the local
    misfit at the held-out runs (:meth:`~bayes_scaling.discrepancy.local.LocalMisfit.joint`),
    g ~ N(gp_mean, gp_cov) added to every draw's log loss and shared by the draws, so that τ is
    the error beyond it. Returns an array of shape (len(drift), len(tau),
    len(gamma)). On fine grids the density is computed on every :data:`STRIDE`-th τ
    (log-spaced) and drift and interpolated in between by not-a-knot cubic splines
    (:func:`bayes_scaling._numeric.cubic_spline`, in log τ and in m): it is smooth in both, and
    this is ~4x cheaper (the error on the posterior weights is below 1e-3 in total variation on
    the shipped grids: at most 2e-5 on the 13 corpus tables' default fits, and a test checks it
    on simulated held-out runs, near the law and far from it).
    """
    tau, drift = np.asarray(tau, float), np.asarray(drift, float)
    t_idx, k_idx = _coarse(len(tau), STRIDE[0]), _coarse(len(drift), STRIDE[1])
    if gp_mean is not None:
        mu = np.asarray(mu, float) + np.asarray(gp_mean, float)
    out = _shared_loglik(
        likelihood, y, mu, sigma, nu, d, tau[t_idx], gamma, drift[k_idx], drift_d, gp_cov
    )
    if len(t_idx) < len(tau):
        out = cubic_spline(np.log(tau[t_idx]), out, np.log(tau), axis=1)
    if len(k_idx) < len(drift):
        out = cubic_spline(drift[k_idx], out, drift, axis=0)
    return out


#: Strides of the coarse (τ, drift) grids on which :func:`shared_loglik` computes exactly. Every
#: drift value stays exact: a stride of 2 there saves ~0.1 s of a default fit (0.2 s here on the
#: 240 Chinchilla runs) but moved the posterior weights by up to 5e-3 in total variation when the
#: held-out runs lie close to the law (7.6e-4 on the starcoder ladder), against ~1e-5 as it is.
STRIDE = (4, 1)


def _coarse(n: int, stride: int) -> np.ndarray:
    """Every ``stride``-th index of ``n`` and the last one (all when the grid is short)."""
    if n < 8 * stride:
        return np.arange(n)
    return np.unique(np.r_[np.arange(0, n, stride), n - 1])


def _shared_loglik(
    likelihood, y, mu, sigma, nu, d, tau, gamma, drift, drift_d=None, gp_cov=None
) -> np.ndarray:
    """:func:`shared_loglik` exactly, on the grid given.

    For each draw s and noise node j the covariance is D + τ²·a·aᵀ with D = c·I + Σ (c = σ_s²/w_j,
    Σ the local misfit's, 0 without one). In the eigenbasis of Σ (Σ = U Λ Uᵀ, r' = Uᵀr, a' = Uᵀa)
    D is diagonal, c + λ_i, and with q(u, v) = Σ_i u_i v_i / (c + λ_i)::

        log N = −½ [m log 2π + Σ_i log(c + λ_i) + log(1 + τ² q(a', a'))
                    + q(r', r') − τ² q(a', r')² / (1 + τ² q(a', a'))]

    (the matrix determinant lemma and Sherman-Morrison), with r − m·b for the drift.
    """
    r = np.asarray(y, float)[None, :] - np.asarray(mu, float)  # (S, m)
    n_draws, m = r.shape
    sigma2 = np.asarray(sigma, float).reshape(n_draws, 1) ** 2  # (S, 1)
    if likelihood == "normal" or nu is None:
        log_c = np.log(sigma2)  # (S, 1): one component, w = 1
        log_q = np.zeros((n_draws, 1))
    else:
        nu = np.asarray(nu, float).reshape(n_draws, 1)
        log_c = np.log(sigma2) - LOG_W[None, :]  # (S, J): c = σ²/w
        log_q = log_gamma_weights(nu)  # (S, J)
        normal = (nu > NORMAL_NU)[:, 0]
        log_c[normal], log_q[normal] = np.log(sigma2[normal]), -np.inf
        log_q[normal, 0] = 0.0
    keep = log_q.max(axis=0) > log_q.max() - PRUNE  # nodes of weight > e^-PRUNE for some draw
    log_c, log_q = log_c[:, keep], log_q[:, keep]
    c = np.exp(log_c)[:, :, None]  # (S, J, 1)
    if gp_cov is None:  # D = c·I: every q is a plain sum over c

        def q(u, v):  # Σ_i u_i v_i / c for u·v of shape (m,) or (S, m): (S, J, 1)
            return np.asarray((u * v).sum(axis=-1)).reshape(-1, 1, 1) / c

        logdet = m * np.log(c)
    else:
        lam, vec = np.linalg.eigh(np.asarray(gp_cov, float))
        inv = 1.0 / (c + np.clip(lam, 0, None))  # (S, J, m)
        r = r @ vec

        def q(u, v):  # Σ_i u_i v_i / (c + λ_i): (S, J, 1)
            w = u * v
            return np.einsum("sjm,m->sj" if w.ndim == 1 else "sjm,sm->sj", inv, w)[..., None]

        logdet = -np.log(inv).sum(axis=-1, keepdims=True)
    q_rr = q(r, r)  # (S, J, 1)
    tau2 = np.asarray(tau, float)[None, None, :] ** 2  # (1, 1, T)
    out = np.empty((len(drift), len(tau), len(gamma)))
    for g, gam in enumerate(gamma):
        a = np.asarray(d, float) ** gam
        b = a if drift_d is None else np.asarray(drift_d, float) ** gam  # the drift's design
        if gp_cov is not None:
            a, b = a @ vec, b @ vec
        q_aa, q_ab, q_bb = q(a, a), q(a, b), q(b, b)
        q_ar, q_br = q(r, a[None]), q(r, b[None])
        base = log_q[:, :, None] - 0.5 * (m * np.log(2 * np.pi) + logdet + np.log1p(tau2 * q_aa))
        half_shrink = 0.5 * tau2 / (1 + tau2 * q_aa)  # (S, J, T)
        # with the Student-t's quadrature nodes the sum over draws and nodes runs in float32
        # (half the time; after recentring the terms are ≤ 1 and 7 digits are plenty for a log
        # density: ~1e-5 nats), the rest in float64; a Normal (one node) stays in float64
        fast = np.float32 if c.shape[1] > 1 else np.float64
        base, half_shrink = base.astype(fast), half_shrink.astype(fast)
        for k, shift in enumerate(drift):  # residuals r − m·b
            rr_k = q_rr - 2 * shift * q_br + shift**2 * q_bb
            ar_k = q_ar - shift * q_ab
            lp = base - (0.5 * rr_k).astype(fast)
            lp += ar_k.astype(fast) ** 2 * half_shrink  # (S, J, T)
            top = lp.max(axis=(0, 1))
            lp -= top
            np.exp(lp, out=lp)
            out[k, :, g] = top + np.log(lp.sum(axis=(0, 1), dtype=np.float64))
    return out - np.log(n_draws)


def independent_loglik(
    likelihood, y, mu, sigma, nu, d, tau, gamma, drift=(0.0,), drift_d=None
) -> np.ndarray:
    """log Π_i (1/S) Σ_s p(y_i | θ_s, error sd τ·d_i^γ), each run with its own error; no drift
    (``drift`` must be ``(0,)``; ``drift_d`` is ignored). Shape (1, len(tau), len(gamma))."""
    if np.any(np.asarray(drift) != 0):
        raise ValueError("independent evidence has no drift")
    curves = _scale_curves(likelihood, y, mu, sigma, nu)
    sds = np.minimum(np.asarray(tau)[:, None, None] * d ** np.asarray(gamma)[None, :, None], 1.0)
    grid = np.log(SCALES + SCALE_OFFSET)
    out = np.zeros((len(tau), len(gamma)))
    for k in range(len(d)):  # sds: (tau, gamma, run)
        out += np.interp(np.log(sds[..., k] + SCALE_OFFSET), grid, curves[:, k])
    return out[None]


EVIDENCE = {"shared": shared_loglik, "independent": independent_loglik}


def _scale_curves(likelihood, y, mu, sigma, nu) -> np.ndarray:
    """log (1/S) Σ_s p(y_i | θ_s, s) on :data:`SCALES`: shape (len(SCALES), runs).

    The same quantity as :func:`log_density_with_error`, arranged so that the Gamma-mixture
    terms that do not depend on the run (σ_s²/w_j and the quadrature weights) are computed once.
    """
    r2 = (np.asarray(y, float) - np.asarray(mu, float)) ** 2  # (S, m)
    sigma2 = np.broadcast_to(np.asarray(sigma, float), r2.shape)[:, :1] ** 2  # (S, 1)
    n_draws = r2.shape[0]
    if likelihood == "normal" or nu is None:
        var = sigma2 + SCALES[:, None, None] ** 2  # (K, S, 1)
        lp = -0.5 * (np.log(2 * np.pi * var) + r2 / var)
        return logsumexp(lp, axis=1) - np.log(n_draws)
    log_q = log_gamma_weights(np.broadcast_to(np.asarray(nu, float), r2.shape)[:, :1])  # (S, J)
    base = sigma2 / np.exp(LOG_W)  # (S, J)
    curves = np.empty((len(SCALES), r2.shape[1]))
    for k, scale in enumerate(SCALES):
        var = base + scale**2  # (S, J)
        # The mixture is summed in linear space: its widest components (w -> 1e-6, variance
        # σ²·1e6) keep every sum far from underflow, and this is ~4x faster than a logsumexp.
        weight = np.exp(log_q - 0.5 * np.log(2 * np.pi * var))  # (S, J)
        dens = np.einsum("smj,sj->sm", np.exp(-0.5 * r2[:, :, None] / var[:, None, :]), weight)
        curves[k] = logsumexp(np.log(np.maximum(dens, np.finfo(float).tiny)), axis=0)
    return curves - np.log(n_draws)


def internal_cuts(
    runs: pd.DataFrame, cut_on: str, n_params: int, fractions=INTERNAL_FRACTIONS
) -> list[float]:
    """Cuts inside the runs, with a share ``fractions`` of them below each, leaving
    >= max(10, 3·n_params) runs to fit and >= 3 to check."""
    values = np.sort(runs[cut_on].to_numpy(float))
    min_fit = max(10, 3 * n_params)
    cuts = []
    for frac in fractions:
        idx = int(np.ceil(frac * len(values)))
        if idx >= len(values):
            continue
        cut = values[idx]
        n_fit, n_check = int((values < cut).sum()), int((values >= cut).sum())
        if n_fit >= min_fit and n_check >= 3 and cut not in cuts:
            cuts.append(float(cut))
    return cuts


def internal_refits(
    fit_fn, runs: pd.DataFrame, law, cuts, cut_on: str, weights=None, unscored=None
):
    """For each cut with runs beyond the fitted ones: ``(cut, below, above, dist, drift_dist,
    posterior)``, the refit ``fit_fn(below)`` skipped when it did not converge (None): a cut
    learns nothing then. Runs marked in ``unscored`` (a mask over ``runs``) are fitted when below
    a cut but never scored above one (their ``dist`` is 0)."""
    for cut in cuts:
        side = runs[cut_on].to_numpy(float) >= cut
        below = runs[~side].reset_index(drop=True)
        above = runs[side].reset_index(drop=True)
        dist = distances(law, below, above, weights)
        if unscored is not None:
            dist = np.where(np.asarray(unscored, bool)[side], 0.0, dist)
        if not (dist > 0).any():
            continue
        inner = fit_fn(below)
        if inner is not None:
            yield cut, below, above, dist, compute_distances(below, above), inner


def _thin(posterior: xr.Dataset, n: int) -> xr.Dataset:
    stacked = posterior.stack(sample=("chain", "draw"))
    step = max(1, stacked.sizes["sample"] // n)
    return stacked.isel(sample=slice(None, None, step))


def estimate(
    fit_fn,
    runs: pd.DataFrame,
    law,
    likelihood: str,
    cut_on: str = "compute",
    prior: DiscrepancyPrior | str | None = None,
    outliers=None,
) -> Discrepancy:
    """The discrepancy's grid posterior: ``prior`` times rolling backtests inside ``runs``.

    Parameters
    ----------
    fit_fn : callable
        ``fit_fn(table) -> posterior`` (an ``xarray.Dataset`` of draws of the same law, priors
        and settings, without a discrepancy), or None when that refit did not converge (its cut
        is then skipped).
    runs : DataFrame
        The runs of the main fit.
    law : Law
    likelihood : str
    cut_on : str
        Axis of the internal cuts (the backtest's axis, or compute).
    prior : DiscrepancyPrior or str, optional
        See :func:`bayes_scaling.discrepancy.prior.resolve_prior` (default: the learned one).
    outliers : array of bool, optional
        Runs of ``runs`` the main fit sets apart
        (:func:`~bayes_scaling.model.likelihoods.outlying_runs`): fitted below a cut, never
        scored above one.

    Returns
    -------
    Discrepancy
    """
    prior = resolve_prior(prior)
    log_post = prior.log_weights.copy()
    score = EVIDENCE[prior.evidence]
    used, n_checked = [], 0
    cuts = internal_cuts(runs, cut_on, len(law.params), prior.fractions)
    on_compute = prior.drift_on == "compute" and "compute" in runs
    axis_weights = prior.axis_weights
    for cut, below, above, dist, along, inner in internal_refits(
        fit_fn, runs, law, cuts, cut_on, axis_weights, unscored=outliers
    ):
        local = learn_local(below, law, inner) if prior.local else None
        scored = held_out(inner, law, above, dist, along if on_compute else None, local)
        log_post += score(likelihood, **scored, tau=prior.tau, gamma=prior.gamma, drift=prior.drift)
        used.append(cut)
        n_checked += len(scored["y"])
    weights = np.exp(log_post - log_post.max())
    return Discrepancy(
        drift=prior.drift,
        tau=prior.tau,
        gamma=prior.gamma,
        weights=weights / weights.sum(),
        reference=reference_sizes(runs, law),
        cut_on=cut_on,
        cuts=tuple(used),
        n_checked=n_checked,
        prior=prior.name,
        drift_on="compute" if on_compute else "distance",
        axis_weights=dict(axis_weights),
    )
