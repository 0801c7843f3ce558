"""Recipe comparisons on the public tables (run by hand; prints the tables of the closing note).

- Gemstones (cool_end), grouped by shape: ``deep`` (width/depth < 36) against ``wide``.
- Datablations (fit182), grouped by unique-token budget: ``ample`` (U > 1.5e9) against ``scarce``.

Both with the Chinchilla law and ``fit_groups``' defaults (pool="exponents"). Reads
``../shared/data`` (or ``--data``).

    python benchmarks/compare_real.py [--data ../shared/data] [--which gemstones datablations]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

from bayes_scaling.data.recipes import datablations_by_unique_tokens, gemstones_by_shape
from bayes_scaling.inference.grouped import fit_groups

TABLES = {
    "gemstones": (gemstones_by_shape, "deep", "wide"),
    "datablations": (datablations_by_unique_tokens, "ample", "scarce"),
}
BUDGETS = [1e22, 1e24]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(Path(__file__).parents[1].parent / "shared" / "data"))
    parser.add_argument("--which", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--pool", default="exponents")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 200)
    pd.set_option("display.float_format", "{:.4g}".format)
    for name in args.which:
        load, a, b = TABLES[name]
        runs = load(args.data)
        print(f"\n# {name}: {runs.attrs['grouping']}")
        print(
            runs.groupby("group").agg(
                runs=("loss", "size"),
                n_min=("n_params", "min"),
                n_max=("n_params", "max"),
                c_max=("compute", "max"),
            )
        )
        start = time.perf_counter()
        g = fit_groups(runs, pool=args.pool, seed=args.seed)
        print(f"{g}  ({time.perf_counter() - start:.1f} s)")
        summary = g.summary()
        print(
            summary[
                summary["parameter"].isin(
                    ["E", "alpha", "beta", "alpha_tau", "beta_tau", "sigma", "nu"]
                )
            ].to_string(index=False)
        )
        c = g.compare(a, b, compute=BUDGETS)
        print(c.table().T.to_string())
        print(c.crossover_summary())
        print(c.parameters.to_string(index=False))
        print(c.headline(BUDGETS[-1]))


if __name__ == "__main__":
    main()
