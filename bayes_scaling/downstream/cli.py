"""``bayes-scaling downstream``: fit a two-step chain to a task, and its metric bands.

    bayes-scaling downstream fit RUNS --metric COL --via COL [--link sigmoid|exponential]
                                 [--chance P] [--ceiling U] [--law chinchilla] [--seed S]
                                 [--draws N] [--chains K] [--tune T] [--checkpoints CKPT.csv]
                                 [--noise-floor S] [--no-direct] [--no-discrepancy] --out D.nc
    bayes-scaling downstream bands D.nc (--params N... --tokens D... | --compute C...)
                                 [--prob 0.5 0.9] [--tokens-per-param R]
                                 [--format table|csv|json]

``RUNS`` has one row per model: params, tokens (or compute), the ``--via`` column and the
``--metric`` column. ``bands`` prints ``params, tokens, compute, prob, lower, median, upper``, one
row per point and probability, points in the order given. Exit codes as for ``fit``: 0
converged, 3 written (or read) but not converged, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import sys
import warnings

import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling.cli.checks import FIT_SUFFIXES, output_path, sampler
from bayes_scaling.cli.output import formatted, read_fit, result_meta, status, write_fit
from bayes_scaling.cli.parser import add_format_flag, add_law_flag, add_sampler_flags, one_line
from bayes_scaling.cli.parser import number as _number
from bayes_scaling.cli.registry import Command, register
from bayes_scaling.data.read import read_table
from bayes_scaling.downstream.answers import DOWNSTREAM_PROBS
from bayes_scaling.downstream.links import known_links
from bayes_scaling.downstream.result import DownstreamFit
from bayes_scaling.errors import ArgumentError, FitFileError

#: The columns ``downstream bands`` prints.
BANDS_COLUMNS = ["params", "tokens", "compute", "prob", "lower", "median", "upper"]


def downstream_arguments(top) -> None:
    """``downstream fit`` and ``downstream bands``."""
    sub = top.add_subparsers(dest="downstream_command", required=True, parser_class=type(top))

    f = sub.add_parser("fit", help="fit (N, D) -> via loss -> metric and save it")
    f.add_argument("runs", help="runs table (.csv, .parquet, .jsonl): one row per model")
    f.add_argument("--metric", required=True, help="column of the downstream metric")
    f.add_argument("--via", required=True, help="column of the intermediate loss")
    f.add_argument("--link", choices=known_links(), default="sigmoid")
    f.add_argument("--chance", type=_number, default=None, help="metric of a random guess")
    f.add_argument("--ceiling", type=_number, default=1.0, help="the metric's bound (1)")
    add_law_flag(f)
    add_sampler_flags(f, draws=1000, tune=1000)  # fit_downstream's defaults
    f.add_argument("--checkpoints", default=None, help="every checkpoint (noise floor)")
    f.add_argument("--noise-floor", type=_number, default=None)
    f.add_argument("--no-direct", action="store_true", help="skip the direct one-step law")
    f.add_argument("--no-discrepancy", action="store_true", help="step 1 parameter-only")
    f.add_argument("--out", required=True, help="output file (.nc or .zarr)")

    b = sub.add_parser("bands", help="metric bands of a saved downstream fit")
    b.add_argument("fit")
    b.add_argument("--params", type=_number, nargs="+")
    b.add_argument("--tokens", type=_number, nargs="+")
    b.add_argument("--compute", type=_number, nargs="+")
    b.add_argument("--tokens-per-param", type=_number, default=None)
    b.add_argument("--prob", type=_number, nargs="+", default=list(DOWNSTREAM_PROBS))
    add_format_flag(b)


def check_downstream(args) -> None:
    """Arguments checked before any file is read or any sampler starts."""
    if args.downstream_command == "fit":
        output_path(args.out, "--out", FIT_SUFFIXES)
        if args.chance is not None:
            check.non_negative(args.chance, "--chance")
            if args.chance >= args.ceiling:
                raise ArgumentError(
                    "--chance",
                    f"{args.chance:g} is not below --ceiling {args.ceiling:g}; give the metric "
                    "of a random guess (e.g. 0.25 for four options)",
                )
        check.positive(args.ceiling, "--ceiling")
        sampler(args)
        return
    check.probabilities(args.prob, "--prob")
    sizes = {"--params": args.params, "--tokens": args.tokens, "--compute": args.compute}
    for flag, values in sizes.items():
        check.optional_positive_array(values, flag)
    if args.compute is None and (args.params is None or args.tokens is None):
        raise ArgumentError(
            "--compute", "give --params N... with --tokens D..., or --compute C... (FLOPs)"
        )
    if args.params is not None and args.tokens is not None and args.compute is not None:
        raise ArgumentError("--compute", "give --params with --tokens, or --compute, not all")
    if args.tokens_per_param is not None:
        check.positive(args.tokens_per_param, "--tokens-per-param")
        if args.compute is None:
            raise ArgumentError("--tokens-per-param", "splits a compute budget; give --compute too")


def run(args) -> int:
    """Run ``downstream fit`` or ``downstream bands``; the exit code."""
    if args.downstream_command == "fit":
        return _fit(args)
    return _bands(args)


def _fit(args) -> int:
    from bayes_scaling.downstream.fit import fit_downstream  # the sampler: only here

    checkpoints = read_table(args.checkpoints) if args.checkpoints else None
    result = fit_downstream(
        args.runs,
        metric=args.metric,
        via=args.via,
        link=args.link,
        chance=args.chance,
        ceiling=args.ceiling,
        law=args.law,
        seed=args.seed,
        draws=args.draws,
        chains=args.chains,
        tune=args.tune,
        checkpoints=checkpoints if isinstance(checkpoints, pd.DataFrame) else None,
        noise_floor=args.noise_floor,
        direct=not args.no_direct,
        discrepancy=not args.no_discrepancy,
    )
    return write_fit(result, args.out)


def _bands(args) -> int:
    result = read_fit(args.fit)
    if not isinstance(result, DownstreamFit):
        raise FitFileError(
            f"{str(args.fit)!r} is not a downstream fit; use 'bayes-scaling bands' for a "
            "scaling-law fit, or write one with 'bayes-scaling downstream fit'"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = result.bands(
            params=args.params,
            tokens=args.tokens,
            compute=args.compute,
            prob=args.prob,
            tokens_per_param=args.tokens_per_param,
        )
    for w in caught:
        print(one_line(f"bayes-scaling: warning: {w.message}"), file=sys.stderr)
    meta = {**result_meta(result), "metric": result.metric, "via": result.via}
    print(formatted(table[BANDS_COLUMNS], args.format, meta), end="")
    return status(result)


register(
    Command(
        "downstream",
        "downstream metrics through a two-step chain",
        downstream_arguments,
        run,
        check_downstream,
        usage=__doc__.split("\n\n")[1],
    )
)
