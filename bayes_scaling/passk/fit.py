"""``fit_passk(table, ...) -> PassKFit``: each model's difficulty distribution by NUTS, and the law.

Each model is fitted on its own with the one compiled model of
:func:`bayes_scaling.passk.model.build_single` (three parameters; the counts are swapped in with
``compiled.with_data``), so a benchmark of 81 models compiles once. Every model passes the
diagnostics gate (:mod:`bayes_scaling.results.diagnostics`) or climbs the rescue ladder of
:mod:`bayes_scaling.inference.rescue` (the same rungs: longer, target_accept 0.99 after
divergences, more draws when close, the best attempt kept when all fail); a model whose rescue
ran longer is thinned back to the draws asked for, so the models stack along ``model``. With N
and D for every model the difficulty law (:func:`bayes_scaling.passk.model.build_law`) is fitted
jointly on all the counts, gated and rescued the same way.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from bayes_scaling import _validate as check
from bayes_scaling.errors import ArgumentError
from bayes_scaling.inference.compiled import sample_attempt
from bayes_scaling.inference.rescue import (
    LONGER,
    STEADY,
    Attempt,
    climb,
    derived_seed,
    more_draws,
)
from bayes_scaling.passk.data import load_counts, model_table
from bayes_scaling.passk.law import DESIGN_TERMS, PARAMS, beta_params, design
from bayes_scaling.passk.model import build_law, build_single, compress, priors_key
from bayes_scaling.passk.result import PassKFit, make_tree
from bayes_scaling.results import diagnostics
from bayes_scaling.results.diagnostics import Diagnostics

#: Fewest models (with N and D known, at least two sizes and two token counts) for the law.
LAW_MIN_MODELS = 6


def _sample(key, build, data, attempt: Attempt, chains: int, progress: bool):
    return sample_attempt(key, build, data, attempt, chains, progress)


#: pass@k's rungs: the shared ladder, with "more draws" allowed twice (a model with almost no
#: successes mixes slowly in its tail: one doubling left 1 of the 81 GSM8K models at a tail
#: ESS of 373).
PASSK_RUNGS = (LONGER, STEADY, more_draws(times=2))


def ladder(sample, first: Attempt, gate: list[str], rescue: bool):
    """The shared ladder (:func:`bayes_scaling.inference.rescue.climb`) with
    :data:`PASSK_RUNGS`: ``(posterior, sample_stats, diagnostics, record, seconds)`` of the
    attempt kept (the first that passed, else the best)."""
    out = climb(sample, first, gate, PASSK_RUNGS, rescue=rescue)
    return out.posterior, out.sample_stats, out.diagnostics, out.record, out.seconds


def _thin(post: xr.Dataset, draws: int) -> xr.Dataset:
    n = post.sizes["draw"]
    if n == draws:
        return post
    keep = np.linspace(0, n - 1, draws).round().astype(int)
    return post.isel(draw=keep).assign_coords(draw=np.arange(draws))


def _derived(post: xr.Dataset) -> xr.Dataset:
    a, b = beta_params(post["log_a"], post["log_b"])
    return post.assign(a=a, b=b, pi=expit(post["unsolvable_logit"]))


def _law_wanted(law, info: pd.DataFrame) -> bool:
    has = {"n_params", "n_tokens"} <= set(info.columns)
    usable = (
        has
        and bool(np.isfinite(info[["n_params", "n_tokens"]].to_numpy(float)).all())
        and bool((info[["n_params", "n_tokens"]].to_numpy(float) > 0).all())
        and len(info) >= LAW_MIN_MODELS
        and info["n_params"].nunique() >= 2
        and info["n_tokens"].nunique() >= 2
    )
    if law is True and not usable:
        raise ArgumentError(
            "law",
            f"the difficulty law needs N and D (n_params, n_tokens) for every model and at least "
            f"{LAW_MIN_MODELS} models over two or more sizes and token counts; this table has "
            f"{len(info)} models" + ("" if has else " and no n_params/n_tokens columns"),
        )
    return usable if law is None else bool(law)


def fit_passk(
    table,
    *,
    columns: Mapping[str, str] | None = None,
    law: bool | None = None,
    priors: Mapping[str, tuple[float, float]] | None = None,
    draws: int = 1000,
    chains: int = 4,
    tune: int = 1000,
    seed: int | None = None,
    target_accept: float = 0.9,
    rescue: bool = True,
    progress: bool | None = None,
) -> PassKFit:
    """Fit each model's distribution of per-problem success probabilities (Beta plus a share of
    never-solvable problems) to per-problem counts with NUTS; optionally the law across models.

    Parameters
    ----------
    table : DataFrame or path
        Per-problem counts, one row per (model, problem) (see
        :func:`bayes_scaling.passk.data.load_counts`; the model column is optional).
    columns : mapping, optional
        Canonical name -> the table's column (``model``, ``problem``, ``samples``, ``correct``,
        ``n_params``, ``n_tokens``).
    law : bool, optional
        Fit the difficulty law across models (:func:`bayes_scaling.passk.model.build_law`).
        None (default): when every model has N and D and there are at least
        :data:`LAW_MIN_MODELS`; True: required (an error otherwise); False: never.
    priors : mapping, optional
        Normal (mu, sigma) per parameter (``log_a``, ``log_b``, ``unsolvable_logit``),
        overriding :data:`bayes_scaling.passk.law.DEFAULT_PRIORS`.
    draws, chains, tune : int
        Per model, as asked (a rescued model is thinned back to ``draws``).
    seed : int, optional
        The same seed gives the same posterior; drawn and stored when None.
    target_accept : float
    rescue : bool
        Climb the rescue ladder when a gate fails (recorded per model in ``settings``).
    progress : bool, optional
        nutpie's progress bar (default: when stderr is a terminal).

    Returns
    -------
    PassKFit
        ``converged`` only when every model (and the law) passed the gate; otherwise a
        :class:`~bayes_scaling.errors.ConvergenceWarning` names the models that failed.

    Examples
    --------
    >>> fit = bs.fit_passk(bs.datasets.gsm8k(), seed=1)   # doctest: +SKIP
    >>> fit.bands(k=[100, 10_000])                         # doctest: +SKIP
    """
    counts = table
    if not (
        isinstance(table, pd.DataFrame)
        and {"model", "problem", "samples", "correct"} <= set(table.columns)
        and table.attrs.get("columns") is not None
    ):
        counts = load_counts(table, columns=columns)
    draws, chains, tune = (
        check.count(v, n) for v, n in ((draws, "draws"), (chains, "chains"), (tune, "tune"))
    )
    seed = check.seed(seed)
    target_accept = check.probability(target_accept, "target_accept")
    if priors is not None:
        unknown = set(priors) - set(PARAMS)
        if unknown:
            raise ArgumentError("priors", f"unknown parameters {sorted(unknown)}; use {PARAMS}")
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    if progress is None:
        progress = sys.stderr.isatty()
    pkey = priors_key(priors)
    info = model_table(counts)
    start = time.perf_counter()
    posts, rows, records = [], [], {}
    for i, name in enumerate(info["model"]):
        part = counts[counts["model"] == name]
        data = {"counts": compress(part["samples"], part["correct"])}
        first = Attempt("as asked", draws, tune, target_accept, derived_seed(seed, 0) + i)

        def sample(attempt, data=data):
            return _sample(
                ("passk", pkey),
                lambda: build_single(data["counts"], pkey),
                data,
                attempt,
                chains,
                progress,
            )

        post, _, diag, record, secs = ladder(sample, first, list(PARAMS), rescue)
        posts.append(_thin(post[list(PARAMS)], draws))
        records[name] = record
        rows.append(
            dict(
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
        )
    model_seconds = time.perf_counter() - start
    posterior = _derived(xr.concat(posts, dim="model").assign_coords(model=list(info["model"])))
    posterior = posterior.transpose("chain", "draw", "model")
    models = pd.DataFrame(rows).set_index("model")
    for extra in ("n_params", "n_tokens", "problems"):
        if extra in info:
            models[extra] = info[extra].to_numpy()
    settings = dict(
        sampler="nutpie",
        draws=draws,
        chains=chains,
        tune=tune,
        seed=seed,
        target_accept=target_accept,
        priors={p: [m, s] for p, m, s in pkey},
        rescue_enabled=bool(rescue),
        rescue=records,
        model_seconds=round(model_seconds, 3),
    )
    law_post, law_attrs, law_diag = None, None, None
    if _law_wanted(law, info):
        law_post, law_attrs, law_diag, law_record, law_secs = _fit_law(
            posts, info, pkey, draws, chains, tune, seed, target_accept, rescue, progress
        )
        settings.update(law_rescue=law_record, law_seconds=round(law_secs, 3))
    diag = _overall(models, posterior, law_diag)
    diagnostics.warn_if_failed(diag, stacklevel=2)
    models_ds = xr.Dataset.from_dataframe(models.astype({"reason": str}))
    tree = make_tree(posterior, models_ds, counts, diag, settings, law_post, law_attrs)
    return PassKFit(tree, counts.reset_index(drop=True), diag, settings)


def likelihood_directions(post: xr.Dataset, prior: tuple, keep: float = 0.1) -> np.ndarray:
    """One model's likelihood in θ = (log_a, log_b, unsolvable_logit), recovered from its
    posterior draws in the Gaussian approximation by dividing out the Normal prior: a (5, r)
    matrix of the informed directions v (3 rows), the location u along each and its precision λ
    (only eigenvalues of Λ = Σ_post⁻¹ − Σ_prior⁻¹ above ``keep`` times the smallest prior
    precision; see :mod:`bayes_scaling.passk.model`)."""
    draws = np.column_stack([post[p].values.ravel() for p in PARAMS])
    mu, cov = draws.mean(axis=0), np.cov(draws, rowvar=False)
    m0 = np.array([m for _, m, _ in prior])
    p0 = np.diag(1.0 / np.array([s for _, _, s in prior]) ** 2)
    post_prec = np.linalg.inv(cov)
    lik_prec = post_prec - p0
    lam, vec = np.linalg.eigh((lik_prec + lik_prec.T) / 2)
    good = lam > keep * p0.diagonal().min()
    if not good.any():
        return np.zeros((5, 0))
    lam, vec = lam[good], vec[:, good]
    # location: Λ ℓ = Σ_post⁻¹ μ − P0 m0, projected on the informed directions
    rhs = post_prec @ mu - p0 @ m0
    u = (vec.T @ rhs) / lam
    return np.vstack([vec, u, lam])


def _fit_law(posts, info, pkey, draws, chains, tune, seed, target_accept, rescue, progress):
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
        return _sample(
            key, lambda: build_law(data["obs"], x, pkey, len(info)), data, attempt, chains, progress
        )

    post, _, diag, record, secs = ladder(sample, first, ["coef", "scatter", "z"], rescue)
    post = _thin(post, draws)
    coef = post["coef"].rename({post["coef"].dims[2]: "param", post["coef"].dims[3]: "term"})
    coef = coef.assign_coords(param=list(PARAMS), term=list(DESIGN_TERMS))
    scatter = post["scatter"].rename({post["scatter"].dims[2]: "param"})
    scatter = scatter.assign_coords(param=list(PARAMS))
    z = post["z"].values  # (chain, draw, model, param)
    theta = np.einsum("mt,cdpt->cdmp", x, coef.values) + z * scatter.values[:, :, None, :]
    law_post = xr.Dataset(
        {
            "coef": coef,
            "scatter": scatter,
            "theta": (("chain", "draw", "model", "param"), theta),
        },
        coords={"model": list(info["model"]), "param": list(PARAMS)},
    )
    attrs = {
        "law_terms": list(DESIGN_TERMS),
        "law_centre": centre.tolist(),
        "law_scale": scale.tolist(),
    }
    return law_post, attrs, diag, record, secs


def _overall(models: pd.DataFrame, posterior: xr.Dataset, law_diag: Diagnostics | None):
    """One gate over every model (and the law): the worst numbers, and which models failed."""
    failed = models[~models["converged"].astype(bool)]
    failures, advice = [], []
    if len(failed):
        names = ", ".join(failed.index[:5]) + (", ..." if len(failed) > 5 else "")
        failures.append(
            f"{len(failed)} of {len(models)} models failed the gate ({names}): "
            f"{failed['reason'].iloc[0]}"
        )
        advice.append(
            "refit those models with more draws (draws=4000) or tighter priors; a model "
            "that solves nothing is identified by its prior only"
        )
    max_rhat = float(models["max_rhat"].max())
    bulk, tail = float(models["min_ess_bulk"].min()), float(models["min_ess_tail"].min())
    n_div = int(models["divergences"].sum())
    if law_diag is not None:
        if not law_diag.converged:
            failures.append(f"difficulty law: {law_diag.reason()}")
            advice.extend(law_diag.advice)
        max_rhat = max(max_rhat, law_diag.max_rhat)
        bulk, tail = min(bulk, law_diag.min_ess_bulk), min(tail, law_diag.min_ess_tail)
        n_div += law_diag.n_divergent
    n_draws = int(posterior.sizes["chain"] * posterior.sizes["draw"])
    return Diagnostics(max_rhat, bulk, tail, n_div, n_draws, tuple(failures), tuple(advice))
