"""Downstream validation on the OLMo ladder (issue 4/5, section 4); run by hand, prints tables.

Fit the two-step chain (N, D) → task bits-per-byte → accuracy on the ladder the paper fits
(190M-1.3B at 1, 2, 5, 10 x Chinchilla: 16 runs; ``--runs all`` adds the 0.5x and 3B runs), with
the checkpoint-to-checkpoint noise of each task as step 2's noise floor, and predict OLMo 2
7B-4T and 13B-5T for every task of the paper. Reports per task and target: our median and 50% /
90% bands, whether they hold the actual accuracy (the mean of the last 5 checkpoints, as the
paper), our relative error beside the paper's own (13B: ``figures/chained_main.csv``; 7B: the
"stacked" error of ``figures/variance.csv``), the direct one-step law, and the classical
baseline: the same two steps as point fits (Huber on log bpb for step 1 as Hoffmann et al.;
least squares for the sigmoid with its helper point (0, 1), as Bhagia et al.), with a bootstrap
over runs for intervals.
Interval scores (Gneiting & Raftery 2007; lower is better) of both.

    python benchmarks/downstream_olmo.py [--data ../shared/data] [--runs paper|all]
                                         [--tasks mmlu_avg_test ...] [--n-boot 200]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize

from bayes_scaling.data.olmo import olmo_paper_predictions
from bayes_scaling.downstream.data import (
    OLMO_TASKS,
    olmo_downstream,
    olmo_downstream_targets,
    olmo_paper_variance,
)
from bayes_scaling.downstream.fit import fit_downstream
from bayes_scaling.downstream.links import SIGMOID
from bayes_scaling.laws import CHINCHILLA
from bayes_scaling.trust.backtests import interval_score
from bayes_scaling.trust.baseline import bootstrap_fit

PROBS = (0.5, 0.9)
HERE = Path(__file__).parent


def sigmoid_point(x, y, chance):
    """Least-squares sigmoid (share, midpoint, log_slope) with the chance floor fixed, and the
    paper's helper point (0, 1) added to the points (src/fitting/step2.py)."""
    x, y = np.append(x, 0.0), np.append(y, 1.0)

    def resid(theta):
        p = {"share": theta[0], "midpoint": theta[1], "log_slope": theta[2]}
        return SIGMOID.fn(x, {**p, "chance": chance, "ceiling": 1.0, "ref": 0.0}, np) - y

    best = None
    for mid in (x.min() - 0.3, x.mean(), x.min() - 0.1):
        for slope in (np.log(3.0), np.log(10.0)):
            r = optimize.least_squares(
                resid,
                [0.7, mid, slope],
                bounds=([1e-4, -5, -5], [1, 10, 8]),
            )
            if best is None or r.cost < best.cost:
                best = r
    return best.x


