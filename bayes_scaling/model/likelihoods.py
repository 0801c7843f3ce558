"""Likelihoods on log loss: Student-t (default) and Normal.

With μ = log L(x; θ) and y = log(observed loss):

- ``student_t``: y ~ StudentT(ν, μ, σ). Heavy tails make the fit robust to the odd run, which is
  what Hoffmann et al.'s Huber loss guards against; ν is learned.
- ``normal``: y ~ Normal(μ, σ).

σ is learned in both. Each likelihood is defined three ways from the same parameters: the PyMC
observed variable, the pointwise log density (closed form) for the ``log_likelihood`` group and
LOO, and noise draws for predictive bands.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from bayes_scaling.errors import BayesScalingError

_LGAMMA = np.frompyfunc(math.lgamma, 1, 1)


def gammaln(x):
    """log Γ(x) as a ufunc (numpy or xarray) from ``math.lgamma``: a saved fit's log likelihood
    is recomputed on load, and SciPy's ``special`` (0.35 s to import) would be its only use."""
    out = _LGAMMA(x)
    return out.astype(float) if hasattr(out, "astype") else float(out)


LIKELIHOODS = ("student_t", "normal")


def check_likelihood(name: str) -> str:
    if name not in LIKELIHOODS:
        raise BayesScalingError(f"unknown likelihood {name!r}; choose one of {list(LIKELIHOODS)}")
    return name


def observe(name: str, mu, sigma, nu, observed, shape):
    """Add the observed log-loss variable ``log_loss`` to the current PyMC model."""
    import pymc as pm  # only where a PyMC object is built: loading a fit never imports PyMC

    if name == "student_t":
        return pm.StudentT("log_loss", nu=nu, mu=mu, sigma=sigma, observed=observed, shape=shape)
    return pm.Normal("log_loss", mu=mu, sigma=sigma, observed=observed, shape=shape)


def t_logpdf(resid, sigma, nu):
    """log StudentT(resid; ν, 0, σ), written out (numpy or xarray; scipy.stats' per-call overhead
    cost 0.13 s a fit of 240 runs)."""
    const = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi) - np.log(sigma)
    return const - (nu + 1) / 2 * np.log1p((resid / sigma) ** 2 / nu)


def normal_logpdf(resid, sd):
    """log Normal(resid; 0, sd), written out (numpy or xarray)."""
    return -0.5 * (np.log(2 * np.pi) + (resid / sd) ** 2) - np.log(sd)


def log_density(
    name: str, posterior: xr.Dataset, mu: xr.DataArray, y: xr.DataArray
) -> xr.DataArray:
    """Pointwise log density of observed log losses ``y`` for every draw (dims of ``mu``)."""
    if name == "student_t":
        return t_logpdf(y - mu, posterior["sigma"], posterior["nu"])
    return normal_logpdf(y - mu, posterior["sigma"])


#: Elements (draws x runs) evaluated at a time by :func:`residual_draws` and
#: :func:`log_density_draws`: blocks of 1 MiB a temporary instead of one array of every draw at
#: every run (10,000 runs x 4,000 draws took 10 s that way, most of it allocating 320 MB
#: temporaries).
#: On 240 runs x 4,000 draws, blocks of 2^17 rather than 10^6 elements took 28 ms instead of 40
#: with a traced peak of 11 MiB instead of 29 (the output itself is 7.3 MiB), the same values.
BLOCK_ELEMENTS = 131_072


