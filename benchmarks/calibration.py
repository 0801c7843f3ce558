"""Leave-one-ladder-out calibration of the loss bands over the public ladders (issue 2/5).

Run by hand (a few minutes on 2 cores):

    .venv/bin/python benchmarks/calibration.py [--data ../shared/data] [--out DIR]

For each corpus ladder (bayes_scaling.data.corpus): the discrepancy prior is learned without the
ladder's family (bayes_scaling.trust.calibration.learn_prior), then the ladder's protocol backtest
is scored for four methods: the learned prior (the default), the earlier within-table prior,
parameter-only bands and the Huber + bootstrap baseline. Prints coverage at 50/80/90/95%, the 90%
interval score and the log predictive density per ladder and averaged over ladders (each weighted
equally); writes the per-run table (CSV), the summary (CSV) and the calibration figure (PNG).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from bayes_scaling.data.corpus import corpus
from bayes_scaling.plots import calibration_curves
from bayes_scaling.trust.calibration import (
    calibration_summary,
    ladder_evidence,
    leave_one_out,
    load_evidence,
    save_evidence,
)

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data"))
    parser.add_argument("--out", type=Path, default=HERE / "calibration")
    parser.add_argument("--evidence", type=Path, default=HERE / "discrepancy_evidence.nc")
    parser.add_argument("--ladders", nargs="*", default=None, help="only these ladders")
    parser.add_argument("--no-huber", action="store_true", help="skip the bootstrap baseline")
    parser.add_argument(
        "--reuse-baselines",
        type=Path,
        default=None,
        help="take the three methods that do not depend on the learned prior from an earlier "
        "leave_one_out_runs.csv (same seeds and protocols) and run the learned prior only",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ladders = corpus(args.data)
    start = time.perf_counter()
    if args.evidence.exists():
        evidence = load_evidence(args.evidence)
    else:
        evidence = [ladder_evidence(ladder) for ladder in ladders.values()]
        save_evidence(evidence, args.evidence)
    chosen = [ladders[n] for n in (args.ladders or ladders)]
    reuse = args.reuse_baselines
    table = leave_one_out(chosen, evidence, huber=not args.no_huber, baselines=reuse is None)
    if reuse is not None:
        earlier = pd.read_csv(reuse)
        earlier = earlier[earlier["method"] != "learned prior (default)"]
        table = pd.concat([earlier[earlier["ladder"].isin(table["ladder"])], table])
    table.to_csv(args.out / "leave_one_out_runs.csv", index=False)
    per_ladder, average = calibration_summary(table)
    per_ladder.to_csv(args.out / "per_ladder.csv", index=False)
    average.to_csv(args.out / "average.csv", index=False)
    calibration_curves(per_ladder).savefig(args.out / "calibration.png", dpi=110)
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(per_ladder.to_string(index=False))
        print("\naverage over ladders (each weighted equally):")
        print(average.to_string(index=False))
    print(f"\n{len(chosen)} ladders, {time.perf_counter() - start:.0f} s; written to {args.out}")


if __name__ == "__main__":
    main()
