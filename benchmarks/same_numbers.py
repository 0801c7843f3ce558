"""Same numbers before and after a refactor: a fit's summary, bands, allocation and a backtest.

Run by hand. With the same seeds, writes four CSV tables to OUT; with ``--compare DIR`` it also
prints, per table, the largest absolute and relative difference against the tables in DIR (made by
an earlier version of the package with the same script, or the same calls).

    python benchmarks/same_numbers.py OUT [--compare BEFORE_DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.trust import backtest


def write(out: Path) -> None:
    runs = bs.datasets.demo()
    fit = bs.fit(runs, law="chinchilla", seed=1)
    fit.summary(prob=0.9).to_csv(out / "summary.csv")
    fit.bands(compute=[1e21, 1e22, 1e23], prob=[0.5, 0.9]).to_csv(out / "bands_compute.csv")
    fit.bands(params=[7e10, 1e9, 3e9], tokens=[1.4e12, 2e10, 6e10], prob=[0.9]).to_csv(
        out / "bands_points.csv"
    )
    fit.allocate([1e22, 1e24], target=2.0).to_csv(out / "allocate.csv")
    backtest(runs, cut=[1e19], seed=3, method=["bayes", "bayes_params"]).to_csv(
        out / "backtest.csv"
    )


def key_columns(df: pd.DataFrame) -> list[str]:
    names = ("parameter", "band", "prob", "quantity", "run_id", "method", "compute", "cut")
    return [c for c in names if c in df]


def compare(out: Path, before: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(out.glob("*.csv")):
        new = pd.read_csv(path, index_col=0)
        old = pd.read_csv(before / path.name, index_col=0)
        keys = key_columns(new)
        if "params" in new and "params" in old:  # bands at points: match by point, not by row
            keys = [*keys, "params", "tokens"]
        new, old = (d.sort_values(keys).reset_index(drop=True) for d in (new, old))
        numeric = [
            c
            for c in new.columns
            if c in old
            and pd.api.types.is_numeric_dtype(new[c])
            and not pd.api.types.is_bool_dtype(new[c])
        ]
        diff = (new[numeric] - old[numeric]).abs()
        rel = diff / old[numeric].abs().replace(0, np.nan)
        rows.append(
            {
                "table": path.stem,
                "rows": len(new),
                "max_abs_diff": float(np.nanmax(diff.to_numpy())),
                "max_rel_diff": float(np.nanmax(rel.to_numpy())),
                "worst_column": str(rel.max().idxmax()),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--compare", type=Path, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out)
    if args.compare is not None:
        with pd.option_context("display.float_format", "{:.3g}".format):
            print(compare(args.out, args.compare).to_string(index=False))


if __name__ == "__main__":
    main()
