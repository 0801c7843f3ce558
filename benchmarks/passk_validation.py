"""Validation of pass@k extrapolation (issue 23, item 4): three thinned settings, three methods.

Settings (``--settings``), each predicting the benchmark's pass@k at k = 1,000 and 10,000 from the
thinned counts, scored against the value from all of them:

- ``gsm8k-100``, ``gsm8k-30``: Pythia × GSM8K, the models with at least 10,000 samples on every
  problem, thinned to 100 (30) samples a problem (exact hypergeometric thinning of the counts,
  :func:`bayes_scaling.passk.data.thin_counts`); the truth is the mean over problems of Chen et
  al.'s unbiased estimator 1 − C(n − c, k)/C(n, k) on all samples;
- ``bon-100``: best-of-N jailbreaking (7 models × 159 prompts), an early-stopped sweep, thinned
  to its first 100 attempts a prompt (:func:`bayes_scaling.passk.sweep.thin_sweep`; a prompt
  broken in the first block of 60 kept whole); the truth is the mean over prompts of
  :func:`bayes_scaling.passk.sweep.sweep_pass_at_k` on the full record (P(a success among the
  first k attempts | record), unbiased under the stopping; Chen's estimator is not).

Methods:

- ``ours_partial``, ``ours_independent``: :func:`bayes_scaling.fit_passk` (Beta + unsolvable
  mass, NUTS) with ``pooling="partial"`` (one joint fit of every model, the difficulty pooled
  along log N and log D, one unsolvable share) and ``pooling="independent"`` (each model on its
  own), the benchmark's pass@k (``kind="problems"``); the two are also compared by PSIS-LOO
  (printed);
- ``ours_independent_mixture``: the same per model with ``difficulty="beta-mixture"`` (a body
  and a hard component, a rare unsolvable share; ``--difficulties``), and
  ``ours_independent_logit`` with ``difficulty="logit-normal-mixture"`` (the same in logit p),
  compared with the Beta by PSIS-LOO (printed);
- ``ours_crossed``: ``pooling="crossed"`` (:mod:`bayes_scaling.passk.crossed`: every model
  in one fit, each problem's difficulty shared by the models, one normal in logit p and an
  unsolvable share per model), for the settings of at most
  :data:`~bayes_scaling.passk.crossed.CROSSED_MAX_CELLS` counts (best-of-N); compared by
  PSIS-LOO with ``ours_independent_logit`` when both are fitted (printed; each count left out
  and predicted through its problem's effect). Thinning seed 1: elpd −1530 against −1900,
  difference 340 (se 22), 21 of 1,113 counts with Pareto k above 0.7;
- ``beta_ml``: Schaeffer et al. (2025)'s distributional estimate — a Beta fitted by maximum
  (beta-binomial) likelihood, pass@k = 1 − B(a, b + k)/B(a, b) — with a bootstrap over problems;
- ``power_law``: −log pass@k = A·k^(−b) fitted by least squares in log-log to the thinned
  aggregate curve (k = 1 ... the samples kept; the sweep's own estimator for ``bon-100``), with
  a bootstrap over problems.

Reported per setting, method and k: coverage of the central 50% and 90% intervals, the interval
score (Gneiting & Raftery 2007, mean over models; lower is better), the median absolute error of
the median, and the 90% interval score against the better baseline's. The summary is written
to ``benchmarks/passk_validation.csv`` (``--csv``): the (setting, method) rows of this run
replace their old rows, the others are kept.

    .venv/bin/python benchmarks/passk_validation.py [--seed 1] [--boot 200]
        [--settings gsm8k-100 gsm8k-30 bon-100] [--poolings partial independent]
        [--difficulties beta beta-mixture logit-normal-mixture]
        [--methods beta_ml power_law] [--no-law] [--out per_model.csv]
        [--csv benchmarks/passk_validation.csv] [--timing] [--prior-check]
        [--prior unsolvable_logit -6 1] [--baselines-from per_model.csv]
        [--sbc 20 --sbc-shape bon-100 [--sbc-out ranks]] [--thin-seeds 1 2 3 4 5]

``--thin-seeds`` repeats each setting with each seed (its thinning, our fits and the baselines'
bootstraps) and scores them together (``models`` counts models × seeds): one thinning of the
7 best-of-N models gives 7 outcomes a coverage, so 1.0 and 0.86 are its only values near 90%.
Stored: ``--settings bon-100 --poolings independent --difficulties logit-normal-mixture
--thin-seeds 1 2 3 4 5 --csv benchmarks/passk_validation_bon_seeds.csv``; its
``ours_crossed`` rows by ``--settings bon-100 --poolings crossed --thin-seeds 1 2 3 4 5`` (the
baselines' rows came out identical).

``--baselines-from`` takes the baselines' rows from an earlier ``--out`` table of the same seed
and settings instead of refitting them (the Beta-MLE bootstrap takes most of the run's time).

``--sbc N`` runs simulation-based calibration instead (:func:`bayes_scaling.passk.sbc.sbc_passk`,
N simulated benchmarks of a setting's shape: models × problems × samples, 4 chains × 1000
draws thinned by 8, or ``--sbc-draws 500`` thinned by 4) for each pooling and difficulty (the
mixture per model only) and prints the uniformity of the ranks. Stored: ``--sbc 20 --sbc-shape
bon-100 --poolings independent --difficulties logit-normal-mixture --sbc-out ranks`` at
12296ba (the default difficulty, its normalised quadrature, target_accept and low-rank mass
matrix), ranks in
``passk_sbc_bon100.csv``: 20 simulated benchmarks of 7 models × 159 problems × 100 samples,
L = 499, in 592 s; every model of 15 of the 20 passed the gate (the others' ranks are kept);
smallest Bonferroni-adjusted p 0.294 (unsolvable_logit of one model), 0 of 42 parameters below
0.01. (At 424c751, with the diagonal mass matrix: 711 s, 16 of 20, the same smallest p.)
The crossed fit: ``--sbc 20 --sbc-shape bon-100 --poolings crossed --difficulties
logit-normal-mixture --sbc-draws 500 --sbc-out ranks`` at 7d73569, stopped after 11 of the 20
simulations (4,230 s; a simulation compiles its own model and often climbs the rescue), ranks
in ``passk_sbc_bon100_crossed.csv`` (L = 499): every model of 8 of the 11 passed the gate (the
others: the scatter s_m's bulk ESS 204–239 or R-hat 1.010, one π's R-hat 1.021); smallest
Bonferroni-adjusted p 0.373 (μ of one model), 0 of 28 below 0.01. Pooled over the 7 models
(approximate: a simulation's models share its problem effects, so their ranks move together),
the KS p of μ, log λ, log s and logit π: 0.072, 0.37, 0.46, 0.99.
``--timing`` also times the fit of all 81 GSM8K models and the law; ``--prior-check`` prints
each difficulty's prior predictive pass@k quantiles (:func:`bayes_scaling.passk.law.
prior_pass_at_k`) and exits.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import betaln

from bayes_scaling.passk.answers import pass_at_k
from bayes_scaling.passk.comparison import compare_difficulties, compare_poolings
from bayes_scaling.passk.crossed import CROSSED_MAX_CELLS
from bayes_scaling.passk.data import thin_counts
from bayes_scaling.passk.families import PRIOR_KS, prior_pass_at_k
from bayes_scaling.passk.fit import POOLINGS, fit_passk
from bayes_scaling.passk.law import DIFFICULTIES, chen_pass_at_k
from bayes_scaling.passk.reference import gsm8k
from bayes_scaling.passk.sbc import sbc_passk, sbc_uniformity
from bayes_scaling.passk.sweep import BON_BLOCK, bon_jailbreaking, sweep_pass_at_k, thin_sweep

KS = (1000, 10_000)
PROBS = (0.5, 0.9)
METHODS = (
    "ours_partial",
    "ours_independent",
    "ours_independent_mixture",
    "ours_independent_logit",
    "beta_ml",
    "power_law",
)
BASELINES = ("beta_ml", "power_law")
SETTINGS = ("gsm8k-100", "gsm8k-30", "bon-100")
CSV = Path(__file__).with_name("passk_validation.csv")


def curve_ks(attempts: int) -> np.ndarray:
    """The k of the aggregate curve the power law is fitted to: 1 ... ``attempts``, doubling."""
    return np.unique(np.append(2 ** np.arange(int(np.log2(attempts)) + 1), attempts))


def chen_curve(n, c, ks):
    return np.array([np.mean(chen_pass_at_k(n, c, kk)) for kk in ks])


def sweep_curve(n, c, ks):
    frame = pd.DataFrame({"samples": n, "correct": c})
    return np.array([np.mean(sweep_pass_at_k(frame, kk, block=BON_BLOCK)) for kk in ks])


def setting(name: str, seed: int):
    """(full counts, thinned counts, truth(part, k), curve(n, c, ks), curve ks) of a setting."""
    source, attempts = name.split("-")
    attempts = int(attempts)
    if source == "gsm8k":
        counts = gsm8k()
        per_model_min = counts.groupby("model", sort=False)["samples"].min()
        chosen = list(per_model_min[per_model_min >= 10_000].index)
        full = counts[counts["model"].isin(chosen)].reset_index(drop=True)
        thinned = thin_counts(full, attempts, seed)
        return full, thinned, truth, chen_curve, curve_ks(attempts)
    full = bon_jailbreaking()
    thinned = thin_sweep(full, attempts, seed, block=BON_BLOCK)

    def sweep_truth(part, k):
        return float(np.mean(sweep_pass_at_k(part, k, block=BON_BLOCK)))

    return full, thinned, sweep_truth, sweep_curve, curve_ks(attempts)


def prior_check(seed: int, difficulties, priors=None, draws: int = 100_000) -> None:
    """Prior predictive check (:func:`bayes_scaling.passk.families.prior_pass_at_k`): population
    pass@k quantiles under each difficulty's default priors, and how the rise is spread over
    the decades of k."""
    decades = [int(np.flatnonzero(PRIOR_KS == k)[0]) for k in (1, 10, 100, 1000, 10_000)]
    for difficulty in difficulties:
        curves = prior_pass_at_k(difficulty, priors, draws=draws, seed=seed)
        print(f"{difficulty}: prior predictive population pass@k (5%, 25%, 50%, 75%, 95%):")
        for i in decades:
            q = np.quantile(curves[:, i], [0.05, 0.25, 0.5, 0.75, 0.95])
            print(f"  k={int(PRIOR_KS[i]):>9,}: " + "  ".join(f"{v:.3f}" for v in q))
        rise = np.diff(curves[:, decades], axis=1)
        print(
            f"  still rising by > 0.01 from k = 1,000 to 10,000: {np.mean(rise[:, -1] > 0.01):.2f}"
            f" of the models; pass@1 above half of pass@10,000: "
            f"{np.mean(curves[:, 0] > 0.5 * curves[:, -1]):.2f}"
        )


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


def power_law(curve_of, ks):
    """The aggregate power-law predictor on the curve ``curve_of(n, c, ks)``."""

    def predict(n, c, k):
        curve = curve_of(n, c, ks)
        ok = (curve > 0) & (curve < 1)
        if ok.sum() < 2:
            return np.full(len(k), float(curve[-1]))
        y = np.log(-np.log(curve[ok]))
        slope, icpt = np.polyfit(np.log(ks[ok]), y, 1)
        return np.exp(-np.exp(icpt + slope * np.log(np.asarray(k, float))))

    return predict


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
    keys = ["setting", "method", "k"]
    out = t.pivot_table(index=keys, columns="prob", values=["covered", "iscore"])
    out.columns = [
        f"{'coverage' if a == 'covered' else 'interval_score'}_{int(100 * p)}"
        for a, p in out.columns
    ]
    first = t[t["prob"] == PROBS[0]].groupby(keys)
    out["median_abs_error"] = first["abs_error"].median()
    out["models"] = first.size()
    out = out.reset_index()
    return against_baselines(out)


def against_baselines(out: pd.DataFrame) -> pd.DataFrame:
    """``out`` with each row's 90% interval score divided by the better baseline's at its
    (setting, k), in the table's order (settings, k, methods)."""
    base = out[out["method"].isin(BASELINES)].groupby(["setting", "k"])["interval_score_90"].min()
    ref = base.reindex(pd.MultiIndex.from_frame(out[["setting", "k"]])).to_numpy()
    out["iscore_90_vs_best_baseline"] = out["interval_score_90"] / ref
    order = {m: i for i, m in enumerate(METHODS)}
    rank = out["setting"].map({s: i for i, s in enumerate(SETTINGS)})
    out = out.assign(_s=rank, _m=out["method"].map(order)).sort_values(["_s", "k", "_m"])
    return out.drop(columns=["_s", "_m"]).reset_index(drop=True)


