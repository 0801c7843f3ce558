"""pass@k from a distribution of per-problem success probabilities, in closed form (numpy only).

The difficulty distribution of a model on a benchmark: each problem j has a success probability
p_j per sample; with probability π it is never solvable (p_j = 0), otherwise p_j ~ Beta(a, b).
It is parameterised by

    log_a = log a,  log_b = log b,  unsolvable_logit = logit(π).

Why (a, b) and not (mean, concentration): near p = 0 the Beta density is ∝ p^(a − 1), so a is the
tail exponent that decides extrapolation to large k (pass@k ≈ (1 − π)·(1 − (b/(b + k))^a)), and b
sets the scale 1/b at which the hard problems sit. Both must be free over orders of magnitude:
with a model that solves nothing in 100 samples a problem, "most problems at p ≈ 1e-4" (b ≈ 1e4)
and "most problems never solvable" (π ≈ 1) are equally likely, and a prior that rules out the
first (as a Normal on logit(mean) and log(a + b) centred on an easy benchmark did) gives
confident, wrong pass@10,000.

Aggregate pass@k of the population (Schaeffer et al. 2025; Kazdan et al.)::

    pass@k = 1 − E[(1 − p)^k] = 1 − π − (1 − π)·B(a, b + k) / B(a, b)

For large k, B(a, b + k)/B(a, b) ≈ Γ(a + b)/Γ(b)·k^(−a): without unsolvable problems,
−log pass@k ≈ 1 − pass@k falls as a power law in k with exponent a; with them, pass@k tends to
the ceiling 1 − π.

pass@k of *these* problems, given their counts (n_j samples, c_j correct): p_j's posterior given
(a, b, π) is Beta(a + c_j, b + n_j − c_j) when solvable, and a problem never solved (c_j = 0) is
unsolvable with probability w_j = π / (π + (1 − π)·B(a, b + n_j)/B(a, b)), so

    pass_j@k = (1 − w_j)·(1 − B(a + c_j, b + n_j − c_j + k) / B(a + c_j, b + n_j − c_j)),

and the benchmark's pass@k is their mean. That is what a benchmark run with k samples a problem
measures (in expectation), and it is the default answer.

The marginal likelihood of one problem's count (p_j integrated out)::

    P(c | n) = π·[c = 0] + (1 − π)·C(n, c)·B(a + c, b + n − c) / B(a, b).

The difficulty law across models (:func:`design`): each parameter of the difficulty (the Beta's
three here, or the logit-normal mixture's six) is linear in standardised x_N = log N and
x_D = log D, with the terms :data:`DESIGN_TERMS`.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling._lazy import scipy_function
from bayes_scaling.passk.logit import LOGIT_PARAMS, LOGIT_PRIORS, with_unsolvable

betaln = scipy_function("special", "betaln")  # SciPy on first use
gammaln = scipy_function("special", "gammaln")

PARAMS = ("log_a", "log_b", "unsolvable_logit")
#: Default Normal(mu, sigma) priors of the per-model parameters, weakly informative:
#:
#: - log a ~ N(−1, 1.5): the tail exponent a from 0.02 to 7 (95%), real mass on a ≪ 1 (the heavy
#:   tail of hard-but-solvable problems, p^(a − 1) near 0);
#: - log b ~ N(4, 4): the scale 1/b of the hard problems from ~1 to ~1e-5 and beyond (b from
#:   0.02 to 1.4e5, 95%), so "hard" may mean p ≈ 1e-4 as well as p ≈ 0.01;
#: - logit π ~ N(−3, 2): never-solvable problems (median share 5%, 70% at +2 sd). At finite n a
#:   point mass at 0 cannot be told from a Beta with a → 0 (zero successes in n samples have
#:   probability ≈ 1 under both), so π is not favoured over a small-a tail: it enters only where
#:   the ceiling is a modelling choice, and pass@k at large k stays wide instead of being capped.
#:
#: Prior predictive (population pass@k, 5%/50%/95%): k = 1: 0.000/0.006/0.78; k = 100:
#: 0.000/0.20/0.97; k = 1e4: 0.03/0.63/0.99; k = 1e6: 0.14/0.81/0.99 (``benchmarks/
#: passk_validation.py --prior-check``).
DEFAULT_PRIORS = {
    "log_a": (-1.0, 1.5),
    "log_b": (4.0, 4.0),
    "unsolvable_logit": (-3.0, 2.0),
}
#: The difficulty distributions of the solvable problems (``difficulty=``): one Beta, a
#: two-component Beta mixture (a second, "hard" component further down in p), or a
#: two-component normal mixture in logit p (:mod:`bayes_scaling.passk.logit`).
DIFFICULTIES = ("beta", "beta-mixture", "logit-normal-mixture")
#: The logit-normal mixture's name (its parameters: :data:`bayes_scaling.passk.logit.LOGIT_PARAMS`).
LOGIT_MIXTURE = "logit-normal-mixture"
#: ``difficulty="auto"`` (the default of :func:`~bayes_scaling.passk.fit.fit_passk`): the Beta
#: when the fit pools the models (only the Beta is pooled), else the logit-normal mixture, with
#: the difficulty law across models when the table allows it (see
#: :func:`~bayes_scaling.passk.fit.fit_passk`).
AUTO = "auto"
DEFAULT_DIFFICULTY = AUTO
#: The Beta mixture's own parameters, after :data:`PARAMS`.
MIXTURE_PARAMS = ("log_a_hard", "log_hard_gap", "hard_logit")
#: The unsolvable share's prior that a heavy tail is not mistaken for: logit π ~ N(−6, 1), π
#: below 0.25% at the median and 1.7% at +2 sd.
#:
#: Why. A problem with c = 0 in n samples has probability 1 if unsolvable and
#: B(a, b + n)/B(a, b) ≈ (b/(b + n))^a if solvable: for a heavy tail (a ≪ 1, or b ≫ n) that is
#: ≈ 1 too, so the counts leave the split of the zeros between "never" and "hard" to the prior
#: odds π : (1 − π)·P(tail): every zero goes where the prior puts more mass. What is known of
#: pass@k says where: coverage keeps rising over four decades of k on code and maths
#: (Brown et al. 2024) and best-of-N jailbreaking breaks most prompts held at 100 attempts by
#: 10,000 (Hughes et al. 2024; Schaeffer et al. 2025, −log pass@k a power law in k): problems
#: unsolved at 100 samples are mostly hard. A prior concentrated on small π encodes that, and
#: a true unsolvable share still shows where the tail cannot explain the zeros (a tail steep
#: enough to give the solved problems' counts predicts successes among the zeros). Measured on
#: best-of-N jailbreaking with the Beta mixture (``benchmarks/passk_validation.py --settings
#: bon-100 --difficulties beta-mixture [--prior unsolvable_logit -3 2]``): the 90% interval
#: score at k = 1e3/1e4 is 0.63/0.25 of the best baseline's with this prior, 0.79/0.36 with the
#: Beta's N(−3, 2), whose π took zeros that were hard problems.
RARE_UNSOLVABLE = (-6.0, 1.0)
#: Default priors of the Beta mixture (``difficulty="beta-mixture"``): the first (body)
#: component keeps :data:`DEFAULT_PRIORS`; π gets :data:`RARE_UNSOLVABLE`; the hard component
#: (weight w of the solvable problems, Beta(a_hard, b_hard)) has
#:
#: - log a_hard ~ N(−1, 1.5), the body's prior: the two components differ in where they sit,
#:   not in what shapes they may take (a_hard from 0.02 to 7, 95%; in the hard component
#:   1 − pass@k ∝ k^(−a_hard) for k ≫ b_hard);
#: - log(gap) ~ N(1.5, 0.75), log(b_hard/a_hard) = log(b/a) + gap: the hard component's mean
#:   success rate is below the body's (gap > 0 orders the two, so their labels cannot swap) by
#:   e^gap, 2.7 to 3e8 times (95%), median 90 times;
#: - logit w ~ N(0, 1): its share of the solvable problems, from 12% to 88% (95%). A component
#:   that holds almost nothing leaves its own parameters free: with N(0, 1.5) NUTS diverged in
#:   that funnel on 2 of the 39 GSM8K models thinned to 100 samples, rescue included.
MIXTURE_PRIORS = {
    **DEFAULT_PRIORS,
    "unsolvable_logit": RARE_UNSOLVABLE,
    "log_a_hard": DEFAULT_PRIORS["log_a"],
    "log_hard_gap": (1.5, 0.75),
    "hard_logit": (0.0, 1.0),
}


def difficulty_params(difficulty: str) -> tuple:
    """The parameters of a difficulty distribution, in order."""
    if difficulty == LOGIT_MIXTURE:
        return LOGIT_PARAMS
    return PARAMS if difficulty == "beta" else PARAMS + MIXTURE_PARAMS


def default_priors(difficulty: str) -> dict:
    """The default Normal (mu, sigma) priors of a difficulty distribution."""
    if difficulty == LOGIT_MIXTURE:
        return LOGIT_PRIORS
    return DEFAULT_PRIORS if difficulty == "beta" else MIXTURE_PRIORS


#: Terms of the difficulty law in standardised log N and log D (a constant first). The square in
#: log D lets the difficulty rise and saturate over training (early Pythia checkpoints solve almost
#: nothing); the interaction lets size matter more late in training.
DESIGN_TERMS = ("const", "log_n", "log_d", "log_d_sq", "log_n_log_d")


#: Above this argument :func:`log_gamma_step` uses Stirling's series (truncation error below
#: 3e-12); below it the difference of log-gammas, exact to rounding.
STIRLING_FROM = 1e3


def stirling_step(y, x, xp):
    """Stirling's series for log Γ(y + x) − log Γ(y) (large y), in the array library ``xp``
    (``numpy`` or ``pytensor.tensor``): the one formula of :func:`log_gamma_step` and of the
    model's graph."""
    return (y - 0.5) * xp.log1p(x / y) + x * xp.log(y + x) - x + 1 / (12 * (y + x)) - 1 / (12 * y)


