"""Which runs to train next: a greedy batch under a FLOP budget, judged in fantasy worlds.

Given the current posterior (S draws), a pool of candidates with costs c_j, a target and an
objective U (lower is better; :mod:`.objectives`), the expected objective after training a set B
is estimated in K worlds drawn from the posterior predictive (:mod:`.worlds`)::

    Ū(B) = (1/K) Σ_k U(w_k(B), ref(B)),    w_ks(B) ∝ Π_{j∈B} p(y_kj | θ_s)

with ref(B) the discrepancy's reference grown to include B (runs nearer the target shrink its
distance beyond the data, and so the discrepancy's share of the band). The batch is chosen
greedily: at each step the affordable candidate with the largest expected gain per FLOP,
(Ū(B) − Ū(B ∪ {j})) / c_j, joins B, its outcome in each world now conditioning the next pick
(Krause & Guestrin 2005 for cost-aware greedy; Li et al. 2026 for budget-aware design of scaling
fits). The search stops when the budget allows no further candidate or none is expected to help.

Importance weights degenerate when a run is far more informative than the posterior's spread:
each world's weights are checked by their effective sample size ESS = 1/Σw² and, below
``min_ess``, the new run's likelihood is tempered (raised to λ = ½, ¼, ... until the ESS is met),
which understates that pick's gain rather than trusting a handful of draws; ``tempered`` in the
picks says how often. Checked against real refits in ``tests/design/test_refit_agreement.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB
from bayes_scaling.data import load_runs
from bayes_scaling.design.candidates import already_run, isoflop_grid, read_pool
from bayes_scaling.design.objectives import Objective, get_objective, weighted_quantiles
from bayes_scaling.design.result import BAND_COLUMNS, PICK_COLUMNS, DesignResult
from bayes_scaling.design.worlds import Worlds, build_worlds
from bayes_scaling.errors import ArgumentError

#: Tempering powers tried, in order, when a world's ESS falls below ``min_ess``.
TEMPERING = (1.0, 0.5, 0.25, 0.125, 0.0625)
#: Candidates re-scored at a time by the lazy greedy search (Minoux 1978): a candidate's last
#: score bounds its next one, since a run's expected gain shrinks as the batch grows.
LAZY_BATCH = 24


def _normalised(logw: np.ndarray) -> np.ndarray:
    w = np.exp(logw - logw.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


def update(logw: np.ndarray, loglik: np.ndarray, min_ess: float):
    """Each world's weights after one more run: ``(weights, log weights, ess, tempered)``.

    ``logw`` (K, S) are the worlds' log weights so far, ``loglik`` (..., K, S) the new run's log
    likelihood (a leading axis runs over candidates). Where a world's ESS = 1/Σw² falls below
    ``min_ess`` the likelihood is tempered, by the powers in :data:`TEMPERING`, until it does not.
    """
    new = logw + loglik
    w = _normalised(new)
    ess = 1.0 / (w**2).sum(axis=-1)
    tempered = np.zeros(ess.shape, bool)
    for lam in TEMPERING[1:]:
        low = ess < min_ess
        if not low.any():
            break
        new[low] = logw[np.nonzero(low)[-1]] + lam * loglik[low]
        w[low] = _normalised(new[low])
        ess[low] = 1.0 / (w[low] ** 2).sum(axis=-1)
        tempered |= low
    return w, new, ess, tempered


def _score_all(worlds, objective, logw, reference, feasible, min_ess, chunk: int = 96):
    """Expected objective after each feasible candidate, with the ESS and tempering per world.

    Candidates that leave the discrepancy's reference unchanged share the target draws, so their
    worlds' weights are evaluated together; a candidate that moves it gets its own evaluation.
    """
    n_k = worlds.n_worlds
    values = np.empty(len(feasible))
    ess_min, temp_share = np.empty(len(feasible)), np.empty(len(feasible))
    for start in range(0, len(feasible), chunk):
        js = feasible[start : start + chunk]
        w, _, ess, temp = update(logw, worlds.loglik[js].astype(float), min_ess)
        ess_min[start : start + len(js)] = ess.min(axis=1)
        temp_share[start : start + len(js)] = temp.mean(axis=1)
        refs = [worlds.extended(reference, j) for j in js]
        same = np.array([r == reference for r in refs])
        out = np.empty(len(js))
        if same.any():
            rows = w[same].reshape(-1, w.shape[-1])
            out[same] = objective.evaluate(rows, worlds.targets, reference).reshape(-1, n_k).mean(1)
        for i in np.flatnonzero(~same):
            out[i] = objective.evaluate(w[i], worlds.targets, refs[i]).mean()
        values[start : start + len(js)] = out
    return values, ess_min, temp_share


def greedy(
    worlds: Worlds,
    pool: pd.DataFrame,
    budget: float,
    objective: Objective,
    *,
    allowed: np.ndarray | None = None,
    min_ess: float | None = None,
):
    """The better of two greedy batches (Krause & Guestrin 2005): by expected gain per FLOP, and
    by expected gain alone. Gain per FLOP alone can spend the budget on cheap runs and then no
    longer afford the one expensive run near the target that was worth more than all of them.

    Returns ``(picks rows, initial objective, final world weights, reference, rule)``.
    """
    per_flop = _greedy(worlds, pool, budget, objective, allowed, min_ess, per_flop=True)
    whole = _greedy(worlds, pool, budget, objective, allowed, min_ess, per_flop=False)
    final = [r[0][-1]["objective"] if r[0] else r[1] for r in (per_flop, whole)]
    if final[1] < final[0]:
        return (*whole, "gain")
    return (*per_flop, "gain per FLOP")


def _greedy(worlds, pool, budget, objective, allowed, min_ess, *, per_flop: bool):
    """One greedy batch: ``(picks rows, initial objective, final world weights, reference)``."""
    n_k, n_s = worlds.n_worlds, worlds.n_draws
    min_ess = max(20.0, 0.02 * n_s) if min_ess is None else float(min_ess)
    logw = np.zeros((n_k, n_s))
    weights = _normalised(logw)
    reference = worlds.reference
    current = float(objective.evaluate(weights, worlds.targets, reference).mean())
    initial = current
    cost = pool["cost"].to_numpy(float)
    left = np.ones(len(pool), bool) if allowed is None else allowed.copy()
    spent, rows = 0.0, []
    bound = np.full(len(pool), np.inf)  # last score of each candidate: an upper bound (lazy)
    while True:
        feasible = np.flatnonzero(left & (cost <= budget - spent + 1e-9 * budget))
        if len(feasible) == 0:
            break
        order = feasible[np.argsort(-bound[feasible], kind="stable")]
        best, done = None, 0
        while done < len(order):
            batch = order[
                done : done
                + (
                    len(order)
                    if best is None and done == 0 and np.isinf(bound[order[0]])
                    else LAZY_BATCH
                )
            ]
            values, ess, temp = _score_all(worlds, objective, logw, reference, batch, min_ess)
            score = (current - values) / (cost[batch] if per_flop else 1.0)
            bound[batch] = score
            i = int(np.argmax(score))
            if best is None or score[i] > best[0]:
                best = (score[i], int(batch[i]), float(values[i]), ess[i], temp[i])
            done += len(batch)
            if done < len(order) and best[0] >= bound[order[done:]].max():
                break  # no candidate left unevaluated can beat it (gains shrink as B grows)
        _, j, value, ess_j, temp_j = best
        if not current - value > 0:
            break
        weights, logw, _, _ = update(logw, worlds.loglik[j].astype(float), min_ess)
        reference = worlds.extended(reference, j)
        spent += cost[j]
        rows.append(
            {
                "candidate": int(pool["candidate"].iloc[j]),
                "params": float(pool["params"].iloc[j]),
                "tokens": float(pool["tokens"].iloc[j]),
                "compute": float(pool["compute"].iloc[j]),
                "cost": float(cost[j]),
                "cumulative_cost": spent,
                "gain": current - value,
                "objective": value,
                "ess": float(ess_j),
                "tempered": float(temp_j),
            }
        )
        current = value
        left[j] = False
    return rows, initial, weights, reference


def score_candidates(
    fit,
    candidates,
    *,
    compute=None,
    params=None,
    tokens=None,
    objective="width",
    prob: float = DEFAULT_PROB,
    seed: int = 0,
    n_worlds: int = 32,
    max_draws: int = 1000,
    min_ess: float | None = None,
) -> pd.DataFrame:
    """The expected objective after training each candidate alone (no budget, no greedy).

    Returns
    -------
    DataFrame
        ``candidate``, ``params``, ``tokens``, ``cost``, ``objective`` (expected after it),
        ``gain`` (the objective now minus that), ``ess``; rows in the pool's order;
        ``attrs["initial"]`` is the objective now.

    Examples
    --------
    >>> score_candidates(fit, pool, compute=[1e22]).sort_values("gain")  # doctest: +SKIP
    """
    obj = get_objective(objective, prob)
    k = fit.settings.get("flops_per_param_token", 6.0)
    pool = read_pool(candidates, flops_per_param_token=k)
    worlds = build_worlds(
        fit,
        pool,
        params=params,
        tokens=tokens,
        compute=compute,
        n_worlds=n_worlds,
        max_draws=max_draws,
        seed=check.seed(seed) or 0,
        regret=obj.name == "regret",
    )
    min_ess = max(20.0, 0.02 * worlds.n_draws) if min_ess is None else float(min_ess)
    logw = np.zeros((worlds.n_worlds, worlds.n_draws))
    initial = float(obj.evaluate(_normalised(logw), worlds.targets, worlds.reference).mean())
    values, ess, _ = _score_all(worlds, obj, logw, worlds.reference, np.arange(len(pool)), min_ess)
    out = pool[["candidate", "params", "tokens", "cost"]].assign(
        objective=values, gain=initial - values, ess=ess
    )
    out.attrs["initial"] = initial
    return out


def band_table(worlds: Worlds, weights_before, weights_after, ref_before, ref_after, prob):
    """The predictive band at each target before and (expected) after the picks."""
    qs = ((1 - prob) / 2, 0.5, (1 + prob) / 2)
    t = worlds.targets
    rows = []
    for stage, w, ref in (
        ("before", weights_before, ref_before),
        ("after", weights_after, ref_after),
    ):
        values = t.log_predictive(ref)
        for i in range(values.shape[1]):
            q = np.exp(weighted_quantiles(values[:, i], w, qs)).mean(axis=0)
            sizes = {a: float(np.median(t.sizes[a][:, i])) for a in t.sizes}
            rows.append(
                {
                    "target": i,
                    "params": sizes.get("n_params", np.nan),
                    "tokens": sizes.get("n_tokens", np.nan),
                    "compute": sizes.get("compute", np.nan),
                    "stage": stage,
                    "prob": prob,
                    "lower": q[0],
                    "median": q[1],
                    "upper": q[2],
                }
            )
    return pd.DataFrame(rows, columns=BAND_COLUMNS)


def design(
    fit,
    candidates=None,
    budget: float | None = None,
    *,
    compute=None,
    params=None,
    tokens=None,
    objective: str | Objective = "width",
    prob: float = DEFAULT_PROB,
    law: str = "chinchilla",
    seed: int | None = None,
    n_worlds: int = 32,
    max_draws: int = 1000,
    min_ess: float | None = None,
    cap: float | None = None,
    skip_existing: bool = True,
    **fit_kwargs,
) -> DesignResult:
    """Choose the next runs to train: the largest expected reduction of uncertainty per FLOP.

    Parameters
    ----------
    fit : ScalingFit, DataFrame or path
        The current posterior; a runs table is fitted first (``law``, ``seed``, ``fit_kwargs``).
    candidates : DataFrame or path, optional
        The pool: ``params``, ``tokens`` and optionally ``cost`` (FLOPs; k·N·D otherwise). None:
        isoFLOP sweeps up to ``cap`` FLOPs a run (:func:`~.candidates.isoflop_grid`).
    budget : float
        FLOPs available for the picks together.
    compute, params, tokens :
        The target: budgets (each draw's compute-optimal split), or (N, D) points.
    objective : {"width", "variance", "regret"} or Objective
        Expected width of the ``prob`` predictive band (default), variance of log L*, or regret of
        the allocation at the target budgets (see :mod:`.objectives`).
    seed : int, optional
        Seeds the fit (when runs are given) and the fantasy worlds: the same seed, the same picks.
    n_worlds, max_draws, min_ess :
        Fantasy worlds K, posterior draws S, and the smallest ESS kept before tempering.
    skip_existing : bool
        Leave out candidates with the N and D of a run already in the table (``skipped``).

    Returns
    -------
    DesignResult
        Picks in the order chosen (``candidate``, ``params``, ``tokens``, ``cost``,
        ``cumulative_cost``, ``gain``, ``objective``, ...), the band before and after, the verdict.

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> fit = bs.fit(bs.datasets.demo(), seed=1)                       # doctest: +SKIP
    >>> d = bs.design(fit, "pool.csv", budget=5e20, compute=[1e23])   # doctest: +SKIP
    >>> d.picks[["candidate", "cost", "gain", "objective"]]           # doctest: +SKIP
    """
    if budget is None:
        raise ArgumentError("budget", "give the FLOPs available for the new runs, e.g. 5e20")
    budget = check.positive(budget, "budget")
    seed = check.seed(seed)
    n_worlds = check.count(n_worlds, "n_worlds", minimum=2)
    max_draws = check.count(max_draws, "max_draws", minimum=50)
    obj = get_objective(objective, prob)
    prob = check.probability(prob, "prob")
    if obj.needs_compute and (compute is None or params is not None or tokens is not None):
        raise ArgumentError(
            "objective", f"{obj.name!r} is defined at compute budgets; give compute= alone"
        )
    if not hasattr(fit, "posterior"):  # a runs table: fit it first
        from bayes_scaling import inference

        fit = inference.fit(
            fit if isinstance(fit, pd.DataFrame) else load_runs(fit),
            law=law,
            seed=seed,
            **fit_kwargs,
        )
    k = fit.settings.get("flops_per_param_token", 6.0)
    if candidates is None:
        if cap is None:
            raise ArgumentError("candidates", "give a pool of candidates, or cap= for a grid")
        pool = isoflop_grid(fit.runs, cap, flops_per_param_token=k)
    else:
        pool = read_pool(candidates, flops_per_param_token=k)
    allowed = ~already_run(pool, fit.runs) if skip_existing else np.ones(len(pool), bool)
    world_seed = fit.settings.get("seed", 0) if seed is None else seed
    worlds = build_worlds(
        fit,
        pool,
        params=params,
        tokens=tokens,
        compute=compute,
        n_worlds=n_worlds,
        max_draws=max_draws,
        seed=world_seed,
        regret=obj.name == "regret",
    )
    rows, initial, weights, reference, rule = greedy(
        worlds, pool, budget, obj, allowed=allowed, min_ess=min_ess
    )
    picks = pd.DataFrame(rows, columns=[c for c in PICK_COLUMNS if c != "converged"])
    picks["converged"] = bool(fit.converged)
    uniform = np.full((1, worlds.n_draws), 1.0 / worlds.n_draws)
    bands = band_table(worlds, uniform, weights, worlds.reference, reference, prob)
    runs = fit.runs[[c for c in ("n_params", "n_tokens", "compute") if c in fit.runs]].copy()
    return DesignResult(
        picks=picks,
        bands=bands,
        initial=initial,
        objective=obj.name,
        description=obj.description,
        budget=budget,
        converged=bool(fit.converged),
        reason=fit.diagnostics.reason(),
        skipped=[int(c) for c in pool["candidate"][~allowed]],
        pool=pool,
        runs=runs,
        settings={
            "seed": world_seed,
            "n_worlds": n_worlds,
            "n_draws": worlds.n_draws,
            "law": fit.law.name,
            "target": {"compute": compute, "params": params, "tokens": tokens},
            "prob": prob,
            "rule": rule,
        },
    )
