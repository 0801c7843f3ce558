"""Speed and peak memory, before and after, in one run: the table of issue 3/5 and more.

Run by hand: ``.venv/bin/python benchmarks/speed.py [--before REV] [--data DIR] [--only ...]``.

Every measure runs in its own fresh Python process, timed from outside (wall seconds, and the
process's own peak memory from ``os.wait4``), once with this checkout ("after") and once with
revision ``--before`` (default :data:`BEFORE`, the last commit before issue 3/5; checked out with
``git worktree`` into a temporary folder and run with the same interpreter and libraries).
Before and after alternate, so a drift of the shared machine hits both; compare the ratios. The
compile cache of "after" lives in a fresh temporary folder (``$BAYES_SCALING_CACHE``), so
"first process" really starts without it.

Measures (Epoch's Chinchilla runs, 240 after dropping the 5 largest, chinchilla law, 4 chains x
1000 draws unless said):

- CLI, whole processes: ``fit`` in a first and a second process; ``summary``, ``bands``,
  ``allocate`` and ``report`` (figures included) on the saved fit;
- in one process, after a first fit (warm): the default fit (with the discrepancy), the
  parameter-only fit, Huber + 1000-resample bootstrap against it, the default 10-cut backtest;
- scale: warm fits of simulated tables of 1e2, 1e3 and 1e4 rows, and of 1e3 rows at 250, 1000
  and 4000 draws a chain ("after" only; "before" for the 1e4-row fit);
- pass@k: fitting all 81 GSM8K models ("after" only, when the data are there).

- against the peer (``--only peer``, "after" only): our whole-process CLI ``fit`` (second
  process, compile cache warm) against simple-scaling-laws 0.2.0 (PyPI ``simple-scaling-laws``)
  fitting the same table with its default 1000-draw bootstrap and then predicting new-run
  intervals at two points, alternated :data:`PAIRS` times, with the ratio of each pair and both
  peak memories; and ``summary``, ``bands``, ``allocate`` on the saved fit each against a bare
  ``import numpy, pandas, xarray`` process, alternated the same way. The peer lives in its own
  virtual environment, ``benchmarks/.peer-venv`` (git-ignored), made on first use with
  ``python -m venv`` and pip.

Prints one table (``measure, before_s, after_s, before/after, goal, met, peak_mib``) and writes
it to ``benchmarks/speed.csv``, with the machine in the last rows. The peer's rows put the peer
(or the bare import) in ``before_s`` and ours in ``after_s``; ``ratio`` is ours over theirs, the
median of the alternated pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peer import peer_python  # benchmarks/peer.py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
#: The last commit before issue 3/5.
BEFORE = "a187b27"

#: Code run in a fresh process for the in-process measures; prints one JSON dict of seconds.
STEP = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
import bayes_scaling as bs
name, data = sys.argv[1], sys.argv[2]
runs = bs.datasets.chinchilla(data, drop_highest=5)
out = {}
def timed(fn, *a, **k):
    start = time.perf_counter(); value = fn(*a, **k); return value, time.perf_counter() - start
def table(n):
    from bayes_scaling.model.simulate import DEMO_TRUTH, simulate_runs
    budgets = np.logspace(17, 20, 20)
    return simulate_runs(DEMO_TRUTH, budgets=budgets, sizes_per_budget=n // 20, seed=3)
other = runs.sample(200, random_state=1).reset_index(drop=True)
bs.fit(other, seed=1, discrepancy=False, progress=False)  # compile outside the timings
if name == "warm":
    _, out["warm default fit"] = timed(bs.fit, runs, seed=7, progress=False)
    _, out["warm parameter-only fit"] = timed(bs.fit, runs, seed=7, discrepancy=False)
    from bayes_scaling.trust.baseline import bootstrap_fit as boot
    _, out["Huber + 1000-resample bootstrap"] = timed(boot, runs, n_boot=1000, grid="small")
elif name == "backtest":
    from bayes_scaling.trust.backtests import backtest
    cuts = np.quantile(runs["compute"], np.linspace(0.5, 0.95, 10))
    _, out["default 10-cut backtest"] = timed(backtest, runs, cut=cuts, seed=1)
elif name == "big":
    _, out["warm default fit, 1e4 rows"] = timed(bs.fit, table(10000), seed=1, progress=False)
elif name == "scale":
    for n in (100, 1000, 10000):
        _, out[f"warm parameter-only fit, {n} rows"] = timed(
            bs.fit, table(n), seed=1, discrepancy=False, progress=False)
    for draws in (250, 1000, 4000):
        _, out[f"warm parameter-only fit, 1000 rows, {draws} draws"] = timed(
            bs.fit, table(1000), seed=1, draws=draws, discrepancy=False, progress=False)
elif name == "passk":
    from bayes_scaling.passk.reference import gsm8k
    counts = gsm8k(data)
    _, out["fit all 81 GSM8K models (and the law across them)"] = timed(
        bs.fit_passk, counts, seed=1, progress=False)
print(json.dumps(out))
"""