def log_gamma_step(y, x):
    """log Γ(y + x) − log Γ(y), stable for large y.

    The plain difference of two log-gammas of size ~y·log y loses every digit when y is large
    (b ≈ 1e13, a Beta of ~1e-12 successes a sample, leaves it wrong by ~0.03 nats; such b are
    what a model that solves nothing is given). Above :data:`STIRLING_FROM` Stirling's series
    gives it without cancellation:

        (y − ½)·log1p(x/y) + x·log(y + x) − x + 1/(12(y + x)) − 1/(12y).

    Every ratio of Beta functions here is a sum of these steps taken in the a direction (each
    ≈ a·log y, so no two large numbers are subtracted even at k = 1e15):
    log B(a, b + k) − log B(a, b) = step(b, a) − step(b + k, a), and
    log B(a + c, b + n − c) − log B(a, b) = step(a, c) − step(b + n − c, a + c) + step(b, a).

    >>> float(log_gamma_step(1e13, 7.0))  # ≈ 7·log(1e13)
    209.5...  # doctest: +SKIP
    """
    y, x = np.broadcast_arrays(np.asarray(y, float), np.asarray(x, float))
    big = y > STIRLING_FROM
    stirling = stirling_step(np.where(big, y, STIRLING_FROM), x, np)
    small = np.where(big, 1.0, y)
    return np.where(big, stirling, gammaln(small + x) - gammaln(small))


