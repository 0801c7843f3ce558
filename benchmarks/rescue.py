"""Pass rate of default fits, first try and after the rescue ladder (run by hand; prints a table).

Cases, each one default fit (``fit(runs, seed=...)``, Chinchilla law, 4 × (1000 + 1000),
target_accept 0.95, ``discrepancy=False``: the gate applies to the main fit only, and the same
seed gives the same main posterior with or without the discrepancy):

- every ladder of the calibration corpus (:func:`bayes_scaling.data.corpus.corpus`): its full
  table, the fitted part of its protocol cut, and every internal cut of the discrepancy
  (:func:`internal_cuts` on the protocol's axis) of both;
- datablations (fit182) with ``law="data_constrained"`` (the free law), several seeds;
- ``law="broken"`` on the OLMo ladder, one loss-to-loss corpus, the Llama 3 isoFLOPs and a
  simulated table with a break at C = 1e19 (as in ``tests/test_laws.py``).

The first try is attempt 1 of the rescued fit's record (the same seed and settings as
``rescue=False``), so one fit gives both columns.

    python benchmarks/rescue.py [--data ../shared/data] [--seeds 0] [--only all|corpus|extra]
        [--csv out.csv]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling import fit, load_runs
from bayes_scaling.data import datasets
from bayes_scaling.data.corpus import corpus, split
from bayes_scaling.discrepancy.evidence import internal_cuts
from bayes_scaling.laws import get_law

BREAK_TRUTH = {
    "E": 1.7,
    "log_Lb": 0.2,
    "alpha": 0.1,
    "alpha_after": 0.3,
    "log_xb": float(np.log(1e19)),
    "f": 0.3,
}


def corpus_cases(path):
    """(group, case, runs) for every ladder: full table, fitted part, and their internal cuts."""
    n_params = len(get_law("chinchilla").params)
    for name, ladder in corpus(path).items():
        runs = ladder.load()
        for part, table in (("full", runs), ("fit", split(ladder, runs)[0])):
            yield name, part, table
            for c in internal_cuts(table, ladder.cut_on, n_params):
                below = table[table[ladder.cut_on] < c].reset_index(drop=True)
                below.attrs = dict(table.attrs)
                yield name, f"{part} < {c:.3g}", below


def break_table(seed, n=40, sigma=0.01):
    rng = np.random.default_rng(seed)
    compute = np.geomspace(1e17, 1e22, n)
    loss = get_law("broken").fn({"compute": compute}, BREAK_TRUTH, np)
    loss = loss * np.exp(rng.normal(0, sigma, n))
    return load_runs(
        pd.DataFrame({"compute": compute, "n_params": np.sqrt(compute / 120), "loss": loss})
    )


def extra_cases(path):
    """(group, case, runs, law) for the data-constrained and broken laws."""
    ladders = corpus(path)
    db = datasets.datablations(Path(path) / "datablations")
    yield "datablations/data_constrained", "fit182", db, "data_constrained"
    for name in ("olmo-ladder", "loss-to-loss/fineweb-100b", "llama3-isoflops"):
        yield f"{name}/broken", "full", ladders[name].load(), "broken"
    yield "simulated break/broken", "C 1e17-1e22", break_table(1), "broken"


def one(group, case, runs, law, seed) -> dict:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(runs, law=law, seed=seed, discrepancy=False, progress=False)
    record = result.settings["rescue"]
    return {
        "group": group,
        "case": case,
        "law": law,
        "seed": seed,
        "runs": len(runs),
        "first": bool(record[0]["passed"]),
        "rescued": bool(result.converged),
        "attempts": len(record),
        "rungs": " > ".join(e["rung"] for e in record),
        "first_failure": "; ".join(record[0]["failures"]),
        "last_failure": result.diagnostics.reason() if not result.converged else "",
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(Path(__file__).parents[1].parent / "shared" / "data"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--extra-seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--only", choices=("all", "corpus", "extra"), default="all")
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    pd.set_option("display.width", 220)
    pd.set_option("display.max_colwidth", 90)
    rows = []
    for group, case, runs in corpus_cases(args.data) if args.only != "extra" else ():
        for seed in args.seeds:
            rows.append(one(group, case, runs, "chinchilla", seed))
            print(rows[-1], flush=True)
    if args.only != "corpus":
        for group, case, runs, law in extra_cases(args.data):
            seeds = args.extra_seeds if law == "data_constrained" else args.extra_seeds[:2]
            for seed in seeds:
                rows.append(one(group, case, runs, law, seed))
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    per = table.groupby(["group", "law"], sort=False).agg(
        fits=("first", "size"),
        first_try=("first", "sum"),
        after_rescue=("rescued", "sum"),
        mean_attempts=("attempts", "mean"),
        seconds=("seconds", "sum"),
    )
    print("\n# Pass rate of default fits: first try and after the rescue ladder")
    print(per.to_string(float_format="{:.1f}".format))
    corpus_rows = table[table["law"] == "chinchilla"]
    print(
        f"\ncorpus (chinchilla): {corpus_rows['first'].sum()}/{len(corpus_rows)} first try, "
        f"{corpus_rows['rescued'].sum()}/{len(corpus_rows)} after rescue; "
        f"{table['seconds'].sum():.0f} s in all"
    )
    print("\n# Ladders taken (fits that needed more than one attempt)")
    print(table[table["attempts"] > 1][["group", "case", "seed", "rungs", "rescued"]].to_string())
    failed = table[~table["rescued"]]
    if len(failed):
        print("\n# Still not converged")
        print(failed[["group", "case", "seed", "last_failure"]].to_string())


if __name__ == "__main__":
    main()
