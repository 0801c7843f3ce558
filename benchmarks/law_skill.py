"""Law forms weighed by how they extrapolate: each law alone against the skill-stacked predictive.

For each ladder of the calibration corpus (chinchilla-epoch, gemstones, olmo-ladder and one
loss-to-loss corpus) and its fixed protocol (fit at or below the cut, predict the held-out runs):

- **each law alone** (chinchilla, kaplan, farseer, broken): the protocol backtest
  (:func:`bayes_scaling.trust.calibration.protocol_backtest`, method ``bayes``: the default fit
  with its learned discrepancy);
- **skill-stacked**: the same four laws fitted to the protocol's fitted runs, weighed by their
  backtest skill *inside those runs* (:func:`bayes_scaling.trust.law_skill.law_skill`: refits
  below internal cuts, stacking on held-out log densities; the held-out runs of the protocol
  are never seen), and the held-out runs predicted by the mixture of the laws' predictive
  draws in those proportions;
- for reference, **LOO-stacked**: the same mixture with PSIS-LOO stacking weights.

Scores per ladder and method: coverage of the central 50% and 90% predictive intervals and the
mean 90% interval score (Gneiting & Raftery 2007; nats, lower is better), with the weights each
stacking used. Run once::

    BAYES_SCALING_DATA=/work/shared/data .venv/bin/python benchmarks/law_skill.py

prints the table and writes ``benchmarks/law_skill.csv`` (``--quick``: 2 chains of 300 draws, for
checking the script, not for numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import bayes_scaling as bs
from bayes_scaling.data.corpus import corpus, split
from bayes_scaling.trust.backtests import interval_score
from bayes_scaling.trust.calibration import protocol_backtest
from bayes_scaling.trust.law_choice import compare_laws, stacked_draws, weights_of
from bayes_scaling.trust.law_skill import law_skill

LADDERS = ("chinchilla-epoch", "gemstones", "olmo-ladder", "loss-to-loss/fineweb-100b")
LAWS = ("chinchilla", "kaplan", "farseer", "broken")
PROBS = (0.5, 0.9)
#: Short ladders whose fitted part leaves no internal cut by fractions: the cut used instead
#: (olmo-ladder: fit the three smallest sizes, check the 760M runs).
CUTS = {"olmo-ladder": {"cut_on": "n_params", "cuts": [5e8]}}
OUT = Path(__file__).with_suffix(".csv")


def score(lower, upper, y) -> dict:
    """Coverage at each probability and the mean 90% interval score of held-out losses ``y``."""
    out = {}
    for p in PROBS:
        lo, hi = np.asarray(lower[p]), np.asarray(upper[p])
        out[f"cover_{round(100 * p)}"] = float(np.mean((lo <= y) & (y <= hi)))
    out["interval_score_90"] = float(np.mean(interval_score(lower[0.9], upper[0.9], y, 0.9)))
    return out


def mixture_scores(fits, weights, held, seed) -> dict:
    """Scores of the predictive mixing the laws' draws in proportions ``weights``, at the
    held-out runs' own N, D and C (as the backtest predicts them)."""
    sizes = {
        c: xr.DataArray(held[c].to_numpy(float), dims="point")
        for c in ("n_params", "n_tokens", "compute")
    }
    draws = stacked_draws(fits, weights, lambda f: sizes, seed=seed).sel(band="predictive")
    values = np.asarray(draws.transpose("sample", "point"))
    lower = {p: np.quantile(values, (1 - p) / 2, axis=0) for p in PROBS}
    upper = {p: np.quantile(values, (1 + p) / 2, axis=0) for p in PROBS}
    return score(lower, upper, held["loss"].to_numpy(float))


def run_ladder(ladder, fit_options, seed) -> list[dict]:
    runs = ladder.load()
    fit_part, held = split(ladder, runs)
    rows, fits = [], {}
    for law in LAWS:
        start = time.perf_counter()
        table = protocol_backtest(ladder, ["bayes"], runs=runs, seed=seed, law=law, **fit_options)
        table = table[table["method"] == "bayes"]
        lower = {p: table.loc[np.isclose(table["prob"], p), "lower"].to_numpy() for p in PROBS}
        upper = {p: table.loc[np.isclose(table["prob"], p), "upper"].to_numpy() for p in PROBS}
        y = table.loc[np.isclose(table["prob"], 0.9), "loss"].to_numpy()
        rows.append(
            {
                "ladder": ladder.name,
                "method": f"{law} alone",
                "held_out": len(y),
                **score(lower, upper, y),
                "converged": all(table.attrs["converged"].values()),
                "weights": "",
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        fits[law] = bs.fit(fit_part, law=law, seed=seed, progress=False, **fit_options)
    start = time.perf_counter()
    skill = law_skill(fits, seed=seed, **CUTS.get(ladder.name, {}), **fit_options)
    seconds = round(time.perf_counter() - start, 1)
    print(f"\n{ladder.name}: {skill.sentence()}")
    print(skill.table().to_string())
    loo = skill.loo_weights or weights_of(compare_laws(fits))
    converged = all(f.converged for f in fits.values())
    for name, weights, secs in (("skill-stacked", skill.weights, seconds), ("LOO-stacked", loo, 0)):
        rows.append(
            {
                "ladder": ladder.name,
                "method": name,
                "held_out": len(held),
                **mixture_scores(fits, weights, held, seed),
                "converged": converged
                and (
                    name != "skill-stacked"
                    or all(all(c.values()) for c in skill.converged.values())
                ),
                "weights": json.dumps({k: round(v, 3) for k, v in weights.items()}),
                "seconds": secs,
            }
        )
    rows[-2]["skill_loo_tv"] = skill.distance
    rows[-2]["skill_cuts"] = json.dumps(skill.cuts)
    rows[-2]["skill_held_out"] = int(sum(skill.held_out.values()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ladders", nargs="+", default=list(LADDERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 chains × 300 draws")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    fit_options = {"chains": 2, "draws": 300, "tune": 300} if args.quick else {}
    ladders = corpus(os.environ.get("BAYES_SCALING_DATA"))
    rows = []
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is a column of the table
        for name in args.ladders:
            rows += run_ladder(ladders[name], fit_options, args.seed)
    table = pd.DataFrame(rows)
    average = table.groupby("method", sort=False)[
        ["cover_50", "cover_90", "interval_score_90"]
    ].mean()
    pd.set_option("display.width", 200)
    print("\n" + table.drop(columns=["weights"]).to_string(index=False, float_format="%.3f"))
    print(
        "\nweights:\n"
        + table.loc[table["weights"] != "", ["ladder", "method", "weights"]].to_string(index=False)
    )
    print("\naverage over ladders (each counted once):\n" + average.to_string(float_format="%.3f"))
    print(f"\n{time.perf_counter() - start:.0f} s in all")
    table.to_csv(args.out, index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
