"""Which run next: replay run selection on the corpus ladders against heuristics (issue 3/5).

Run by hand (17 minutes for the stored table, 5 ladders x 3 seeds, on 2 cores; 47 minutes at
load 9 before):

    .venv/bin/python benchmarks/design.py [--data ../shared/data] [--ladders NAME ...]
                                          [--fractions 0.05 0.15 0.3] [--random 3]
                                          [--methods design design_reweight ...]
                                          [--seeds 0 100 200]

(the stored table: ``--seeds 0 100 200 --methods design``, at 9905f67, where the greedy search
re-scores every candidate at each pick; ``design_reweight``'s rows, last run with the lazy search,
are in the table at dc51880; seeds closer than 10 would share random orders;
``design_headroom.csv``: ``--random 20 --methods design --seeds 0 --no-speed``, 15 minutes, for
the headroom below).

For each ladder of bayes_scaling.data.corpus, its protocol splits the runs into the fitted part
and the held-out larger runs. The replay:

- **start**: the cheapest runs of the fitted part (the smallest compute budgets, at least
  ``--start`` runs), fitted;
- **pool**: the other runs of the fitted part, their losses hidden until picked;
- **target**: the held-out larger runs (the design aims at up to 8 of them, spread in compute; all
  are scored);
- **budget**: a fraction (5%, 15%, 30%) of the pool's compute, spent in two rounds (half, then
  the rest) with a refit and the picks' losses revealed between them;
- **methods**: ours (``bs.design``, the expected width of the 90% predictive band at the target,
  with its default linearised update; ``design_reweight`` is the same with ``update="reweight"``,
  the importance reweighting the design used before, kept for the before/after comparison),
  random order (``--random`` draws), cheapest first, largest first, a D-optimal design (greedy
  log-det of the Fisher information of log L in the law's parameters at the start fit's median,
  per FLOP), and the whole pool (every run, the reference);
- **seeds**: each replay again with other seeds (``--seeds``; the start fit, the designs' worlds,
  the random orders and every refit), since one replay's score moves by up to ±20% with the
  seed of its fits alone; the summary averages over seeds;
- **scores** of the final fit at the held-out runs: the 90% interval score on loss (Gneiting &
  Raftery 2007; lower is better) and the 90% coverage.

Prints one row per (ladder, fraction, method) and a summary; writes ``benchmarks/design.csv``.
The summary scores each design against the heuristics (cheapest, largest, D-optimal, random
averaged over its draws) two ways: against the best of them in each (ladder, fraction), and
against the one heuristic that is best on average over all cases.
Then measures the speed goal: a 500-candidate pool and a 40-run table (fit + design).
Fits here use 2 chains x 500 draws (500 tuning steps) to keep the replay affordable.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.data.corpus import corpus, split
from bayes_scaling.design.candidates import read_pool
from bayes_scaling.trust.backtests import interval_score

HERE = Path(__file__).resolve().parent
FIT = dict(draws=500, tune=500, chains=2, progress=False)
PROB = 0.9
COLUMNS = ["run_id", "n_params", "n_tokens", "compute", "loss"]


def _fit(runs, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.fit(runs[COLUMNS].reset_index(drop=True), seed=seed, **FIT)


def _score(fit, target) -> dict:
    band = fit.bands(
        params=target["n_params"], tokens=target["n_tokens"], prob=PROB, as_xarray=True
    ).sel(band="predictive", prob=PROB)
    lo, hi, y = band["lower"].values, band["upper"].values, target["loss"].to_numpy(float)
    return {
        "interval_score": float(np.mean(interval_score(lo, hi, y, PROB))),
        "coverage": float(np.mean((y >= lo) & (y <= hi))),
        "width": float(np.mean(hi - lo)),
        "converged": bool(fit.converged),
    }


def _as_pool(runs) -> pd.DataFrame:
    return pd.DataFrame(
        {"params": runs["n_params"].to_numpy(), "tokens": runs["n_tokens"].to_numpy()}
    )


def _fill(order, cost, budget) -> list[int]:
    """Candidates in ``order`` that fit in ``budget``, skipping those that no longer fit."""
    chosen, spent = [], 0.0
    for j in order:
        if spent + cost[j] <= budget:
            chosen.append(int(j))
            spent += cost[j]
    return chosen


def _d_optimal(fit, pool, budget, chosen_before=()) -> list[int]:
    """Greedy D-optimal: the largest log-det gain of the Fisher information per FLOP."""
    law, post = fit.law, fit.posterior
    theta = {p: float(post[p].median()) for p in law.params}
    sigma = float(post["sigma"].median())

    def jac(n, d):
        x = {
            "n_params": np.asarray(n, float),
            "n_tokens": np.asarray(d, float),
            "compute": 6 * np.asarray(n, float) * np.asarray(d, float),
        }
        x = {k: x[k] for k in law.inputs}
        base = np.log(law.fn(x, theta, np))
        out = []
        for p in law.params:
            h = 1e-5 * max(1.0, abs(theta[p]))
            shifted = dict(theta, **{p: theta[p] + h})
            out.append((np.log(law.fn(x, shifted, np)) - base) / h)
        return np.stack(out, axis=-1) / sigma

    runs = fit.runs
    info = jac(runs["n_params"], runs["n_tokens"]).T @ jac(runs["n_params"], runs["n_tokens"])
    info += 1e-6 * np.eye(len(law.params))
    rows = jac(pool["params"], pool["tokens"])
    cost = pool["cost"].to_numpy(float)
    left, spent, chosen = set(range(len(pool))) - set(chosen_before), 0.0, []
    while True:
        _, logdet = np.linalg.slogdet(info)
        best = None
        for j in left:
            if spent + cost[j] > budget:
                continue
            gain = (np.linalg.slogdet(info + np.outer(rows[j], rows[j]))[1] - logdet) / cost[j]
            if best is None or gain > best[0]:
                best = (gain, j)
        if best is None:
            return chosen
        j = best[1]
        info += np.outer(rows[j], rows[j])
        spent += cost[j]
        chosen.append(j)
        left.discard(j)


def _pick(method, fit, pool, budget, targets, seed, taken) -> list[int]:
    """Candidates (rows of ``pool``) one round of ``method`` picks, not those ``taken``."""
    free = np.array([j for j in range(len(pool)) if j not in taken])
    cost = pool["cost"].to_numpy(float)
    if method.startswith("design"):
        sub = pool.iloc[free]
        d = bs.design(
            fit,
            sub[["params", "tokens"]],
            budget,
            params=targets["n_params"],
            tokens=targets["n_tokens"],
            seed=seed,
            n_worlds=24,
            max_draws=800,
            update="reweight" if method == "design_reweight" else "linear",
        )
        return [int(free[c]) for c in d.picks["candidate"]]
    if method.startswith("random"):
        order = np.random.default_rng(seed + int(method[6:] or 0)).permutation(free)
    elif method == "cheapest":
        order = free[np.argsort(cost[free], kind="stable")]
    elif method == "largest":
        order = free[np.argsort(-cost[free], kind="stable")]
    elif method == "d_optimal":
        return _d_optimal(fit, pool, budget, chosen_before=taken)
    else:
        raise ValueError(method)
    return _fill(order, cost, budget)


DESIGNS = ("design", "design_reweight")
HEURISTICS = ("cheapest", "largest", "d_optimal", "random")


def replay(
    ladder, fractions, n_random, seed=0, n_start=8, n_targets=8, designs=DESIGNS
) -> pd.DataFrame:
    runs = ladder.load()
    fitted, held = split(ladder, runs)
    fitted = fitted.sort_values("compute", kind="stable").reset_index(drop=True)
    budgets = np.sort(fitted["compute"].unique())
    k = 1
    while (fitted["compute"] <= budgets[k - 1]).sum() < n_start and k < len(budgets):
        k += 1
    start_mask = fitted["compute"] <= budgets[max(k - 1, 1)]  # at least two budgets
    start, rest = fitted[start_mask], fitted[~start_mask].reset_index(drop=True)
    pool = read_pool(_as_pool(rest))
    pick_targets = held.iloc[
        np.unique(np.linspace(0, len(held) - 1, n_targets).round().astype(int))
    ]
    start_fit = _fit(start, seed)
    rows = []
    whole = _fit(pd.concat([start, rest]), seed)
    rows.append(
        {
            "ladder": ladder.name,
            "seed": seed,
            "fraction": 1.0,
            "method": "whole_pool",
            "n_runs": len(rest),
            "spent": float(pool["cost"].sum()),
            "n_start": len(start),
            **_score(whole, held),
        }
    )
    methods = [
        *designs,
        "cheapest",
        "largest",
        "d_optimal",
        *[f"random{i}" for i in range(n_random)],
    ]
    for fraction in fractions:
        budget = fraction * float(pool["cost"].sum())
        for method in methods:
            t0 = time.perf_counter()
            taken = _pick(method, start_fit, pool, budget / 2, pick_targets, seed, [])
            spent1 = float(pool["cost"].iloc[taken].sum())
            mid = _fit(pd.concat([start, rest.iloc[taken]]), seed + 1) if taken else start_fit
            more = _pick(method, mid, pool, budget - spent1, pick_targets, seed + 7, taken)
            taken = taken + [j for j in more if j not in taken]
            final = _fit(pd.concat([start, rest.iloc[taken]]), seed + 2) if taken else start_fit
            rows.append(
                {
                    "ladder": ladder.name,
                    "seed": seed,
                    "fraction": fraction,
                    "method": method,
                    "n_runs": len(taken),
                    "spent": float(pool["cost"].iloc[taken].sum()),
                    "n_start": len(start),
                    **_score(final, held),
                    "seconds": time.perf_counter() - t0,
                }
            )
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (ladder, fraction): each method's interval score (random averaged over its draws),
    the best heuristic of the case, and each design's improvement over it and over the
    heuristic best on average; whether each design came within 10% of the whole pool. Also the
    headroom: the best of the random orders in hindsight (``best_random``: the lowest score any
    of them reached at that budget with one seed, a selection no rule could know in advance,
    averaged over seeds like every other score) and its improvement over the best heuristic
    (``headroom_vs_best``)."""
    t = table[table["method"] != "whole_pool"].copy()
    t["family"] = t["method"].str.replace(r"random\d+", "random", regex=True)
    pivot = t.pivot_table(index=["ladder", "fraction"], columns="family", values="interval_score")
    heuristics = [h for h in HEURISTICS if h in pivot.columns]
    pivot["best_heuristic"] = pivot[heuristics].min(axis=1)
    randoms = t[t["family"] == "random"]
    best_of_seed = randoms.groupby(["ladder", "fraction", "seed"])["interval_score"].min()
    pivot["best_random"] = best_of_seed.groupby(["ladder", "fraction"]).mean()
    pivot["random_draws"] = randoms.groupby(["ladder", "fraction"])["method"].nunique()
    pivot["headroom_vs_best"] = 1 - pivot["best_random"] / pivot["best_heuristic"]
    overall = pivot[heuristics].mean().idxmin()
    whole = table[table["method"] == "whole_pool"].groupby("ladder")["interval_score"].mean()
    pool_score = whole.reindex(pivot.index.get_level_values("ladder")).to_numpy()
    for d in [c for c in DESIGNS if c in pivot.columns]:
        pivot[f"{d}_vs_best"] = 1 - pivot[d] / pivot["best_heuristic"]
        pivot[f"{d}_vs_{overall}"] = 1 - pivot[d] / pivot[overall]
        pivot[f"{d}_within_10pct"] = pivot[d] <= 1.1 * pool_score
    return pivot.reset_index()


