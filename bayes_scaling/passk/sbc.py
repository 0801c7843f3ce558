"""Simulation-based calibration (SBC; Talts et al. 2018) of pass@k fits, on simulated benchmarks
of a chosen shape (models, problems, samples a problem).

For s = 1..S:

    θ̃_s ~ π(θ)                      (every model's log a, log b, logit π, from the fit's prior)
    c̃_s ~ π(c | θ̃_s)                (p_j = 0 with probability π, else Beta(a, b); c_j ~ Bin(n, p_j))

(with ``difficulty="beta-mixture"`` θ also holds the hard component's log a_hard, log gap and
logit w, and a solvable p_j is drawn from Beta(a_hard, b_hard) with probability w: the mixture of
:data:`bayes_scaling.passk.law.MIXTURE_PRIORS`, fitted per model; with
``difficulty="logit-normal-mixture"`` θ is :data:`bayes_scaling.passk.logit.LOGIT_PARAMS` and
logit p_j is drawn from its two normals)
    θ_s1..θ_sL ~ π(θ | c̃_s)          (:func:`bayes_scaling.passk.fit.fit_passk`, thinned to L)
    r_s = #{l : θ_sl < θ̃_s}          (one rank per model and parameter, in 0..L)

Each rank is uniform on {0, ..., L} when the posterior draws are exact; the core's
:mod:`bayes_scaling.trust.ranks` tests it (chi-square and KS, Bonferroni over the parameters).
With ``pooling="crossed"`` θ is every model's :data:`~bayes_scaling.passk.crossed.
CROSSED_PARAMS` (``difficulty`` is ignored) and the problems' effects z_j are drawn once a
benchmark, shared by its models.
The prior simulated from is the one the fit uses: with ``pooling="independent"`` the
per-model Normals of :data:`bayes_scaling.passk.law.DEFAULT_PRIORS`; with ``"partial"`` the
joint model's (:func:`bayes_scaling.passk.model.build_joint`, exchangeable models: the
intercepts, a HalfNormal scatter, per-model z and one unsolvable share). Non-converged fits are
kept and flagged (dropping them would select on the data).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling.errors import ArgumentError
from bayes_scaling.passk.crossed import CROSSED_PARAMS, CROSSED_PRIORS
from bayes_scaling.passk.fit import POOLINGS, fit_passk
from bayes_scaling.passk.law import (
    DEFAULT_PRIORS,
    DIFFICULTIES,
    PARAMS,
    beta_params,
    difficulty_params,
    draw_parameters,
    hard_component,
)
from bayes_scaling.passk.logit import simulate_rates
from bayes_scaling.passk.model import JOINT_SCATTER
from bayes_scaling.trust.ranks import rank_statistic, uniformity


def prior_draw(
    n_models: int, pooling: str, rng: np.random.Generator, difficulty: str = "beta"
) -> pd.DataFrame:
    """One draw of every model's (log_a, log_b, unsolvable_logit) from the fit's prior (module
    docstring): one row per model ``m0, m1, ...``; with the Beta mixture (per model) also its
    (log_a_hard, log_hard_gap, hard_logit), every parameter from its Normal prior."""
    names = [f"m{i}" for i in range(n_models)]
    if pooling == "crossed":
        return pd.DataFrame(
            {p: rng.normal(*CROSSED_PRIORS[p], size=n_models) for p in CROSSED_PARAMS},
            index=names,
        )
    if difficulty != "beta":
        return pd.DataFrame(draw_parameters(difficulty, rng, n_models), index=names)
    (mu_a, sd_a), (mu_b, sd_b), (mu_pi, sd_pi) = (DEFAULT_PRIORS[p] for p in PARAMS)
    if pooling == "independent":
        log_a = rng.normal(mu_a, sd_a, n_models)
        log_b = log_a + rng.normal(mu_b - log_a, sd_b)
        logit = rng.normal(mu_pi, sd_pi, n_models)
    else:
        centre = rng.normal([mu_a, mu_b - mu_a], [sd_a, sd_b])
        scatter = np.abs(rng.normal(0.0, JOINT_SCATTER, 2))
        phi = centre + rng.normal(size=(n_models, 2)) * scatter
        log_a, log_b = phi[:, 0], phi[:, 0] + phi[:, 1]
        logit = np.full(n_models, rng.normal(mu_pi, sd_pi))
    return pd.DataFrame({"log_a": log_a, "log_b": log_b, "unsolvable_logit": logit}, index=names)


def simulate_benchmark(theta: pd.DataFrame, problems: int, samples: int, rng) -> pd.DataFrame:
    """Counts of a simulated benchmark: per model (rows of ``theta``) ``problems`` problems with
    p_j = 0 with probability π, else p_j ~ Beta(a, b) (or, with the mixture's columns, from
    Beta(a_hard, b_hard) with probability w; with the logit-normal mixture's columns from it,
    :func:`bayes_scaling.passk.logit.simulate_rates`; with the crossed model's columns from its
    η_jm = μ_m + λ_m·z_j + s_m·e_jm, z_j shared by the models, :mod:`bayes_scaling.passk.
    crossed`), and c_j ~ Binomial(``samples``, p_j)."""
    parts = []
    shared = rng.normal(size=problems) if "log_loading" in theta else None
    for name, row in theta.iterrows():
        if shared is not None:
            eta = row["logit_mean"] + np.exp(row["log_loading"]) * shared
            eta = eta + np.exp(row["log_sigma_within"]) * rng.normal(size=problems)
            p = 1 / (1 + np.exp(-eta))
            p[rng.random(problems) < 1 / (1 + np.exp(-row["unsolvable_logit"]))] = 0.0
        elif "logit_mean" in row:
            p = simulate_rates(row, problems, rng)
        else:
            a, b = beta_params(row["log_a"], row["log_b"])
            p = rng.beta(a, b, problems)
            if "hard_logit" in row:
                w, a_hard, b_hard = hard_component(row)
                hard = rng.random(problems) < w
                p[hard] = rng.beta(a_hard, b_hard, hard.sum())
            p[rng.random(problems) < 1 / (1 + np.exp(-row["unsolvable_logit"]))] = 0.0
        parts.append(
            pd.DataFrame(
                {
                    "model": name,
                    "problem": [f"q{j}" for j in range(problems)],
                    "samples": samples,
                    "correct": rng.binomial(samples, np.nan_to_num(p)),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def sbc_passk(
    n_sims: int,
    *,
    models: int = 3,
    problems: int = 40,
    samples: int = 100,
    pooling: str = "independent",
    difficulty: str = "beta",
    draws: int = 400,
    chains: int = 2,
    tune: int = 400,
    thin: int = 4,
    rescue: bool = True,
    seed: int = 0,
    on_sim=None,
):
    """SBC of :func:`~bayes_scaling.passk.fit.fit_passk` on ``n_sims`` simulated benchmarks.

    Returns
    -------
    (ranks, sims, n_draws)
        ``ranks``: one row per simulation, one column per model and parameter
        (``log_a[m0]``, ...; one ``unsolvable_logit`` with ``pooling="partial"``), values in
        0..``n_draws`` (L = chains·⌈draws/thin⌉ − 1); ``sims``: the true values, ``converged``,
        ``reason``, ``max_rhat``, ``divergences``, ``seconds`` and whether the simulated
        benchmark had any success at all (a table without one is redrawn: ``fit_passk`` refuses
        it, so the SBC is of the prior restricted to benchmarks with a success). Test the ranks
        with :func:`bayes_scaling.trust.ranks.uniformity` (:func:`sbc_uniformity`).

    ``on_sim(s, ranks_row, sim_row)``, when given, is called after each simulation with its
    index and its two rows (dicts), e.g. to print progress or save partial ranks of a long run.

    Examples
    --------
    >>> ranks, sims, L = sbc_passk(20, models=2, seed=1)      # doctest: +SKIP
    >>> sbc_uniformity(ranks, L)["p_adjusted"].min() > 0.01   # doctest: +SKIP
    """
    n_sims, models, problems, samples, draws, chains, tune, thin = (
        check.count(v, name)
        for v, name in (
            (n_sims, "n_sims"),
            (models, "models"),
            (problems, "problems"),
            (samples, "samples"),
            (draws, "draws"),
            (chains, "chains"),
            (tune, "tune"),
            (thin, "thin"),
        )
    )
    pooling = check.one_of(pooling, "pooling", POOLINGS)
    difficulty = check.one_of(difficulty, "difficulty", DIFFICULTIES)
    if difficulty != "beta" and pooling == "partial":
        raise ArgumentError("pooling", f"the {difficulty} is fitted per model: use 'independent'")
    params = CROSSED_PARAMS if pooling == "crossed" else difficulty_params(difficulty)
    n_draws = chains * -(-draws // thin) - 1
    rng = np.random.default_rng(seed)
    ranks, sims = [], []
    for s in range(n_sims):
        while True:
            theta = prior_draw(models, pooling, rng, difficulty)
            counts = simulate_benchmark(theta, problems, samples, rng)
            if counts["correct"].sum() > 0:
                break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_passk(
                counts,
                pooling=pooling,
                difficulty="auto" if pooling == "crossed" else difficulty,
                law=False,
                draws=draws,
                chains=chains,
                tune=tune,
                seed=seed * 100_003 + s,
                rescue=rescue,
            )
        post = fit.posterior
        row = {}
        for name in theta.index:
            for param in params:
                if param == "unsolvable_logit" and pooling == "partial" and name != "m0":
                    continue
                kept = post[param].sel(model=name).values[:, ::thin].ravel()[:n_draws]
                key = param if param == "unsolvable_logit" and pooling == "partial" else None
                row[key or f"{param}[{name}]"] = rank_statistic(kept, theta.loc[name, param], rng)
        ranks.append(row)
        d = fit.diagnostics
        sims.append(
            {
                **{f"true_{p}[{m}]": theta.loc[m, p] for m in theta.index for p in params},
                "converged": d.converged,
                "reason": d.reason() or "converged",
                "max_rhat": d.max_rhat,
                "divergences": d.n_divergent,
                "seconds": fit.settings["model_seconds"],
            }
        )
        if on_sim is not None:
            on_sim(s, row, sims[-1])
    return pd.DataFrame(ranks), pd.DataFrame(sims), n_draws


def sbc_uniformity(ranks: pd.DataFrame, n_draws: int, bins: int | None = None) -> pd.DataFrame:
    """Uniformity of every column of ranks (:func:`bayes_scaling.trust.ranks.uniformity`):
    ``parameter, chi2, df, p_chi2, p_ks, p_adjusted``."""
    return uniformity(ranks, n_draws, bins)
