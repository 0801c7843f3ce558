"""Validation of pass@k extrapolation on Pythia × GSM8K (issue 16, section 4), and fit timing.

Models with at least 10,000 samples on every problem are thinned to 100 samples a problem (exact
hypergeometric thinning of the counts, seeded). From the thinned counts each method predicts the
benchmark's pass@k at k = 1,000 and 10,000, scored against the value from all samples (the mean over
problems of Chen et al.'s unbiased estimator 1 − C(n − c, k)/C(n, k)):

- ``ours``: :func:`bayes_scaling.fit_passk` (Beta + unsolvable mass per model, NUTS), the
  benchmark's pass@k (``kind="problems"``);
- ``beta_ml``: Schaeffer et al. (2025)'s distributional estimate — a Beta fitted by maximum
  (beta-binomial) likelihood, pass@k = 1 − B(a, b + k)/B(a, b) — with a bootstrap over problems;
- ``power_law``: −log pass@k = A·k^(−b) fitted by least squares in log-log to the thinned
  aggregate curve (k = 1 ... 100), with a bootstrap over problems.

Reported per method and k: coverage of the central 50% and 90% intervals, the interval score
(Gneiting & Raftery 2007, mean over models; lower is better) and the median absolute error of the
median. Then the wall time of fitting all 81 models (one compile, data swaps) and the law.

    .venv/bin/python benchmarks/passk_validation.py [--seed 1] [--boot 200] [--no-timing]
        [--methods ours beta_ml power_law] [--prior-check]

``--methods ours`` skips the bootstrapped baselines (most of the run time); ``--prior-check``
prints the default priors' prior predictive pass@k quantiles and exits.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import betaln

from bayes_scaling.passk.data import gsm8k, thin_counts
from bayes_scaling.passk.fit import fit_passk
from bayes_scaling.passk.law import (
    DEFAULT_PRIORS,
    beta_params,
    chen_pass_at_k,
    population_pass_at_k,
)

KS = (1000, 10_000)
PROBS = (0.5, 0.9)
THIN = 100
CURVE_KS = np.array([1, 2, 4, 8, 16, 32, 64, 100])
METHODS = ("ours", "beta_ml", "power_law")


def prior_check(seed: int, draws: int = 100_000) -> None:
    """Prior predictive check: population pass@k quantiles under the default priors."""
    rng = np.random.default_rng(seed)
    theta = {p: rng.normal(m, s, draws) for p, (m, s) in DEFAULT_PRIORS.items()}
    a, b = beta_params(theta["log_a"], theta["log_b"])
    pi = 1 / (1 + np.exp(-theta["unsolvable_logit"]))
    print("prior predictive population pass@k (5%, 25%, 50%, 75%, 95%):")
    for k in (1, 10, 100, 1000, 10_000, 1_000_000):
        q = np.quantile(population_pass_at_k(a, b, pi, k), [0.05, 0.25, 0.5, 0.75, 0.95])
        print(f"  k={k:>9,}: " + "  ".join(f"{v:.3f}" for v in q))


def truth(part: pd.DataFrame, k: int) -> float:
    return float(np.mean(chen_pass_at_k(part["samples"], part["correct"], k)))


def beta_ml(n, c):
    """ML Beta(a, b) of the beta-binomial marginal likelihood (log a, log b in [-12, 12])."""

    def nll(x):
        a, b = np.exp(x)
        return -np.sum(betaln(a + c, b + n - c) - betaln(a, b))

    best = None
    for start in ((-1.0, 2.0), (-3.0, 5.0), (0.0, 0.0)):
        res = optimize.minimize(nll, start, method="L-BFGS-B", bounds=[(-12, 12)] * 2)
        if best is None or res.fun < best.fun:
            best = res
    return np.exp(best.x)


def beta_ml_predict(n, c, k):
    a, b = beta_ml(n, c)
    return 1 - np.exp(betaln(a, b + np.asarray(k, float)) - betaln(a, b))


def power_law_predict(n, c, k):
    curve = np.array([np.mean(chen_pass_at_k(n, c, kk)) for kk in CURVE_KS])
    ok = (curve > 0) & (curve < 1)
    if ok.sum() < 2:
        return np.full(len(k), float(curve[-1]))
    y = np.log(-np.log(curve[ok]))
    slope, icpt = np.polyfit(np.log(CURVE_KS[ok]), y, 1)
    return np.exp(-np.exp(icpt + slope * np.log(np.asarray(k, float))))


def bootstrap(predict, n, c, k, boot, rng):
    out = np.empty((boot, len(k)))
    for i in range(boot):
        idx = rng.integers(0, len(n), len(n))
        out[i] = predict(n[idx], c[idx], k)
    return out


def interval_score(lo, hi, y, prob):
    alpha = 1 - prob
    return (hi - lo) + 2 / alpha * np.maximum(lo - y, 0) + 2 / alpha * np.maximum(y - hi, 0)


def rows_from_draws(method, model, draws, y, k):
    rows = []
    for i, kk in enumerate(k):
        x = draws[:, i]
        med = float(np.median(x))
        for p in PROBS:
            lo, hi = np.quantile(x, [(1 - p) / 2, (1 + p) / 2])
            rows.append(
                dict(
                    method=method,
                    model=model,
                    k=kk,
                    prob=p,
                    lower=lo,
                    median=med,
                    upper=hi,
                    truth=y[i],
                )
            )
    return rows


def score(table: pd.DataFrame) -> pd.DataFrame:
    t = table.assign(
        covered=(table["truth"] >= table["lower"]) & (table["truth"] <= table["upper"]),
        iscore=interval_score(table["lower"], table["upper"], table["truth"], table["prob"]),
        abs_error=(table["median"] - table["truth"]).abs(),
    )
    out = t.pivot_table(index=["method", "k"], columns="prob", values=["covered", "iscore"])
    out.columns = [
        f"{'coverage' if a == 'covered' else 'interval_score'}_{int(100 * p)}"
        for a, p in out.columns
    ]
    err = t[t["prob"] == PROBS[0]].groupby(["method", "k"])["abs_error"].median()
    out["median_abs_error"] = err
    out["models"] = t[t["prob"] == PROBS[0]].groupby(["method", "k"]).size()
    return out.reset_index()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--out", default=None, help="write the per-model table (.csv)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--prior-check", action="store_true")
    args = ap.parse_args(argv)
    if args.prior_check:
        prior_check(args.seed)
        return
    counts = gsm8k()
    per_model_min = counts.groupby("model", sort=False)["samples"].min()
    chosen = list(per_model_min[per_model_min >= 10_000].index)
    full = counts[counts["model"].isin(chosen)].reset_index(drop=True)
    thinned = thin_counts(full, THIN, args.seed)
    print(f"{len(chosen)} models with ≥ 10,000 samples on every problem; thinned to {THIN}")
    rng = np.random.default_rng(args.seed)
    k = np.array(KS)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_passk(
            thinned[["model", "problem", "samples", "correct"]], law=False, seed=args.seed
        )
    ours_seconds = time.perf_counter() - start
    from bayes_scaling.passk.answers import pass_at_k

    draws = pass_at_k(fit, k).values  # (S, M, K)
    rows = []
    for m, model in enumerate(chosen):
        part_full = full[full["model"] == model]
        y = np.array([truth(part_full, kk) for kk in k])
        part = thinned[thinned["model"] == model]
        n, c = part["samples"].to_numpy(float), part["correct"].to_numpy(float)
        rows += rows_from_draws("ours", model, draws[:, m, :], y, k)
        for name, predict in (("beta_ml", beta_ml_predict), ("power_law", power_law_predict)):
            if name in args.methods:
                boot = bootstrap(predict, n, c, k, args.boot, rng)
                rows += rows_from_draws(name, model, boot, y, k)
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(score(table).to_string(index=False))
    print(f"ours: {len(chosen)} models fitted in {ours_seconds:.1f} s (converged: {fit.converged})")
    if not args.no_timing:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            every = fit_passk(counts, seed=args.seed)
        total = time.perf_counter() - start
        print(
            f"all {len(every.models)} GSM8K models + the difficulty law: {total:.1f} s wall "
            f"(models {every.settings['model_seconds']:.1f} s, law "
            f"{every.settings['law_seconds']:.1f} s, compiles included; converged: "
            f"{every.converged})"
        )


if __name__ == "__main__":
    main()