def residual_draws(law, posterior: xr.Dataset, inputs, y) -> np.ndarray:
    """y_i − log f(x_i; θ_s) for every draw s (chain × draw, flattened) and run i, shape
    (draws, runs), computed in blocks of draws (:data:`BLOCK_ELEMENTS`) with numpy: the law's
    function broadcasts a block of draws (column) against the runs (row)."""
    y = np.asarray(y, float)
    x = {k: np.asarray(v, float)[None, :] for k, v in inputs.items()}
    flat = {
        k: np.asarray(posterior[k].transpose("chain", "draw"), float).reshape(-1, 1)
        for k in law.params
    }
    out = np.empty((len(flat[law.params[0]]), len(y)))
    step = max(1, BLOCK_ELEMENTS // max(len(y), 1))
    for start in range(0, len(out), step):
        block = {k: v[start : start + step] for k, v in flat.items()}
        out[start : start + step] = y[None, :] - np.log(law.fn(x, block, np))
    return out


def log_density_draws(
    name: str, posterior: xr.Dataset, residuals: np.ndarray, *, overwrite: bool = False
) -> xr.DataArray:
    """log p(y_i | θ_s) from the residuals of :func:`residual_draws` (draws × runs) and each
    draw's noise (σ, and ν for the Student-t), dims ``(chain, draw, run)``; in blocks of draws.
    ``overwrite``: written over ``residuals`` (no second array) when the caller is done with
    them."""
    noise = [k for k in ("sigma", "nu") if k in posterior]
    flat = {
        k: np.asarray(posterior[k].transpose("chain", "draw"), float).reshape(-1, 1) for k in noise
    }
    out = residuals if overwrite else np.empty_like(residuals)
    step = max(1, BLOCK_ELEMENTS // max(residuals.shape[1], 1))
    for start in range(0, len(out), step):
        rows = slice(start, start + step)
        if name == "student_t":
            out[rows] = t_logpdf(residuals[rows], flat["sigma"][rows], flat["nu"][rows])
        else:
            out[rows] = normal_logpdf(residuals[rows], flat["sigma"][rows])
    return xr.DataArray(
        out.reshape(posterior.sizes["chain"], posterior.sizes["draw"], out.shape[1]),
        dims=("chain", "draw", "run"),
        coords={"chain": posterior["chain"].values, "draw": posterior["draw"].values},
    )


def pointwise_log_density(name: str, law, posterior: xr.Dataset, inputs, y) -> xr.DataArray:
    """log p(y_i | θ_s) for every draw s and run i, dims ``(chain, draw, run)``.

    The same numbers as :func:`log_density` of ``log law.fn(inputs, θ)``:
    :func:`log_density_draws` of :func:`residual_draws`, both in blocks of draws.
    """
    residuals = residual_draws(law, posterior, inputs, y)
    return log_density_draws(name, posterior, residuals, overwrite=True)


def draw_noise(posterior: xr.Dataset, name: str, shape, seed) -> xr.DataArray | np.ndarray:
    """Run-to-run noise on the log scale, one value per (chain, draw, point).

    Clipped to ±:data:`NOISE_LIMIT`: a Student-t with ν < 1 draws values whose exponential
    overflows to inf, and an inf among the draws turns interpolated quantiles into NaN; a run
    e^700 times its mean is as far out as one can say.
    """
    rng = np.random.default_rng(seed)
    sigma = np.asarray(posterior["sigma"])[..., None]
    if name == "student_t":
        z = rng.standard_t(np.broadcast_to(np.asarray(posterior["nu"])[..., None], shape))
    else:
        z = rng.standard_normal(shape)
    return np.clip(sigma * z, -NOISE_LIMIT, NOISE_LIMIT)


#: The bound of :func:`draw_noise` on log loss: exp(±700) stays finite in float64.
NOISE_LIMIT = 700.0


#: A run whose latent Student-t weight in the main fit, E[w | r] = (ν + 1)/(ν + r²/σ²), is below
#: this is one the fit itself sets apart as an outlier (|r| > 12σ at ν = 2, > 23σ at ν = 10):
#: the discrepancy's evidence (:func:`bayes_scaling.discrepancy.evidence.estimate`) does not score
#: it as a held-out run (see :func:`outlying_runs`).
OUTLIER_WEIGHT = 0.02


def outlying_runs(residuals, sigma, nu) -> np.ndarray:
    """Runs the main fit's Student-t sets apart: E[w_i | r_i] < :data:`OUTLIER_WEIGHT`, with the
    runs' median residuals ``residuals`` (log loss) and the posterior medians of σ and ν (scalars,
    or one a run for a grouped fit; none for a Normal likelihood, ``nu`` None).

    Why. The discrepancy's shared evidence gives the held-out runs one noise scale
    (:func:`bayes_scaling.discrepancy.evidence.shared_loglik`), so it
    cannot set a lone run apart as the fit's independent t's do: a single run far off the law
    (one trained on 0.2 tokens per parameter, a diverged run) and a little farther out than the
    others is explained as a steep error curve, and τ moves tens of its population's scales (on
    40 Chinchilla runs, one such run at +25% took τ's median from 0.006 to 0.53 and the 90% band
    at 10x the largest run to [1.4, 77] nats). A run the fit of every run calls an outlier says
    nothing about how the law extrapolates; a systematic error, shared by several runs, pulls the
    law and the noise with it and is not set apart.
    """
    r = np.asarray(residuals, float)
    if nu is None:
        return np.zeros(r.shape, bool)
    nu = np.asarray(nu, float)
    weight = (nu + 1.0) / (nu + (r / np.asarray(sigma, float)) ** 2)
    return np.isfinite(nu) & (weight < OUTLIER_WEIGHT)
