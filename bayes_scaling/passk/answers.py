"""Answers of a :class:`~bayes_scaling.passk.result.PassKFit`: pass@k bands at any k, the power-law
exponent, the samples needed for a target (the decisions across models are in
:mod:`bayes_scaling.passk.decisions`).

Every answer is computed per posterior draw from the closed forms of
:mod:`bayes_scaling.passk.law` and summarised as equal-tailed intervals:

- ``kind="problems"`` (default): the benchmark's pass@k — the mean over *its* problems of
  (1 − w_j)·(1 − B(a + c_j, b + n_j − c_j + k)/B(a + c_j, b + n_j − c_j)), what a run with k
  samples a problem measures in expectation;
- ``kind="population"``: a new problem from the same distribution,
  1 − π − (1 − π)·B(a, b + k)/B(a, b).

Inference FLOPs per problem are ≈ 2·N·(tokens per sample)·k (a forward pass costs 2 FLOPs per
parameter and token).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _format as fmt
from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB, DEFAULT_PROBS
from bayes_scaling.answers.intervals import central_interval, needed_quantiles
from bayes_scaling.errors import ArgumentError
from bayes_scaling.passk.families import Family, family
from bayes_scaling.passk.law import (
    LOGIT_MIXTURE,
    MIXTURE_PARAMS,
    PARAMS,
)
from bayes_scaling.passk.logit import LOGIT_PARAMS, NATURAL
from bayes_scaling.passk.result import PassKFit
from bayes_scaling.results.base import method_of

KINDS = ("problems", "population")
#: The parameters NUTS moved in (any difficulty), the posterior that LOO sees.
SAMPLED = tuple(dict.fromkeys((*PARAMS, *MIXTURE_PARAMS, *LOGIT_PARAMS)))
BAND_COLUMNS = ["model", "k", "prob", "lower", "median", "upper"]
#: Forward-pass FLOPs per parameter and generated token.
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0
#: Largest k searched by :func:`samples_for`, the bisection steps in log k (a relative
#: precision of 35/2^30 before rounding k up) and the draws it uses at most (evenly thinned).
K_MAX = 1e15
BISECTIONS = 30
SEARCH_DRAWS = 1000
#: Largest k a band takes: a 64-bit integer (k is kept as one), less a margin; also the largest
#: float64 below 2^63, so that a k given as a float converts exactly.
K_LIMIT = 2**63 - 1024


def k_text(k) -> str:
    """A k as given, plainly (``1e+19``, ``2.5``), for a message."""
    return f"{k:g}" if isinstance(k, float | np.floating) else str(k)


def ks(k, name: str = "k") -> np.ndarray:
    """k values: whole numbers from 1 to :data:`K_LIMIT`, in the order given (ArgumentError
    naming the bad one), as 64-bit integers: a k above 2^53 keeps its last digits (as a float
    it would be rounded to an even neighbour)."""
    items = np.atleast_1d(np.asarray(k, dtype=object)).ravel().tolist()
    if not items:
        raise ArgumentError(name, "is empty; give at least one k ≥ 1")
    items = [v.item() if isinstance(v, np.generic) else v for v in items]  # plain in messages
    out = []
    for i, v in enumerate(items):
        where = f"{name}[{i}]" if len(items) > 1 else name
        out.append(check.count(v, where))
        if out[-1] > K_LIMIT:
            raise ArgumentError(
                where, f"is too large: at most {K_LIMIT} (about 9.2e18), got {k_text(v)}"
            )
    return np.array(out, np.int64)


def _models(fit: PassKFit, models) -> list[str]:
    if models is None:
        return fit.models
    models = [models] if isinstance(models, str) else [str(m) for m in models]
    unknown = [m for m in models if m not in fit.models]
    if unknown:
        raise ArgumentError("models", f"unknown {unknown}; the fit has {fit.models[:10]}")
    return models


def _flat(da: xr.DataArray) -> np.ndarray:
    return da.stack(sample=("chain", "draw")).transpose("sample", ...).values


def difficulty_draws(post: xr.Dataset, flat=_flat) -> tuple[Family, tuple]:
    """The closed forms of the posterior's difficulty (:func:`bayes_scaling.passk.families.family`)
    and ``(a, b, pi, hard)`` per draw (``flat`` shapes each variable): ``hard`` = (share, a, b)
    of the Beta mixture's hard component, or None for one Beta; for the logit-normal mixture
    ``(mu, sigma, pi, (share, mu_hard, sigma_hard))``."""
    if "logit_mean" in post:
        names, hard_names = NATURAL[:3], NATURAL[3:]
        fam = family(LOGIT_MIXTURE)
    else:
        names, hard_names, fam = (
            ("a", "b", "pi"),
            ("hard_share", "a_hard", "b_hard"),
            family("beta"),
        )
    x1, x2, pi = (flat(post[v]) for v in names)
    hard = tuple(flat(post[v]) for v in hard_names) if hard_names[1] in post else None
    return fam, (x1, x2, pi, hard)


def _column(hard, m, rows=None):
    """Model m's column of the hard component (kept 2-d), or None."""
    if hard is None:
        return None
    return tuple(h[:, m, None] if rows is None else h[rows][:, m, None] for h in hard)