#: measure -> (goal in seconds, or a ratio goal "x10" of the bootstrap over the warm fit).
GOALS = {
    "CLI fit, first process": None,
    "CLI fit, second process": 5.0,
    "CLI summary on a saved fit": 1.5,
    "CLI bands on a saved fit": 1.5,
    "CLI allocate on a saved fit": 1.5,
    "CLI report on a saved fit (figures)": 4.0,
    "warm default fit": 1.0,
    "default 10-cut backtest": 15.0,
    "warm default fit, 1e4 rows": 10.0,
}
#: Ratio goals of the peer rows (ours over theirs, at most) and of the bootstrap (at least).
RATIO_GOALS = {
    "CLI fit (2nd process) vs simple-scaling-laws fit + 2 new-run intervals": 0.5,
    "CLI summary vs bare import numpy, pandas, xarray": 1.5,
    "CLI bands vs bare import numpy, pandas, xarray": 1.5,
    "CLI allocate vs bare import numpy, pandas, xarray": 1.5,
}
#: Peak memory goal of our CLI fit, MiB.
FIT_PEAK_MIB = 300
#: The bootstrap over the warm default fit, at least.
BOOTSTRAP_RATIO = 15
#: Alternated pairs per peer measure.
PAIRS = 5
#: The peer's whole job on our runs table: fit (default 1000-draw bootstrap), then new-run
#: intervals at two points (N, D) = (1e10, 2e11) and (7e10, 1.4e12).
PEER_FIT = r"""
import sys, warnings
warnings.simplefilter("ignore")
import polars as pl
from simple_scaling_laws import fit
runs = pl.read_csv(sys.argv[1])
frame = pl.DataFrame({
    "training_run_id": runs["run_id"].cast(pl.Utf8),
    "model_size__n_params": runs["n_params"].cast(pl.Float64),
    "dataset_size__n_tokens": runs["n_tokens"].cast(pl.Float64),
    "test_loss__loss": runs["loss"].cast(pl.Float64),
})
model = fit(frame, law="separable-power", seed=0)
points = pl.DataFrame({"point_id": ["a", "b"], "model_size__n_params": [1e10, 7e10],
                       "dataset_size__n_tokens": [2e11, 1.4e12]})
print(model.predict(points, kind="new-run"))
"""


class _Popen(subprocess.Popen):
    """Popen that keeps the child's own resource usage (peak memory) from ``os.wait4``."""

    rusage = None

    def _try_wait(self, wait_flags):
        pid, status, self.rusage = os.wait4(self.pid, wait_flags)
        return pid, status


