"""Sampling for pass@k: the rescue ladder, each model on its own, the joint fit of every model of
a benchmark, and the two-stage law across models.

:func:`fit_joint` samples :func:`bayes_scaling.passk.model.build_joint` (partial pooling of the
models' difficulty along log N and log D, one unsolvable share) once for all models, gated and
rescued like every fit; :func:`fit_law` fits the difficulty law to the per-model fits
(:func:`bayes_scaling.passk.model.build_law`, their likelihoods recovered by
:func:`likelihood_directions`); :func:`ladder` (which gates the draws kept, :func:`thin`) is
shared with the per-model fits of :func:`fit_each`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling._lazy import scipy_function
from bayes_scaling.inference.compiled import ADAPTATION, sample_attempt
from bayes_scaling.inference.rescue import climb
from bayes_scaling.inference.rungs import LONGER, STEADY, Attempt, derived_seed, more_draws
from bayes_scaling.passk.families import derived
from bayes_scaling.passk.law import DESIGN_TERMS, LOGIT_MIXTURE, design, identified_terms
from bayes_scaling.passk.model import (
    JOINT_PARAMS,
    build_joint,
    build_law,
    build_logit,
    build_single,
    compress,
    logit_data,
    stack_counts,
)
from bayes_scaling.results.diagnostics import MIN_ESS, Diagnostics

#: pass@k's rungs: the shared ladder, with "more draws" allowed twice (a model with almost no
#: successes mixes slowly in its tail: one doubling left 1 of the 81 GSM8K models at a tail
#: ESS of 373).
PASSK_RUNGS = (LONGER, STEADY, more_draws(times=2))
#: The joint fit's terms in standardised log N and log D (see :func:`joint_design`).
JOINT_TERMS = DESIGN_TERMS
#: nutpie's mass-matrix adaptation of each model's fit, by difficulty (the diagonal otherwise).
#: The logit-normal mixture's six parameters are correlated (the hard component sits e^g body
#: sds below the centre), and the low-rank adaptation follows that ridge: on four GSM8K models
#: (Pythia 160M to 6.9B, all 256 samples a problem, 4 × (1000 + 1000), seeds 1-3) it took
#: 6.5-8.5 leapfrog steps a draw against 8.6-10.2 and gave 1.5-2.6x the smallest bulk ESS
#: (1,197-2,852 against 788-1,233); the six models of notebook 06 were fitted in 9.6 s against
#: 16.7-19.5 s (seeds 1, 2), with no rescue against one or two. The Beta's three parameters
#: gain nothing from it (the same six models: 8.0-10.3 s and 3 rescues against 8.8-14.4 s
#: and 1), and the hierarchies (the joint fit, the law across models) sample worse with it.
ADAPTATION_BY_DIFFICULTY = {LOGIT_MIXTURE: ADAPTATION}


def adaptation_of(difficulty: str) -> str:
    """The mass-matrix adaptation of each model's fit (:data:`ADAPTATION_BY_DIFFICULTY`)."""
    return ADAPTATION_BY_DIFFICULTY.get(difficulty, "diag")


#: What the joint fit's gate watches.
JOINT_GATE = ["coef", "scatter", "z", "unsolvable_logit"]
#: The law across models' smallest target acceptance. Its hierarchy (slopes, scatter,
#: standardised offsets of a handful of models) diverges now and then at 0.95: the law of the
#: six GSM8K models of notebook 06 climbed the rescue ladder to "target_accept 0.99" in 6 of 8
#: fits (seeds 1-4, two per-model adaptations), 2.7-6.6 s a law against 0.7-1.0 s for the first
#: attempt alone. Asked at 0.99 it passed on the first attempt in 3 of 4 seeds and after "more
#: draws" in the fourth, with no divergence (1.7-4.2 s, 2.5 s on average against 4.3 s). The
#: price is the seeds that passed at 0.95: notebook 06's seed 1 took 2.5 s against 0.8 s. The
#: law of all 81 GSM8K models has no divergence at 0.99 but mixes slowly (bulk ESS ~100 from
#: 4 x 1000 draws) and passes after "longer" and "more draws" (17-32 s, seeds 1-3).
LAW_TARGET_ACCEPT = 0.99