def baseline(runs, task, targets, n_boot, seed):
    """Point fits of both steps on all runs, and on ``n_boot`` resamples of the runs (the same
    resamples for both steps): the point prediction and the bootstrap draws at the targets."""
    table = runs.assign(loss=runs[task.via])
    boot = bootstrap_fit(table, n_boot=n_boot, seed=seed, grid="small")
    x, y = runs[task.via].to_numpy(float), runs[task.metric].to_numpy(float)
    sizes = {c: targets[c].to_numpy(float) for c in ("n_params", "n_tokens")}

    def chained(law_p, link_p):
        loss = CHINCHILLA.fn(sizes, law_p, np)
        p = {"share": link_p[0], "midpoint": link_p[1], "log_slope": link_p[2]}
        return SIGMOID.fn(loss, {**p, "chance": task.chance, "ceiling": 1.0, "ref": 0.0}, np)

    point = chained(boot.point, sigmoid_point(x, y, task.chance))
    rng = np.random.default_rng(seed)  # the resamples of bootstrap_fit, drawn again
    draws = []
    for i in range(n_boot):
        idx = rng.integers(0, len(runs), len(runs))
        law_p = {k: float(boot.draws[k].values.ravel()[i]) for k in CHINCHILLA.params}
        draws.append(chained(law_p, sigmoid_point(x[idx], y[idx], task.chance)))
    return point, np.array(draws)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data"))
    parser.add_argument("--runs", choices=("paper", "all"), default="paper")
    parser.add_argument("--tasks", nargs="+", default=list(OLMO_TASKS))
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--out", default=str(HERE / "downstream_olmo.csv"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)

    runs = olmo_downstream(args.data, runs=args.runs)
    every = olmo_downstream(args.data, checkpoints="all", runs=args.runs)
    targets = olmo_downstream_targets(args.data, average_last=5)
    paper13 = olmo_paper_predictions(args.data).query("method == 'chained'").set_index("task")
    paper7 = olmo_paper_variance(args.data).set_index("task")
    rows = []
    for key in args.tasks:
        task = OLMO_TASKS[key]
        start = time.perf_counter()
        fit = fit_downstream(
            runs,
            metric=task.metric,
            via=task.via,
            chance=task.chance,
            seed=args.seed,
            draws=args.draws,
            checkpoints=every,
        )
        bands = fit.bands(
            params=targets["n_params"], tokens=targets["n_tokens"], prob=PROBS, as_xarray=True
        )
        b_point, b_draws = baseline(runs, task, targets, args.n_boot, args.seed)
        seconds = time.perf_counter() - start
        for i, target in enumerate(targets["run_id"]):
            actual = float(targets[task.metric].iloc[i])
            row = {
                "task": task.name,
                "target": target,
                "actual": actual,
                "median": float(bands["median"].isel(point=i, prob=0)),
            }
            for p in PROBS:
                lo = float(bands["lower"].sel(prob=p).isel(point=i))
                hi = float(bands["upper"].sel(prob=p).isel(point=i))
                blo, bhi = np.quantile(b_draws[:, i], [(1 - p) / 2, (1 + p) / 2])
                tag = f"{int(p * 100)}"
                row.update(
                    {
                        f"lo{tag}": lo,
                        f"hi{tag}": hi,
                        f"in{tag}": lo <= actual <= hi,
                        f"base_in{tag}": blo <= actual <= bhi,
                        f"is{tag}": float(interval_score(lo, hi, actual, p)),
                        f"base_is{tag}": float(interval_score(blo, bhi, actual, p)),
                    }
                )
            row["rel_err"] = (row["median"] - actual) / actual
            row["base_rel_err"] = (float(b_point[i]) - actual) / actual
            if target == "13B-5T" and key in paper13.index:
                row["paper_rel_err"] = float(paper13.loc[key, "relative_error"])
            elif target == "7B-4T" and key in paper7.index:
                row["paper_rel_err"] = float(paper7.loc[key, "rel_error_7b_stacked"])
            else:
                row["paper_rel_err"] = np.nan
            row["direct_median"] = float(bands["direct_median"].isel(point=i, prob=0))
            row["direct_disagree"] = bool(bands["disagree"].sel(prob=0.9).isel(point=i))
            row["step1_share90"] = float(bands["step1_share"].sel(prob=0.9).isel(point=i))
            row["noise_floor"] = fit.constants["noise_floor"]
            row["converged"] = fit.converged
            row["seconds"] = round(seconds, 1)
            rows.append(row)
        print(f"{task.name}: {seconds:.0f} s, {fit!r}", flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out, index=False)
    shown = [
        "task", "target", "actual", "median", "lo50", "hi50", "lo90", "hi90", "in50", "in90",
        "rel_err", "paper_rel_err", "base_rel_err", "base_in90", "is90", "base_is90",
        "direct_median", "step1_share90", "converged",
    ]  # fmt: skip
    print(table[shown].round(3).to_string(index=False))
    paper = table.dropna(subset=["paper_rel_err"])
    summary = {
        "coverage 50% (ours)": table["in50"].mean(),
        "coverage 90% (ours)": table["in90"].mean(),
        "coverage 50% (baseline bootstrap)": table["base_in50"].mean(),
        "coverage 90% (baseline bootstrap)": table["base_in90"].mean(),
        "mean |rel err| of the median, ours (all)": table["rel_err"].abs().mean(),
        "mean |rel err|, baseline point (all)": table["base_rel_err"].abs().mean(),
        "mean |rel err|, ours (where the paper reports)": paper["rel_err"].abs().mean(),
        "mean |rel err|, paper (same rows)": paper["paper_rel_err"].abs().mean(),
        "mean interval score 50%, ours": table["is50"].mean(),
        "mean interval score 50%, baseline": table["base_is50"].mean(),
        "mean interval score 90%, ours": table["is90"].mean(),
        "mean interval score 90%, baseline": table["base_is90"].mean(),
        "chain and direct disagree beyond 90% (rows)": int(table["direct_disagree"].sum()),
        "fits converged": f"{int(table['converged'].sum()) // 2} of {len(table) // 2}",
    }
    for k, v in summary.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