def run(cmd: list[str], env: dict, cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, peak MiB and exit code of one process (its own rusage, from wait4)."""
    start = time.perf_counter()
    proc = _Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    peak = proc.rusage.ru_maxrss / 1024 if proc.rusage else float("nan")
    if proc.returncode not in (0, 3):
        print(
            f"FAILED ({proc.returncode}): {' '.join(cmd)}\n{err.decode()[-1500:]}", file=sys.stderr
        )
    return seconds, peak, proc.returncode


def versions(before: str, work: Path, cache: Path) -> dict[str, dict]:
    """Environments of the two versions: PYTHONPATH of each checkout, a cache for "after"."""
    tree = work / "before"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), before],
        check=True,
        capture_output=True,
    )
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {
        "before": {**base, "PYTHONPATH": str(tree), "BAYES_SCALING_CACHE": str(cache / "b")},
        "after": {**base, "PYTHONPATH": str(ROOT), "BAYES_SCALING_CACHE": str(cache / "a")},
    }


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bayes_scaling.cli", *args]


def measure_cli(envs: dict, work: Path, data: Path, rows: dict) -> None:
    chin = chinchilla_csv(envs["after"], work, data)
    fits = {v: work / f"{v}.nc" for v in envs}
    steps = [
        ("CLI fit, first process", ["fit", str(chin), "--out", "{fit}", "--seed", "1"]),
        ("CLI fit, second process", ["fit", str(chin), "--out", "{fit}", "--seed", "2"]),
        ("CLI summary on a saved fit", ["summary", "{fit}"]),
        ("CLI bands on a saved fit", ["bands", "{fit}", "--compute", "1e22", "1e23"]),
        ("CLI allocate on a saved fit", ["allocate", "{fit}", "--compute", "1e23"]),
        (
            "CLI report on a saved fit (figures)",
            ["report", "{fit}", "--compute", "1e23", "--out", "{html}"],
        ),
    ]
    for measure, argv in steps:
        for version in ("before", "after"):  # alternate: a drift hits both
            names = {"fit": str(fits[version]), "html": str(work / f"{version}.html")}
            seconds, peak, _ = run(cli(*(a.format(**names) for a in argv)), envs[version], work)
            rows.setdefault(measure, {})[version] = (seconds, peak)


def measure_steps(envs: dict, work: Path, data: Path, rows: dict, only: set) -> None:
    script = work / "step.py"
    script.write_text(STEP)
    plan = [("warm", ("before", "after")), ("backtest", ("before", "after"))]
    plan += [("big", ("before", "after")), ("scale", ("after",)), ("passk", ("after",))]
    for name, which in plan:
        if only and name not in only:
            continue
        for version in which:
            cmd = [sys.executable, str(script), name, str(data)]
            start = time.perf_counter()
            proc = _Popen(
                cmd, env=envs[version], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            out, err = proc.communicate()
            peak = proc.rusage.ru_maxrss / 1024 if proc.rusage else float("nan")
            if proc.returncode != 0:
                print(f"step {name} ({version}) failed:\n{err.decode()[-1500:]}", file=sys.stderr)
                continue
            print(f"  {name} {version}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
            for measure, seconds in json.loads(out.decode().strip().splitlines()[-1]).items():
                rows.setdefault(measure, {})[version] = (seconds, peak)


def chinchilla_csv(env: dict, work: Path, data: Path) -> Path:
    """Epoch's 240 Chinchilla runs as a CSV our CLI and the peer both read."""
    chin = work / "chin.csv"
    if not chin.exists():
        code = (
            "import bayes_scaling as bs, sys; bs.datasets.chinchilla(sys.argv[1], drop_highest=5)"
        )
        code += ".to_csv(sys.argv[2], index=False)"
        subprocess.run([sys.executable, "-c", code, str(data), str(chin)], env=env, check=True)
    return chin


def measure_peer(env: dict, work: Path, data: Path, pairs: dict) -> None:
    """Ours against the peer, and the saved-fit commands against a bare import: alternated
    pairs, each a (theirs, ours) of (seconds, peak MiB)."""
    chin = chinchilla_csv(env, work, data)
    peer = work / "peer_fit.py"
    peer.write_text(PEER_FIT)
    fitted = work / "peer-cmp.nc"
    run(cli("fit", str(chin), "--out", str(fitted), "--seed", "1"), env, work)  # warm the cache
    bare = [sys.executable, "-c", "import numpy, pandas, xarray"]
    plan = [
        (
            "CLI fit (2nd process) vs simple-scaling-laws fit + 2 new-run intervals",
            [str(peer_python()), str(peer), str(chin)],
            cli("fit", str(chin), "--out", str(work / "peer-cmp-2.nc"), "--seed", "2"),
        ),
        ("CLI summary vs bare import numpy, pandas, xarray", bare, cli("summary", str(fitted))),
        (
            "CLI bands vs bare import numpy, pandas, xarray",
            bare,
            cli("bands", str(fitted), "--compute", "1e22", "1e23"),
        ),
        (
            "CLI allocate vs bare import numpy, pandas, xarray",
            bare,
            cli("allocate", str(fitted), "--compute", "1e23"),
        ),
    ]
    for measure, theirs, ours in plan:
        for _ in range(PAIRS):  # alternate: a drift of the shared machine hits both
            other = run(theirs, env, work)[:2]
            mine = run(ours, env, work)[:2]
            pairs.setdefault(measure, []).append((other, mine))
        print(f"  {measure}: {len(pairs[measure])} pairs", file=sys.stderr)


def peer_rows(pairs: dict):
    """One row per peer measure: medians of theirs and ours, the median ratio of the pairs
    (ours / theirs), each pair's ratio, the goal and both peaks."""
    import numpy as np
    import pandas as pd

    out = []
    for measure, got in pairs.items():
        theirs = np.array([p[0] for p in got])
        ours = np.array([p[1] for p in got])
        ratios = ours[:, 0] / theirs[:, 0]
        goal = RATIO_GOALS.get(measure)
        ratio = float(np.median(ratios))
        met = goal is None or ratio <= goal
        if measure.startswith("CLI fit"):
            met = met and float(np.max(ours[:, 1])) <= FIT_PEAK_MIB
        out.append(
            {
                "measure": measure,
                "before_s": round(float(np.median(theirs[:, 0])), 2),
                "after_s": round(float(np.median(ours[:, 0])), 2),
                "ratio": round(ratio, 2),
                "pair_ratios": " ".join(f"{r:.2f}" for r in ratios),
                "goal_s": goal,
                "met": bool(met),
                "peak_mib": round(float(np.max(ours[:, 1]))),
                "peer_peak_mib": round(float(np.max(theirs[:, 1]))),
            }
        )
    return pd.DataFrame(out)


def summarise(rows: dict):
    import pandas as pd

    out = []
    for measure, by in rows.items():
        before, after = by.get("before", (float("nan"),) * 2), by.get("after", (float("nan"),) * 2)
        goal = GOALS.get(measure)
        out.append(
            {
                "measure": measure,
                "before_s": round(before[0], 2),
                "after_s": round(after[0], 2),
                "before/after": round(before[0] / after[0], 2),
                "goal_s": goal,
                "met": None if goal is None else bool(after[0] <= goal),
                "peak_mib": round(after[1]),
            }
        )
    table = pd.DataFrame(out)
    boot = rows.get("Huber + 1000-resample bootstrap", {})
    warm = rows.get("warm default fit", {})
    for version in ("before", "after"):
        if version in boot and version in warm:
            ratio = boot[version][0] / warm[version][0]
            table.loc[len(table), ["measure", f"{version}_s"]] = [
                f"bootstrap / warm default fit ({version}; goal >= {BOOTSTRAP_RATIO})",
                round(ratio, 1),
            ]
    return table


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    # With PYTHONDONTWRITEBYTECODE set and an editable install, every process would compile this
    # package's modules from source (numpy, pandas and xarray load their installed bytecode);
    # scripts/setup writes the bytecode as a regular install does. Said beside the numbers.
    package = HERE.parent / "bayes_scaling"
    sources = list(package.rglob("*.py"))
    compiled = sum(bool(list(f.parent.glob(f"__pycache__/{f.stem}.*.pyc"))) for f in sources)
    bytecode = f"cached for {compiled} of {len(sources)} modules" + (
        " (PYTHONDONTWRITEBYTECODE set)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "package bytecode": bytecode,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--before", default=BEFORE, help="revision to compare against")
    parser.add_argument(
        "--only",
        nargs="+",
        default=[],
        help="cli warm backtest big scale passk peer (default: all)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "speed.csv")
    args = parser.parse_args(argv)
    if not (args.data / "chinchilla-epoch").exists():
        raise SystemExit(f"reference data not found in {args.data} (see ../shared/data/README.md)")
    only = set(args.only)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bs-speed-") as tmp:
        work = Path(tmp)
        envs = versions(args.before, work, work / "cache")
        rows: dict = {}
        pairs: dict = {}
        try:
            if not only or "peer" in only:
                measure_peer(envs["after"], work, args.data, pairs)
            if not only or "cli" in only:
                measure_cli(envs, work, args.data, rows)
            measure_steps(envs, work, args.data, rows, only)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "before")],
                check=False,
                capture_output=True,
            )
    import pandas as pd

    # object columns: the machine rows below leave the numeric and boolean cells empty
    table = pd.concat([summarise(rows), peer_rows(pairs)], ignore_index=True).astype(object)
    info = {**machine(), "load_avg_1m": f"{load:.2f} -> {os.getloadavg()[0]:.2f}"}
    info["before"] = args.before
    for key, value in info.items():
        table.loc[len(table), "measure"] = f"machine {key}: {value}"
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.astype(object).where(table.notna(), "").to_string(index=False))
    table.to_csv(args.out, index=False)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
