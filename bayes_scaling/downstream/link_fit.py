"""Step 2 of a downstream chain, sampled: the link model with its priors, gate and ladder.

The link model of :mod:`bayes_scaling.downstream.model` (step 2 of the chain, and the direct
one-step law: the same model on −log10 C) is compiled once per structure
(:func:`bayes_scaling.inference.compiled.with_data`) and checked by the same gate as every fit,
climbing the shared ladder of :mod:`bayes_scaling.inference.rescue` when the gate fails (its
standard rungs: longer, target_accept 0.99 after divergences, more draws when close; the best
attempt kept when all fail). The link's own extrapolation discrepancy is learned here too
(:func:`learn_link_discrepancy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import xarray as xr

from bayes_scaling._constants import SAMPLE_DIMS
from bayes_scaling.discrepancy.evidence import distances
from bayes_scaling.discrepancy.link import (
    GRID,
    LinkDiscrepancy,
    internal_cuts,
    log_prior,
    prior_sd,
    shared_loglik,
)
from bayes_scaling.discrepancy.record import reference_sizes
from bayes_scaling.downstream.links import link_stats
from bayes_scaling.downstream.model import (
    NOISE_EXTRA,
    NOISE_TOTAL,
    build_link_model,
    link_noise_prior,
    model_data,
    structure_key,
)
from bayes_scaling.errors import PriorError
from bayes_scaling.inference.compiled import sample_attempt
from bayes_scaling.inference.rescue import climb
from bayes_scaling.inference.rungs import STANDARD_RUNGS, Attempt, derived_seed
from bayes_scaling.model.likelihoods import normal_logpdf
from bayes_scaling.priors import Prior

#: Backtest refits of step 2 with an R-hat above this are not learned from; each is scored on
#: this many thinned draws.
BACKTEST_RHAT, BACKTEST_DRAWS = 1.05, 200


def link_priors(link, loss, metric, chance, ceiling, overrides) -> dict[str, Prior]:
    """The link's default priors scaled to these points, the noise prior, a Uniform prior on
    chance when it is learned, then the user's overrides by name."""
    stats = link_stats(loss, metric, chance, ceiling)
    priors = {**link.default_priors(stats), NOISE_EXTRA: link_noise_prior(stats)}
    if chance is None:
        lower, upper = link.chance_bounds(stats)
        priors["chance"] = Prior(
            "Uniform",
            {"lower": float(lower), "upper": float(upper)},
            why="the chance level, not given: anywhere between the bound and the runs' metric",
        )
    for name, value in (overrides or {}).items():
        if name not in priors:
            raise PriorError(f"no step-2 parameter {name!r}; the parameters are {sorted(priors)}")
        priors[name] = Prior.from_any(value)
    return priors


def _sample_once(loss, metric, link, priors, constants, attempt: Attempt, chains, progress):
    return sample_attempt(
        structure_key(link, priors),
        lambda: build_link_model(loss, metric, link, priors, constants),
        model_data(loss, metric, link, priors, constants),
        attempt,
        chains,
        progress,
    )


def fit_link(loss, metric, link, priors, constants, first, chains, progress, rescue) -> dict:
    """Sample the link model with the gate and the ladder; the posterior gets the derived
    quantities and the total noise sd, and the pointwise log density of the points."""
    gate = [*link.params, NOISE_EXTRA, *(["chance"] if "chance" in priors else [])]

    def sample(attempt):
        return _sample_once(loss, metric, link, priors, constants, attempt, chains, progress)

    out = climb(sample, first, gate, STANDARD_RUNGS, rescue=rescue)
    post, stats, diag, record = out.posterior, out.sample_stats, out.diagnostics, out.record
    p = constants_of(post, constants)
    post = post.assign({k: f(p, np) for k, f in link.derived.items()})
    post[NOISE_TOTAL] = np.sqrt(constants["noise_floor"] ** 2 + post[NOISE_EXTRA] ** 2)
    mu = link.fn(
        xr.DataArray(np.asarray(loss, float), dims="point"), constants_of(post, constants), np
    )
    y = xr.DataArray(np.asarray(metric, float), dims="point")
    loglik = normal_logpdf(y - mu, post[NOISE_TOTAL]).transpose(*SAMPLE_DIMS, "point")
    return {
        "posterior": post,
        "sample_stats": stats,
        "loglik": loglik,
        "loss": np.asarray(loss, float),
        "metric": np.asarray(metric, float),
        "diagnostics": diag,
        "record": record,
        "attempt": out.attempt,
        "seconds": out.seconds,
        "tried": out.tried(),
    }


def constants_of(posterior: xr.Dataset, constants: Mapping) -> dict:
    """The link's ``p``: the posterior's variables plus chance (if given), ceiling and ref."""
    p = {k: posterior[k] for k in posterior.data_vars}
    for name in ("chance", "ceiling", "ref"):
        if name not in p:
            p[name] = constants[name]
    return p


def learn_link_discrepancy(
    table, law, via, metric, link, chance, ceiling, overrides, constants, first, chains
) -> LinkDiscrepancy:
    """Step 2's extrapolation discrepancy: the τ₂ prior times the ladder's backtests of the link
    (:mod:`bayes_scaling.discrepancy.link`). Each internal cut refits step 2 on the
    runs below it (the same compiled model, 2 x 500 draws, no ladder; a refit with R-hat above
    :data:`BACKTEST_RHAT` is not learned from) and scores the runs above at their measured loss."""
    span_to = table[metric].min() if link.higher_is_better else table[metric].max()
    sd = prior_sd(span_to if chance is None else chance, ceiling if link.higher_is_better else 0.0)
    tau = GRID * sd
    log_post = log_prior(tau, sd)
    used, n_checked = [], 0
    for k, cut in enumerate(internal_cuts(table["compute"], len(link.params) + 1)):
        below, above = table[table["compute"] < cut], table[table["compute"] >= cut]
        dist = distances(law, below, above)
        keep = dist > 0
        if not keep.any():
            continue
        x, y = below[via].to_numpy(float), below[metric].to_numpy(float)
        const = {**constants, "ref": float(np.mean(x))}
        priors = link_priors(link, x, y, chance, ceiling, overrides)
        attempt = replace(first, draws=500, tune=500, seed=derived_seed(first.seed, 300 + k))
        part = fit_link(x, y, link, priors, const, attempt, min(chains, 2), False, False)
        if part["diagnostics"].max_rhat > BACKTEST_RHAT:
            continue
        post = part["posterior"].stack(sample=SAMPLE_DIMS)
        post = post.isel(sample=slice(None, None, max(1, post.sizes["sample"] // BACKTEST_DRAWS)))
        loss = xr.DataArray(above[via].to_numpy(float)[keep], dims="run")
        mu = link.fn(loss, constants_of(post, const), np).transpose("sample", "run")
        resid = above[metric].to_numpy(float)[keep][None, :] - np.asarray(mu)
        log_post = log_post + shared_loglik(resid, post[NOISE_TOTAL].values, dist[keep], tau)
        used.append(float(cut))
        n_checked += int(keep.sum())
    weights = np.exp(log_post - log_post.max())
    return LinkDiscrepancy(
        tau, weights / weights.sum(), sd, reference_sizes(table, law), tuple(used), n_checked
    )
