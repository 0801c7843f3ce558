"""Priors: the serialisable :class:`Prior`, data-scaled defaults, user overrides and prior draws.

Priors merge as *user > law default*, where a law's defaults are scaled to the runs table (each
law's
``default_priors`` calls the factories here with :func:`runs_stats`). This stage knows no law: a law
carries its own default priors, so laws sit above priors. The prior predictive, which needs a law
and the noise model, is :func:`bayes_scaling.model.predictive.prior_predictive`.
``priors="learned"`` replaces the Chinchilla law's defaults by a correlated population prior
learned across public ladders (:mod:`bayes_scaling.priors.learned`, shipped as ``law_prior.json``).
"""

from bayes_scaling.priors.defaults import (
    break_location_prior,
    draw_priors,
    exponent_prior,
    irreducible_prior,
    log_coefficient_prior,
    log_reducible_loss_prior,
    log_scale_prior,
    no_floor_exponent_prior,
    noise_priors,
    repetition_prior,
    resolve_priors,
    runs_stats,
    smoothness_prior,
)
from bayes_scaling.priors.learned import LearnedLawPrior, learned_prior
from bayes_scaling.priors.prior import Prior, priors_from_json, priors_to_json

__all__ = [
    "LearnedLawPrior",
    "Prior",
    "break_location_prior",
    "draw_priors",
    "exponent_prior",
    "irreducible_prior",
    "learned_prior",
    "log_coefficient_prior",
    "log_reducible_loss_prior",
    "log_scale_prior",
    "no_floor_exponent_prior",
    "noise_priors",
    "priors_from_json",
    "priors_to_json",
    "repetition_prior",
    "resolve_priors",
    "runs_stats",
    "smoothness_prior",
]