def draw_parameters(difficulty: str, rng: np.random.Generator, size, priors=None) -> dict:
    """Every parameter of :func:`difficulty_params` from its Normal prior (``priors``
    overriding :func:`default_priors`), arrays of shape ``size``, drawn in that order."""
    merged = {**default_priors(difficulty), **(priors or {})}
    return {p: rng.normal(*merged[p], size=size) for p in difficulty_params(difficulty)}


def hard_component(x) -> tuple:
    """The Beta mixture's hard component ``(w, a_hard, b_hard)`` from its parameters ``x``
    (a mapping with the :data:`MIXTURE_PARAMS` and log a, log b): w = expit(hard_logit) and
    log(b_hard/a_hard) = log(b/a) + e^(log gap), as the model has it."""
    log_b_hard = x["log_a_hard"] + x["log_b"] - x["log_a"] + np.exp(x["log_hard_gap"])
    return 1 / (1 + np.exp(-x["hard_logit"])), *beta_params(x["log_a_hard"], log_b_hard)


def log_beta_shift(a, b, k):
    """log B(a, b + k) − log B(a, b) = log E[(1 − p)^k] for p ~ Beta(a, b), stable for large b."""
    return log_gamma_step(b, a) - log_gamma_step(b + k, a)


def beta_params(log_a, log_b):
    """(a, b) of the solvable problems' Beta from (log a, log b)."""
    return np.exp(log_a), np.exp(log_b)


