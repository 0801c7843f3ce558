"""The closed forms of each difficulty distribution, as data, and the prior predictive check.

:func:`family` gives, for a ``difficulty`` (:data:`bayes_scaling.passk.law.DIFFICULTIES`), the
functions every answer is computed with: the Beta forms of :mod:`bayes_scaling.passk.law` (one
Beta, or the Beta mixture) or the logit-normal mixture's quadrature of
:mod:`bayes_scaling.passk.logit`, all with the same arguments. :func:`prior_pass_at_k` draws
models from a difficulty's prior and gives their pass@k, to hold against what is known of
pass@k curves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from bayes_scaling._lazy import scipy_function
from bayes_scaling.passk import logit
from bayes_scaling.passk.law import (
    DEFAULT_DIFFICULTY,
    LOGIT_MIXTURE,
    benchmark_pass_at_k,
    beta_params,
    draw_parameters,
    hard_component,
    log_marginal,
    population_pass_at_k,
    problems_pass_at_k,
    unsolvable_weight,
)

if TYPE_CHECKING:
    import xarray as xr

expit = scipy_function("special", "expit")

#: The k of the prior predictive check (:func:`prior_pass_at_k`): 1 to 10,000, four a decade.
PRIOR_KS = np.unique(np.round(np.logspace(0, 4, 17)))


def prior_draws(difficulty: str = DEFAULT_DIFFICULTY, priors=None, draws: int = 4000, seed=0):
    """``draws`` models' difficulty from the priors the fit uses (``priors`` overriding
    :func:`default_priors`): ``(a, b, pi, hard)`` as in :func:`population_pass_at_k`, each of
    shape (draws, 1). log b is drawn as log a + log(b/a) with log(b/a) | log a ~
    N(mu_b − log a, sd_b), i.e. N(mu_b, sd_b), as the model does; the hard component's
    log(b/a) is the body's plus e^(log gap)."""
    x = draw_parameters(difficulty, np.random.default_rng(seed), (draws, 1), priors)
    if difficulty == LOGIT_MIXTURE:
        return logit_draws(x)
    a, b = beta_params(x["log_a"], x["log_b"])
    pi = 1 / (1 + np.exp(-x["unsolvable_logit"]))
    hard = hard_component(x) if difficulty != "beta" else None
    return a, b, pi, hard


def logit_draws(x) -> tuple:
    """``(mu, sigma, pi, hard)`` of the logit-normal mixture from its parameters ``x`` (a
    mapping of :data:`~bayes_scaling.passk.logit.LOGIT_PARAMS`), as :func:`prior_draws` gives
    the Beta's: hard = (w, μ_h, σ_h) (:func:`bayes_scaling.passk.logit.natural`)."""
    v = logit.natural(x)
    return v["mu"], v["sigma"], v["pi"], (v["hard_share"], v["mu_hard"], v["sigma_hard"])


def prior_pass_at_k(
    difficulty: str = DEFAULT_DIFFICULTY, priors=None, k=PRIOR_KS, draws: int = 4000, seed=0
) -> np.ndarray:
    """The prior predictive check: population pass@k (:func:`population_pass_at_k`) of
    ``draws`` models drawn from the fit's prior (:func:`prior_draws`), one row per model, one
    column per k (default :data:`PRIOR_KS`, 1 to 10,000). What is known of pass@k to hold it
    against: it rises over many decades of k, −log pass@k roughly a power law in k (Brown et
    al. 2024; Schaeffer et al. 2025), not a step at k = 1 followed by a plateau.

    >>> curves = prior_pass_at_k("beta-mixture")       # (4000, 17)
    >>> np.median(curves, axis=0)[[0, 8, 16]]           # k = 1, 100, 10,000  # doctest: +SKIP
    """
    a, b, pi, hard = prior_draws(difficulty, priors, draws, seed)
    return family(difficulty).population(a, b, pi, np.asarray(k, float)[None, :], hard=hard)


class Family(NamedTuple):
    """The closed forms of one kind of difficulty distribution, each taking its two location
    and scale arrays (Beta: a, b; logit-normal: μ, σ), π and the hard component ``hard`` as
    :func:`population_pass_at_k` and the functions beside it do. For a search over k,
    ``curve`` gives :func:`problems_pass_at_k` as a function of k alone together with
    :func:`unsolvable_weight` (one pass over the counts), and ``population_curve``
    :func:`population_pass_at_k` as a function of k alone."""

    population: object
    benchmark: object
    log_marginal: object
    curve: object
    population_curve: object


def problems_curve(a, b, pi, n, c, hard=None):
    """``(curve, unsolvable)``: ``curve(k)`` = :func:`problems_pass_at_k` at the given counts
    (closed form: nothing to compute ahead) and :func:`unsolvable_weight` there."""
    curve = lambda k: problems_pass_at_k(a, b, pi, n, c, k, hard=hard)  # noqa: E731
    return curve, unsolvable_weight(a, b, pi, n, c, hard=hard)


def population_curve(a, b, pi, hard=None):
    """``curve(k)`` = :func:`population_pass_at_k` (closed form: nothing to compute ahead)."""
    return lambda k: population_pass_at_k(a, b, pi, k, hard=hard)


#: The Beta forms (one Beta or the Beta mixture) of this module.
BETA_FAMILY = Family(
    population_pass_at_k,
    benchmark_pass_at_k,
    log_marginal,
    problems_curve,
    population_curve,
)
#: The logit-normal mixture's, by quadrature (:mod:`bayes_scaling.passk.logit`).
LOGIT_FAMILY = Family(
    logit.population_pass_at_k,
    logit.benchmark_pass_at_k,
    logit.log_marginal,
    logit.problems_curve,
    logit.population_curve,
)


def family(difficulty: str) -> Family:
    """The closed forms of a difficulty distribution (:data:`DIFFICULTIES`)."""
    return LOGIT_FAMILY if difficulty == LOGIT_MIXTURE else BETA_FAMILY


def derived(post: xr.Dataset) -> xr.Dataset:
    """Add ``a``, ``b`` and ``pi`` to a posterior of (log_a, log_b, unsolvable_logit), and with
    the Beta mixture's hard component ``a_hard``, ``b_hard`` and its share ``hard_share`` of the
    solvable problems; a logit-normal mixture's gets ``mu``, ``sigma``, ``pi``, ``hard_share``,
    ``mu_hard`` and ``sigma_hard`` (:func:`bayes_scaling.passk.logit.natural`). Sampled
    parameters in, the closed forms' out: a fit's posterior, or draws from the difficulty law
    (:func:`bayes_scaling.passk.decisions.law_theta`)."""
    if "logit_mean" in post:
        return post.assign(logit.natural(post))
    a, b = beta_params(post["log_a"], post["log_b"])
    post = post.assign(a=a, b=b, pi=expit(post["unsolvable_logit"]))
    if "log_a_hard" in post:
        a2, b2 = beta_params(post["log_a_hard"], post["log_b_hard"])
        post = post.assign(a_hard=a2, b_hard=b2, hard_share=expit(post["hard_logit"]))
    return post