def pass_at_k(fit: PassKFit, k, *, kind: str = "problems", models=None) -> xr.DataArray:
    """pass@k per draw, dims ``(sample, model, k)`` (``sample`` = chain × draw), k in the order
    given."""
    kind = check.one_of(kind, "kind", KINDS)
    k = ks(k)
    models = _models(fit, models)
    post = fit.posterior.sel(model=models)
    fam, (a, b, pi, hard) = difficulty_draws(post)  # (S, M) each
    out = np.empty((a.shape[0], len(models), len(k)))
    for m, name in enumerate(models):
        theta = (a[:, m, None], b[:, m, None], pi[:, m, None])
        if kind == "population":
            out[:, m, :] = fam.population(*theta, k, hard=_column(hard, m))
            continue
        rows = fit.counts[fit.counts["model"] == name]
        n = rows["samples"].to_numpy(float)
        c = rows["correct"].to_numpy(float)
        out[:, m, :] = fam.benchmark(*theta, n, c, k, hard=_column(hard, m))
    return xr.DataArray(
        out,
        dims=("sample", "model", "k"),
        coords={"model": models, "k": k},
        attrs={"kind": kind},
    )


def _inference_flops(fit, models, tokens_per_sample, n_params):
    """Per model the FLOPs of one sample (2·N·T), or None when T is not given."""
    if tokens_per_sample is None:
        return None
    t = check.positive(tokens_per_sample, "tokens_per_sample")
    if n_params is not None:
        n = np.broadcast_to(check.positive_array(n_params, "n_params"), (len(models),))
    elif "n_params" in fit.counts:
        first = fit.counts.groupby("model", sort=False)["n_params"].first()
        n = first.loc[models].to_numpy(float)
    else:
        raise ArgumentError("n_params", "the table has no N; give n_params= with tokens_per_sample")
    return INFERENCE_FLOPS_PER_PARAM_TOKEN * n * t


def band_dataset(
    fit: PassKFit,
    k,
    prob=DEFAULT_PROBS,
    *,
    kind: str = "problems",
    models=None,
    tokens_per_sample: float | None = None,
    n_params=None,
) -> xr.Dataset:
    """pass@k intervals computed once: ``lower``, ``median``, ``upper`` with dims
    ``(model, k, prob)`` in the order given (central intervals of the draws of
    :func:`pass_at_k`, :func:`~bayes_scaling.answers.intervals.central_interval`), and
    ``inference_flops`` (model, k) = 2·N·tokens·k with ``tokens_per_sample``. ``attrs``:
    ``converged``, ``kind``."""
    probs = check.probabilities(prob, "prob")
    models = _models(fit, models)
    draws = pass_at_k(fit, k, kind=kind, models=models)
    flops = _inference_flops(fit, models, tokens_per_sample, n_params)
    ds = central_interval(draws, list(probs), dims=("sample",))
    ds = ds[["lower", "median", "upper"]].transpose("model", "k", "prob")
    if flops is not None:
        ds["inference_flops"] = xr.DataArray(flops, dims="model") * draws["k"]
    return ds.assign_attrs(converged=int(fit.converged), kind=kind)


