"""The ``bayes-scaling`` argument parser and exit codes; the commands are in :mod:`.commands`.

Every usage error (an unknown flag, a missing argument, a value argparse cannot parse) is one
line on stderr, ``bayes-scaling: error: <command>: <message>``, and exit code 2, like every other
bad input.
"""

from __future__ import annotations

import argparse
import re
import sys

from bayes_scaling._constants import DEFAULT_PROB, DEFAULT_PROBS

EXIT_OK, EXIT_BAD_INPUT, EXIT_NOT_CONVERGED = 0, 2, 3
PROG = "bayes-scaling"


def one_line(text: str) -> str:
    """``text`` on one line: every line break (as ``str.splitlines`` sees them) becomes a space."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def error_line(message: str) -> str:
    """The one line every error is printed as."""
    return one_line(f"{PROG}: error: {message}")


#: Values that are numbers, not flags, though they start with "-" ("-1e21", "-inf"); argparse
#: before Python 3.13 takes "-1e21" for an unknown flag and reports a missing value instead.
_NEGATIVE_NUMBER = re.compile(
    r"^-(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^-(?:inf|infinity|nan)$", re.IGNORECASE
)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message):  # one line, exit 2
        command = self.prog.removeprefix(PROG).strip()
        print(error_line(f"{command}: {message}" if command else message), file=sys.stderr)
        self.exit(EXIT_BAD_INPUT)


def _numbers(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _add_column_flags(parser) -> None:
    for flag in ("n", "d", "c", "loss", "run", "group"):
        parser.add_argument(f"--{flag}-col", default=None, help=f"column holding {flag}")


def build_parser(commands: dict, extra=()) -> argparse.ArgumentParser:
    """The ``bayes-scaling`` argument parser; ``commands`` maps each subcommand to its function.

    ``extra`` holds ``add(subparsers)`` functions of the command modules that define their own
    flags (:mod:`.many`, :mod:`.downstream`, :mod:`.passk`); they set their own ``func``."""
    p = _Parser(prog=PROG, description="Bayesian neural scaling laws.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    formats = {"choices": ("table", "csv", "json"), "default": "table"}

    f = sub.add_parser("fit", help="fit a law to a runs table and save the posterior")
    f.add_argument("runs", help="runs table: .csv, .parquet or .jsonl")
    f.add_argument("--law", default="chinchilla")
    f.add_argument("--out", required=True, help="output fit file (.nc or .zarr)")
    f.add_argument("--seed", type=_whole, default=None)
    f.add_argument("--draws", type=_whole, default=None, help="default 1000 (500 above 2000 runs)")
    f.add_argument("--chains", type=_whole, default=4)
    f.add_argument("--tune", type=_whole, default=None, help="default 1000 (500 above 2000 runs)")
    f.add_argument("--likelihood", choices=("student_t", "normal"), default="student_t")
    f.add_argument("--target-accept", type=_numbers, default=0.95)
    f.add_argument(
        "--no-discrepancy",
        action="store_true",
        help="do not learn the extrapolation discrepancy (parameter-only bands)",
    )
    f.add_argument(
        "--discrepancy-prior",
        default="learned",
        help="prior of the discrepancy: learned (default), within-table, or a prior file",
    )
    f.add_argument(
        "--no-rescue",
        action="store_true",
        help="report a failed diagnostics gate at once instead of escalating (longer runs, ...)",
    )
    _add_column_flags(f)
    f.add_argument("--n-scale", type=_numbers, default=None, help="multiply N (e.g. 1e6)")
    f.add_argument("--d-scale", type=_numbers, default=None, help="multiply D (e.g. 1e9)")
    f.add_argument("--c-scale", type=_numbers, default=None, help="multiply C (e.g. 1e18)")
    f.set_defaults(func=commands["fit"])

    s = sub.add_parser("summary", help="posterior table of a saved fit")
    s.add_argument("fit")
    s.add_argument("--prob", type=_numbers, default=DEFAULT_PROB)
    s.add_argument("--format", **formats)
    s.set_defaults(func=commands["summary"])

    b = sub.add_parser("bands", help="loss bands of a saved fit")
    b.add_argument("fit")
    b.add_argument("--params", type=_numbers, nargs="+")
    b.add_argument("--tokens", type=_numbers, nargs="+")
    b.add_argument("--compute", type=_numbers, nargs="+")
    b.add_argument("--tokens-per-param", type=_numbers, default=None)
    b.add_argument("--prob", type=_numbers, nargs="+", default=list(DEFAULT_PROBS))
    b.add_argument(
        "--tolerance",
        type=_numbers,
        default=None,
        help="half-width (nats, or a fraction with --relative): adds within_tolerance and the "
        "trust horizon",
    )
    b.add_argument("--relative", action="store_true", help="read --tolerance as a fraction")
    b.add_argument(
        "--no-discrepancy", action="store_true", help="parameter-only bands (optimistic)"
    )
    b.add_argument("--format", **formats)
    b.set_defaults(func=commands["bands"])

    a = sub.add_parser("allocate", help="compute-optimal split, its risk, and a target loss")
    a.add_argument("fit")
    a.add_argument("--compute", type=_numbers, nargs="+", required=True)
    choice = a.add_mutually_exclusive_group()
    choice.add_argument("--params", type=_numbers, default=None, help="a proposed N to assess")
    choice.add_argument(
        "--tokens-per-param", type=_numbers, default=None, help="a proposed D/N ratio to assess"
    )
    a.add_argument("--target", type=_numbers, default=None, help="target loss (nats)")
    a.add_argument("--prob", type=_numbers, default=DEFAULT_PROB)
    a.add_argument(
        "--no-discrepancy", action="store_true", help="parameter-only losses and targets"
    )
    a.add_argument("--format", **formats)
    a.set_defaults(func=commands["allocate"])

    r = sub.add_parser("report", help="self-contained HTML (and Markdown) decision report")
    r.add_argument("fit")
    r.add_argument("--compute", type=_numbers, required=True)
    r.add_argument("--target", type=_numbers, default=None)
    choice = r.add_mutually_exclusive_group()
    choice.add_argument("--params", type=_numbers, default=None)
    choice.add_argument("--tokens-per-param", type=_numbers, default=None)
    r.add_argument("--title", default=None)
    r.add_argument(
        "--tolerance",
        type=_numbers,
        default=0.02,
        help="trust horizon tolerance: fraction of the loss (default 0.02), or nats with "
        "--absolute",
    )
    r.add_argument("--absolute", action="store_true", help="read --tolerance in nats")
    r.add_argument(
        "--compare", nargs="+", default=None, help="saved fits of other laws on the same runs"
    )
    r.add_argument(
        "--prior-sensitivity",
        action="store_true",
        help="refit under wide and informed priors and report what moves",
    )
    r.add_argument(
        "--scheduler",
        default="serial",
        help="where --prior-sensitivity's refits run: serial (default), local (worker processes) "
        "or a Dask scheduler address such as tcp://host:8786",
    )
    r.add_argument("--out", default="report.html")
    r.add_argument("--markdown", default=None)
    r.set_defaults(func=commands["report"])

    t = sub.add_parser("backtest", help="fit below compute cuts, score the held-out runs")
    t.add_argument("runs")
    t.add_argument("--law", default="chinchilla")
    cut = t.add_mutually_exclusive_group(required=True)
    cut.add_argument("--cut-compute", type=_numbers, nargs="+", help="fit runs below C FLOPs")
    cut.add_argument("--cut-tokens", type=_numbers, nargs="+", help="fit runs below D tokens")
    cut.add_argument("--cut-params", type=_numbers, nargs="+", help="fit runs below N params")
    t.add_argument("--prob", type=_numbers, nargs="+", default=list(DEFAULT_PROBS))
    t.add_argument(
        "--method",
        choices=("bayes", "bayes_params", "huber"),
        nargs="+",
        default=["bayes"],
        help="bayes: with the extrapolation discrepancy; bayes_params: parameter-only; "
        "huber: the classical bootstrap baseline",
    )
    t.add_argument("--seed", type=_whole, default=0)
    t.add_argument(
        "--scheduler",
        default="serial",
        help="where the cuts' fits run: serial (this process, default), local (worker "
        "processes) or a Dask scheduler address such as tcp://host:8786",
    )
    _add_column_flags(t)
    t.add_argument("--format", **formats)
    t.set_defaults(func=commands["backtest"])

    c = sub.add_parser("compare", help="does group B scale better than A? (hierarchical fit)")
    c.add_argument("runs", help="runs table with a group column, or a grouped fit saved by --out")
    c.add_argument("--law", default="chinchilla")
    c.add_argument(
        "--pool",
        choices=("exponents", "all", "none"),
        default="exponents",
        help="exponents: exponents partially pooled, coefficients per group, E shared (default); "
        "all: every law parameter partially pooled; none: every law parameter per group",
    )
    c.add_argument(
        "--pool-param",
        nargs="+",
        default=[],
        metavar="NAME=MODE",
        help="override the preset per parameter, e.g. E=independent sigma=partial "
        "(modes: shared, partial, independent)",
    )
    c.add_argument(
        "--groups", nargs=2, default=None, metavar=("A", "B"), help="baseline, candidate"
    )
    c.add_argument("--compute", type=_numbers, nargs="+", default=None, help="budgets (FLOPs)")
    c.add_argument(
        "--range",
        type=_numbers,
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="compute range in which to look for a crossover",
    )
    c.add_argument("--params", type=_numbers, nargs="+", help="also compare at these N ...")
    c.add_argument("--tokens", type=_numbers, nargs="+", help="... and D (same length)")
    c.add_argument("--prob", type=_numbers, default=DEFAULT_PROB)
    c.add_argument("--likelihood", choices=("student_t", "normal"), default="student_t")
    c.add_argument("--seed", type=_whole, default=None)
    c.add_argument("--draws", type=_whole, default=2000)
    c.add_argument("--chains", type=_whole, default=4)
    c.add_argument("--tune", type=_whole, default=1500)
    c.add_argument("--target-accept", type=_numbers, default=0.98)
    c.add_argument(
        "--no-discrepancy",
        action="store_true",
        help="parameter-only: no law error beyond the data (shared or recipe-specific)",
    )
    c.add_argument("--out", default=None, help="save the grouped fit (.nc or .zarr)")
    c.add_argument("--report", default=None, help="write the comparison report (.html)")
    c.add_argument("--plot", default=None, help="write the comparison figure (.png, .svg)")
    _add_column_flags(c)
    c.add_argument("--format", **formats)
    c.set_defaults(func=commands["compare"])

    d = sub.add_parser("demo", help="fit the bundled demo table, print results, write plots")
    d.add_argument("--out", default="bayes_scaling_demo")
    d.add_argument("--seed", type=_whole, default=1)
    d.add_argument("--draws", type=_whole, default=1000)
    d.set_defaults(func=commands["demo"])
    for add in extra:  # command groups that keep their flags in their own module
        add(sub)
    return p
