"""Simulation-based calibration of a law's fit, at scale (Talts et al. 2018).

Run by hand: ``.venv/bin/python benchmarks/sbc.py [--n-sims 100] [--law chinchilla] [--out DIR]``.
Prints, per parameter, the uniformity p-values of the ranks and how many fits mixed well for it,
then the wall time (total, compile, per simulation). Writes to ``--out`` (default: ``sbc_results``
next to this script) ``ranks.csv`` (one row per simulation: ranks, true values, diagnostics) and
``rank_histograms.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from bayes_scaling.plots import rank_histograms
from bayes_scaling.results.diagnostics import MAX_RHAT
from bayes_scaling.trust.sbc import sbc


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sims", type=int, default=100, help="simulated tables (default 100)")
    parser.add_argument("--law", default="chinchilla")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "sbc_results")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=400)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--tune", type=int, default=400)
    parser.add_argument("--thin", type=int, default=8)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    result = sbc(
        args.law,
        n_sims=args.n_sims,
        seed=args.seed,
        draws=args.draws,
        chains=args.chains,
        tune=args.tune,
        thin=args.thin,
        progress=True,
    )
    wall = time.perf_counter() - start
    sims = result.sims
    table = result.uniformity().set_index("parameter")
    names = list(result.ranks.columns)
    table["n_rhat_ok"] = [int((sims[f"rhat_{k}"] <= MAX_RHAT).sum()) for k in names]
    table["median_ess_bulk"] = [sims[f"ess_bulk_{k}"].median() for k in names]

    args.out.mkdir(parents=True, exist_ok=True)
    ranks = result.ranks.add_prefix("rank_")
    pd.concat([sims, ranks], axis=1).to_csv(args.out / "ranks.csv", index=False)
    rank_histograms(result).savefig(args.out / "rank_histograms.png", dpi=120)

    later = sims["seconds"].iloc[1:]
    print()
    print(table.to_string(float_format="{:.3g}".format))
    print(
        f"\n{args.law}: {len(sims)} tables of {sims['n_runs'].min()}-{sims['n_runs'].max()} runs, "
        f"L = {result.n_draws}; passed (alpha 0.01, Bonferroni): {result.passed()}"
    )
    print(
        f"fits passing the gate: {int(sims['converged'].sum())}; with divergences: "
        f"{int((sims['n_divergent'] > 0).sum())}; R-hat > {MAX_RHAT}: "
        f"{int((sims['max_rhat'] > MAX_RHAT).sum())}; compilations: "
        f"{result.settings['compilations']}"
    )
    print(
        f"wall time {wall:.1f} s; first simulation (with compile) {sims['seconds'].iloc[0]:.1f} s; "
        f"later ones median {later.median():.2f} s, mean {later.mean():.2f} s "
        f"(sampling alone median {sims['sampling_seconds'].iloc[1:].median():.2f} s)"
    )
    print(f"wrote {args.out / 'ranks.csv'} and {args.out / 'rank_histograms.png'}")


if __name__ == "__main__":
    main()
