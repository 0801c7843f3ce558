"""Commands that run many fits: ``fit-many`` (a folder or a list of runs tables) and ``sbc``.

Both take ``--scheduler serial|local|ADDRESS``, like ``backtest``: ``serial`` fits in this
process (one compilation, then data swaps), ``local`` on worker processes of this machine, and a
Dask scheduler address (``tcp://host:8786``) on that cluster.

    bayes-scaling fit-many RUNS_OR_FOLDER... --out-dir DIR [--law chinchilla] [--seed S]
                           [--draws N] [--chains K] [--tune T] [--no-discrepancy]
                           [--scheduler serial|local|ADDRESS] [--format table|csv|json]
    bayes-scaling sbc [--law chinchilla] --sims S [--runs LOW HIGH] [--draws N] [--chains K]
                      [--tune T] [--seed S] [--scheduler ...] [--plot F.png] [--format ...]

``fit-many`` reads and checks every table before any sampling (a bad table is one error line
naming it, exit 2), writes ``DIR/<table name>.nc`` for each, and prints one row per table in the
order given: ``table, runs, file, converged, seconds, error``. Exit code 3 when any fit did not
converge or failed. A fit that cannot be saved (a full disk, a folder not writable) is kept
elsewhere when possible, as ``fit`` does, and the others are still saved: the table says where
each went and why not, one error line names the first failure, exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling import inference, plots
from bayes_scaling.cli.checks import (
    FIT_SUFFIXES,
    PLOT_SUFFIXES,
    column_flags,
    output_folder,
    output_path,
    path_text,
    sampler,
    save_fit,
    scheduler,
)
from bayes_scaling.cli.checks import _law as law_of
from bayes_scaling.cli.output import client_of, column_map, formatted, save_figure
from bayes_scaling.cli.parser import (
    EXIT_BAD_INPUT,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    add_column_flags,
    add_format_flag,
    add_law_flag,
    add_sampler_flags,
    number,
    one_line,
    whole,
)
from bayes_scaling.cli.registry import Command, register
from bayes_scaling.data import load_runs
from bayes_scaling.data.runs import check_runs_for_law
from bayes_scaling.errors import ArgumentError, FitFileError, RunsError
from bayes_scaling.laws import get_law

#: Suffixes of the runs tables ``fit-many`` picks from a folder.
TABLE_SUFFIXES = (".csv", ".parquet", ".jsonl")
SCHEDULER_HELP = (
    "where the fits run: serial (this process, default), local (worker processes) or a Dask "
    "scheduler address such as tcp://host:8786"
)


def fit_many_arguments(m) -> None:
    m.add_argument("runs", nargs="+", help="runs tables (.csv, .parquet, .jsonl) or folders")
    m.add_argument("--out-dir", required=True, help="folder for the fits (<table name>.nc)")
    add_law_flag(m)
    add_sampler_flags(m, seed=0)  # each table's fit has fit's own defaults
    m.add_argument("--no-discrepancy", action="store_true", help="parameter-only bands")
    m.add_argument("--scheduler", default="serial", help=SCHEDULER_HELP)
    add_column_flags(m)
    add_format_flag(m)


def sbc_arguments(s) -> None:
    add_law_flag(s)
    s.add_argument("--sims", type=whole, required=True, help="number of simulated tables")
    s.add_argument("--runs", type=whole, nargs=2, default=[20, 80], metavar=("LOW", "HIGH"))
    add_sampler_flags(s, seed=0, draws=400, tune=400, chains=2)  # run_sbc's defaults
    s.add_argument("--alpha", type=number, default=0.01, help="uniformity test level")
    s.add_argument("--scheduler", default="serial", help=SCHEDULER_HELP)
    s.add_argument("--plot", default=None, help="write the rank histograms (.png, .svg)")
    add_format_flag(s)


def check_fit_many(args) -> None:
    law_of(args.law)
    sampler(args)
    scheduler(args)
    for given in args.runs:
        path_text(given, "runs")
    column_flags(args)
    output_folder(args.out_dir, "--out-dir")


def check_sbc(args) -> None:
    law_of(args.law)
    sampler(args)
    scheduler(args)
    args.sims = check.count(args.sims, "--sims")
    low, high = (check.count(v, "--runs") for v in args.runs)
    if low > high:
        raise ArgumentError("--runs", f"LOW {low} is above HIGH {high}; give LOW HIGH")
    args.runs = [low, high]
    args.alpha = check.probability(args.alpha, "--alpha")
    if args.plot is not None:
        output_path(args.plot, "--plot", PLOT_SUFFIXES)


def tables_of(paths: list[str]) -> list[Path]:
    """The runs tables named by ``paths`` (files, or folders of tables), in the order given."""
    tables = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in TABLE_SUFFIXES)
            if not found:
                raise ArgumentError(
                    "runs", f"the folder {given!r} holds no {'/'.join(TABLE_SUFFIXES)} table"
                )
            tables += found
        elif path.exists():
            tables.append(path)
        else:
            raise ArgumentError("runs", f"no such file or folder: {given!r}")
    names = [t.stem for t in tables]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ArgumentError(
            "runs",
            f"two tables share the name {twice[0]!r}: their fits would overwrite each "
            "other; rename one or fit them in two calls",
        )
    return tables


def cmd_fit_many(args) -> int:
    """Fit every table (checked first), save each fit, print one row per table."""
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cols = {k: v for k, v in column_map(args).items() if v}
    tables = tables_of(args.runs)
    law = get_law(args.law)
    runs = []
    for path in tables:  # every table is read and checked for the law before any sampling
        try:
            runs.append(load_runs(path, **cols))
            check_runs_for_law(runs[-1], len(law.params), law.exponents, inputs=law.inputs)
        except RunsError as exc:
            raise RunsError(f"{path}: {exc}") from exc
    if args.seed + len(tables) - 1 > check.MAX_SEED:  # table i is fitted with seed + i
        raise ArgumentError(
            "--seed", f"the seed of the last of {len(tables)} tables would pass 2^63 - 1"
        )
    options = {"draws": args.draws, "chains": args.chains, "tune": args.tune, "progress": False}
    options["discrepancy"] = not args.no_discrepancy
    tasks = [
        inference.FitTask(table, args.law, {**options, "seed": args.seed + i}, name=path.stem)
        for i, (path, table) in enumerate(zip(tables, runs, strict=True))
    ]
    batch = inference.fit_many(tasks, client=client_of(args.scheduler), progress=False)
    rows, unsaved = [], []
    for path, table, result in zip(tables, runs, batch, strict=True):
        target = out_dir / f"{path.stem}{FIT_SUFFIXES[0]}"
        file, error = "", "" if result.ok else result.error.splitlines()[0]
        if result.ok:
            try:  # a fit that cannot be saved is kept elsewhere if possible; the others go on
                file = str(save_fit(result.fit, target))
            except FitFileError as exc:
                error = one_line(str(exc))
                unsaved.append(f"{path.stem}: {error}")
        rows.append(
            {
                "table": str(path),
                "runs": len(table),
                "file": file,
                "converged": bool(result.ok and result.fit.converged),
                "seconds": round(result.seconds, 2),
                "error": error,
            }
        )
    table = pd.DataFrame(rows)
    if unsaved:  # the table still shows every fit; the failure is the command's, exit 2
        meta = {"converged": False, "reason": f"{len(unsaved)} fits not saved", "law": args.law}
        print(formatted(table, args.format, meta), end="")
        print(
            one_line(
                f"bayes-scaling: error: {len(unsaved)} of {len(table)} fits could not be "
                f"saved in {str(out_dir)!r}: {unsaved[0]}"
            ),
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    all_good = bool(table["converged"].all())
    reason = "" if all_good else f"{int((~table['converged']).sum())} of {len(table)} fits"
    meta = {
        "converged": all_good,
        "reason": f"{reason} did not converge or failed",
        "law": args.law,
    }
    print(formatted(table, args.format, meta), end="")
    return EXIT_OK if all_good else EXIT_NOT_CONVERGED


def cmd_sbc(args) -> int:
    """Simulation-based calibration: the rank uniformity of each parameter."""
    from bayes_scaling.trust.sbc import sbc  # the simulations and fits, only when this runs

    result = sbc(
        args.law,
        n_sims=args.sims,
        n_runs=tuple(args.runs),
        draws=args.draws,
        chains=args.chains,
        tune=args.tune,
        seed=args.seed,
        client=client_of(args.scheduler),
    )
    table = result.uniformity()
    passed = result.passed(alpha=args.alpha)
    if args.plot:
        save_figure(plots.rank_histograms(result), args.plot, "--plot")
    failed = int((~result.sims["converged"].astype(bool)).sum())
    reasons = [] if passed else ["ranks not uniform (see p-values)"]
    if failed:  # kept in the ranks (dropping them would bias them), and said
        reasons.append(f"{failed} of {len(result.sims)} simulations' fits failed the gate")
    meta = {
        "converged": passed and not failed,
        "reason": "; ".join(reasons),
        "law": args.law,
        "failed_simulations": failed,
    }
    print(formatted(table, args.format, meta), end="")
    return EXIT_OK if passed and not failed else EXIT_NOT_CONVERGED


register(
    Command(
        "fit-many",
        "fit a law to many runs tables (a folder or a list)",
        fit_many_arguments,
        cmd_fit_many,
        check_fit_many,
        usage=__doc__.split("\n\n")[2].split("    bayes-scaling sbc")[0],
    ),
    Command(
        "sbc",
        "simulation-based calibration of the fitting procedure",
        sbc_arguments,
        cmd_sbc,
        check_sbc,
        usage="    bayes-scaling sbc" + __doc__.split("\n\n")[2].split("    bayes-scaling sbc")[1],
    ),
)