def merged(summary: pd.DataFrame, path) -> pd.DataFrame:
    """The summary table at ``path`` with the (setting, method) pairs of ``summary`` replaced
    by its rows (the others kept as they were), in the order of :func:`score`."""
    if not Path(path).exists():
        return summary
    old = pd.read_csv(path)
    rerun = pd.MultiIndex.from_frame(summary[["setting", "method"]])
    keep = old[~pd.MultiIndex.from_frame(old[["setting", "method"]]).isin(rerun)]
    # the ratio against the better baseline, from the baselines' rows kept or rerun
    return against_baselines(pd.concat([keep, summary], ignore_index=True))


def baseline_rows(path, name, methods):
    """The baselines' per-model rows of setting ``name`` from an earlier ``--out`` table (they
    do not depend on our model: the bootstrap of the same seed gives the same rows), keyed by
    (model, method); None without ``path``."""
    if not path:
        return None
    table = pd.read_csv(path)
    table = table[(table["setting"] == name) & table["method"].isin(methods)]
    out = {}
    for row in table.drop(columns="setting").to_dict("records"):
        out.setdefault((row["model"], row["method"]), []).append(row)
    return out


def method_name(pooling: str, difficulty: str) -> str:
    if pooling == "crossed":  # its own difficulty
        return "ours_crossed"
    suffix = {"beta": "", "beta-mixture": "_mixture", "logit-normal-mixture": "_logit"}
    return f"ours_{pooling}" + suffix[difficulty]


