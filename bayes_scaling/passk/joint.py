"""Sampling for pass@k: the rescue ladder, the joint fit of every model of a benchmark, and the
two-stage law across models.

:func:`fit_joint` samples :func:`bayes_scaling.passk.model.build_joint` (partial pooling of the
models' difficulty along log N and log D, one unsolvable share) once for all models, gated and
rescued like every fit; :func:`fit_law` fits the difficulty law to the per-model fits
(:func:`bayes_scaling.passk.model.build_law`, their likelihoods recovered by
:func:`likelihood_directions`); :func:`ladder` (which gates the draws kept, :func:`thin`) is
shared with the per-model fits of :mod:`bayes_scaling.passk.fit`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.inference.compiled import sample_attempt
from bayes_scaling.inference.rescue import climb
from bayes_scaling.inference.rungs import LONGER, STEADY, Attempt, derived_seed, more_draws
from bayes_scaling.passk.families import derived
from bayes_scaling.passk.law import DESIGN_TERMS, design
from bayes_scaling.passk.model import JOINT_PARAMS, build_joint, build_law, compress, stack_counts
from bayes_scaling.results.diagnostics import MIN_ESS

#: pass@k's rungs: the shared ladder, with "more draws" allowed twice (a model with almost no
#: successes mixes slowly in its tail: one doubling left 1 of the 81 GSM8K models at a tail
#: ESS of 373).
PASSK_RUNGS = (LONGER, STEADY, more_draws(times=2))
#: The joint fit's terms in standardised log N and log D (see :func:`joint_design`).
JOINT_TERMS = DESIGN_TERMS
#: What the joint fit's gate watches.
JOINT_GATE = ["coef", "scatter", "z", "unsolvable_logit"]


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


def joint_design(info: pd.DataFrame, sizes: bool):
    """The joint fit's design: the difficulty law's terms (:data:`DESIGN_TERMS`) in the models'
    standardised log N and log D when ``sizes``, else a constant (exchangeable models).
    Returns ``(x, terms, centre, scale)``."""
    if sizes:
        x, centre, scale = design(info["n_params"], info["n_tokens"], terms=JOINT_TERMS)
        return x, JOINT_TERMS, centre, scale
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


def likelihood_directions(post: xr.Dataset, prior: tuple, keep: float = 0.1) -> np.ndarray:
    """One model's likelihood in its P sampled parameters θ (``prior``'s names: (log_a, log_b,
    unsolvable_logit) for the Beta, :data:`~bayes_scaling.passk.logit.LOGIT_PARAMS` for the
    logit-normal mixture), recovered from its posterior draws in the Gaussian approximation by
    dividing out the Normal prior: a (P + 2, r) matrix of the informed directions v (P rows), the
    location u along each and its precision λ, so that the likelihood is Σ −λ/2·(u − v·θ)².

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
        return np.zeros((len(prior) + 2, 0))
    lam, vec = lam[good], vec[:, good]
    # location: Λ ℓ = Σ_post⁻¹ μ − P0 m0; along w-direction e (θ-direction v = e/s),
    # v·ℓ = e·(S·Λ·ℓ)/λ
    rhs = post_prec @ mu - m0 / sd**2
    u = (vec.T @ (sd * rhs)) / lam
    return np.vstack([vec / sd[:, None], u, lam])


def fit_law(posts, info, pkey, draws, chains, tune, seed, target_accept, rescue, progress):
    cols = []
    for m, post in enumerate(posts):
        block = likelihood_directions(post, pkey)
        cols.append(np.vstack([np.full(block.shape[1], m, float), block]))
    data = {"obs": np.hstack(cols)}
    x, centre, scale = design(info["n_params"], info["n_tokens"])
    data["design"] = x
    key = ("passk-law", pkey, len(info), DESIGN_TERMS)
    first = Attempt("as asked", draws, tune, max(target_accept, 0.95), derived_seed(seed, 97))

    def sample(attempt):
        return sample_attempt(
            key, lambda: build_law(data["obs"], x, pkey, len(info)), data, attempt, chains, progress
        )

    post, _, diag, record, secs = ladder(sample, first, ["coef", "scatter", "z"], rescue, chains)
    coef = post["coef"].rename({post["coef"].dims[2]: "param", post["coef"].dims[3]: "term"})
    params = [p for p, _, _ in pkey]
    coef = coef.assign_coords(param=params, term=list(DESIGN_TERMS))
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
        "law_terms": list(DESIGN_TERMS),
        "law_centre": centre.tolist(),
        "law_scale": scale.tolist(),
    }
    return law_post, attrs, diag, record, secs
