"""LOO comparisons of pass@k fits of the same counts: the pointwise marginal log likelihood of
each problem's count (p_j integrated out), the fit as ArviZ's ``loo`` takes it, and comparisons
of poolings (independent, partial, crossed) and difficulty distributions (Beta, Beta mixture,
logit-normal mixture) through ``arviz_stats.compare``.

For a crossed fit (:mod:`bayes_scaling.passk.crossed`) the pointwise term of model m's count of
problem j is conditioned on that problem's shared effect z_j, the count's own effect e_jm
integrated out (:func:`crossed_log_likelihood`): left out, a count is predicted from the other
models' counts of the same problem too, which is what the crossing claims to gain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.errors import ArgumentError
from bayes_scaling.passk.answers import SAMPLED, difficulty_draws
from bayes_scaling.passk.logit import log_marginal
from bayes_scaling.passk.result import PassKFit

#: The crossed fit's own sampled parameters per model (beside ``logit_mean`` and
#: ``unsolvable_logit``), for the LOO's relative efficiency (named here, not imported from
#: :data:`bayes_scaling.passk.crossed.CROSSED_PARAMS`: that module loads PyMC, a saved fit's
#: answers do not).
CROSSED = ("log_loading", "log_sigma_within")


def log_likelihood(fit: PassKFit) -> xr.DataArray:
    """log P(c_j | n_j, θ_m) per draw and row of the counts table (dims ``chain, draw, row``):
    the marginal likelihood of one problem's count, p_j integrated out
    (:func:`bayes_scaling.passk.law.log_marginal`), the pointwise terms of LOO; for a crossed fit
    :func:`crossed_log_likelihood`."""
    pool = fit.pool_posterior
    if pool is not None and "problem_effect" in pool:
        return crossed_log_likelihood(fit.posterior, pool, fit.counts)
    post = fit.posterior
    shape = (post.sizes["chain"], post.sizes["draw"])
    out = np.empty((*shape, len(fit.counts)))
    model_of = fit.counts["model"].astype(str).to_numpy()
    n = fit.counts["samples"].to_numpy(float)
    c = fit.counts["correct"].to_numpy(float)
    for name in fit.models:
        rows = np.flatnonzero(model_of == name)
        fam, (a, b, pi, hard) = difficulty_draws(
            post.sel(model=name), flat=lambda da: da.values[..., None]
        )
        out[..., rows] = fam.log_marginal(a, b, pi, n[rows], c[rows], hard=hard)
    return xr.DataArray(
        out,
        dims=("chain", "draw", "row"),
        coords={"chain": post["chain"].values, "draw": post["draw"].values},
    )


def crossed_log_likelihood(post: xr.Dataset, pool: xr.Dataset, counts) -> xr.DataArray:
    """log P(c_jm | n_jm, θ_m, z_j) per draw and row of a crossed fit's counts (dims ``chain,
    draw, row``): with η_jm = μ_m + λ_m·z_j + s_m·e_jm, the count's own effect e_jm ~ N(0, 1)
    integrated out by the logit-normal quadrature (:func:`bayes_scaling.passk.logit.
    log_marginal` at mean μ_m + λ_m·z_j and sd s_m, with the unsolvable share π_m), the problem
    effect z_j at its posterior draw. One quadrature a count, over every draw: the slowest
    part of a crossed fit's LOO."""
    shape = (post.sizes["chain"], post.sizes["draw"])
    out = np.empty((*shape, len(counts)))
    model_of = counts["model"].astype(str).to_numpy()
    problem_of = counts["problem"].astype(str).to_numpy()
    n = counts["samples"].to_numpy(float)
    c = counts["correct"].to_numpy(float)
    z = pool["problem_effect"]
    for name in np.unique(model_of):
        theta = post.sel(model=name)
        loading = np.exp(theta["log_loading"].values)[..., None]
        within = np.exp(theta["log_sigma_within"].values)[..., None]
        pi = theta["pi"].values[..., None]
        rows = np.flatnonzero(model_of == name)
        centre = (
            theta["logit_mean"].values[..., None]
            + loading
            * z.sel(problem=xr.DataArray(problem_of[rows], dims="cell"))
            .transpose("chain", "draw", "cell")
            .values
        )
        for i, r in enumerate(rows):  # each count its own prior mean: one at a time
            out[..., r] = log_marginal(
                centre[..., i : i + 1], within, pi, n[r : r + 1], c[r : r + 1]
            )[..., 0]
    return xr.DataArray(
        out,
        dims=("chain", "draw", "row"),
        coords={"chain": post["chain"].values, "draw": post["draw"].values},
    )


def loo_tree(fit: PassKFit) -> xr.DataTree:
    """The fit's posterior with its pointwise log likelihood (variable ``counts``), as ArviZ's
    ``loo`` and ``compare`` take it."""
    return xr.DataTree.from_dict(
        {
            "posterior": fit.posterior[[v for v in (*SAMPLED, *CROSSED) if v in fit.posterior]],
            "log_likelihood": xr.Dataset({"counts": log_likelihood(fit)}),
        }
    )


def compare_fits(fits: dict) -> pd.DataFrame:
    """PSIS-LOO of pass@k fits of the same counts, one problem of one model left out at a time:
    ArviZ's ``compare`` table (``elpd``, ``se``, ``elpd_diff``, ``dse``, ``weight``, ...) and
    ``n_high_k``, the problems whose Pareto k is above ArviZ's threshold (their LOO is
    unreliable). ArgumentError when the fits saw different counts."""
    import arviz_stats as az  # ArviZ's statistics, on first use (all of ArviZ loads matplotlib)

    if len(fits) < 2:
        raise ArgumentError("fits", f"give at least two fits to compare, got {len(fits)}")
    hashes = {name: f.idata.attrs.get("counts_sha256") for name, f in fits.items()}
    if len(set(hashes.values())) > 1:
        raise ArgumentError(
            "fits", f"the fits saw different counts tables ({sorted(hashes)}); fit the same table"
        )
    trees = {name: loo_tree(f) for name, f in fits.items()}
    table = az.compare(trees)
    high = {}
    for name, tree in trees.items():
        loo = az.loo(tree, pointwise=True)
        high[name] = int((loo.pareto_k > loo.good_k).sum())
    return table.assign(n_high_k=pd.Series(high))


def compare_poolings(fits: dict) -> pd.DataFrame:
    """:func:`compare_fits` of fits that differ in pooling, e.g.
    ``{"partial": f1, "independent": f2}``."""
    return compare_fits(fits)


def compare_difficulties(fits: dict) -> pd.DataFrame:
    """:func:`compare_fits` of fits that differ in the difficulty distribution, e.g.
    ``{"beta": f1, "beta-mixture": f2}``: LOO's choice is the first row (``rank`` 0); a
    ``elpd_diff`` within about two ``dse`` of the best is no choice at all.

    >>> compare_difficulties({"beta": f1, "beta-mixture": f2})  # doctest: +SKIP
    """
    return compare_fits(fits)


__all__ = [
    "compare_difficulties",
    "compare_fits",
    "compare_poolings",
    "crossed_log_likelihood",
    "log_likelihood",
    "loo_tree",
]
