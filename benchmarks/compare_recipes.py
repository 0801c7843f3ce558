"""Evidence for group comparisons on simulated two-recipe ladders (run by hand; prints tables).

1. Coverage: over seeds, is the true crossover and the true compute multiplier k(C) inside the
   90% posterior intervals of ``fit_groups(...).compare(...)``? (``simulate.RECIPE_TRUTHS``.)
2. Pooling: when two recipes truly share their exponents, how wide are the exponents' 90% intervals
   with partial pooling (``pool="exponents"``), with independent exponents in one model
   (``pool="none"``) and with two separate ``fit`` calls?

    python benchmarks/compare_recipes.py [--seeds 20] [--pool-seeds 6]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from bayes_scaling import fit
from bayes_scaling.inference.grouped import fit_groups
from bayes_scaling.model.simulate import (
    DEMO_TRUTH,
    RECIPE_TRUTHS,
    true_crossover,
    true_multiplier,
    two_recipe_ladder,
)

BUDGETS = [1e20, 1e22, 1e24]
#: Two recipes with the same exponents (the demo law's), B with 1.5× larger coefficients.
SHARED = {
    "A": DEMO_TRUTH,
    "B": {**DEMO_TRUTH, "log_A": DEMO_TRUTH["log_A"] + 0.4, "log_B": DEMO_TRUTH["log_B"] + 0.4},
}


def coverage(seeds: int) -> pd.DataFrame:
    a, b = RECIPE_TRUTHS["A"], RECIPE_TRUTHS["B"]
    truth_x, truth_k = true_crossover(a, b), true_multiplier(a, b, BUDGETS)
    rows = []
    for seed in range(seeds):
        start = time.perf_counter()
        g = fit_groups(two_recipe_ladder(seed=seed), seed=seed)
        c = g.compare(compute=BUDGETS, prob=0.9)
        t, x = c.table(), c.crossover_summary()
        row = {
            "seed": seed,
            "converged": g.converged,
            "seconds": time.perf_counter() - start,
            "crossover_in": x["crossover_lower"] <= truth_x <= x["crossover_upper"],
            "crossover_width_dex": np.log10(x["crossover_upper"] / x["crossover_lower"]),
        }
        for i, budget in enumerate(BUDGETS):
            lo, hi = t.loc[i, "multiplier_lower"], t.loc[i, "multiplier_upper"]
            row[f"k_{budget:.0e}_in"] = lo <= truth_k[i] <= hi
        rows.append(row)
        print(row, flush=True)
    return pd.DataFrame(rows)


def widths(post, group=None) -> dict:
    out = {}
    for name in ("alpha", "beta"):
        x = post[name] if group is None else post[name].sel(group=group)
        lo, hi = np.quantile(x.to_numpy().ravel(), [0.05, 0.95])
        out[name] = hi - lo
    return out


def pooling(seeds: int, sizes_per_budget: int) -> pd.DataFrame:
    rows = []
    for seed in range(seeds):
        runs = two_recipe_ladder(SHARED, seed=100 + seed, sizes_per_budget=sizes_per_budget)
        fits = {pool: fit_groups(runs, pool=pool, seed=seed) for pool in ("exponents", "none")}
        for group in ("A", "B"):
            own = runs[runs["group"] == group].drop(columns="group")
            separate = fit(own, seed=seed, discrepancy=False)
            for how, post, conv in (
                ("partial (exponents)", fits["exponents"].posterior, fits["exponents"].converged),
                ("independent (none)", fits["none"].posterior, fits["none"].converged),
                ("separate fits", separate.posterior, separate.converged),
            ):
                w = widths(post, None if how == "separate fits" else group)
                rows.append({"seed": seed, "group": group, "how": how, "converged": conv, **w})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--pool-seeds", type=int, default=6)
    parser.add_argument("--sizes-per-budget", type=int, default=4)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 200)

    cov = coverage(args.seeds)
    print("\n## coverage of 90% intervals over", args.seeds, "seeds")
    print(cov.drop(columns="seed").mean(numeric_only=False).to_string())

    pool = pooling(args.pool_seeds, args.sizes_per_budget)
    print(
        f"\n## 90% interval widths of the exponents, shared truth, {args.sizes_per_budget} "
        f"runs per budget per recipe, {args.pool_seeds} seeds"
    )
    summary = pool.groupby("how")[["alpha", "beta", "converged"]].mean()
    base = summary.loc["independent (none)", ["alpha", "beta"]]
    for name in ("alpha", "beta"):
        summary[f"{name}_vs_independent"] = summary[name] / base[name]
    print(summary.to_string(float_format="{:.4f}".format))


if __name__ == "__main__":
    main()