def ladder(sample, first: Attempt, gate: list[str], rescue: bool, chains: int):
    """The shared ladder (:func:`bayes_scaling.inference.rescue.climb`) with
    :data:`PASSK_RUNGS`: ``(posterior, sample_stats, diagnostics, record, seconds)`` of the
    attempt kept (the first that passed, else the best).

    Every attempt's posterior is thinned to the draws asked (``first.draws``, :func:`thin`)
    before the gate sees it, so the gate, the record and the diagnostics returned describe the
    draws kept and saved, not a longer rescue run. (Its divergences count over the whole run:
    draws kept from a chain that diverged are not trusted either.) A fit whose chains hold too
    few draws for the gate's ESS (chains × draws < :data:`~bayes_scaling.results.diagnostics.
    MIN_ESS`) fails whatever a rescue does, and makes one attempt only.
    """

    def kept(attempt):
        post, stats, seconds = sample(attempt)
        return thin(post, first.draws), stats, seconds

    rescue = rescue and chains * first.draws >= MIN_ESS
    out = climb(kept, first, gate, PASSK_RUNGS, rescue=rescue)
    return out.posterior, out.sample_stats, out.diagnostics, out.record, out.seconds


def thin(post: xr.Dataset, draws: int) -> xr.Dataset:
    """``draws`` evenly spaced draws of a longer (rescued) posterior."""
    n = post.sizes["draw"]
    if n == draws:
        return post
    keep = np.linspace(0, n - 1, draws).round().astype(int)
    return post.isel(draw=keep).assign_coords(draw=np.arange(draws))


def model_row(name, diag: Diagnostics, record, secs) -> dict:
    """One model's row of a fit's model table: its gate, attempts and seconds."""
    return dict(
        model=name,
        converged=diag.converged,
        reason=diag.reason(),
        max_rhat=diag.max_rhat,
        min_ess_bulk=diag.min_ess_bulk,
        min_ess_tail=diag.min_ess_tail,
        divergences=diag.n_divergent,
        attempts=len(record),
        seconds=round(secs, 3),
    )


def fit_each(
    counts, info, pkey, difficulty, no_success, draws, chains, tune, seed, target_accept, rescue,
    progress,
):  # fmt: skip
    """Each model on its own (:func:`bayes_scaling.passk.model.build_single`, or
    :func:`~bayes_scaling.passk.model.build_logit` for the logit-normal mixture; compiled once),
    at ``no_success``'s target acceptance (when not None) if it solved nothing."""
    posts, rows, records = [], [], {}
    adaptation = adaptation_of(difficulty)
    if difficulty == LOGIT_MIXTURE:  # the counts with their quadrature nodes
        prepare, build = logit_data, build_logit
    else:
        prepare, build = (lambda compressed: {"counts": compressed}), build_single
    for i, name in enumerate(info["model"]):
        part = counts[counts["model"] == name]
        data = prepare(compress(part["samples"], part["correct"]))
        accept = no_success if no_success and part["correct"].sum() == 0 else target_accept
        first = Attempt("as asked", draws, tune, accept, derived_seed(seed, 0) + i)

        def sample(attempt, data=data):
            return sample_attempt(
                ("passk", pkey),
                lambda: build(**data, priors=pkey),
                data,
                attempt,
                chains,
                progress,
                adaptation,
            )

        params = [p for p, _, _ in pkey]
        post, _, diag, record, secs = ladder(sample, first, params, rescue, chains)
        keep = params + (["log_b_hard"] if "log_b_hard" in post else [])
        posts.append(post[keep])  # the draws asked, as the gate saw them (ladder)
        records[name] = record
        rows.append(model_row(name, diag, record, secs))
    return posts, rows, records


def joint_design(info: pd.DataFrame, sizes: bool):
    """The joint fit's design: the difficulty law's terms (:data:`DESIGN_TERMS`) in the models'
    standardised log N and log D when ``sizes``, else a constant (exchangeable models).
    Returns ``(x, terms, centre, scale)``."""
    if sizes:
        terms = identified_terms(info["n_params"], info["n_tokens"], JOINT_TERMS)
        x, centre, scale = design(info["n_params"], info["n_tokens"], terms=terms)
        return x, terms, centre, scale
    return np.ones((len(info), 1)), ("const",), None, None


