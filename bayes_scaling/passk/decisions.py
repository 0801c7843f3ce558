"""Decisions across models of a :class:`~bayes_scaling.passk.result.PassKFit`, through its
difficulty law: a bigger model with fewer samples or a smaller one with more at a fixed inference
budget (:func:`size_vs_samples`), and training against inference compute at a fixed total budget
(:func:`training_vs_inference`).

Candidates are compared per posterior draw, as :mod:`bayes_scaling.answers.decision` does: P(best)
is the share of draws in which a candidate has the highest pass@k, the expected shortfall
E[max_j pass_j − pass_i] is what choosing it loses on average against the per-draw best; the
recommended candidate maximises expected pass@k. A new (N, D) point's pass@k is the population's
(for the Beta 1 − π − (1 − π)·B(a, b + k)/B(a, b); for the logit-normal mixture its quadrature,
:mod:`bayes_scaling.passk.logit`) with the difficulty's parameters drawn from the law, scatter
included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB, FLOPS_PER_PARAM_TOKEN
from bayes_scaling.answers.intervals import central_interval
from bayes_scaling.errors import ArgumentError, BayesScalingError
from bayes_scaling.passk.answers import (
    INFERENCE_FLOPS_PER_PARAM_TOKEN,
    _column,
    _flat,
    _models,
    difficulty_draws,
)
from bayes_scaling.passk.families import derived
from bayes_scaling.passk.law import PARAMS, design, law_params
from bayes_scaling.passk.result import PassKFit
from bayes_scaling.results.base import method_of


def law_theta(fit: PassKFit, n_params, n_tokens, *, seed: int | None = None) -> xr.Dataset:
    """The difficulty's sampled parameters per draw at new (N, D): θ = X·β + τ ∘ ε, one ε per
    draw, point and parameter (a new model's scatter about the law). A Dataset of the law's
    parameters (the Beta's log_a, log_b, unsolvable_logit, or the logit-normal mixture's
    :data:`~bayes_scaling.passk.logit.LOGIT_PARAMS`), each of dims ``(sample, point)``."""
    law = fit.law_posterior
    if law is None:
        raise BayesScalingError(
            "this fit has no difficulty law; refit with fit_passk(..., law=True) on a table "
            "with n_params and n_tokens for every model (difficulty 'auto', "
            "'logit-normal-mixture' or 'beta')"
        )
    d = fit.law_design
    n = check.positive_array(n_params, "n_params")
    t = check.positive_array(n_tokens, "n_tokens")
    n, t = np.broadcast_arrays(n, t)
    x, _, _ = design(n, t, d["centre"], d["scale"], d["terms"])
    coef = _flat(law["coef"])  # (S, P, T)
    scatter = _flat(law["scatter"])  # (S, P)
    rng = np.random.default_rng(fit.settings.get("seed", 0) if seed is None else seed)
    eps = rng.standard_normal((coef.shape[0], len(n), coef.shape[1]))
    theta = np.einsum("pt,sqt->spq", x, coef) + eps * scatter[:, None, :]
    params = [str(p) for p in law["param"].values]
    if "log_b_over_a" in params:  # a joint fit's law is in log(b/a)
        theta, params = law_params(theta, params), list(PARAMS)
    dims = ("sample", "point")
    return xr.Dataset({p: (dims, theta[..., i]) for i, p in enumerate(params)})


def _law_pass(fit, n_params, n_tokens, k, seed=None) -> np.ndarray:
    """Population pass@k (S, points) at new (N, D) through the law, k one per point."""
    theta = derived(law_theta(fit, n_params, n_tokens, seed=seed))
    return _population(*difficulty_draws(theta, flat=lambda da: da.values), k)


def _population(fam, draws, k) -> np.ndarray:
    """Population pass@k (S, points) from per-draw parameters (S, points) of a difficulty
    (:func:`~bayes_scaling.passk.answers.difficulty_draws`), k one per point: point by point,
    as the closed forms take one column of parameters against the k's."""
    x1, x2, pi, hard = draws
    k = np.broadcast_to(np.asarray(k, float), (x1.shape[1],))
    out = np.empty(x1.shape)
    for q in range(x1.shape[1]):
        theta = (x1[:, q, None], x2[:, q, None], pi[:, q, None])
        out[:, q] = fam.population(*theta, k[q : q + 1], hard=_column(hard, q))[:, 0]
    return out


def _fitted_range(fit) -> tuple[np.ndarray, np.ndarray]:
    first = fit.counts.groupby("model", sort=False)[["n_params", "n_tokens"]].first()
    return first.min().to_numpy(float), first.max().to_numpy(float)


def _risk(ds: xr.Dataset, allowed: np.ndarray) -> xr.Dataset:
    """prob_best, expected shortfall and the choice over the candidates where ``allowed``."""
    x = ds["pass_at_k"].values  # (S, cand)
    masked = np.where(allowed[None, :], x, -np.inf)
    best = masked.max(axis=1, keepdims=True)
    winner = masked.argmax(axis=1)
    prob_best = np.bincount(winner, minlength=x.shape[1]) / x.shape[0]
    shortfall = best - x
    mean = np.where(allowed, x.mean(axis=0), -np.inf)
    chosen = int(np.argmax(mean))
    ds["prob_best"] = ("candidate", prob_best)
    ds["expected_shortfall"] = ("candidate", shortfall.mean(axis=0))
    ds["shortfall_q95"] = ("candidate", np.quantile(shortfall, 0.95, axis=0))
    ds["chosen"] = ("candidate", np.arange(x.shape[1]) == chosen)
    ds.attrs["choice"] = chosen
    return ds


@method_of(PassKFit)
def size_vs_samples(
    self,
    budget: float,
    *,
    tokens_per_sample: float,
    models=None,
    n_params=None,
    n_tokens=None,
    seed: int | None = None,
) -> xr.Dataset:
    """At a fixed inference budget per problem (FLOPs), a bigger model with fewer samples or a
    smaller one with more? Candidate i draws k_i = ⌊budget / (2·N_i·T)⌋ samples (at least one, or
    it is not affordable); its pass@k is the population's (a new problem), per draw.

    Candidates are fitted ``models`` (their own posteriors; default: every model when no
    ``n_params`` is given) or new (``n_params``, ``n_tokens``) points, predicted by the difficulty
    law with its scatter. Returns a Dataset over ``candidate``: ``pass_at_k`` (sample, candidate),
    ``k``, ``n_params``, ``n_tokens``, ``prob_best``, ``expected_shortfall``, ``shortfall_q95``,
    ``chosen`` (max expected pass@k among the affordable).
    """
    budget = check.positive(budget, "budget")
    t = check.positive(tokens_per_sample, "tokens_per_sample")
    if n_params is not None:
        n = check.positive_array(n_params, "n_params")
        if n_tokens is None:
            raise ArgumentError("n_tokens", "give the training tokens of each candidate size")
        d = np.broadcast_to(check.positive_array(n_tokens, "n_tokens"), n.shape)
        names = [f"N={a:.3g} D={b:.3g}" for a, b in zip(n, d, strict=True)]
    else:
        names = _models(self, models)
        if "n_params" not in self.counts:
            raise ArgumentError("n_params", "the table has no N; give n_params and n_tokens")
        first = self.counts.groupby("model", sort=False)[["n_params", "n_tokens"]].first()
        n, d = (first.loc[names, c].to_numpy(float) for c in ("n_params", "n_tokens"))
    k = np.floor(budget / (INFERENCE_FLOPS_PER_PARAM_TOKEN * n * t))
    affordable = k >= 1
    kk = np.maximum(k, 1)
    if n_params is not None:
        x = _law_pass(self, n, d, kk, seed)  # (S, cand)
    else:
        x = _population(*difficulty_draws(self.posterior.sel(model=names)), kk)
    x = np.where(affordable[None, :], x, 0.0)
    ds = xr.Dataset(
        {
            "pass_at_k": (("sample", "candidate"), x),
            "k": ("candidate", k),
            "n_params": ("candidate", n),
            "n_tokens": ("candidate", d),
            "affordable": ("candidate", affordable),
        },
        coords={"candidate": names},
        attrs={"budget": budget, "tokens_per_sample": t, "converged": self.converged},
    )
    if not affordable.any():
        raise ArgumentError("budget", f"{budget:.3g} FLOPs buys no sample of any candidate")
    return _risk(ds, affordable)


@method_of(PassKFit)
def training_vs_inference(
    self,
    total_compute: float,
    *,
    queries: float,
    tokens_per_sample: float,
    n_params=None,
    shares=None,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    extrapolate: bool = False,
    seed: int | None = None,
) -> xr.Dataset:
    """At a fixed total budget C, training against inference compute, through the difficulty law.

    A candidate is a size N and a training share s: D = s·C/(6·N) training tokens, and
    k = ⌊(1 − s)·C/(2·N·T·Q)⌋ samples for each of ``queries`` Q problems. Its pass@k (a new
    problem) is predicted per draw by the law with its scatter. Candidates outside the fitted N
    and D range are left out unless ``extrapolate``. Returns the Dataset of
    :func:`size_vs_samples` (plus ``share``).
    """
    c = check.positive(total_compute, "total_compute")
    q = check.positive(queries, "queries")
    t = check.positive(tokens_per_sample, "tokens_per_sample")
    lo, hi = _fitted_range(self)
    sizes = (
        np.unique(self.counts["n_params"])
        if n_params is None
        else check.positive_array(n_params, "n_params")
    )
    shares = (
        np.linspace(0.05, 0.95, 19)
        if shares is None
        else np.asarray([check.fraction(s, "shares") for s in np.atleast_1d(shares)])
    )
    n, s = (g.ravel() for g in np.meshgrid(sizes, shares, indexing="ij"))
    d = s * c / (flops_per_param_token * n)
    k = np.floor((1 - s) * c / (INFERENCE_FLOPS_PER_PARAM_TOKEN * n * t * q))
    inside = (n >= lo[0]) & (n <= hi[0]) & (d >= lo[1]) & (d <= hi[1])
    allowed = (k >= 1) & (inside | bool(extrapolate))
    if not allowed.any():
        raise ArgumentError(
            "total_compute",
            f"{c:.3g} FLOPs gives no candidate with k ≥ 1 inside the fitted range (N "
            f"{lo[0]:.3g}-{hi[0]:.3g}, D {lo[1]:.3g}-{hi[1]:.3g}); change the budget, queries or "
            "shares, or pass extrapolate=True",
        )
    x = _law_pass(self, n, d, np.maximum(k, 1), seed)
    x = np.where(allowed[None, :], x, 0.0)
    names = [f"N={a:.3g} share={b:.2f}" for a, b in zip(n, s, strict=True)]
    ds = xr.Dataset(
        {
            "pass_at_k": (("sample", "candidate"), x),
            "k": ("candidate", k),
            "n_params": ("candidate", n),
            "n_tokens": ("candidate", d),
            "share": ("candidate", s),
            "affordable": ("candidate", allowed),
        },
        coords={"candidate": names},
        attrs={
            "total_compute": c,
            "queries": q,
            "tokens_per_sample": t,
            "converged": self.converged,
        },
    )
    return _risk(ds, allowed)


def decision_table(ds: xr.Dataset, prob: float = DEFAULT_PROB) -> pd.DataFrame:
    """One row per candidate (in order): N, D, k, pass@k median and interval, P(best), expected
    shortfall, its 95th percentile and whether it is the choice."""
    prob = check.probability(prob, "prob")
    ci = central_interval(ds["pass_at_k"].values, prob)
    lo, med, hi = (ci[v].values for v in ("lower", "median", "upper"))
    out = pd.DataFrame(
        {
            "candidate": ds["candidate"].values.astype(str),
            "n_params": ds["n_params"].values,
            "n_tokens": ds["n_tokens"].values,
            "k": ds["k"].values,
            "pass_median": med,
            "pass_lower": lo,
            "pass_upper": hi,
            "prob_best": ds["prob_best"].values,
            "expected_shortfall": ds["expected_shortfall"].values,
            "shortfall_q95": ds["shortfall_q95"].values,
            "chosen": ds["chosen"].values,
        }
    )
    if "share" in ds:
        out.insert(3, "training_share", ds["share"].values)
    out = out[ds["affordable"].values].reset_index(drop=True)
    out.attrs.update(prob=prob, converged=ds.attrs.get("converged"))
    return out


__all__ = [
    "decision_table",
    "law_theta",
    "size_vs_samples",
    "training_vs_inference",
]