def check_k(k) -> np.ndarray:
    """k as a 1-d float array of whole numbers ≥ 1 (the caller's ArgumentError is raised above)."""
    return np.atleast_1d(np.asarray(k, float))


def components(a, b, hard=None) -> list:
    """The solvable problems' Beta components as ``[(weight, a, b), ...]``: one, or with
    ``hard = (w, a_hard, b_hard)`` the two of the Beta mixture (see :data:`MIXTURE_PRIORS`),
    weights 1 − w and w."""
    if hard is None:
        return [(1.0, a, b)]
    w, a2, b2 = hard
    return [(1 - w, a, b), (w, a2, b2)]


def log_beta_binomial(a, b, n, c):
    """log B(a + c, b + n − c) − log B(a, b) (the beta-binomial without its coefficient), as
    three stable steps of :func:`log_gamma_step`."""
    return log_gamma_step(a, c) - log_gamma_step(b + n - c, a + c) + log_gamma_step(b, a)


def population_pass_at_k(a, b, pi, k, hard=None):
    """1 − π − (1 − π)·Σ_i w_i·B(a_i, b_i + k)/B(a_i, b_i) over the components
    (:func:`components`), broadcasting ``a, b, pi`` (and ``hard``) against ``k``."""
    solved = sum(w * -np.expm1(log_beta_shift(ai, bi, k)) for w, ai, bi in components(a, b, hard))
    return (1 - pi) * solved


def _responsibilities(a, b, pi, n, c, hard):
    """P(unsolvable | counts) and P(component i | counts) per problem: the prior weights times
    each one's probability of the counts, B(a_i + c, b_i + n − c)/B(a_i, b_i) (the binomial
    coefficient cancels), normalised; an unsolvable problem explains only c = 0."""
    comps = components(a, b, hard)
    with np.errstate(divide="ignore"):
        logs = [np.log1p(-pi) + np.log(w) + log_beta_binomial(ai, bi, n, c) for w, ai, bi in comps]
        never = np.where(c > 0, -np.inf, np.log(pi) + 0 * logs[0])
    total = np.logaddexp(never, np.logaddexp.reduce(np.stack(np.broadcast_arrays(*logs)), axis=0))
    return np.exp(never - total), [np.exp(v - total) for v in logs], comps


def unsolvable_weight(a, b, pi, n, c, hard=None):
    """P(problem unsolvable | its counts): 0 when it was ever solved, else
    π / (π + (1 − π)·Σ_i w_i·B(a_i, b_i + n)/B(a_i, b_i))."""
    return _responsibilities(a, b, pi, n, c, hard)[0]


def problems_pass_at_k(a, b, pi, n, c, k, hard=None):
    """Per problem pass@k given its counts: ``a, b, pi`` of shape (S, 1), ``n, c`` of shape (J,),
    ``k`` a scalar; returns (S, J). Each component i contributes its posterior weight r_ij
    (:func:`_responsibilities`) times 1 − B(a_i + c, b_i + n − c + k)/B(a_i + c, b_i + n − c)."""
    _, resp, comps = _responsibilities(a, b, pi, n, c, hard)
    return sum(
        r * -np.expm1(log_beta_shift(ai + c, bi + n - c, k))
        for r, (_, ai, bi) in zip(resp, comps, strict=True)
    )


def log_marginal(a, b, pi, n, c, hard=None):
    """log P(c | n, a, b, π) per problem (with the binomial coefficient):
    log[π·[c = 0] + (1 − π)·C(n, c)·Σ_i w_i·B(a_i + c, b_i + n − c)/B(a_i, b_i)]."""
    log_choose = gammaln(n + 1) - gammaln(c + 1) - gammaln(n - c + 1)
    with np.errstate(divide="ignore"):
        comps = components(a, b, hard)
        terms = [np.log(w) + log_beta_binomial(ai, bi, n, c) for w, ai, bi in comps]
        bb = log_choose + np.logaddexp.reduce(np.stack(np.broadcast_arrays(*terms)), axis=0)
    return with_unsolvable(bb, pi, c)