def fit_joint(
    counts, info, pkey, sizes, draws, chains, tune, seed, target_accept, rescue, progress
):
    """Every model in one NUTS fit (:func:`bayes_scaling.passk.model.build_joint`).

    Returns ``(posterior, pool, attrs, diagnostics, record, seconds)``: the per-model posterior
    (dims ``chain, draw, model``: ``log_a``, ``log_b``, ``unsolvable_logit``, the last the same
    for every model), the pooling's posterior (``coef`` over ``param, term``, ``scatter`` and
    ``z`` over ``param``, ``theta`` over ``model, param``, in :data:`JOINT_PARAMS`; the
    unsolvable share's row holds its one value as the constant, with no slope and no scatter)
    and its design's attributes.
    """
    names = list(info["model"])
    parts = [
        compress(part["samples"], part["correct"])
        for part in (counts[counts["model"] == m] for m in names)
    ]
    x, terms, centre, scale = joint_design(info, sizes)
    data = {"counts": stack_counts(parts), "design": x}
    key = ("passk-joint", pkey, len(names), tuple(terms))
    first = Attempt("as asked", draws, tune, target_accept, derived_seed(seed, 0))

    def sample(attempt):
        return sample_attempt(
            key,
            lambda: build_joint(data["counts"], x, pkey, len(names)),
            data,
            attempt,
            chains,
            progress,
        )

    post, _, diag, record, secs = ladder(sample, first, JOINT_GATE, rescue, chains)
    coef, scatter, z = (post[v].values for v in ("coef", "scatter", "z"))
    phi = np.einsum("mt,cdpt->cdmp", x, coef) + z * scatter[:, :, None, :]
    # the unsolvable share's row: its one value as the constant, no slope, no scatter
    logit_pi = post["unsolvable_logit"].values  # (chain, draw)
    shape = logit_pi.shape
    coef = np.concatenate([coef, np.zeros((*shape, 1, len(terms)))], axis=2)
    coef[:, :, 2, 0] = logit_pi
    scatter = np.concatenate([scatter, np.zeros((*shape, 1))], axis=2)
    z = np.concatenate([z, np.zeros((*shape, len(names), 1))], axis=3)
    pi_m = np.broadcast_to(logit_pi[:, :, None], phi.shape[:3])
    theta = np.concatenate([phi, pi_m[..., None]], axis=3)
    dims = ("chain", "draw")
    pool = xr.Dataset(
        {
            "coef": ((*dims, "param", "term"), coef),
            "scatter": ((*dims, "param"), scatter),
            "z": ((*dims, "model", "param"), z),
            "theta": ((*dims, "model", "param"), theta),
        },
        coords={"model": names, "param": list(JOINT_PARAMS), "term": list(terms)},
    )
    per_model = xr.Dataset(
        {
            "log_a": ((*dims, "model"), theta[..., 0]),
            "log_b": ((*dims, "model"), theta[..., 0] + theta[..., 1]),
            "unsolvable_logit": ((*dims, "model"), theta[..., 2]),
        },
        coords={"chain": post["chain"].values, "draw": post["draw"].values, "model": names},
    )
    attrs = {"law_terms": list(terms)}
    if centre is not None:
        attrs.update(law_centre=centre.tolist(), law_scale=scale.tolist())
    return derived(per_model), pool, attrs, diag, record, secs


