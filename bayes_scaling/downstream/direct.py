"""The direct one-step alternative of a downstream chain, and the chain against it by PSIS-LOO.

The direct law is step 2's link on −log10 C (compute straight to the metric), sampled by the same
compiled model (:func:`bayes_scaling.downstream.link_fit.fit_link`). The two are compared
by PSIS-LOO on each run's metric given its (N, D): the chain's pointwise density integrates
step 1's run noise (:data:`CHAIN_NOISE_DRAWS` draws per posterior draw),

    p(m_i | N_i, D_i, θ_s, φ_s) ≈ mean_k Normal(m_i; link(L(x_i; θ_s)·e^{ε_k}; φ_s), σ_s),

so both are scored on the same observations (a cut model: step 1 never saw the metric).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp

from bayes_scaling._constants import SAMPLE_DIMS
from bayes_scaling.downstream.link_fit import constants_of, fit_link, link_priors
from bayes_scaling.downstream.model import NOISE_TOTAL
from bayes_scaling.downstream.result import pair_draws
from bayes_scaling.inference.rungs import derived_seed
from bayes_scaling.model.likelihoods import normal_logpdf

#: Draws of step 1's run noise per posterior draw in the chain's pointwise density.
CHAIN_NOISE_DRAWS = 64


def fit_direct(table, metric, link, chance, ceiling, priors, constants, first, seed, **sampler):
    """The direct law (the link on x = −log10 C) on the runs' metric, with the gate and ladder
    (``first`` with the seed derived from the fit's ``seed``; ``sampler``: chains, progress,
    rescue): :func:`fit_link`'s dict plus its ``constants`` (``ref`` the mean x) and ``priors``
    (as JSON)."""
    x = -np.log10(table["compute"].to_numpy(float))
    y = table[metric].to_numpy(float)
    d_constants = {**constants, "ref": float(np.mean(x))}
    d_priors = link_priors(link, x, y, chance, ceiling, priors)
    d_first = replace(first, seed=derived_seed(seed, 202))
    part = fit_link(
        x,
        y,
        link,
        d_priors,
        d_constants,
        d_first,
        *(sampler[k] for k in ("chains", "progress", "rescue")),
    )
    part["constants"] = d_constants
    part["priors"] = {k: p.to_dict() for k, p in d_priors.items()}
    return part


def chain_loglik(step1, step2_post, link, constants, table, metric, seed) -> xr.DataArray:
    """The chain's pointwise log density of each run's metric given its (N, D), per step-1 draw
    (step 2 paired draw by draw), integrating step 1's run noise (see the module docstring)."""
    post1 = step1.posterior
    p2 = pair_draws(step2_post, post1, seed)
    inputs = {c: table[c].to_numpy(float) for c in step1.law.inputs}
    mean = step1.law.evaluate(post1, inputs).rename(point="run")  # (chain, draw, run)
    rng = np.random.default_rng([int(seed), 31])
    shape = (post1.sizes["chain"], post1.sizes["draw"], 1, CHAIN_NOISE_DRAWS)
    if "nu" in post1:
        z = rng.standard_t(np.broadcast_to(np.asarray(post1["nu"])[..., None, None], shape))
    else:
        z = rng.standard_normal(shape)
    eps = np.asarray(post1["sigma"])[..., None, None] * z
    loss = np.asarray(mean)[..., None] * np.exp(eps)  # (chain, draw, run, k)
    p = {
        k: np.asarray(v)[..., None, None]
        for k, v in constants_of(p2, constants).items()
        if isinstance(v, xr.DataArray)
    }
    p.update(
        {k: v for k, v in constants_of(p2, constants).items() if not isinstance(v, xr.DataArray)}
    )
    mu = link.fn(loss, p, np)
    y = table[metric].to_numpy(float)[None, None, :, None]
    sd = np.asarray(p2[NOISE_TOTAL])[..., None, None]
    dens = logsumexp(normal_logpdf(y - mu, sd), axis=-1) - np.log(CHAIN_NOISE_DRAWS)
    return xr.DataArray(dens, dims=(*SAMPLE_DIMS, "run"))


def compare(step1, step2_post, chain_ll, direct_part, table, seed) -> pd.DataFrame | None:
    """PSIS-LOO of the chain and the direct law on the runs' metric (ArviZ's compare table)."""
    post1 = step1.posterior
    chain = xr.DataTree.from_dict(
        {
            "posterior": pair_draws(step2_post, post1, seed)[list(step2_post.data_vars)[:1]],
            "log_likelihood": xr.Dataset({"metric": chain_ll}),
        }
    )
    d_post = direct_part["posterior"]
    d_ll = direct_part["loglik"].rename(point="run")
    direct = xr.DataTree.from_dict(
        {
            "posterior": d_post[list(d_post.data_vars)[:1]],
            "log_likelihood": xr.Dataset({"metric": d_ll}),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pareto-k warnings on 16 runs are expected; k is kept
        try:
            table_cmp = az.compare({"chain": chain, "direct": direct})
        except Exception:  # noqa: BLE001 - a comparison that cannot be made is left out
            return None
    keep = [c for c in table_cmp.columns if table_cmp[c].dtype.kind in "fiub"]
    return table_cmp[keep].astype(float)
