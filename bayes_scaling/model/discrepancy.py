"""Extrapolation discrepancy: the part of the error beyond the data that parameters cannot explain.

Parameter uncertainty plus i.i.d. run noise under-covers held-out runs beyond the data (on
chinchilla-epoch, fit below 1e21 FLOPs: 61% of the 23 larger runs inside the 90% intervals). The
law is misspecified, and the error of its extrapolation grows with distance from the data. We model
that error on the log-loss scale as a term that is zero inside the data and grows with the distance
beyond it::

    log loss(x) = log L(x; θ) + δ(x) + ε,     δ(x) = τ · d(x)^γ · η,    η ~ Normal(0, 1)

- d(x) is the number of decades by which x lies beyond the fitted runs, along the worst axis::

      d(x) = max_a max(0, log10(x_a / max_i x_{i,a})),   a ∈ {compute} ∪ law inputs

  (a run at 10x the largest training compute has d = 1; so has one with 10x the most tokens);
- γ sets how the error grows: γ = 1 is a random slope (linear growth), γ = 0.5 a random walk
  in log distance (Brownian motion: sd ∝ sqrt(d)), smaller γ an error that appears as soon as one
  steps out of the data and then grows slowly;
- τ (log-loss error at one decade beyond the data) and γ are *learned from the runs themselves* by
  rolling backtests inside them: the law is refitted below a few internal cuts and the held-out runs
  above each cut are scored. With those held-out runs' parameter-only predictive draws
  (μ_s, σ_s, ν_s) and their distances d_i, the grid posterior is

      p(τ, γ | backtests) ∝ HalfNormal(τ; s_τ) · U(γ) ·
                           Π_i (1/S) Σ_s ∫ t_ν_s(y_i; μ_si + τ d_i^γ z, σ_s) φ(z) dz

  with the z-integral done through the t's Gamma scale mixture (Normal likelihood: the exact
  convolution; see :func:`log_density_with_error`), tabulated per run on a grid of sds.
  The held-out runs are treated as independent given τ, so the τ posterior is, if anything, too
  narrow; the cuts are nested, so they are not independent either. Both are stated limits.
- Every posterior draw s gets its own (τ_s, γ_s) (from that grid posterior) and its own η_s,
  shared by all points: one draw is one "law error curve", so fan charts and allocation see
  smooth curves.

The fitted compiled model is reused for the internal refits (no recompilation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import gammaln, logsumexp

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.model.likelihoods import normal_logpdf, t_logpdf

#: Prior scale s_τ of τ ~ HalfNormal(s_τ): log-loss error per decade beyond the data.
PRIOR_SCALE = 0.05
#: Fraction of the runs below each internal cut (then snapped to the next distinct value).
INTERNAL_FRACTIONS = (0.6, 0.75, 0.9)
GRID_SIZE = 121
#: Growth exponents γ considered (uniform prior over them).
GAMMAS = (0.25, 0.5, 0.75, 1.0)
THIN_DRAWS = 100
#: log w nodes of the Gamma scale mixture behind the Student-t (see log_density_with_error).
LOG_W = np.linspace(np.log(1e-6), np.log(8.0), 96)
NORMAL_NU = 50.0
#: Discrepancy sds at which held-out densities are tabulated (dense near 0), then interpolated.
#: Log-spaced from 0 (0.0001 offset): held-out log densities are smooth in log(s + 0.0001).
SCALE_OFFSET = 1e-4
SCALES = np.exp(np.linspace(np.log(SCALE_OFFSET), np.log(1.0 + SCALE_OFFSET), 49)) - SCALE_OFFSET
AXES = ("compute", "n_params", "n_tokens", "unique_tokens")


@dataclass(frozen=True)
class Discrepancy:
    """The learned extrapolation discrepancy of one fit (see the module docstring).

    Attributes
    ----------
    tau : ndarray
        Grid of τ values (sd of the log-loss error one decade beyond the data).
    gamma : ndarray
        Grid of growth exponents γ.
    weights : ndarray
        Posterior probability of each (τ, γ) grid cell, shape (len(tau), len(gamma)).
    reference : dict
        Largest value of each axis in the fitted runs; d(x) is measured from these.
    cut_on : str
        Axis of the internal cuts.
    cuts : tuple of float
        Internal cuts used ("fit below, check above"); empty when none was possible.
    n_checked : int
        Held-out runs beyond their internal cut's data that informed τ.
    prior_scale : float
        s_τ of the HalfNormal prior.
    """

    tau: np.ndarray
    gamma: np.ndarray
    weights: np.ndarray
    reference: dict
    cut_on: str
    cuts: tuple
    n_checked: int
    prior_scale: float = PRIOR_SCALE

    @property
    def learned(self) -> bool:
        """False when no internal cut was possible and τ is the prior alone."""
        return self.n_checked > 0

    def quantiles(self, probs=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Posterior quantiles of τ (marginal over γ)."""
        cdf = np.cumsum(self.weights.sum(axis=1))
        return np.interp(probs, cdf / cdf[-1], self.tau)

    def gamma_mean(self) -> float:
        return float((self.weights.sum(axis=0) * self.gamma).sum() / self.weights.sum())

    def describe(self) -> str:
        lo, med, hi = self.quantiles()
        source = (
            f"learned from {self.n_checked} held-out runs at {len(self.cuts)} internal cuts on "
            f"{self.cut_on}"
            if self.learned
            else "prior only (no usable internal backtest: too few runs, or the refits on "
            "the smaller runs failed)"
        )
        return (
            f"extrapolation discrepancy: sd {med:.3g} of log loss at 10x beyond the data "
            f"(90% {lo:.3g}-{hi:.3g}), growing as distance^{self.gamma_mean():.2g}, {source}"
        )

    def distance(self, sizes) -> xr.DataArray:
        """d(x): decades beyond the fitted runs along the worst axis (0 inside the data)."""
        return distance_beyond(self.reference, sizes)

    def draw_scale(self, shape, seed) -> tuple[np.ndarray, np.ndarray]:
        """(τ, γ) draws from the grid posterior (τ jittered uniformly within its grid cell)."""
        rng = np.random.default_rng([int(seed), 7])
        flat = self.weights.ravel() / self.weights.sum()
        i_tau, i_gamma = np.unravel_index(
            rng.choice(flat.size, size=shape, p=flat), self.weights.shape
        )
        step = self.tau[1] - self.tau[0]
        tau = np.clip(self.tau[i_tau] + rng.uniform(-step / 2, step / 2, shape), 0, None)
        return tau, self.gamma[i_gamma]

    def sd(self, posterior: xr.Dataset, sizes, seed) -> xr.DataArray:
        """Per-draw sd τ_s·d(x)^γ_s of δ, dims (chain, draw, ...point dims)."""
        shape = (posterior.sizes["chain"], posterior.sizes["draw"])
        tau, gamma = self.draw_scale(shape, seed)
        dims = ("chain", "draw")
        return xr.DataArray(tau, dims=dims) * self.distance(sizes) ** xr.DataArray(gamma, dims=dims)

    def error(self, posterior: xr.Dataset, sizes, seed) -> xr.DataArray:
        """δ(x) = τ_s·d(x)^γ_s·η_s on log loss, dims (chain, draw, ...point dims)."""
        shape = (posterior.sizes["chain"], posterior.sizes["draw"])
        eta = np.random.default_rng([int(seed), 11]).standard_normal(shape)
        return xr.DataArray(eta, dims=("chain", "draw")) * self.sd(posterior, sizes, seed)

    def to_dataset(self) -> xr.Dataset:
        """For the fit's DataTree group ``discrepancy`` (NetCDF-safe attributes)."""
        return xr.Dataset(
            {"weights": (("tau", "gamma"), self.weights)},
            coords={"tau": self.tau, "gamma": self.gamma},
            attrs={
                "cut_on": self.cut_on,
                "cuts": list(map(float, self.cuts)) or [np.nan],
                "n_checked": int(self.n_checked),
                "prior_scale": float(self.prior_scale),
                "reference_axes": list(self.reference),
                "reference_values": [float(v) for v in self.reference.values()],
            },
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Discrepancy:
        a = ds.attrs
        cuts = tuple(float(c) for c in np.atleast_1d(a["cuts"]) if np.isfinite(c))
        axes = [str(x) for x in np.atleast_1d(a["reference_axes"])]
        values = [float(v) for v in np.atleast_1d(a["reference_values"])]
        return cls(
            tau=np.asarray(ds["tau"], float),
            gamma=np.asarray(ds["gamma"], float),
            weights=np.asarray(ds["weights"], float),
            reference=dict(zip(axes, values, strict=True)),
            cut_on=str(a["cut_on"]),
            cuts=cuts,
            n_checked=int(a["n_checked"]),
            prior_scale=float(a["prior_scale"]),
        )


def distance_beyond(reference: dict, sizes) -> xr.DataArray:
    """d(x) = max over axes of max(0, log10(x_a / reference_a)), for the axes given in ``sizes``."""
    parts = []
    for axis, ref in reference.items():
        value = sizes.get(axis)
        if value is None:
            continue
        value = value if isinstance(value, xr.DataArray) else xr.DataArray(np.asarray(value))
        parts.append(np.log10(value / ref).clip(min=0))
    if not parts:
        raise BayesScalingError("no size given to measure the distance beyond the data")
    out = parts[0]
    for p in parts[1:]:
        out = np.maximum(out, p)
    return out


def reference_sizes(runs: pd.DataFrame, law) -> dict:
    """Largest value per axis among the fitted runs (compute and the law's inputs)."""
    axes = [a for a in AXES if a in runs.columns and (a == "compute" or a in law.inputs)]
    return {a: float(runs[a].max()) for a in axes}


def _log_gamma_weights(nu) -> np.ndarray:
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
    log_q = _log_gamma_weights(nu[..., None])
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
    log_q = _log_gamma_weights(nu[:, None])
    var = sigma[:, None] ** 2 / np.exp(LOG_W) + scale[:, None] ** 2
    terms = log_q - 0.5 * np.log(2 * np.pi * var) - 0.5 * (y - mu)[:, None] ** 2 / var
    mix = logsumexp(terms, axis=1)
    return np.where(nu > NORMAL_NU, normal_logpdf(y - mu, np.hypot(sigma, scale)), mix)


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
    log_q = _log_gamma_weights(np.broadcast_to(np.asarray(nu, float), r2.shape)[:, :1])  # (S, J)
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


def internal_cuts(runs: pd.DataFrame, cut_on: str, n_params: int) -> list[float]:
    """Cuts inside the runs leaving >= max(10, 3·n_params) runs to fit and >= 3 to check."""
    values = np.sort(runs[cut_on].to_numpy(float))
    min_fit = max(10, 3 * n_params)
    cuts = []
    for frac in INTERNAL_FRACTIONS:
        idx = int(np.ceil(frac * len(values)))
        if idx >= len(values):
            continue
        cut = values[idx]
        n_fit, n_check = int((values < cut).sum()), int((values >= cut).sum())
        if n_fit >= min_fit and n_check >= 3 and cut not in cuts:
            cuts.append(float(cut))
    return cuts


def _thin(posterior: xr.Dataset, n: int) -> xr.Dataset:
    stacked = posterior.stack(sample=("chain", "draw"))
    step = max(1, stacked.sizes["sample"] // n)
    return stacked.isel(sample=slice(None, None, step))


def estimate(fit_fn, runs: pd.DataFrame, law, likelihood: str, cut_on: str = "compute"):
    """Learn τ by rolling backtests inside ``runs`` (see the module docstring).

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

    Returns
    -------
    Discrepancy
    """
    tau = np.linspace(0.0, 6 * PRIOR_SCALE, GRID_SIZE)
    gamma = np.asarray(GAMMAS, float)
    log_post = np.repeat((-0.5 * (tau / PRIOR_SCALE) ** 2)[:, None], len(gamma), axis=1)
    cuts = internal_cuts(runs, cut_on, len(law.params))
    used, n_checked = [], 0
    for cut in cuts:
        below = runs[runs[cut_on] < cut].reset_index(drop=True)
        above = runs[runs[cut_on] >= cut].reset_index(drop=True)
        dist = distance_beyond(
            reference_sizes(below, law), {a: above[a].to_numpy(float) for a in AXES if a in above}
        )
        keep = np.asarray(dist) > 0
        if not keep.any():
            continue
        inner = fit_fn(below)
        if inner is None:  # the internal refit did not converge: do not learn from it
            continue
        post = _thin(inner, THIN_DRAWS)
        x = {c: above.loc[keep, c].to_numpy(float) for c in law.inputs}
        mu = np.log(np.asarray(law.evaluate(post, x)))  # (sample, run)
        y = np.log(above.loc[keep, "loss"].to_numpy(float))
        sigma = post["sigma"].values[:, None]
        nu = post["nu"].values[:, None] if "nu" in post else None
        d = np.asarray(dist)[keep]
        curves = _scale_curves(likelihood, y, mu, sigma, nu)
        sds = np.minimum(tau[:, None, None] * d ** gamma[None, :, None], SCALES[-1])
        grid = np.log(SCALES + SCALE_OFFSET)
        for k in range(len(d)):  # sds: (tau, gamma, run)
            log_post += np.interp(np.log(sds[..., k] + SCALE_OFFSET), grid, curves[:, k])
        used.append(cut)
        n_checked += int(keep.sum())
    weights = np.exp(log_post - log_post.max())
    return Discrepancy(
        tau=tau,
        gamma=gamma,
        weights=weights / weights.sum(),
        reference=reference_sizes(runs, law),
        cut_on=cut_on,
        cuts=tuple(used),
        n_checked=n_checked,
    )