def report(table: pd.DataFrame) -> None:
    """Print the goal numbers of issue 22 for each design."""
    s = summary(table)
    overall = s[[h for h in HEURISTICS if h in s.columns]].mean().idxmin()
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(s.round(4).to_string(index=False))
    t = table.assign(family=table["method"].str.replace(r"random\d+", "random", regex=True))
    print("mean interval score and 90% coverage by method (over ladders and fractions):")
    print(t.groupby("family")[["interval_score", "coverage"]].mean().round(4).to_string())
    if s["random_draws"].notna().any():
        print(
            f"headroom: the best of {int(s['random_draws'].min())}-"
            f"{int(s['random_draws'].max())} random orders in hindsight (per seed) beats the "
            f"best heuristic by {s['headroom_vs_best'].mean():+.3f} on average (per case: "
            f"{s['headroom_vs_best'].min():+.3f} to {s['headroom_vs_best'].max():+.3f})"
        )
    for d in [c for c in DESIGNS if c in s.columns]:
        print(
            f"{d}: mean improvement over the best heuristic of each case "
            f"{s[f'{d}_vs_best'].mean():+.3f}, over {overall} (best on average) "
            f"{s[f'{d}_vs_{overall}'].mean():+.3f}; wins {int((s[f'{d}_vs_best'] > 0).sum())} "
            f"of {len(s)} cases; 90% coverage {t[t['method'] == d]['coverage'].mean():.3f}"
        )
        reach = s[s[f"{d}_within_10pct"]].groupby("ladder")["fraction"].min()
        reach = reach.reindex(s["ladder"].unique()).fillna(np.inf)
        print(
            f"  smallest share of the pool's compute within 10% of the whole pool's score: "
            f"{reach.to_dict()}; at most 1/3 on {int((reach <= 1 / 3).sum())} of {len(reach)}"
        )


