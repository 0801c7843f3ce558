"""Prior predictive: loss curves drawn from the priors alone, to check them before fitting."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.laws import get_law
from bayes_scaling.model.likelihoods import draw_noise
from bayes_scaling.priors import draw_priors, resolve_priors


def prior_predictive(
    runs,
    law="chinchilla",
    priors=None,
    *,
    draws: int = 500,
    seed=None,
    likelihood: str = "student_t",
    **points,
) -> xr.Dataset:
    """Loss curves drawn from the priors alone, to check the priors before fitting.

    Parameters
    ----------
    runs : DataFrame
        The runs table the defaults are scaled to.
    law, priors, likelihood
        As in :func:`bayes_scaling.fit`.
    draws : int
        Number of prior draws.
    **points
        Where to evaluate, by input column (``n_params=..., n_tokens=...``); the runs themselves
        when none are given.

    Returns
    -------
    Dataset
        ``loss`` with dims ``(chain, draw, point)`` (the mean curve), ``predictive_loss`` (with
        noise), the parameters, and the inputs as coordinates on ``point``.
    """
    law = get_law(law)
    priors = resolve_priors(law, runs, priors, likelihood)
    params = draw_priors(priors, draws, seed)
    inputs = {c: np.atleast_1d(np.asarray(points.get(c, runs[c]), float)) for c in law.inputs}
    with np.errstate(over="ignore"):  # heavy-tailed prior draws may overflow to inf: kept as is
        mean = law.evaluate(params, inputs)
        noisy = np.exp(np.log(mean) + draw_noise(params, likelihood, mean.shape, seed))
    out = params.assign(loss=mean, predictive_loss=(mean.dims, noisy.data))
    return out.assign_coords({c: ("point", v) for c, v in inputs.items()})