def chen_pass_at_k(n, c, k):
    """Chen et al. (2021)'s unbiased estimator per problem: 1 − C(n − c, k)/C(n, k) (NaN where
    k > n)."""
    n, c, k = (np.asarray(v, float) for v in (n, c, k))
    with np.errstate(invalid="ignore"):
        log_ratio = (
            gammaln(n - c + 1) - gammaln(n - c - k + 1) - gammaln(n + 1) + gammaln(n - k + 1)
        )
        out = np.where(n - c < k, 1.0, -np.expm1(log_ratio))
    return np.where(k > n, np.nan, out)


def design(n_params, n_tokens, centre=None, scale=None, terms=DESIGN_TERMS):
    """The difficulty law's design matrix (rows: models; columns: ``terms``) and the
    standardisation ``(centre, scale)`` of (log N, log D) it used (the models' own by default)."""
    x = np.column_stack([np.log(np.asarray(n_params, float)), np.log(np.asarray(n_tokens, float))])
    if centre is None:
        centre = x.mean(axis=0)
        scale = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    z = (x - np.asarray(centre)) / np.asarray(scale)
    cols = {
        "const": np.ones(len(z)),
        "log_n": z[:, 0],
        "log_d": z[:, 1],
        "log_d_sq": z[:, 1] ** 2,
        "log_n_log_d": z[:, 0] * z[:, 1],
        "log_n_sq": z[:, 0] ** 2,
        "log_d_cu": z[:, 1] ** 3,
    }
    return np.column_stack([cols[t] for t in terms]), np.asarray(centre), np.asarray(scale)


def identified_terms(n_params, n_tokens, terms=DESIGN_TERMS) -> tuple:
    """The terms of ``terms`` that the models' sizes identify, in order: a term is kept when its
    column of :func:`design` is not a linear combination of the columns kept before it. Two
    training lengths D identify no square in log D (it is a line through two points), one size
    N no term in log N; such a term would be learned from its prior alone and move the law's
    answers at new sizes for no reason in the data."""
    x, _, _ = design(n_params, n_tokens, terms=terms)
    kept: list[int] = []
    for j in range(len(terms)):
        if np.linalg.matrix_rank(x[:, [*kept, j]]) == len(kept) + 1:
            kept.append(j)
    return tuple(terms[j] for j in kept)


def benchmark_pass_at_k(a, b, pi, n, c, k, hard=None):
    """The benchmark's pass@k, the mean over problems of :func:`problems_pass_at_k`, for every k:
    ``a, b, pi`` (and ``hard``'s) of shape (S, 1), ``n, c`` of shape (J,), ``k`` of shape (K,);
    returns (S, K). Problems with the same (n, c) are computed once."""
    pairs, mult = np.unique(np.column_stack([n, c]), axis=0, return_counts=True)
    n1, c1 = pairs[:, 0], pairs[:, 1]
    weight = mult / mult.sum()
    _, resp, comps = _responsibilities(a, b, pi, n1, c1, hard)  # (S, U) each
    out = np.zeros((np.shape(a)[0], len(k)))
    for r, (_, ai, bi) in zip(resp, comps, strict=True):
        a1, b1 = ai + c1, bi + n1 - c1
        for i, kk in enumerate(np.asarray(k, float)):
            out[:, i] += np.sum(r * weight * -np.expm1(log_beta_shift(a1, b1, kk)), axis=1)
    return out


def law_params(theta: np.ndarray, params) -> np.ndarray:
    """θ in :data:`PARAMS` (log a, log b, logit π) from a law's own
    coordinates ``params`` (the joint fit's log(b/a) becomes log b); last axis the parameter."""
    params = list(params)
    if params == list(PARAMS):
        return theta
    out = np.array(theta, float, copy=True)
    out[..., 1] = theta[..., params.index("log_a")] + theta[..., params.index("log_b_over_a")]
    return out