def speed(seed=0) -> dict:
    from bayes_scaling.model.simulate import simulate_runs

    truth = {
        "E": 1.82,
        "log_A": np.log(482.0),
        "alpha": 0.35,
        "log_B": np.log(2085.0),
        "beta": 0.37,
    }
    runs = simulate_runs(
        truth, budgets=(1e17, 3e17, 1e18, 3e18, 1e19), sizes_per_budget=8, seed=seed
    )
    rng = np.random.default_rng(seed)
    c = 10 ** rng.uniform(17, 21, 500)
    n = np.sqrt(c / 120) * 10 ** rng.uniform(-0.8, 0.8, 500)
    pool = pd.DataFrame({"params": n, "tokens": c / (6 * n)})
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bs.fit(runs, seed=seed, progress=False)
    t1 = time.perf_counter()
    d = bs.design(fit, pool, budget=5e20, compute=[1e22], seed=seed)
    t2 = time.perf_counter()
    return {
        "runs": len(runs),
        "candidates": len(pool),
        "picks": len(d.picks),
        "fit_seconds": t1 - t0,
        "design_seconds": t2 - t1,
        "total_seconds": t2 - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data"))
    parser.add_argument(
        "--ladders",
        nargs="*",
        default=[
            "chinchilla-epoch",
            "gemstones",
            "llama3-isoflops",
            "loss-to-loss/fineweb-edu-100b",
            "loss-to-loss/starcoder",
        ],
    )
    parser.add_argument("--fractions", nargs="*", type=float, default=[0.05, 0.15, 0.3])
    parser.add_argument("--random", type=int, default=3)
    parser.add_argument("--methods", nargs="*", default=list(DESIGNS), help="designs to replay")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--out", type=Path, default=HERE / "design.csv")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    ladders = corpus(args.data)
    tables = []
    for name in args.ladders:
        for seed in args.seeds:
            tables.append(
                replay(ladders[name], args.fractions, args.random, seed=seed, designs=args.methods)
            )
        pd.concat(tables).to_csv(args.out, index=False)
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    report(table)
    if not args.no_speed:
        print("speed:", speed())


if __name__ == "__main__":
    main()