@method_of(PassKFit)
def bands(
    self,
    k,
    prob=DEFAULT_PROBS,
    *,
    kind: str = "problems",
    models=None,
    tokens_per_sample: float | None = None,
    n_params=None,
) -> pd.DataFrame:
    """pass@k bands at any k (far beyond the samples drawn too).

    Parameters
    ----------
    k : int or sequence of int
        Samples a problem, each ≥ 1.
    prob : float or sequence of float
        Central interval probabilities.
    kind : {"problems", "population"}
        The benchmark's own problems (default) or a new problem (module docstring).
    models : str or list, optional
        Default: every model, in the table's order.
    tokens_per_sample : float, optional
        With it, ``inference_flops`` = 2·N·tokens·k per problem (N from the table or
        ``n_params``).

    Returns
    -------
    DataFrame
        ``model, k, prob, lower, median, upper`` (+ ``inference_flops``): for each model, each k
        in the order given, each prob in the order given: the tidy form of
        :func:`band_dataset`. ``attrs``: ``converged``, ``kind``.
    """
    ds = band_dataset(
        self,
        k,
        prob,
        kind=kind,
        models=models,
        tokens_per_sample=tokens_per_sample,
        n_params=n_params,
    )
    table = ds.to_dataframe(dim_order=["model", "k", "prob"]).reset_index()
    table["k"] = table["k"].astype(int)
    columns = [*BAND_COLUMNS, *(["inference_flops"] if "inference_flops" in ds else [])]
    table = table[columns]
    table.attrs.update(converged=self.converged, reason=self.diagnostics.reason(), kind=kind)
    return table


def _log_grid(k_range) -> np.ndarray:
    vals = ks(k_range, "k_range").astype(float)  # the grid is in floats: distinct there
    if len(vals) != 2 or not vals[1] > vals[0]:
        raise ArgumentError(
            "k_range", f"give (k_low, k_high) with k_high > k_low ≥ 1, got {k_range}"
        )
    return np.unique(np.round(np.geomspace(vals[0], vals[1], 25)))


@method_of(PassKFit)
def exponent(
    self, k_range=(1, 10_000), prob: float = DEFAULT_PROB, *, kind: str = "problems", models=None
) -> pd.DataFrame:
    """The power-law exponent b of −log pass@k ≈ A·k^(−b) over ``k_range``: per draw the
    least-squares slope of log(−log pass@k) on log k over 25 log-spaced k, with its interval.
    Also ``a`` (the asymptotic exponent when no problem is unsolvable: −log pass@k → k^(−a);
    with the Beta mixture the smaller of its two components' a, which wins at large k). The
    logit-normal mixture has no such exponent (its tail in log p is normal, so −log pass@k
    falls faster than any power of k in the limit): only ``exponent`` is reported.

    Returns ``model, quantity, median, lower, upper`` (``quantity`` ∈ {exponent, a}).
    """
    prob = check.probability(prob, "prob")
    grid = _log_grid(k_range)
    models = _models(self, models)
    draws = pass_at_k(self, grid, kind=kind, models=models).values  # (S, M, K)

    y = np.log(-np.log(np.clip(draws, 1e-300, 1 - 1e-16)))
    x = np.log(grid) - np.log(grid).mean()
    slope = -(y - y.mean(axis=2, keepdims=True)) @ x / (x @ x)  # (S, M)
    post = self.posterior.sel(model=models)
    a = _flat(post["a"]) if "a" in post else None
    if "a_hard" in post:
        a = np.minimum(a, _flat(post["a_hard"]))
    rows = []
    for m, name in enumerate(models):
        quantities = [("exponent", slope[:, m])] + ([] if a is None else [("a", a[:, m])])
        for q, vals in quantities:
            ci = central_interval(vals, prob)
            lo, med, hi = (float(ci[v]) for v in ("lower", "median", "upper"))
            rows.append(dict(model=name, quantity=q, median=med, lower=lo, upper=hi))
    out = pd.DataFrame(rows)
    out.attrs.update(converged=self.converged, prob=prob, k_range=(grid[0], grid[-1]))
    return out