def likelihood_directions(
    post: xr.Dataset, prior: tuple, keep: float = 0.1, one_sided: bool = False
) -> np.ndarray:
    """One model's likelihood in its P sampled parameters θ (``prior``'s names: (log_a, log_b,
    unsolvable_logit) for the Beta, :data:`~bayes_scaling.passk.logit.LOGIT_PARAMS` for the
    logit-normal mixture), recovered from its posterior draws in the Gaussian approximation by
    dividing out the Normal prior: a (P + 3, r) matrix of the informed directions v (P rows), the
    location u along each and its precision λ, so that the likelihood is Σ −λ/2·(u − v·θ)², and
    a last row, the term's kind (0: Gaussian; 1: one-sided, below).

    ``one_sided`` (a model that solved nothing, when :func:`fit_law` asks): its likelihood only
    bounds each direction from
    one side (flat where the model is weak enough, falling where it would have solved something),
    which a Gaussian turns into a two-sided pull to a spurious location below the prior's centre.
    Each direction then gets a probit term log Φ((c − v·θ)/σ) instead (:func:`one_sided_term`;
    v oriented so that the likelihood falls along it, rows u = c, λ = 1/σ, kind 1), whose
    posterior with the prior's marginal along v has the mean and variance of the draws. Where no
    such term fits (the draws narrower than a bound explains), the Gaussian stays.

    Only the directions where the likelihood's precision exceeds ``keep`` times the prior's
    count, in θ scaled by the prior sds (w = θ/s: eigenvalues of S·Λ·S, Λ = Σ_post⁻¹ −
    Σ_prior⁻¹, S = diag(s)). Unscaled, the threshold followed the widest prior (the logit
    mixture's μ, sd 6) and the sampling noise of the parameters with narrow priors (sd 0.5–1)
    passed it: on pure prior draws, 2.7 spurious directions a model (0.02 scaled)."""
    draws = np.column_stack([post[p].values.ravel() for p, _, _ in prior])
    mu, cov = draws.mean(axis=0), np.cov(draws, rowvar=False)
    m0 = np.array([m for _, m, _ in prior])
    sd = np.array([s for _, _, s in prior])
    post_prec = np.linalg.inv(cov)
    lik_prec = (post_prec - np.diag(1.0 / sd**2)) * np.outer(sd, sd)  # S·Λ·S
    lam, vec = np.linalg.eigh((lik_prec + lik_prec.T) / 2)
    good = lam > keep
    if not good.any():
        return np.zeros((len(prior) + 3, 0))
    lam, vec = lam[good], vec[:, good]
    # location: Λ ℓ = Σ_post⁻¹ μ − P0 m0; along w-direction e (θ-direction v = e/s),
    # v·ℓ = e·(S·Λ·ℓ)/λ
    rhs = post_prec @ mu - m0 / sd**2
    u = (vec.T @ (sd * rhs)) / lam
    v, kind = vec / sd[:, None], np.zeros(len(lam))
    if one_sided:
        t = draws @ v  # (draws, r): v·θ, whose prior marginal has sd 1 (|e| = 1 scaled)
        for j in range(len(lam)):
            term = one_sided_term(float(v[:, j] @ m0), t[:, j])
            if term is not None:
                flip, u[j], lam[j] = term
                v[:, j] *= flip
                kind[j] = 1.0
    return np.vstack([v, u, lam, kind])


log_ndtr = scipy_function("special", "log_ndtr")  # SciPy on first use
#: Whether a model that solved nothing enters the law through one-sided terms
#: (:func:`one_sided_term`) instead of Gaussian ones, by default (``fit_law(one_sided=...)``).
#: Off: on the 39 thinned GSM8K models, law predictions at each left-out model's (N, D)
#: (``benchmarks/passk_law_holdout.py --one-sided``) had an 8-13% better 90% interval score but
#: a worse median error (0.014 against 0.004 at k = 1e3 from 100 samples; 0.017 against 0.010
#: from 30) and lower coverage (0.79 against 0.82 at 90%, 0.38 against 0.46-0.49 at 50%, from
#: 100 samples).
ONE_SIDED = False
#: Bisection steps of :func:`one_sided_term`'s z (on [-30, 30]: to ~1e-16).
BOUND_STEPS = 60