def fit_ours(counts, pooling, difficulty, args):
    """Our fit of the thinned counts with one pooling and difficulty."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_passk(
            counts, seed=args.seed, priors=args.priors, pooling=pooling, law=args.law,
            difficulty=difficulty,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    failed = int((~fit.model_info["converged"].astype(bool)).sum())
    print(
        f"  ours ({pooling}, {difficulty}): {fit.model_info.shape[0]} models in {seconds:.1f} s, "
        f"converged: {fit.converged} ({failed} failed the gate; max R-hat "
        f"{fit.diagnostics.max_rhat:.3f}, "
        f"{fit.diagnostics.n_divergent} divergences)",
        flush=True,
    )
    return fit


def run_setting(name, args, rng):
    full, thinned, truth_of, curve_of, ks = setting(name, args.seed)
    models = list(pd.unique(thinned["model"]))
    columns = [c for c in ("model", "problem", "samples", "correct", "n_params", "n_tokens")
               if c in thinned]  # fmt: skip
    print(f"{name}: {len(models)} models, at most {ks.max()} samples a problem", flush=True)
    k = np.array(KS)
    plans = {
        method_name(p, d): (p, d)
        for p in args.poolings
        for d in args.difficulties
        if d == "beta" and p != "crossed" or p == "independent"  # the mixtures per model
    }
    if "crossed" in args.poolings:
        if len(thinned) <= CROSSED_MAX_CELLS:
            plans["ours_crossed"] = ("crossed", "auto")
        else:
            print(f"  crossed: skipped ({len(thinned)} counts > {CROSSED_MAX_CELLS})")
    fits = {m: fit_ours(thinned[columns], p, d, args) for m, (p, d) in plans.items()}
    cols = ["rank", "elpd", "p", "elpd_diff", "se", "dse", "weight", "n_high_k"]
    beta = {m: f for m, f in fits.items() if m in ("ours_partial", "ours_independent")}
    if len(beta) > 1:
        table = compare_poolings(beta)
        print("  PSIS-LOO of the poolings, one problem of one model left out at a time:")
        print(table[[c for c in cols if c in table]].round(2).to_string(), flush=True)
    pair = {"crossed": fits.get("ours_crossed"), "independent": fits.get("ours_independent_logit")}
    if all(pair.values()):
        table = compare_poolings(pair)
        print("  PSIS-LOO, crossed against per-model (logit-normal mixture), one count left out:")
        print(table[[c for c in cols if c in table]].round(2).to_string(), flush=True)
    each = {d: fits.get(method_name("independent", d)) for d in DIFFICULTIES}
    each = {d: f for d, f in each.items() if f is not None}
    if len(each) > 1:
        table = compare_difficulties(each)
        print("  PSIS-LOO of the difficulties (independent):")
        print(table[[c for c in cols if c in table]].round(2).to_string(), flush=True)
    draws = {m: pass_at_k(f, k).values for m, f in fits.items()}  # (S, M, K)
    predictors = {"beta_ml": beta_ml_predict, "power_law": power_law(curve_of, ks)}
    cached = baseline_rows(args.baselines_from, name, args.methods)
    rows = []
    start = time.perf_counter()
    for m, model in enumerate(models):
        part_full = full[full["model"] == model]
        y = np.array([truth_of(part_full, kk) for kk in k])
        part = thinned[thinned["model"] == model]
        n, c = part["samples"].to_numpy(float), part["correct"].to_numpy(float)
        for method, d in draws.items():
            rows += rows_from_draws(method, model, d[:, m, :], y, k)
        for method, predict in predictors.items():
            if cached is not None:
                rows += cached.get((model, method), [])
            elif method in args.methods:
                boot = bootstrap(predict, n, c, k, args.boot, rng)
                rows += rows_from_draws(method, model, boot, y, k)
    print(f"  baselines: {time.perf_counter() - start:.1f} s", flush=True)
    rows = [dict(r, setting=name) for r in rows]
    with pd.option_context("display.width", 220, "display.float_format", "{:.4f}".format):
        print(score(pd.DataFrame(rows)).to_string(index=False), flush=True)
    return rows


#: (models, problems, samples a problem) of each setting, for ``--sbc``.
SHAPES = {"gsm8k-100": (39, 130, 100), "gsm8k-30": (39, 130, 30), "bon-100": (7, 159, 100)}


def sbc_progress(n_sims: int, out: str, start: float):
    """A callback for ``sbc_passk(on_sim=)``: one line a simulation, and the ranks so far saved
    to ``<out>.partial.csv`` (when ``out``), so a long run can be read before it ends."""
    done = []

    def progress(s, rank, sim):
        done.append(rank)
        print(
            f"  sim {s + 1}/{n_sims}: {sim['reason']}, {sim['seconds']:.0f} s "
            f"({time.perf_counter() - start:.0f} s so far)",
            flush=True,
        )
        if out:
            pd.DataFrame(done).to_csv(f"{out}.partial.csv", index=False)

    return progress


def run_sbc(args):
    """SBC of ours on simulated benchmarks of a setting's shape (printed)."""
    models, problems, samples = SHAPES[args.sbc_shape]
    plans = [
        (pooling, difficulty)
        for difficulty in args.difficulties
        for pooling in args.poolings
        if difficulty == "beta" and pooling != "crossed" or pooling == "independent"
    ]  # the mixtures per model
    plans += [("crossed", "logit-normal")] if "crossed" in args.poolings else []
    for pooling, difficulty in plans:
        start = time.perf_counter()
        out = f"{args.sbc_out}.{pooling}.{difficulty}" if args.sbc_out else ""
        progress = sbc_progress(args.sbc, out, start)
        ranks, sims, n_draws = sbc_passk(
            args.sbc, models=models, problems=problems, samples=samples, pooling=pooling,
            difficulty="beta" if pooling == "crossed" else difficulty,  # crossed: its own
            draws=args.sbc_draws, chains=4, tune=args.sbc_draws, thin=args.sbc_draws // 125,
            seed=args.seed, on_sim=progress,
        )  # fmt: skip
        test = sbc_uniformity(ranks, n_draws)
        print(
            f"SBC {pooling} {difficulty}, {args.sbc} simulated benchmarks of {models} models × "
            f"{problems} "
            f"problems × {samples} samples (L = {n_draws}): {int(sims['converged'].sum())} "
            f"converged, {time.perf_counter() - start:.0f} s; smallest adjusted p "
            f"{test['p_adjusted'].min():.3f} ({test.loc[test['p_adjusted'].idxmin(), 'parameter']}"
            f"); adjusted p < 0.01 for {int((test['p_adjusted'] < 0.01).sum())} of {len(test)}",
            flush=True,
        )
        if out:
            ranks.assign(pooling=pooling, difficulty=difficulty).to_csv(f"{out}.csv", index=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--thin-seeds", type=int, nargs="+", default=None,
        help="repeat each setting for these seeds (the thinning, our fits and the bootstraps), "
        "scored together",
    )  # fmt: skip
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    ap.add_argument("--timing", action="store_true", help="time all 81 GSM8K models + the law")
    ap.add_argument("--out", default=None, help="write the per-model table (.csv)")
    ap.add_argument("--csv", default=str(CSV), help="the summary table (.csv); '' for none")
    ap.add_argument("--methods", nargs="+", default=list(BASELINES), choices=BASELINES)
    ap.add_argument("--prior-check", action="store_true")
    ap.add_argument(
        "--baselines-from", default="", help="reuse the baselines' rows of an earlier --out table"
    )
    ap.add_argument("--sbc", type=int, default=0, help="run SBC with this many simulations")
    ap.add_argument("--sbc-shape", default="bon-100", choices=list(SHAPES))
    ap.add_argument(
        "--sbc-draws", type=int, default=1000, choices=(500, 1000),
        help="draws and tuning steps a chain (thinned to L = 499 ranks either way)",
    )  # fmt: skip
    ap.add_argument("--sbc-out", default="", help="write the SBC ranks to <this>.<pooling>.csv")
    ap.add_argument("--poolings", nargs="+", default=list(POOLINGS), choices=POOLINGS)
    ap.add_argument(
        "--difficulties", nargs="+", default=list(DIFFICULTIES), choices=DIFFICULTIES,
        help="difficulty distributions of ours (the mixture with pooling independent only)",
    )  # fmt: skip
    ap.add_argument("--no-law", dest="law", action="store_false", default=None,
                    help="no sizes in ours (exchangeable models)")  # fmt: skip
    ap.add_argument(
        "--prior",
        nargs=3,
        action="append",
        metavar=("PARAM", "MU", "SD"),
        help="override a default Normal prior of ours (repeatable), e.g. unsolvable_logit -6 1",
    )
    args = ap.parse_args(argv)
    if args.thin_seeds and args.baselines_from:
        ap.error("--baselines-from holds one seed's baselines; run --thin-seeds without it")
    args.priors = {p: (float(m), float(s)) for p, m, s in args.prior} if args.prior else None
    if args.prior_check:
        prior_check(args.seed, args.difficulties, args.priors)
        return
    if args.sbc:
        run_sbc(args)
        return
    rng = np.random.default_rng(args.seed)  # one stream through the settings, as stored
    rows = []
    for name in args.settings:
        if not args.thin_seeds:
            rows += run_setting(name, args, rng)
        for seed in args.thin_seeds or []:  # a thinning, our fits and the bootstraps per seed
            # (args.seed is each thinning's; --timing below uses the last)
            args.seed = seed
            got = run_setting(name, args, np.random.default_rng(seed))
            rows += [dict(r, thin_seed=seed) for r in got]
        table = pd.DataFrame(rows)  # written after every setting: a stopped run keeps its part
        if args.out:
            table.to_csv(args.out, index=False)
        summary = score(table)
        if args.csv:
            merged(summary, args.csv).to_csv(args.csv, index=False, float_format="%.4f")
    if args.csv:
        summary = merged(summary, args.csv)  # the whole table, the rows kept included
    with pd.option_context("display.width", 220, "display.float_format", "{:.4f}".format):
        print(summary.to_string(index=False))
    if args.timing:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            every = fit_passk(gsm8k(), seed=args.seed)
        total = time.perf_counter() - start
        print(
            f"all {len(every.models)} GSM8K models + the difficulty law: {total:.1f} s wall "
            f"(models {every.settings['model_seconds']:.1f} s, law "
            f"{every.settings['law_seconds']:.1f} s, compiles included; converged: "
            f"{every.converged})"
        )


if __name__ == "__main__":
    main()