def _k_needed(fam, a, b, pi, n, c, target, kind, hard=None):
    """Per draw the smallest k (real, ≥ 1) with pass@k ≥ target; inf where never."""
    if kind == "population":
        curve = fam.population_curve(a, b, pi, hard=hard)

        def f(k):
            return curve(k[:, None])[:, 0]

        ceiling = 1 - pi[:, 0]
    else:
        pairs, mult = np.unique(np.column_stack([n, c]), axis=0, return_counts=True)
        n, c = pairs[:, 0], pairs[:, 1]
        share = mult / mult.sum()

        curve, unsolvable = fam.curve(a, b, pi, n, c, hard=hard)

        def f(k):
            return curve(k[:, None]) @ share

        ceiling = 1 - unsolvable @ share
    lo = np.zeros(len(a))
    hi = np.full(len(a), np.log(K_MAX))
    reach = (ceiling > target) & (f(np.full(len(a), K_MAX)) >= target)
    done = f(np.ones(len(a))) >= target
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        ok = f(np.exp(mid)) >= target
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    k = np.ceil(np.exp(hi) - 1e-9)
    k = np.where(done, 1.0, k)
    return np.where(reach | done, k, np.inf)


@method_of(PassKFit)
def samples_for(
    self,
    target: float,
    prob=(0.5, 0.9),
    *,
    kind: str = "problems",
    models=None,
    tokens_per_sample: float | None = None,
    n_params=None,
) -> pd.DataFrame:
    """Samples a problem needed to reach pass@k ≥ ``target`` with probability ``prob``.

    Per draw k*(θ) is the smallest k with pass@k ≥ target (∞ when the ceiling 1 − π, or the
    benchmark's 1 − mean w_j, is below it); P(pass@k ≥ target) = P(k* ≤ k), so the k needed with
    probability q is the q-quantile of k*. When that is ∞ the answer is "not reachable with
    probability q", with P(unreachable) = P(k* = ∞) (searched up to k = 1e15):
    :func:`~bayes_scaling.answers.intervals.needed_quantiles`, in the words of
    :func:`bayes_scaling._format.not_reachable`.

    Returns ``model, target, prob, samples, prob_unreachable, note`` (+ ``inference_flops``).
    """
    target = check.fraction(target, "target")
    probs = check.probabilities(prob, "prob")
    kind = check.one_of(kind, "kind", KINDS)
    models = _models(self, models)
    flops = _inference_flops(self, models, tokens_per_sample, n_params)
    post = self.posterior.sel(model=models)
    fam, (a_all, b_all, pi_all, hard_all) = difficulty_draws(post)
    keep = np.unique(np.linspace(0, len(a_all) - 1, min(SEARCH_DRAWS, len(a_all))).astype(int))
    a_all, b_all, pi_all = a_all[keep], b_all[keep], pi_all[keep]
    rows = []
    for m, name in enumerate(models):
        part = self.counts[self.counts["model"] == name]
        n, c = part["samples"].to_numpy(float), part["correct"].to_numpy(float)
        a, b, pi = a_all[:, m, None], b_all[:, m, None], pi_all[:, m, None]
        hard = _column(hard_all, m, keep)
        found = needed_quantiles(_k_needed(fam, a, b, pi, n, c, target, kind, hard), probs)
        unreachable = found.prob_unreachable
        for p in probs:
            kq = found.values[p]
            note = fmt.not_reachable(p, unreachable) if kq is None else ""
            kq = np.inf if kq is None else kq
            row = dict(model=name, target=target, prob=p, samples=kq, prob_unreachable=unreachable)
            if flops is not None:
                row["inference_flops"] = flops[m] * kq
            rows.append({**row, "note": note})
    out = pd.DataFrame(rows)
    out.attrs.update(converged=self.converged, kind=kind)
    return out


__all__ = ["band_dataset", "bands", "exponent", "pass_at_k", "samples_for"]
