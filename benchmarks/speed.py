"""Speed and memory of the posterior against the bootstrap baseline, on Epoch's Chinchilla runs.

Run by hand: ``.venv/bin/python benchmarks/speed.py [--data DIR] [--steps cold warm ...]``
(default data ../shared/data). Each step runs in a fresh Python process, so "cold" really is cold
and each step's peak memory (max RSS) is its own. Prints one table and writes it to
``benchmarks/speed.csv``, with the machine in the last rows. Compare ratios within one run: the
development machines are shared and noisy.

Steps (chinchilla law, 240 runs, 4 chains x 1000 draws unless said otherwise):

- ``cold``: the first fit in a fresh process (compile + sample), parameter-only, then the first
  default fit (with the extrapolation discrepancy's internal backtests).
- ``warm``: after one fit, a fit of different data (a 200-run subsample), parameter-only and
  default; the time of the baseline below divided by these gives the speed-up for intervals.
- ``baseline``: Huber + L-BFGS-B + 1000 bootstrap resamples (Epoch's 4500-start grid, and the
  108-start grid), on the same 240 runs.
- ``scores``: a backtest at 1e21 FLOPs, ours (with and without discrepancy) against the baseline
  (1000 resamples): interval scores and coverage at 50% and 90%.
- ``backtest10``: 10 rolling compute cuts (warm model), parameter-only and default.
- ``sbc100``: SBC with 100 simulated tables (2 chains x 400 draws, as ``benchmarks/sbc.py``).
- ``batch``: 8 parameter-only fits of 120-run subsamples, serial in one process against
  ``fit_many`` on 2 local worker processes (each compiles once).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "data"
STEPS = ("cold", "warm", "baseline", "scores", "backtest10", "sbc100", "batch")


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def step(name: str, data: Path) -> list[dict]:
    """Run one step in this process; rows of ``measure, seconds, ...``."""
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    import bayes_scaling as bs

    t_import = time.perf_counter() - start
    runs = bs.datasets.chinchilla(data, drop_highest=5)
    rows = []

    def row(measure, seconds, **extra):
        rows.append({"step": name, "measure": measure, "seconds": round(seconds, 3), **extra})

    def fit(table, seed, discrepancy):
        result, s = _timed(bs.fit, table, seed=seed, discrepancy=discrepancy, progress=False)
        return result, s, {"converged": bool(result.converged), "runs": len(table)}

    if name == "cold":
        row("import bayes_scaling", t_import)
        _, s, info = fit(runs, 2024, False)
        row("first fit, parameter-only (compile + sample)", s, **info)
        _, s, info = fit(runs, 2024, True)
        row("then first default fit (with discrepancy)", s, **info)
    elif name == "warm":
        fit(runs, 2024, False)
        other = runs.sample(200, random_state=1).reset_index(drop=True)
        result, s, info = fit(other, 7, False)
        row("warm fit, parameter-only", s, **info)
        row("  of which NUTS sampling", result.settings["sampling_seconds"])
        result, s, info = fit(other, 7, True)
        row("warm fit, default (with discrepancy)", s, **info)
        row("  of which discrepancy", result.settings["discrepancy_seconds"])
    elif name == "baseline":
        from bayes_scaling.trust.baseline import bootstrap_fit

        for grid in ("epoch", "small"):
            _, s = _timed(bootstrap_fit, runs, n_boot=1000, grid=grid)
            row(f"Huber + bootstrap, 1000 resamples, {grid} grid", s, runs=len(runs))
    elif name == "scores":
        from bayes_scaling.trust.backtests import backtest, coverage

        table, s = _timed(
            backtest,
            runs,
            cut=1e21,
            prob=(0.5, 0.9),
            seed=1,
            method=["bayes", "bayes_params", "huber"],
            baseline={"n_boot": 1000, "grid": "small"},
        )
        row("backtest at 1e21, three methods (compile included)", s)
        for _, r in coverage(table).iterrows():
            row(
                f"  {r['method']} {r['prob']:.0%}: interval score, coverage",
                float("nan"),
                interval_score=round(float(r["interval_score"]), 4),
                coverage=round(float(r["coverage"]), 3),
                held_out=int(r["n"]),
            )
    elif name == "backtest10":
        import numpy as np

        from bayes_scaling.trust.backtests import backtest

        cuts = np.quantile(runs["compute"], np.linspace(0.5, 0.95, 10))
        fit(runs, 2024, False)  # compile outside the timing
        for disc, label in ((["bayes_params"], "parameter-only"), (["bayes"], "default")):
            table, s = _timed(backtest, runs, cut=cuts, method=disc, seed=1)
            conv = sum(table.attrs["converged"].values())
            row(f"backtest, 10 rolling cuts, {label} (warm)", s, converged=f"{conv}/10")
    elif name == "sbc100":
        from bayes_scaling.trust.sbc import sbc

        result, s = _timed(sbc, n_sims=100, seed=0)
        row("SBC, 100 tables (compile included)", s, passed=bool(result.passed()))
    elif name == "batch":
        from bayes_scaling import FitTask, fit_many

        tasks = [
            FitTask(
                runs.sample(120, random_state=i).reset_index(drop=True),
                "chinchilla",
                {"seed": i, "discrepancy": False},
            )
            for i in range(8)
        ]
        serial, s = _timed(fit_many, tasks, client="serial")
        row("8 fits, serial in one process (compile included)", s)
        local, s = _timed(fit_many, tasks, workers=2)
        row("8 fits, fit_many on 2 worker processes (2 compiles)", s)
        same = all(
            (a.posterior["alpha"].values == b.posterior["alpha"].values).all()
            for a, b in zip(serial.fits, local.fits, strict=True)
        )
        row("  draws equal to serial", float("nan"), equal=same)
    else:
        raise SystemExit(f"unknown step {name!r}; choose from {STEPS}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    for r in rows:
        r["step_peak_mib"] = round(peak)
    return rows


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import nutpie
    import pymc

    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "pymc": pymc.__version__,
        "nutpie": nutpie.__version__,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    parser.add_argument("--step", help=argparse.SUPPRESS)  # internal: run one step, print JSON
    parser.add_argument("--out", type=Path, default=HERE / "speed.csv")
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(step(args.step, args.data)))
        return
    if not (args.data / "chinchilla-epoch").exists():
        raise SystemExit(f"reference data not found in {args.data} (see ../shared/data/README.md)")
    import pandas as pd

    before = machine()
    rows = []
    for name in args.steps:
        print(f"step {name} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, __file__, "--step", name, "--data", str(args.data)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            rows.append({"step": name, "measure": "FAILED", "seconds": float("nan")})
            continue
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    after = machine()
    table = pd.DataFrame(rows)
    info = {**before, "load_avg_1m": f"{before['load_avg_1m']} -> {after['load_avg_1m']}"}
    for key, value in info.items():
        table.loc[len(table), ["step", "measure"]] = ["machine", f"{key}: {value}"]
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.astype(object).where(table.notna(), "").to_string(index=False))
    table.to_csv(args.out, index=False)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
