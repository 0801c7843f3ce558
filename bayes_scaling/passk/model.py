"""PyMC models of per-problem counts: one model's difficulty; every model jointly; the law.

**One model** (:func:`build_single`). Problem j has n_j samples and c_j correct,
c_j ~ Binomial(n_j, p_j); p_j = 0 with probability π (never solvable), else p_j ~ Beta(a, b).
The p_j are integrated out: the likelihood of a problem is

    P(c_j | n_j) = π·[c_j = 0] + (1 − π)·C(n_j, c_j)·B(a + c_j, b + n_j − c_j) / B(a, b)

(the binomial coefficient is constant and left out of the density). The parameters are
``log_a``, ``log_b`` and ``unsolvable_logit`` = logit(π), each with a Normal prior
(:data:`bayes_scaling.passk.law.DEFAULT_PRIORS`; the sampler moves in log a and log(b/a)).
Only three parameters whatever the number of problems: the counts enter as one ``pm.Data`` matrix of
distinct (n, c) pairs and their multiplicities, so one compiled model serves every model of a
benchmark by :func:`bayes_scaling.inference.compiled.with_data` swaps.

**The Beta mixture** (``difficulty="beta-mixture"``, :func:`build_single` with six priors). The
solvable problems' p_j come from w·Beta(a_h, b_h) + (1 − w)·Beta(a, b), so

    P(c_j | n_j) = π·[c_j = 0]
                   + (1 − π)·C(n_j, c_j)·Σ_i w_i·B(a_i + c_j, b_i + n_j − c_j)/B(a_i, b_i),

with log(b_h/a_h) = log(b/a) + e^(log gap) (the hard component sits lower in p, so the labels
cannot swap) and π's prior concentrated on small shares
(:data:`bayes_scaling.passk.law.RARE_UNSOLVABLE`): a benchmark whose zeros are hard problems
gets a component for them instead of a single Beta whose tail is set by the solved problems
(on best-of-N jailbreaking that tail rose too slowly: pass@10,000 from 100 attempts a prompt
came out 0.1–0.3 too low for every model).

**The law across models** (:func:`build_law`). The parameters of model m's difficulty (the
Beta's three, or the logit-normal mixture's six) are

    θ_m = X_m·β + τ ∘ z_m,   z_m ~ Normal(0, 1),

with X_m the difficulty law's terms in standardised log N and log D
(:func:`bayes_scaling.passk.law.design`), β a coefficient per (parameter, term) (intercepts
Normal on the single-model priors, slopes Normal(0, min(2, s_p))) and τ_p ~ HalfNormal(min(1,
s_p)) the models' scatter about the law, non-centred (z), so a prediction at a new (N, D)
carries the law's misfit. s_p is parameter p's single-model prior sd: a slope or a scatter is
never wider than the parameter's own prior (the logit-normal mixture's hard component has
prior sds of 0.5–1, where the Beta's three have 1.5–4).

Why a second stage at all. A joint model on every model's raw counts with a π per model
was tried first: on the 81 GSM8K models NUTS took 290 s for 250 iterations of 2 chains (the
trajectories hit the tree depth limit). Two causes, both mended in :func:`build_joint`: log B
computed as a difference of log-gammas lost every digit at the b ≈ 1e10–1e13 that a model
solving nothing reaches (step sizes collapsed to 1e-17; now :func:`_lgamma_step`, Stirling's
series), and a π per model leaves an L-shaped ridge (π → 1, or b/a → ∞) for every such model
(now one π for the benchmark). The two-stage law remains for ``pooling="independent"``:
each model is fitted on its own (a Beta or a logit-normal mixture), and the law is fitted to
those fits — but not by regressing their posteriors, which would count the per-model prior once
per model. Each model's *likelihood* is recovered from its posterior by dividing out the prior
in the Gaussian approximation (precision Λ = Σ_post⁻¹ − Σ_prior⁻¹, location
Λ⁻¹·(Σ_post⁻¹·μ_post − Σ_prior⁻¹·μ_prior)), and only the directions the counts inform enter (an
eigenvalue of Λ above a tenth of the prior's precision, in coordinates scaled by the prior
sds), as Gaussian observations u ~ Normal(v·θ_m, 1/λ). This is the standard two-stage
(meta-analytic) approximation; it is exact when each model's likelihood is Gaussian in θ, close
for the models with many solved problems, and errs in the weakly identified ones. A model that
solves nothing bounds its difficulty from one side only (the logit mixture's μ below about
logit(1/n)); the approximation turns that bound into a two-sided observation (μ ≈ −16 ± 6 for
the default prior and 100 samples a problem), which pulls the law towards its prior's lower
half for such models. A one-sided probit term per direction instead
(:data:`bayes_scaling.passk.joint.ONE_SIDED`, off) was measured at left-out sizes
(``benchmarks/passk_law_holdout.py``): a better interval score, worse median errors and lower
coverage, so the Gaussian terms stay. Either way, the law's medians at the sizes of the thinned
GSM8K models that solved something fall 0.07–0.22 below the truth at k = 1e3–1e4.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.dist_math import normal_lcdf

from bayes_scaling.passk.law import (
    PARAMS,
    STIRLING_FROM,
    default_priors,
    difficulty_params,
    stirling_step,
)
from bayes_scaling.passk.logit import (
    LOGIT_PARAMS,
    NARROW_COLUMNS,
    hard_terms,
    is_narrow,
    log_density,
    log_grid_masses,
    nodes,
)


def compress(n, c) -> np.ndarray:
    """The counts as a (3, U) float matrix: distinct (n, c) pairs and how often each occurs."""
    pairs = np.column_stack([np.asarray(n, float), np.asarray(c, float)])
    uniq, mult = np.unique(pairs, axis=0, return_counts=True)
    return np.vstack([uniq[:, 0], uniq[:, 1], mult.astype(float)])


def _lgamma_step(y, x):
    """log Γ(y + x) − log Γ(y) in PyTensor, stable for large y: the graph of
    :func:`bayes_scaling.passk.law.log_gamma_step` (Stirling's series above
    :data:`~bayes_scaling.passk.law.STIRLING_FROM`; NUTS stalled on GSM8K's zero-success models
    without it, whose b run to 1e10 and beyond)."""
    big = pt.gt(y, STIRLING_FROM)
    stirling = stirling_step(pt.switch(big, y, STIRLING_FROM), x, pt)
    small = pt.switch(big, 1.0, y)
    return pt.switch(big, stirling, pt.gammaln(small + x) - pt.gammaln(small))


def _loglik(n, c, w, log_a, log_b, unsolvable_logit, hard=None):
    """Σ w·log P(c | n) with the parameters given per row (broadcasting); ``hard`` =
    (logit of the hard component's share, its log a, its log b) adds the Beta mixture's second
    component."""
    comps = [(0.0, log_a, log_b)]
    if hard is not None:
        hard_logit, log_a2, log_b2 = hard
        log_w = -pt.softplus(-hard_logit)  # log of the hard component's share
        comps = [(-pt.softplus(hard_logit), log_a, log_b), (log_w, log_a2, log_b2)]
    terms = []
    for log_w, la, lb in comps:
        a, b = pt.exp(la), pt.exp(lb)
        # log B(a + c, b + n − c) − log B(a, b) as three stable steps of log Γ (law.log_gamma_step)
        steps = _lgamma_step(a, c) - _lgamma_step(b + n - c, a + c) + _lgamma_step(b, a)
        terms.append(log_w + steps)
    log_bb = terms[0] if len(terms) == 1 else pt.logaddexp(*terms)
    return _with_unsolvable(log_bb, unsolvable_logit, c, w)


def _with_unsolvable(log_bb, unsolvable_logit, c, w):
    """Σ w·log P(c | n) from log P(c | n, solvable) (``log_bb``): (1 − π)·P(c | solvable), plus
    π for a count of zero."""
    log_pi = -pt.softplus(-unsolvable_logit)  # log sigmoid
    log_1m_pi = -pt.softplus(unsolvable_logit)
    solved = log_1m_pi + log_bb
    never = pt.logaddexp(log_pi, solved)
    return pt.sum(w * pt.switch(pt.gt(c, 0.5), solved, never))


def priors_key(priors: Mapping[str, tuple[float, float]] | None, difficulty: str = "beta") -> tuple:
    """The priors as a hashable, complete tuple (the difficulty's defaults filled in): one
    ``(name, mu, sigma)`` per parameter of :func:`~bayes_scaling.passk.law.difficulty_params`,
    so its names say the difficulty (3: Beta; 6 from ``log_a``: Beta mixture; 6 from
    ``logit_mean``: logit-normal mixture)."""
    merged = {**default_priors(difficulty), **(priors or {})}
    params = difficulty_params(difficulty)
    return tuple((p, float(merged[p][0]), float(merged[p][1])) for p in params)


def build_single(counts: np.ndarray, priors: tuple) -> pm.Model:
    """One model's difficulty distribution; ``counts`` from :func:`compress`, ``priors`` from
    :func:`priors_key` (six of them: the Beta mixture of
    :data:`~bayes_scaling.passk.law.MIXTURE_PRIORS`, its hard component's log(b/a) the body's
    plus a positive gap, so the components cannot swap labels)."""
    (_, mu_a, sd_a), (_, mu_b, sd_b), (_, mu_pi, sd_pi) = priors[:3]
    with pm.Model() as model:
        data = pm.Data("counts", counts)
        # The sampler moves in (log a, log(b/a)): the prior is the same independent Normals on
        # log a and log b (log(b/a) | log a ~ Normal(mu_b − log a, sd_b)), but the posterior is
        # nearly axis-aligned there: the counts pin b/a (≈ 1/mean) first, and a model that solves
        # nothing only bounds log(b/a) from below, where in (log a, log b) it leaves an L-shaped
        # region (a → 0 or b → ∞) that chains do not cross.
        log_a = pm.Normal("log_a", mu_a, sd_a)
        log_ratio = pm.Normal("log_b_over_a", mu_b - log_a, sd_b)
        theta = {
            "log_a": log_a,
            "log_b": pm.Deterministic("log_b", log_a + log_ratio),
            "unsolvable_logit": pm.Normal("unsolvable_logit", mu_pi, sd_pi),
        }
        hard = None
        if len(priors) > 3:
            (_, mu_a2, sd_a2), (_, mu_gap, sd_gap), (_, mu_w, sd_w) = priors[3:]
            log_a2 = pm.Normal("log_a_hard", mu_a2, sd_a2)
            log_gap = pm.Normal("log_hard_gap", mu_gap, sd_gap)
            log_b2 = pm.Deterministic("log_b_hard", log_a2 + log_ratio + pt.exp(log_gap))
            hard = (pm.Normal("hard_logit", mu_w, sd_w), log_a2, log_b2)
        args = (data[0], data[1], data[2], *(theta[p] for p in PARAMS))
        pm.Potential("loglik", _loglik(*args, hard=hard))
    return model


def _std_lcdf(z):
    """The standard normal's log CDF in PyTensor (PyMC's stable form)."""
    return normal_lcdf(0.0, 1.0, z)


def logit_data(counts: np.ndarray) -> dict:
    """The data of :func:`build_logit` for counts from :func:`compress`: the counts with the
    ones on the shared grid first (``counts``, ``log_w_grid``), then those with nodes of their
    own (``eta_narrow``, ``log_w_narrow``; see :func:`bayes_scaling.passk.logit.nodes`)."""
    narrow = is_narrow(counts[0], counts[1])
    order = np.concatenate([np.flatnonzero(~narrow), np.flatnonzero(narrow)])
    counts = counts[:, order]
    eta, log_w = nodes(counts[0], counts[1])
    split = int((~narrow).sum())
    return {
        "counts": counts,
        "log_w_grid": log_w[:split],
        # a narrow count's tails and padding weigh nothing: its own nodes only
        "eta_narrow": eta[split:][:, NARROW_COLUMNS[1:-1]],
        "log_w_narrow": log_w[split:][:, NARROW_COLUMNS[1:-1]],
    }


def build_logit(counts, log_w_grid, eta_narrow, log_w_narrow, priors: tuple) -> pm.Model:
    """One model's logit-normal mixture (``difficulty="logit-normal-mixture"``; see
    :mod:`bayes_scaling.passk.logit`), its data from :func:`logit_data` and ``priors`` from
    :func:`priors_key`. The likelihood of a distinct count u is

        P(c_u | n_u) ∝ π·[c_u = 0] + (1 − π)·Σ_q exp(log_w_uq + log f(η_uq)),

    with f the mixture's density (:func:`bayes_scaling.passk.logit.log_density`), evaluated once
    on the shared grid (with the mass beyond its ends at p = 0 and p = 1,
    :func:`bayes_scaling.passk.logit.log_grid_masses`) and at the narrow counts' own nodes: the
    nodes and their data weights are constants, so one compiled model serves every model of a
    benchmark."""
    prior = {name: (mu, sd) for name, mu, sd in priors}
    with pm.Model() as model:
        data = pm.Data("counts", counts)
        w_grid = pm.Data("log_w_grid", log_w_grid)
        eta_narrow = pm.Data("eta_narrow", eta_narrow)
        w_narrow = pm.Data("log_w_narrow", log_w_narrow)
        x = {p: pm.Normal(p, *prior[p]) for p in LOGIT_PARAMS}
        hard = hard_terms(
            x["hard_logit"], x["log_hard_depth"], x["log_sigma_hard"], x["logit_mean"],
            x["log_sigma"], pt,
        )  # fmt: skip
        sigma = pt.exp(x["log_sigma"])
        on_grid = log_grid_masses(x["logit_mean"], sigma, hard, pt, _std_lcdf)  # (nodes + 2,)
        own = log_density(eta_narrow, x["logit_mean"], sigma, hard, pt)  # (narrow, nodes)
        log_bb = pt.concatenate(
            [pt.logsumexp(w_grid + on_grid[None, :], axis=1), pt.logsumexp(w_narrow + own, axis=1)]
        )
        pm.Potential("loglik", _with_unsolvable(log_bb, x["unsolvable_logit"], data[1], data[2]))
    return model


#: The difficulty law's slope sd (per standardised unit of log N or log D) and its scatter's
#: HalfNormal scale, each capped at the parameter's own prior sd (:func:`build_law`).
LAW_SLOPE_SD = 2.0
LAW_SCATTER = 1.0


def build_law(
    obs: np.ndarray, x: np.ndarray, priors: tuple, n_models: int, bounds: bool = False
) -> pm.Model:
    """The difficulty law over ``n_models`` models, in the P parameters of ``priors`` (the
    per-model fits' difficulty: 3 for the Beta, 6 for the logit-normal mixture).

    ``obs`` is a (P + 4, R) matrix, one column per informed direction of a model's likelihood:
    model index, the direction v (P rows), the likelihood's location u along v, its precision λ
    and its kind (0: Gaussian; 1, read only with ``bounds``: a one-sided bound
    log Φ((u − v·θ)·λ), for a model that solved nothing; see
    :func:`bayes_scaling.passk.joint.likelihood_directions`); ``x`` the
    (models × terms) design matrix. Model m's parameters are θ_m = β·x_m + τ ∘ z_m (β's
    intercepts from the per-model priors N(m_p, s_p), slopes Normal(0, min(2, s_p)),
    τ_p ~ HalfNormal(min(1, s_p)), z_m ~ Normal(0, I)), and the density is
    Σ −λ/2·(u − v·θ_m)² over the Gaussian terms plus Σ log Φ((u − v·θ_m)·λ) over the bounds.
    """
    n_terms, n_par = x.shape[1], len(priors)
    sds = np.array([s for _, _, s in priors])
    with pm.Model() as model:
        data = pm.Data("obs", obs)
        design = pm.Data("design", x)
        coef_mu = np.zeros((n_par, n_terms))
        coef_sd = np.repeat(np.minimum(LAW_SLOPE_SD, sds)[:, None], n_terms, axis=1)
        coef_mu[:, 0] = [m for _, m, _ in priors]
        coef_sd[:, 0] = sds
        coef = pm.Normal("coef", coef_mu, coef_sd, shape=(n_par, n_terms))
        scatter = pm.HalfNormal("scatter", np.minimum(LAW_SCATTER, sds), shape=n_par)
        z = pm.Normal("z", 0.0, 1.0, shape=(n_models, n_par))
        theta = pt.dot(design, coef.T) + z * scatter  # (models, P)
        rows = theta[pt.cast(data[0], "int64")]
        proj = pt.sum(rows * data[1 : n_par + 1].T, axis=1)
        gap, scale = data[n_par + 1] - proj, data[n_par + 2]
        loglik = -0.5 * scale * gap**2
        if bounds:  # some rows are one-sided bounds (kind 1)
            bound = data[n_par + 3] > 0.5
            probit = pm.logcdf(pm.Normal.dist(0.0, 1.0), pt.switch(bound, gap * scale, 0.0))
            loglik = pt.switch(bound, probit, loglik)
        pm.Potential("loglik", pt.sum(loglik))
    return model


#: The coordinates of the joint fit's regression (:func:`build_joint`): log a, log(b/a) and
#: logit π (the sampler's own coordinates of :func:`build_single`).
JOINT_PARAMS = ("log_a", "log_b_over_a", "unsolvable_logit")
#: Prior sd of a slope of the joint fit (per standardised unit of log N or log D) and the
#: HalfNormal scale of the models' scatter about the regression of log a and log(b/a).
JOINT_SLOPE_SD = 2.0
JOINT_SCATTER = 1.0


def stack_counts(parts) -> np.ndarray:
    """Every model's :func:`compress` ed counts in one (4, U) matrix: model index, n, c and the
    multiplicity, models in the order given."""
    blocks = [np.vstack([np.full(p.shape[1], m, float), p]) for m, p in enumerate(parts)]
    return np.hstack(blocks)


def build_joint(counts: np.ndarray, x: np.ndarray, priors: tuple, n_models: int) -> pm.Model:
    """Every model of a benchmark in one model: partial pooling along the models' sizes, and one
    unsolvable share for the benchmark.

    Model m's (log a, log(b/a)) are

        (log a, log(b/a))_m = β·x_m + τ ∘ z_m,   z_m ~ Normal(0, I),   τ ~ HalfNormal(1),

    with x_m the design row (:func:`bayes_scaling.passk.law.design`: a constant and terms in
    standardised log N and log D; a constant only when the sizes are unknown, which makes the
    models exchangeable), β's intercepts Normal(mu_a, sd_a) and Normal(mu_b − mu_a, sd_b) from
    the per-model priors, slopes Normal(0, :data:`JOINT_SLOPE_SD`). The unsolvable share π is
    one for the benchmark (logit π ~ Normal(mu_π, sd_π)): a problem no model solves is a
    property of the benchmark, while a weak model's zeros are explained by its own (large) b,
    hard rather than impossible. Per model, π and a Beta tail are not told apart by counts at
    one n (zero successes have probability ≈ 1 under both): with π per model the zero-success
    models leave an L-shaped ridge (π → 1, or b/a → ∞) that the hierarchy turns into a funnel
    (NUTS saturated its tree depth on GSM8K's 39 models); shared, it is identified by the
    models that do solve problems. Every model's counts enter through the likelihood of
    :func:`build_single` (``counts`` from :func:`stack_counts`). A model with few successes is
    pulled towards the regression at its size by as much as its own counts leave open: the
    posterior variance of z_m is the share of its scatter known only from its neighbours.
    """
    n_terms = x.shape[1]
    (_, mu_a, sd_a), (_, mu_b, sd_b), (_, mu_pi, sd_pi) = priors
    coef_mu = np.zeros((2, n_terms))
    coef_sd = np.full((2, n_terms), JOINT_SLOPE_SD)
    coef_mu[:, 0], coef_sd[:, 0] = (mu_a, mu_b - mu_a), (sd_a, sd_b)
    with pm.Model() as model:
        data = pm.Data("counts", counts)
        design = pm.Data("design", x)
        coef = pm.Normal("coef", coef_mu, coef_sd, shape=(2, n_terms))
        scatter = pm.HalfNormal("scatter", JOINT_SCATTER, shape=2)
        z = pm.Normal("z", 0.0, 1.0, shape=(n_models, 2))
        phi = pt.dot(design, coef.T) + z * scatter  # (models, 2)
        rows = phi[pt.cast(data[0], "int64")]
        logit_pi = pm.Normal("unsolvable_logit", mu_pi, sd_pi)
        log_a = rows[:, 0]
        loglik = _loglik(data[1], data[2], data[3], log_a, log_a + rows[:, 1], logit_pi)
        pm.Potential("loglik", loglik)
    return model