def one_sided_term(prior_mean: float, t: np.ndarray):
    """A probit likelihood Φ((c − t)/σ) along a direction whose prior marginal is N(m, 1), fitted
    to the posterior draws ``t`` of that direction by their mean and variance, or None.

    With w = t + σ·ε (ε ~ N(0, 1)), the posterior is t | w ≤ c: for r = √(1 + σ²),
    z = (c − m)/r and h = φ(z)/Φ(z), its mean is m − h/r and its variance 1 − h·(z + h)/r².
    So with the shift δ = m − mean (> 0 after orienting t) and the variance V:
    (1 − V)/δ² = 1 + z/h(z), increasing in z, solved by bisection; then r = h(z)/δ,
    c = m + z·r, σ = √(r² − 1). None when V ≥ 1, δ ≈ 0, or r < 1 (sharper than a bound).
    Returns (orientation ±1, c, 1/σ) in the oriented coordinate.
    """
    flip = 1.0 if t.mean() <= prior_mean else -1.0
    m, t = flip * prior_mean, flip * t
    delta, var = m - float(t.mean()), float(t.var())
    if not (0 < var < 1) or delta < 1e-3:
        return None
    target = (1 - var) / delta**2 - 1

    def mills(z):
        return np.exp(-0.5 * z**2 - 0.5 * np.log(2 * np.pi) - log_ndtr(z))

    lo, hi = -30.0, 30.0
    for _ in range(BOUND_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mid / mills(mid) < target else (lo, mid)
    z = (lo + hi) / 2
    r = mills(z) / delta
    if r < 1 + 1e-6:
        return None
    return flip, m + z * r, 1.0 / np.sqrt(r**2 - 1)


def fit_law(
    posts,
    info,
    pkey,
    draws,
    chains,
    tune,
    seed,
    target_accept,
    rescue,
    progress,
    *,
    one_sided: bool = ONE_SIDED,
    terms: tuple = DESIGN_TERMS,
):
    """The difficulty law over the per-model fits ``posts`` (see :func:`build_law`): the models
    that solved nothing through one-sided terms when ``one_sided``, the law's design ``terms``
    (:func:`bayes_scaling.passk.law.design`) less those the models' sizes do not identify
    (:func:`~bayes_scaling.passk.law.identified_terms`: two D values, no square in log D).
    ``target_accept`` is raised to :data:`LAW_TARGET_ACCEPT` when below it.
    Returns (law posterior, attrs, diagnostics, rescue record, seconds)."""
    cols = []
    solved = info["correct"].to_numpy() if "correct" in info else np.ones(len(posts))
    for m, post in enumerate(posts):
        block = likelihood_directions(post, pkey, one_sided=one_sided and solved[m] == 0)
        cols.append(np.vstack([np.full(block.shape[1], m, float), block]))
    data = {"obs": np.hstack(cols)}
    terms = identified_terms(info["n_params"], info["n_tokens"], terms)  # what the sizes tell
    x, centre, scale = design(info["n_params"], info["n_tokens"], terms=terms)
    data["design"] = x
    bounds = bool(data["obs"][-1].any())  # one-sided terms: another model, another key
    key = ("passk-law", pkey, len(info), tuple(terms), bounds)
    first = Attempt(
        "as asked", draws, tune, max(target_accept, LAW_TARGET_ACCEPT), derived_seed(seed, 97)
    )

    def build():
        return build_law(data["obs"], x, pkey, len(info), bounds)

    def sample(attempt):
        return sample_attempt(key, build, data, attempt, chains, progress)

    post, _, diag, record, secs = ladder(sample, first, ["coef", "scatter", "z"], rescue, chains)
    coef = post["coef"].rename({post["coef"].dims[2]: "param", post["coef"].dims[3]: "term"})
    params = [p for p, _, _ in pkey]
    coef = coef.assign_coords(param=params, term=list(terms))
    scatter = post["scatter"].rename({post["scatter"].dims[2]: "param"})
    scatter = scatter.assign_coords(param=params)
    z = post["z"].values  # (chain, draw, model, param)
    theta = np.einsum("mt,cdpt->cdmp", x, coef.values) + z * scatter.values[:, :, None, :]
    law_post = xr.Dataset(
        {
            "coef": coef,
            "scatter": scatter,
            "theta": (("chain", "draw", "model", "param"), theta),
        },
        coords={"model": list(info["model"]), "param": params},
    )
    attrs = {
        "law_terms": list(terms),
        "law_centre": centre.tolist(),
        "law_scale": scale.tolist(),
    }
    return law_post, attrs, diag, record, secs
