"""Do default fits converge? Every corpus ladder, 5-run isoFLOP sweeps and sparse subsamples
(issue 21, item 6; run by hand; prints a table and writes ``benchmarks/convergence.csv``).

Each case is one default fit, as the CLI makes it: ``fit(runs, seed=s)`` (Chinchilla law, the
learned law prior with the learned floor on the run noise σ below 15 runs (the 5-run sweeps and
the 6- and 10-run subsamples) and the default priors from 15, 4 × (1000 + 1000),
target_accept 0.95, the rescue ladder of :mod:`bayes_scaling.inference.rescue`, the discrepancy
learned from internal refits). Cases:

- ``ladder``: every corpus ladder's protocol fit part (``split(ladder, ladder.load())[0]``);
- ``sweep``: 5-run one-budget isoFLOP sweeps, the 5 runs around the lowest loss at each budget of
  the Llama 3 isoFLOPs and of the demo table, and the 5 runs nearest 1e19, 1e20 and 1e21 FLOPs of
  Chinchilla (Epoch, 5 highest-loss runs dropped), each with seeds 0 and 1;
- ``sparse``: 6, 10 and 20 runs drawn at random from each corpus ladder, 3 draws each (seeded).

Columns: ``first`` (attempt 1 passed: the same seed and settings as ``rescue=False``),
``converged`` (after the ladder), ``before`` (optional, ``--before REV``: the main fit with the
ladder of git revision REV, e.g. the commit before this ladder; the discrepancy is left out there,
since the main fit's draws do not depend on it), the rungs climbed, the kept attempt's gate, the
internal refits usable.

    python benchmarks/convergence.py [--data ../shared/data] [--only ladder,sweep,sparse]
        [--sizes 6,10,20] [--match TEXT] [--update]
        [--before 035d2e7 [--before-groups ladder,sweep]] [--csv benchmarks/convergence.csv]

``--sizes`` keeps those sparse sizes, ``--match`` the cases whose name holds TEXT, and ``--update``
replaces the rerun cases' rows in the existing csv (keeping the others) instead of rewriting it:
``--only sparse --sizes 6,10 --update`` reruns the tables that take the learned prior.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling import fit
from bayes_scaling.data import datasets, ladders
from bayes_scaling.data.corpus import corpus, split
from bayes_scaling.inference import sampling

ROOT = Path(__file__).parents[1]
COLUMNS = ["run_id", "n_params", "n_tokens", "compute", "loss"]
SPARSE_SIZES, SPARSE_DRAWS, SPARSE_SEED = (6, 10, 20), 3, 2026


def around_minimum(table: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` runs of one budget around its lowest loss (by N)."""
    table = table.sort_values("n_params").reset_index(drop=True)
    low = int(table["loss"].idxmin())
    start = min(max(low - n // 2, 0), len(table) - n)
    return table.iloc[start : start + n]


def sweeps(path: Path):
    """(case, runs) of the 5-run one-budget sweeps."""
    for compute, group in datasets.demo().groupby("compute"):
        yield f"demo C={compute:.0e}", around_minimum(group)
    for compute, group in ladders.llama3_isoflops(path).groupby("compute"):
        yield f"llama3 C={compute:.0e}", around_minimum(group)
    chinchilla = datasets.chinchilla(path / "chinchilla-epoch", drop_highest=5)
    log_c = np.log(chinchilla["compute"].to_numpy(float))
    for budget in (1e19, 1e20, 1e21):
        nearest = np.argsort(np.abs(log_c - np.log(budget)), kind="stable")[:5]
        yield f"chinchilla C~{budget:.0e}", chinchilla.iloc[np.sort(nearest)]


def cases(path: Path, only: set[str], sizes=SPARSE_SIZES, match: str = ""):
    """(group, case, seed, runs) of every case asked for (sparse ones of ``sizes``), those whose
    name holds ``match``."""
    for group, case, seed, runs in all_cases(path, only, sizes):
        if match in case:
            yield group, case, seed, runs


def all_cases(path: Path, only: set[str], sizes=SPARSE_SIZES):
    """(group, case, seed, runs) of every case of the groups in ``only``."""
    ladders_ = corpus(path)
    if "ladder" in only:
        for name, ladder in ladders_.items():
            yield "ladder", name, 0, split(ladder, ladder.load())[0]
    if "sweep" in only:
        for case, runs in sweeps(path):
            for seed in (0, 1):
                yield "sweep", case, seed, runs
    if "sparse" in only:
        for i, (name, ladder) in enumerate(ladders_.items()):
            full = ladder.load()
            for size in sizes:
                for k in range(SPARSE_DRAWS if size < len(full) else 0):
                    rng = np.random.default_rng([SPARSE_SEED, i, size, k])
                    rows = np.sort(rng.choice(len(full), size, replace=False))
                    yield "sparse", f"{name} {size} #{k}", 0, full.iloc[rows]


def ladder_at(rev: str):
    """The ``escalate`` of the rescue ladder at git revision ``rev``: ``rescue_core.py`` with
    the ``rescue.py`` and ``rescue_notes.py`` of that revision (imported as a throwaway
    package ``rescue_<rev>``), or ``rescue.py``'s own before the ladder was split."""

    def show(name: str) -> str | None:
        done = subprocess.run(
            ["git", "show", f"{rev}:bayes_scaling/inference/{name}.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        return done.stdout if done.returncode == 0 else None

    tag = "rescue_" + "".join(c if c.isalnum() else "_" for c in rev)
    package = Path(tempfile.mkdtemp()) / tag
    package.mkdir()
    (package / "__init__.py").write_text("")
    names = [n for n in ("rescue", "rescue_notes", "rescue_core") if show(n) is not None]
    for name in names:
        source = show(name)
        for other in names:
            source = source.replace(f"bayes_scaling.inference.{other} ", f"{tag}.{other} ")
            source = source.replace(f"bayes_scaling.inference.{other}\n", f"{tag}.{other}\n")
        (package / f"{name}.py").write_text(source)
    sys.path.insert(0, str(package.parent))
    module = importlib.import_module(
        f"{tag}.{'rescue_core' if 'rescue_core' in names else 'rescue'}"
    )
    return module.escalate


def one(runs: pd.DataFrame, seed: int, before) -> dict:
    """One default fit (and the main fit with the earlier ladder, when given)."""
    runs = runs[[c for c in COLUMNS if c in runs]].reset_index(drop=True)
    row: dict = {"runs": len(runs)}
    if before is not None:
        now = sampling.escalate
        sampling.escalate = before
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                old = fit(runs, seed=seed, discrepancy=False, progress=False)
            row["before"] = bool(old.converged)
            row["before_attempts"] = len(old.settings["rescue"])
        except Exception as error:  # noqa: BLE001  (a table the law cannot take: say so)
            row["before"], row["error"] = None, f"{type(error).__name__}: {error}"
        finally:
            sampling.escalate = now
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit(runs, seed=seed, progress=False)
    except Exception as error:  # noqa: BLE001
        return {**row, "error": f"{type(error).__name__}: {error}"}
    record, refits = result.settings["rescue"], result.settings.get("discrepancy_refits", [])
    kept = next(e for e in record if e["kept"])
    return {
        **row,
        "first": bool(record[0]["passed"]),
        "converged": bool(result.converged),
        "attempts": len(record),
        "rungs": " > ".join(e["rung"] for e in record),
        "kept": record.index(kept) + 1,
        "max_rhat": kept["max_rhat"],
        "min_ess": min(kept["min_ess_bulk"], kept["min_ess_tail"]),
        "divergences": kept["divergences"],
        "refits": len(refits),
        "refits_usable": sum(r["usable"] for r in refits),
        "refits_retried": sum(r["attempts"] > 1 for r in refits),
        "seconds": round(time.perf_counter() - start, 1),
        "error": "",
    }


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per group: fits, first-try passes, converged after the ladder (and before, if run)."""
    ok = table[table["error"].isna() | (table["error"] == "")]
    agg = {
        "fits": ("converged", "size"),
        "first_try": ("first", "sum"),
        "converged": ("converged", "sum"),
        "mean_attempts": ("attempts", "mean"),
        "refits_usable": ("refits_usable", "sum"),
        "refits": ("refits", "sum"),
        "seconds": ("seconds", "sum"),
    }
    if "before" in ok:
        agg["before"] = ("before", "sum")
        agg["before_of"] = ("before", "count")
    out = ok.groupby("group", sort=False).agg(**agg)
    out.loc["all"] = out.sum()
    out.loc["all", "mean_attempts"] = ok["attempts"].mean()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--only", default="ladder,sweep,sparse")
    parser.add_argument("--before", default=None, help="git revision of the earlier ladder")
    parser.add_argument("--before-groups", default="ladder,sweep,sparse")
    parser.add_argument("--sizes", default=",".join(map(str, SPARSE_SIZES)))
    parser.add_argument("--match", default="", help="only the cases whose name holds this")
    parser.add_argument("--update", action="store_true", help="replace these rows in --csv")
    parser.add_argument("--csv", default=str(ROOT / "benchmarks" / "convergence.csv"))
    args = parser.parse_args()
    sizes = tuple(int(v) for v in args.sizes.split(","))
    before = ladder_at(args.before) if args.before else None
    pd.set_option("display.width", 220)
    rows = []
    for group, case, seed, runs in cases(
        Path(args.data), set(args.only.split(",")), sizes, args.match
    ):
        earlier = before if group in args.before_groups.split(",") else None
        rows.append({"group": group, "case": case, "seed": seed, **one(runs, seed, earlier)})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    if args.update and Path(args.csv).exists():
        print("\n# These cases before (the rows replaced)")
        old = pd.read_csv(args.csv)
        key = ["group", "case", "seed"]
        rerun = old.set_index(key).index.isin(table.set_index(key).index)
        print(summary(old[rerun]).to_string(float_format="{:.1f}".format))
        merged = pd.concat([old[~rerun], table], ignore_index=True)
        order = {k: i for i, k in enumerate(map(tuple, old[key].to_numpy()))}
        at = [order.get(tuple(r), len(order) + i) for i, r in enumerate(merged[key].to_numpy())]
        merged.iloc[np.argsort(at, kind="stable")].to_csv(args.csv, index=False)
    else:
        table.to_csv(args.csv, index=False)
    print("\n# Default fits: passed at the first try, converged after the rescue ladder")
    print(summary(table).to_string(float_format="{:.1f}".format))
    failed = table["error"].notna() & (table["error"] != "")
    bad = table[(table["converged"] != True) | failed]  # noqa: E712
    if len(bad):
        print("\n# Not converged (or failed)")
        print(bad[["group", "case", "seed", "rungs", "max_rhat", "min_ess", "error"]].to_string())


if __name__ == "__main__":
    main()
