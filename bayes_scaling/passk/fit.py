"""``fit_passk(table, ...) -> PassKFit``: the models' difficulty distributions by NUTS.

Three poolings (``pooling=``, named as the core's pooling modes where they have one):

- ``"partial"``: every model in one fit (:func:`bayes_scaling.passk.joint.fit_joint`,
  :func:`bayes_scaling.passk.model.build_joint`): the difficulty varies smoothly with log N and
  log D when every model has them (else the models are exchangeable), each model scatters
  about that law with a learned scale, and one unsolvable share serves the benchmark;
- ``"independent"``: each model on its own with the one compiled model of
  :func:`bayes_scaling.passk.model.build_single` (the counts swapped in with
  ``compiled.with_data``, so 81 models compile once); with N and D the difficulty law
  (:func:`bayes_scaling.passk.model.build_law`) is fitted in a second stage;
- ``"crossed"``: every model in one fit, each problem's difficulty shared by the models
  (:mod:`bayes_scaling.passk.crossed`), for models on the same problems;
- ``"auto"`` (default): crossed for several models on shared problems without a law across
  models, else independent (:func:`auto_pooling`). PSIS-LOO compares poolings
  (:func:`bayes_scaling.passk.comparison.compare_poolings`, a crossed fit's counts predicted
  through their problems' effects).

Three difficulty distributions (``difficulty=``): one Beta per model, a two-component Beta
mixture with a hard component and a rare unsolvable share
(:data:`bayes_scaling.passk.law.MIXTURE_PRIORS`), or the same two components as normals in
logit p (:mod:`bayes_scaling.passk.logit`); the mixtures per model, the law (a second stage)
for the Beta and the logit-normal mixture. ``"auto"`` (default) picks the Beta where the pooling
needs it, else the logit-normal mixture (:func:`auto_difficulty`). PSIS-LOO compares them
(:func:`bayes_scaling.passk.comparison.compare_difficulties`).

Every fit passes the diagnostics gate (:mod:`bayes_scaling.results.diagnostics`) or climbs the
rescue ladder of :mod:`bayes_scaling.inference.rescue` (longer, target_accept 0.99 after
divergences, more draws when close, the best attempt kept when all fail); a rescue that ran
longer is thinned back to the draws asked for before the gate checks it, so the diagnostics saved
are those of the draws saved (:func:`bayes_scaling.passk.joint.ladder`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling.errors import ArgumentError
from bayes_scaling.passk.crossed import (
    CROSSED_MAX_CELLS,
    CROSSED_PARAMS,
    LOGIT_NORMAL,
    check_crossed,
    crossed_priors,
    fit_crossed,
    shares_problems,
)
from bayes_scaling.passk.data import load_counts, model_table
from bayes_scaling.passk.families import derived
from bayes_scaling.passk.joint import (
    LAW_TARGET_ACCEPT,
    adaptation_of,
    fit_each,
    fit_joint,
    fit_law,
    model_row,
)
from bayes_scaling.passk.law import (
    AUTO,
    DEFAULT_DIFFICULTY,
    DIFFICULTIES,
    LOGIT_MIXTURE,
    difficulty_params,
)
from bayes_scaling.passk.model import priors_key
from bayes_scaling.passk.result import PassKFit, make_tree
from bayes_scaling.results import diagnostics
from bayes_scaling.results.diagnostics import Diagnostics

#: How the models of a benchmark share strength, named as the core's
#: :class:`~bayes_scaling.model.pooling.Pooling` modes: ``"partial"``, one joint model
#: (:func:`bayes_scaling.passk.model.build_joint`); ``"independent"``, each model on its own;
#: ``"crossed"``, one model whose problems' difficulty is shared
#: (:mod:`bayes_scaling.passk.crossed`); ``"auto"`` picks (:func:`auto_pooling`).
POOLINGS = ("partial", "independent", "crossed")
DEFAULT_POOLING = AUTO_POOLING = "auto"
#: Fewest models (with N and D known, at least two sizes and two token counts) for the law.
LAW_MIN_MODELS = 6
#: NUTS's target acceptance when ``target_accept`` is not given: :data:`DEFAULT_TARGET_ACCEPT`,
#: and for a model that solves nothing under the logit-normal mixture
#: :data:`NO_SUCCESS_TARGET_ACCEPT`. Such a model meets its likelihood as a curved wall (the
#: body's upper tail μ + ~2.5σ held below logit(1/n)) beyond a flat, prior-led region; the step
#: tuned to the flat part diverges at the wall now and then. Measured on GSM8K thinned to 100
#: and to 30 samples a problem (4 × 1000 draws, 12 seeds a model): at 0.9, 3 of 12 fits of each
#: of four models with no success had a divergence, and none of 24 fits of two models with one
#: or two; at 0.95, none of 12 (with 1.45x the leapfrog steps, 10.3 a draw against 7.1). Every
#: model at 0.95 (as before) made the full GSM8K fit 1.45x slower for nothing.
DEFAULT_TARGET_ACCEPT = 0.9
NO_SUCCESS_TARGET_ACCEPT = {LOGIT_MIXTURE: 0.95}
#: The difficulties the law across models is fitted for (a second stage over the per-model fits).
LAW_DIFFICULTIES = ("beta", LOGIT_MIXTURE)


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
    target_accept: float | None = None,
    rescue: bool = True,
    progress: bool | None = None,
    pooling: str = DEFAULT_POOLING,
    difficulty: str = DEFAULT_DIFFICULTY,
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
        Normal (mu, sigma) per parameter (``log_a``, ``log_b``, ``unsolvable_logit``; with the
        Beta mixture also ``log_a_hard``, ``log_hard_gap``, ``hard_logit``; the logit-normal
        mixture's :data:`~bayes_scaling.passk.logit.LOGIT_PARAMS`), overriding
        :data:`bayes_scaling.passk.law.DEFAULT_PRIORS` (Beta),
        :data:`bayes_scaling.passk.law.MIXTURE_PRIORS` (Beta mixture) or
        :data:`~bayes_scaling.passk.logit.LOGIT_PRIORS`.
    draws, chains, tune : int
        Per model, as asked (a rescued model is thinned back to ``draws``, and gated on the
        draws kept). With chains × draws below the gate's ESS of 400 no attempt can pass, and
        no rescue is tried.
    seed : int, optional
        The same seed gives the same posterior; drawn and stored when None.
    target_accept : float, optional
        NUTS's target acceptance, for every model. By default 0.9, and 0.95 for a model that
        solves nothing under the logit-normal mixture (:data:`NO_SUCCESS_TARGET_ACCEPT`; the
        value each model used is in ``settings["rescue"]``). The law across models is sampled
        at 0.99 or more (:data:`bayes_scaling.passk.joint.LAW_TARGET_ACCEPT`).
    rescue : bool
        Climb the rescue ladder when a gate fails (recorded per model in ``settings``).
    progress : bool, optional
        nutpie's progress bar (default: when stderr is a terminal).
    pooling : {"auto", "independent", "partial", "crossed"}
        ``"auto"`` (default, :func:`auto_pooling`): ``"crossed"`` when two or more models answer
        shared problems and no law across models is fitted (no N and D, fewer than
        :data:`LAW_MIN_MODELS` models, or ``law=False``), else ``"independent"``.
        ``"crossed"``: every model in one fit whose problems' difficulty the models share
        (:mod:`bayes_scaling.passk.crossed`; its own difficulty, one normal in logit p and an
        unsolvable share per model). Why it is the default on shared problems: the
        validation in :mod:`bayes_scaling.passk.crossed` (best-of-N, against the per-model
        fit, by coverage, interval score, median error and PSIS-LOO).
        ``"independent"``: each model on its own, the law (when fitted) in a second
        stage. ``"partial"``: every model in one fit, their difficulty partially pooled along
        log N and log D (the law, when ``law`` allows it; else exchangeable) with one unsolvable
        share for the benchmark (:func:`bayes_scaling.passk.model.build_joint`), so a model
        with few successes borrows from its neighbours. ``benchmarks/passk_validation.py``
        chose the default: on GSM8K thinned to 100 (30) samples the joint fit halves the
        median error but its 90% bands hold 0.54–0.67 of the truths (independent: 0.79–0.87),
        and on GSM8K-30 it did not converge (R-hat 5). A one-model table is always
        independent.
    difficulty : {"auto", "beta", "beta-mixture", "logit-normal-mixture"}
        The solvable problems' distribution of success rates: one Beta; a two-component Beta
        mixture whose second component holds hard problems further down in p, with an
        unsolvable share that cannot take the zeros such a tail explains
        (:data:`bayes_scaling.passk.law.MIXTURE_PRIORS`); or the same two components as
        normals in logit p (:mod:`bayes_scaling.passk.logit`), whose problems spread over
        decades of p so that pass@k keeps rising over decades of k. The mixtures are fitted per
        model (``pooling="independent"``); the difficulty law (a second stage) is fitted over
        the Beta's or the logit-normal mixture's parameters, not the Beta mixture's. ``"auto"``
        (default, :func:`auto_difficulty`): the Beta when the fit pools the models (only the
        Beta is pooled), else the logit-normal mixture, with the law across models when the
        table has N and D. Why (``benchmarks/passk_validation.py``, the logit-normal mixture
        against one Beta, both per model):

        - GSM8K thinned to 100 (30) samples a problem, 39 Pythia models with N and D: its
          (50%, 90%) bands hold (0.49, 0.87) of the truths at k = 1e3 and (0.44, 0.90) at
          1e4 ((0.56, 0.92) and (0.54, 0.92)), the Beta's (0.36, 0.82) and (0.31, 0.85)
          ((0.41, 0.79) and (0.38, 0.82)); its median errors at k = 1e3/1e4 are 0.006/0.043
          (0.004/0.024), the Beta's 0.010/0.059 (0.022/0.097);
        - best-of-N jailbreaking, 7 models without N and D, 100 attempts a prompt: its 90%
          bands hold 1.00/0.86 of the truths and its 50% bands 0.43/0.43, with a 90% interval
          score 0.39/0.26 of the better baseline's and a median error of 0.032/0.023 (Beta
          mixture: 0.71/0.86, 0.57/0.14, 0.63/0.25, 0.029/0.098; one Beta: 0.14/0.00 at 90%).

        PSIS-LOO prefers the Beta mixture on best-of-N (by 6 ± 3 nats): it scores the counts
        seen, not the tail beyond them (:func:`bayes_scaling.passk.comparison.compare_difficulties`
        compares them). The logit-normal mixture costs more: all 81 GSM8K models (up to 10,112
        samples a problem) and the law took 187 s (2.0 s a model on average; the law 17 s, in
        three attempts), the Beta and its law 33 s.

    Returns
    -------
    PassKFit
        ``converged`` only when every model (and the law) passed the gate; otherwise a
        :class:`~bayes_scaling.errors.ConvergenceWarning` names the models that failed.

    Examples
    --------
    >>> fit = bs.fit_passk(gsm8k(), seed=1)   # from bayes_scaling.passk.reference; doctest: +SKIP
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
    if target_accept is not None:
        target_accept = check.probability(target_accept, "target_accept")
    difficulty = check.one_of(difficulty, "difficulty", (AUTO, *DIFFICULTIES))
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    if progress is None:
        progress = sys.stderr.isatty()
    pooling = check.one_of(pooling, "pooling", (AUTO_POOLING, *POOLINGS))
    info = model_table(counts)
    if pooling == AUTO_POOLING:
        pooling = auto_pooling(law, difficulty, counts, info)
    if pooling == "crossed":
        check_crossed(counts, info, difficulty, law)
        difficulty, law = LOGIT_NORMAL, False
    elif difficulty == AUTO:
        difficulty = auto_difficulty(law, pooling, info)
    params = CROSSED_PARAMS if pooling == "crossed" else difficulty_params(difficulty)
    if priors is not None:
        unknown = set(priors) - set(params)
        if unknown:
            raise ArgumentError("priors", f"unknown parameters {sorted(unknown)}; use {params}")
    if pooling == "crossed":
        pkey = crossed_priors(priors)
    else:
        pkey = priors_key(priors, difficulty)
    no_success = NO_SUCCESS_TARGET_ACCEPT.get(difficulty) if target_accept is None else None
    if target_accept is None:
        target_accept = DEFAULT_TARGET_ACCEPT
    if difficulty not in ("beta", LOGIT_NORMAL):
        _check_pooling(pooling, law, info, difficulty)
        if difficulty not in LAW_DIFFICULTIES:
            law = False
    sizes = _law_wanted(law, info)
    if len(info) == 1:
        pooling = "independent"  # one model: nothing to pool
    args = (draws, chains, tune, seed, target_accept, rescue, progress)
    settings = dict(
        sampler="nutpie",
        adaptation=adaptation_of(difficulty),  # the models' (law: diag)
        pooling=pooling,
        difficulty=difficulty,
        draws=draws,
        chains=chains,
        tune=tune,
        seed=seed,
        target_accept=target_accept,
        **({"target_accept_no_success": no_success} if no_success else {}),
        priors={p: [m, s] for p, m, s in pkey},
        rescue_enabled=bool(rescue),
    )
    start = time.perf_counter()
    law_post, law_attrs, law_diag, group = None, None, None, "law_posterior"
    if pooling == "crossed":
        posterior, law_post, law_attrs, joint_diag, record, secs = fit_crossed(
            counts, info, priors, *args
        )
        rows = [model_row(name, joint_diag, record, secs) for name in info["model"]]
        settings.update(rescue={"crossed": record}, model_seconds=round(secs, 3))
        group = "pool_posterior"
    elif pooling == "partial":
        posterior, law_post, law_attrs, diag, record, secs = fit_joint(
            counts, info, pkey, sizes, *args
        )
        rows = [model_row(name, diag, record, secs) for name in info["model"]]
        settings.update(rescue={"joint": record}, model_seconds=round(secs, 3))
        group = "law_posterior" if sizes else "pool_posterior"
    else:
        posts, rows, records = fit_each(counts, info, pkey, difficulty, no_success, *args)
        posterior = derived(xr.concat(posts, dim="model").assign_coords(model=list(info["model"])))
        posterior = posterior.transpose("chain", "draw", "model")
        settings.update(rescue=records, model_seconds=round(time.perf_counter() - start, 3))
        if sizes:
            law_post, law_attrs, law_diag, law_record, law_secs = fit_law(posts, info, pkey, *args)
            settings.update(law_rescue=law_record, law_seconds=round(law_secs, 3))
    models = pd.DataFrame(rows).set_index("model")
    for extra in ("n_params", "n_tokens", "problems"):
        if extra in info:
            models[extra] = info[extra].to_numpy()
    diag = _overall(models, posterior, law_diag)
    diagnostics.warn_if_failed(diag, stacklevel=2)
    models_ds = xr.Dataset.from_dataframe(models.astype({"reason": str}))
    tree = make_tree(posterior, models_ds, counts, diag, settings, law_post, law_attrs, group)
    return PassKFit(tree, counts.reset_index(drop=True), diag, settings)


def auto_pooling(law, difficulty: str, counts: pd.DataFrame, info: pd.DataFrame) -> str:
    """``pooling="auto"``: ``"crossed"`` when two or more models answer shared problems, the
    table is small enough (:data:`~bayes_scaling.passk.crossed.CROSSED_MAX_CELLS`), no law
    across models is fitted (no N and D, or ``law=False``) and the difficulty is left to the
    fit; else ``"independent"``."""
    if difficulty not in (AUTO, LOGIT_NORMAL) or law is True or len(info) < 2:
        return "independent"
    if len(counts) > CROSSED_MAX_CELLS or law is None and _law_wanted(None, info):
        return "independent"
    return "crossed" if shares_problems(counts) else "independent"


def auto_difficulty(law, pooling: str, info: pd.DataFrame) -> str:
    """``difficulty="auto"``: ``"beta"`` when the fit pools several models (only the Beta is
    pooled), else the logit-normal mixture, with the difficulty law when ``law`` asks for it
    (the law is fitted in a second stage for the Beta and the logit-normal mixture alike)."""
    if pooling == "partial" and len(info) > 1:
        return "beta"
    return LOGIT_MIXTURE


def _check_pooling(pooling, law, info, difficulty) -> None:
    """The mixtures are fitted per model, and the Beta mixture without the difficulty law
    (ArgumentError when asked otherwise)."""
    if pooling == "partial" and len(info) > 1:
        raise ArgumentError(
            "pooling",
            f"the {difficulty} is fitted per model; use pooling='independent' with "
            f"difficulty='{difficulty}', or difficulty='beta' for the joint fit",
        )
    if law is True and difficulty not in LAW_DIFFICULTIES:
        raise ArgumentError(
            "law",
            f"the difficulty law is fitted for difficulty in {list(LAW_DIFFICULTIES)}; "
            "use law=None or False",
        )


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
        if not law_diag.converged:  # (sampled at LAW_TARGET_ACCEPT: no higher to go)
            failures.append(f"difficulty law: {law_diag.reason()}")
            advice.append(
                f"the law across models is sampled at target_accept {LAW_TARGET_ACCEPT} "
                "already: refit with more draws (draws=4000), or with law=False for the models "
                "alone"
            )
        max_rhat = max(max_rhat, law_diag.max_rhat)
        bulk, tail = min(bulk, law_diag.min_ess_bulk), min(tail, law_diag.min_ess_tail)
        n_div += law_diag.n_divergent
    n_draws = int(posterior.sizes["chain"] * posterior.sizes["draw"])
    return Diagnostics(max_rhat, bulk, tail, n_div, n_draws, tuple(failures), tuple(advice))
