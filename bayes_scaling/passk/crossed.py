"""Crossed pooling (``pooling="crossed"``): every model in one fit, the problems' difficulty shared.

When several models answer the same problems, a problem hard for one model tends to be hard for
the others (best-of-N jailbreaking: rank correlations of the prompts' success rates 0.45–0.83
between the 7 models). The crossed model says so with a problem effect z_j shared by every
model, and a cell effect e_jm of its own (a logit-normal item-response model with an
unsolvable share):

    η_jm = logit p_jm = μ_m + λ_m·z_j + s_m·e_jm,   z_j, e_jm ~ N(0, 1),
    c_jm | n_jm ~ Binomial(n_jm, p_jm), except that problem j is never solved by model m with
    probability π_m (a count of 0 then has probability 1).

Parameters per model (:data:`CROSSED_PARAMS`): ``logit_mean`` = μ_m, ``log_loading`` = log λ_m
(how much of the problems' shared difficulty the model feels), ``log_sigma_within`` = log s_m
(the scatter of its counts about that) and ``unsolvable_logit`` = logit π_m. Each model's difficulty
distribution over the problems is N(μ_m, σ_m²) in logit p with σ_m² = λ_m² + s_m² (stored as
``log_sigma``): the logit-normal family of
:mod:`bayes_scaling.passk.logit` without a hard component, so every answer (bands, exponent,
samples for a target, the decisions across models) is the one-model closed form at the
model's (μ_m, σ_m, π_m). What the crossing brings is where those three come from: a model
whose zeros could be hard or impossible problems, or whose few successes leave σ_m open, is
told by the other models' counts on the same problems.

Priors (:data:`CROSSED_PRIORS`): μ as the logit-normal mixture's body
(:data:`~bayes_scaling.passk.logit.LOGIT_PRIORS`, N(−10, 6)); log λ ~ N(log 1.5, 0.7) and
log s ~ N(log 1.5, 0.6), so that σ sits near the mixture's body (median 2.1); logit π ~
N(−4, 1.5) (π from 0.1% to 30%, 95%): wider than the one-model fits' N(−6, 1), because here
the other models tell a hard problem from an impossible one.

The counts' effects are sampled centred where a count pins η down (some successes and some
failures) and non-centred where it only bounds η (no success, or no failure)
(:func:`build_crossed`); the same model in σ_m and the problems' share of its variance mixed
along a ridge (bulk ESS 161 from 4 × 1000 draws).

Measured (``benchmarks/passk_validation.py --settings bon-100 --poolings crossed``, best-of-N
thinned to 100 attempts a prompt, five thinnings, 35 model-draws,
``benchmarks/passk_validation_bon_seeds.csv``), at k = 1e3 / 1e4:

- crossed: (50%, 90%) coverage (0.40, 0.80) / (0.43, 0.86); 90% interval score 0.154 / 0.158
  (0.42× / 0.17× the better baseline's); median error 0.030 / 0.017; 57% / 54% of the medians
  below the truth;
- each model on its own (the logit-normal mixture): (0.51, 1.00) / (0.49, 0.86); 0.167 / 0.269;
  0.027 / 0.046; 74% / 80% below (a low bias on every thinning).

PSIS-LOO against the per-model
logit-normal mixture (``--poolings crossed independent --difficulties logit-normal-mixture``,
one thinning), each count left out and predicted through its problem's effect
(:func:`bayes_scaling.passk.comparison.crossed_log_likelihood`): elpd −1530 against −1900, a
difference of 340 with se 22 (21 of the 1,113 counts have Pareto k above 0.7).

Where it falls short: its 90% band of pass@1,000 misses Claude 3.5 Opus on all five thinnings
(median 0.90–0.92, truth 0.847; covered at 10,000). Of that model's 159 prompts, 53 were not
broken in 100 attempts; in the full sweep 54% of them break by 1,000 attempts and 85% by 10,000,
a spread over decades of p that one normal per model puts just below 1/100 (it predicts ~73% by
1,000). Neither conditioning each count on its problem effect (median 0.908 against 0.909) nor a
hard component per model (a shifted second normal: 0.905, and worse bands for the Gemini
models) moved it, in prototypes on one thinning.

The benchmark's pass@k (``kind="problems"``) at the model's (μ_m, σ_m, π_m) conditions each
problem on the model's own count only, not on the other models' counts of it (their
information reaches the answer through the model's parameters). In a prototype of this model
(a scatter s_m per model, μ ~ N(−3, 3); best-of-N, three thinnings) conditioning on the
problem effects too gave about the same scores: 90% interval score 0.164 against 0.160 at
k = 1,000, 0.162 against 0.162 at 10,000.

Cost: one latent a (model, problem) count, so the fit grows with the table:
:data:`CROSSED_MAX_CELLS` bounds it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_scaling.errors import ArgumentError
from bayes_scaling.inference.compiled import sample_attempt
from bayes_scaling.inference.rungs import Attempt, derived_seed
from bayes_scaling.passk.joint import ladder
from bayes_scaling.passk.law import AUTO
from bayes_scaling.passk.logit import LOGIT_PRIORS

#: The difficulty a crossed fit records (``settings["difficulty"]``): one normal in logit p and
#: an unsolvable share per model, the logit-normal family without a hard component.
LOGIT_NORMAL = "logit-normal"
#: The crossed model's parameters per model, in order.
CROSSED_PARAMS = ("logit_mean", "log_loading", "log_sigma_within", "unsolvable_logit")
#: Their Normal (mu, sigma) priors (module docstring).
CROSSED_PRIORS = {
    "logit_mean": LOGIT_PRIORS["logit_mean"],
    "log_loading": (float(np.log(1.5)), 0.7),
    "log_sigma_within": (float(np.log(1.5)), 0.6),
    "unsolvable_logit": (-4.0, 1.5),
}
#: Most (model, problem) counts the crossed fit takes: one latent each (best-of-N's 1,113 took
#: about 20 s on 2 cores; 39 GSM8K models × 1,319 problems would be 51,441).
CROSSED_MAX_CELLS = 10_000
#: nutpie's mass-matrix adaptation for the crossed fit.
CROSSED_ADAPTATION = "diag"
#: What the gate watches: the models' parameters and the problem effects.
CROSSED_GATE = [*CROSSED_PARAMS, "problem_effect"]


def cells(counts: pd.DataFrame, models) -> dict:
    """The counts as the model reads them: a (4, R) float matrix of model index, problem index,
    n and c, one column a count, those that pin η down first (0 < c < n, ``pinned`` of them;
    the others, c = 0 or c = n, only bound it), and the problems in sorted order."""
    index = {m: i for i, m in enumerate(models)}
    problems, pj = np.unique(counts["problem"].astype(str).to_numpy(), return_inverse=True)
    data = np.vstack(
        [
            counts["model"].map(index).to_numpy(float),
            pj.astype(float),
            counts["samples"].to_numpy(float),
            counts["correct"].to_numpy(float),
        ]
    )
    pinned = (data[3] > 0) & (data[3] < data[2])
    order = np.argsort(~pinned, kind="stable")  # the counts that pin η down first
    return {
        "cells": data[:, order],
        "problems": [str(p) for p in problems],
        "pinned": int(pinned.sum()),
    }


def shares_problems(counts: pd.DataFrame) -> bool:
    """Whether some problem is answered by two or more models."""
    return bool((counts.groupby("problem")["model"].nunique() >= 2).any())


def check_crossed(counts: pd.DataFrame, info: pd.DataFrame, difficulty: str, law) -> None:
    """ArgumentError unless the crossed fit can take the table and the arguments: two or more
    models, a problem that two of them share, at most :data:`CROSSED_MAX_CELLS` counts, no
    difficulty but its own (``"auto"``) and no law across models (``law=True``)."""
    if len(info) < 2:
        raise ArgumentError(
            "pooling", "'crossed' needs two or more models on the same problems; this table has one"
        )
    if not shares_problems(counts):
        raise ArgumentError(
            "pooling",
            "'crossed' needs problems answered by two or more models; no problem is shared "
            "(check the problem column)",
        )
    if len(counts) > CROSSED_MAX_CELLS:
        raise ArgumentError(
            "pooling",
            f"'crossed' takes at most {CROSSED_MAX_CELLS} (model, problem) counts, one latent "
            f"each; this table has {len(counts)}: use pooling='independent'",
        )
    if difficulty not in (AUTO, LOGIT_NORMAL):
        raise ArgumentError(
            "difficulty",
            f"the crossed fit has its own difficulty (one normal in logit p per model); "
            f"drop difficulty='{difficulty}' or use pooling='independent'",
        )
    if law is True:
        raise ArgumentError(
            "law", "the crossed fit has no law across models; use law=None or False"
        )


def crossed_priors(priors) -> tuple:
    """``(name, mu, sigma)`` per :data:`CROSSED_PARAMS`, ``priors`` overriding the defaults."""
    merged = {**CROSSED_PRIORS, **(priors or {})}
    return tuple((p, float(merged[p][0]), float(merged[p][1])) for p in CROSSED_PARAMS)


def build_crossed(
    cells: np.ndarray, priors: tuple, n_models: int, n_problems: int, pinned: int
) -> pm.Model:
    """The crossed model (module docstring) on ``cells`` (:func:`cells`: the ``pinned`` counts
    first).

    The counts' own effects are parameterised two ways. A count with successes and failures
    (0 < c < n) pins its η down, and its η is sampled as it is (centred: η ~ N(μ_m + λ_m·z_j,
    s_m²)); a count of zero only bounds η from above, one of n from below, and its
    η = μ_m + λ_m·z_j + s_m·e with e ~ N(0, 1) (non-centred). Each the other way meets a funnel
    in s_m (all non-centred: bulk ESS 76 from 4 × 1000 draws for the s_m of a model with many
    successes). A count of n out of n was centred before: on a simulated table whose first
    model solved 11 of 60 problems every time, the first attempt's smallest bulk / tail ESS
    of s_m rose from 85 / 57 to 113 / 152 (4 × 500 draws) when they became non-centred.
    """
    (_, mu0, sd0), (_, ll0, llsd), (_, ls0, lssd), (_, pi0, pisd) = priors
    with pm.Model() as model:
        data = pm.Data("cells", cells)
        m = pt.cast(data[0], "int64")
        j = pt.cast(data[1], "int64")
        n, c = data[2], data[3]
        mu = pm.Normal("logit_mean", mu0, sd0, shape=n_models)
        loading = pt.exp(pm.Normal("log_loading", ll0, llsd, shape=n_models))
        within = pt.exp(pm.Normal("log_sigma_within", ls0, lssd, shape=n_models))
        logit_pi = pm.Normal("unsolvable_logit", pi0, pisd, shape=n_models)
        z = pm.Normal("problem_effect", 0.0, 1.0, shape=n_problems)
        centre = mu[m] + loading[m] * z[j]
        log_pi, log_keep = -pt.softplus(-logit_pi[m]), -pt.softplus(logit_pi[m])
        terms = []

        def binom(eta, rows):  # log p^c (1 − p)^(n − c)
            return c[rows] * -pt.softplus(-eta) + (n[rows] - c[rows]) * -pt.softplus(eta)

        if pinned:
            rows = slice(None, pinned)
            eta = pm.Normal("pinned_logit", centre[rows], within[m[rows]], shape=pinned)
            terms.append((log_keep[rows] + binom(eta, rows)).sum())
        if cells.shape[1] > pinned:
            rows = slice(pinned, None)
            e = pm.Normal("bounded_effect", 0.0, 1.0, shape=cells.shape[1] - pinned)
            kept = log_keep[rows] + binom(centre[rows] + within[m[rows]] * e, rows)
            # a count of zero is also what an unsolvable problem gives
            terms.append(pt.switch(c[rows] > 0, kept, pt.logaddexp(log_pi[rows], kept)).sum())
        pm.Potential("loglik", pt.add(*terms) if len(terms) > 1 else terms[0])
    return model


def fit_crossed(counts, info, priors, draws, chains, tune, seed, target_accept, rescue, progress):
    """Every model in one NUTS fit of :func:`build_crossed`, gated and rescued.

    Returns ``(posterior, pool, attrs, diagnostics, record, seconds)`` as
    :func:`bayes_scaling.passk.joint.fit_joint` does: the per-model posterior (dims ``chain,
    draw, model``: :data:`CROSSED_PARAMS`, ``log_sigma`` and the logit-normal family's ``mu``,
    ``sigma``, ``pi``), the problem effects (``problem_effect`` over ``problem``) and no attributes.
    """
    names = list(info["model"])
    data = cells(counts, names)
    pkey = crossed_priors(priors)
    shape = (len(names), len(data["problems"]), data["cells"].shape[1], data["pinned"])
    key = ("passk-crossed", pkey, *shape)  # a table need not hold every (model, problem)
    first = Attempt("as asked", draws, tune, target_accept, derived_seed(seed, 0))

    def sample(attempt):
        return sample_attempt(
            key,
            lambda: build_crossed(
                data["cells"], pkey, len(names), len(data["problems"]), data["pinned"]
            ),
            {"cells": data["cells"]},
            attempt,
            chains,
            progress,
            CROSSED_ADAPTATION,
        )

    post, _, diag, record, secs = ladder(sample, first, CROSSED_GATE, rescue, chains)
    coords = {"chain": post["chain"].values, "draw": post["draw"].values}
    per_model = xr.Dataset(
        {p: (("chain", "draw", "model"), post[p].values) for p in CROSSED_PARAMS},
        coords={**coords, "model": names},
    )
    sigma = np.hypot(np.exp(per_model["log_loading"]), np.exp(per_model["log_sigma_within"]))
    per_model = per_model.assign(
        log_sigma=np.log(sigma),
        mu=per_model["logit_mean"],
        sigma=sigma,
        pi=1 / (1 + np.exp(-per_model["unsolvable_logit"])),
    )
    pool = xr.Dataset(
        {"problem_effect": (("chain", "draw", "problem"), post["problem_effect"].values)},
        coords={**coords, "problem": data["problems"]},
    )
    return per_model, pool, {}, diag, record, secs
