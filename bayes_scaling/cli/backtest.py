"""``bayes-scaling backtest``: fit below cuts of compute, tokens or parameters; score the rest.

bayes-scaling backtest RUNS --law chinchilla (--cut-compute C... | --cut-tokens D... |
                       --cut-params N...) [--prob P...] [--method bayes bayes_params huber]
                       [--scheduler serial|local|tcp://host:8786] [--format table|csv|json]
"""

from __future__ import annotations

import sys

from bayes_scaling._constants import DEFAULT_PROBS
from bayes_scaling.cli import checks
from bayes_scaling.cli.output import client_of, column_map, formatted
from bayes_scaling.cli.parser import (
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    add_column_flags,
    add_format_flag,
    add_law_flag,
    number,
    whole,
)
from bayes_scaling.cli.registry import Command, register
from bayes_scaling.data import load_runs
from bayes_scaling.errors import ArgumentError
from bayes_scaling.trust.backtests import CSV_COLUMNS, backtest, by_distance, coverage


def cmd_backtest(args) -> int:

    runs = load_runs(args.runs, **{k: v for k, v in column_map(args).items() if v})
    cut_on, cuts = next(
        (col, v)
        for col, v in (
            ("compute", args.cut_compute),
            ("n_tokens", args.cut_tokens),
            ("n_params", args.cut_params),
        )
        if v
    )
    flag = {"compute": "--cut-compute", "n_tokens": "--cut-tokens", "n_params": "--cut-params"}
    try:
        table = backtest(
            runs,
            law=args.law,
            cut=cuts,
            cut_on=cut_on,
            prob=args.prob,
            method=args.method,
            seed=args.seed,
            client=client_of(args.scheduler),
        )
    except ArgumentError as err:  # the API's "cut" is this command's --cut-* flag
        if err.argument != "cut":
            raise
        raise ArgumentError(flag[cut_on], str(err).removeprefix("cut: ")) from err
    converged = all(table.attrs["converged"].values())
    meta = {
        "converged": converged,
        "law": args.law,
        "method": args.method,
        "cut_on": cut_on,
        "discrepancy": {f"{k:g}": v for k, v in table.attrs["discrepancy"].items()},
        "reason": "" if converged else "a fit below a cut did not converge",
    }
    several = ["method"] if len(args.method) > 1 else []
    shown = table[CSV_COLUMNS + several] if args.format == "csv" else table
    print(formatted(shown, args.format, meta), end="")
    if args.format == "table":
        print(formatted(coverage(table), "table", meta), end="")
        print(formatted(by_distance(table), "table", meta), end="")
        for cut, text in meta["discrepancy"].items():
            print(f"# cut {cut}: {text}")
    if not converged:
        print("bayes-scaling: a backtest fit did not converge", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def backtest_arguments(t) -> None:
    t.add_argument("runs")
    add_law_flag(t)
    cut = t.add_mutually_exclusive_group(required=True)
    cut.add_argument("--cut-compute", type=number, nargs="+", help="fit runs below C FLOPs")
    cut.add_argument("--cut-tokens", type=number, nargs="+", help="fit runs below D tokens")
    cut.add_argument("--cut-params", type=number, nargs="+", help="fit runs below N params")
    t.add_argument("--prob", type=number, nargs="+", default=list(DEFAULT_PROBS))
    t.add_argument(
        "--method",
        choices=("bayes", "bayes_params", "huber"),
        nargs="+",
        default=["bayes"],
        help="bayes: with the extrapolation discrepancy; bayes_params: parameter-only; "
        "huber: the classical bootstrap baseline",
    )
    t.add_argument("--seed", type=whole, default=0)
    t.add_argument(
        "--scheduler",
        default="serial",
        help="where the cuts' fits run: serial (this process, default), local (worker "
        "processes) or a Dask scheduler address such as tcp://host:8786",
    )
    add_column_flags(t)
    add_format_flag(t)


register(
    Command(
        "backtest",
        "fit below compute cuts, score the held-out runs",
        backtest_arguments,
        cmd_backtest,
        checks.check_backtest,
        usage=__doc__.split("\n\n")[1],
    )
)
