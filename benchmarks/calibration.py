"""Leave-one-family-out calibration of the loss bands over the public ladders, by direction and
by distance (issue 2/5).

Run by hand (an hour or more on 2 cores; ``--directions compute`` for the ladders' own protocols
only, ``--reuse-baselines`` to rerun the learned prior alone):

    .venv/bin/python benchmarks/calibration.py [--data ../shared/data] [--out benchmarks]

For each corpus ladder (bayes_scaling.data.corpus, 12 ladders in 7 families) and each direction
of extrapolation (compute: the ladder's own protocol; N at fixed tokens per parameter; tokens at
fixed N: bayes_scaling.data.corpus.direction_split), the discrepancy prior is learned without the
ladder's family (bayes_scaling.trust.calibration.learn_prior), then the ladder's backtest in that
direction is scored for four methods: the learned prior (the default), the earlier within-table
prior, parameter-only bands and the Huber + bootstrap baseline; ``--peer`` adds the peer
simple-scaling-laws 0.2.0 (its separable power law, default 1000-draw bootstrap, new-run
intervals; ``benchmarks/peer.py``, in its own virtual environment) on the same protocols.
Prints coverage at 50/80/90/95%, the 90% interval score and the log predictive density with
each family weighted equally: on average, per direction, per multiple bin (~3x, ~10x, ~30x
beyond the fitted runs along the direction's axis) and per family; writes them as CSV
(``calibration_<table>.csv``), the per-run rows (``calibration_runs.csv``, not committed) and the
figure (``calibration.png``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from peer import peer_bands  # benchmarks/peer.py

from bayes_scaling._constants import DEFAULT_PROBS
from bayes_scaling.data.corpus import DIRECTIONS, corpus, direction_split, multiple_bin
from bayes_scaling.plots import calibration_curves
from bayes_scaling.priors.learned import family_of
from bayes_scaling.trust.backtests import interval_score
from bayes_scaling.trust.calibration import (
    POPULATION,
    calibration_summary,
    ladder_evidence,
    leave_one_out,
    load_evidence,
    save_evidence,
)

HERE = Path(__file__).resolve().parent
#: The peer's rows' method name.
PEER_METHOD = "simple-scaling-laws (peer)"


def peer_rows(ladders, directions, seed: int = 0) -> pd.DataFrame:
    """The peer's new-run intervals on every ladder's protocol in every direction (the same
    split as :func:`bayes_scaling.trust.calibration.protocol_backtest`), as rows the summary
    reads: coverage and interval score per held-out run and probability (no PIT or density:
    the peer gives quantiles only). A protocol the peer cannot answer is said and skipped; an
    empty frame when it answers none."""
    frames = []
    for ladder in ladders:
        runs = ladder.load()
        for direction in directions:
            parts = direction_split(ladder, runs, direction)
            if parts is None:
                continue
            fit_part, held = parts
            start = time.perf_counter()
            try:
                got = peer_bands(fit_part, held, seed, DEFAULT_PROBS)
            except RuntimeError as err:
                print(f"peer {ladder.name} {direction}: {err}", flush=True)
                continue
            axis = DIRECTIONS[direction]
            multiple = held[axis].to_numpy(float) / float(fit_part[axis].max())
            along = np.concatenate([multiple for _ in got["prob"].unique()])  # rows by prob
            y, lo, hi = (got[c].to_numpy(float) for c in ("loss", "lower", "upper"))
            frames.append(
                got.assign(
                    covered=(lo <= y) & (y <= hi),
                    interval_score=interval_score(lo, hi, y, got["prob"].to_numpy(float)),
                    pit=np.nan,
                    log_pred_density=np.nan,
                    method=PEER_METHOD,
                    direction=direction,
                    along=along,
                    bin=multiple_bin(along),
                    ladder=ladder.name,
                    family=family_of(ladder.name),
                )
            )
            print(
                f"peer {ladder.name:30s} {direction:9s} fit {len(fit_part):4d} held {len(held):4d}"
                f" {time.perf_counter() - start:5.1f} s",
                flush=True,
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def evidence_of(ladders, path: Path, directions) -> list:
    """Every ladder's evidence in every direction, from ``path`` when it holds them all."""
    if path.exists():
        evidence = load_evidence(path)
        have = {(e.name, e.direction) for e in evidence}
        if all((n, d) in have for n in ladders for d in directions):
            return evidence
    evidence = []
    for ladder in ladders.values():
        runs = ladder.load()
        for direction in DIRECTIONS:
            start = time.perf_counter()
            e = ladder_evidence(ladder, direction=direction, runs=runs)
            if e is not None:
                evidence.append(e)
                print(
                    f"evidence {e.unit:42s} fit {e.n_fit:4d} held {e.n_held:4d} "
                    f"{time.perf_counter() - start:5.1f} s",
                    flush=True,
                )
    save_evidence(evidence, path)
    return evidence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data"))
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--evidence", type=Path, default=HERE / "discrepancy_evidence.nc")
    parser.add_argument("--ladders", nargs="*", default=None, help="only these ladders")
    parser.add_argument("--directions", nargs="*", default=list(DIRECTIONS), choices=DIRECTIONS)
    parser.add_argument("--no-huber", action="store_true", help="skip the bootstrap baseline")
    parser.add_argument("--peer", action="store_true", help="score the peer on the protocols")
    parser.add_argument(
        "--reuse-baselines",
        type=Path,
        default=None,
        help="take the three methods that do not depend on the learned prior from an earlier "
        "calibration_runs.csv (same seeds and protocols) and run the learned prior only",
    )
    parser.add_argument("--learned-only", action="store_true", help="the learned prior only")
    parser.add_argument(
        "--baselines",
        nargs="+",
        choices=("bayes", "bayes_params", "huber"),
        default=None,
        help="only these baselines beside the learned prior (e.g. 'huber': minutes, not hours)",
    )
    parser.add_argument("--nu", type=float, default=POPULATION["nu"], help="the population's ν")
    parser.add_argument(
        "--drift",
        choices=("spread", "common"),
        default="spread" if POPULATION["drift_spread"] else "common",
        help="a drift that varies from ladder to ladder, or one common to all",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ladders = corpus(args.data)
    start = time.perf_counter()
    evidence = evidence_of(ladders, args.evidence, args.directions)
    chosen = [ladders[n] for n in (args.ladders or ladders)]
    reuse = args.reuse_baselines
    table = leave_one_out(
        chosen,
        evidence,
        directions=args.directions,
        huber=not args.no_huber,
        baselines=args.baselines or (reuse is None and not args.learned_only),
        nu=args.nu,
        drift_spread=args.drift == "spread",
    )
    if reuse is not None:
        earlier = pd.read_csv(reuse)
        earlier = earlier[earlier["method"] != "learned prior (default)"]
        earlier = earlier[earlier["method"] != PEER_METHOD] if args.peer else earlier
        table = pd.concat([earlier[earlier["ladder"].isin(table["ladder"])], table])
    if args.peer:  # the other methods' rows are written first: a failing peer loses nothing
        table.to_csv(args.out / "calibration_runs.csv", index=False)
        table = pd.concat([table, peer_rows(chosen, args.directions)], ignore_index=True)
    table.to_csv(args.out / "calibration_runs.csv", index=False)
    summary = calibration_summary(table)
    for name, frame in summary.items():
        frame.to_csv(args.out / f"calibration_{name}.csv", index=False)
    families = summary["by_family"].rename(columns={"family": "ladder"})
    title = "7 families x 3 directions, leave one family out"
    calibration_curves(families, title=title).savefig(args.out / "calibration.png", dpi=110)
    with pd.option_context("display.width", 220, "display.float_format", "{:.3f}".format):
        print(summary["per_ladder"].to_string(index=False))
        for name in ("by_family", "by_direction", "by_bin", "average"):
            print(f"\n{name} (each family weighted equally):")
            print(summary[name].to_string(index=False))
    print(f"\n{len(chosen)} ladders, {time.perf_counter() - start:.0f} s; written to {args.out}")


if __name__ == "__main__":
    main()
