"""The ``bayes-scaling`` argument parser, the flags many commands share, and the exit codes.

The parser is made from the command records of :mod:`.registry`: one sub-parser per command, its
flags added by the record. Flags that several commands take are added by one function each
(:func:`add_sampler_flags`, :func:`add_column_flags`, :func:`add_format_flag`), so they have the
same names, defaults and rules everywhere; their defaults are the API's.

Every usage error (an unknown flag, a missing argument, a value argparse cannot parse) is one
line on stderr, ``bayes-scaling: error: <command>: <message>``, and exit code 2, like every other
bad input.
"""

from __future__ import annotations

import argparse
import re
import sys

from bayes_scaling.cli.registry import COMMANDS, usage

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


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def exact_number(text: str) -> int | float:
    """An integer literal as an exact ``int`` (``12345678901234567`` stays itself; as a float it
    would be rounded above 2^53), anything else as :func:`number` (``1e4``, ``2.5``)."""
    try:
        return int(text)
    except ValueError:
        return number(text)


def whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def add_column_flags(parser) -> None:
    """``--n-col --d-col --c-col --loss-col --run-col --group-col``: the runs table's columns."""
    for flag in ("n", "d", "c", "loss", "run", "group"):
        parser.add_argument(f"--{flag}-col", default=None, help=f"column holding {flag}")


def add_law_flag(parser, default: str | None = "chinchilla", said: str = "default") -> None:
    """``--law NAME`` (default chinchilla), with the laws' names in its help. ``default=None``:
    the command chooses (``said`` tells how, in the help)."""
    parser.add_argument(
        "--law",
        default=default,
        help=f"chinchilla ({said}), kaplan, farseer, power[:n_params|n_tokens|compute], "
        "broken[:...], data_constrained[:muennighoff2023], or a registered law",
    )


def add_format_flag(parser) -> None:
    """``--format table|csv|json`` (default table)."""
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")


def add_sampler_flags(
    parser,
    *,
    seed: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int = 4,
    target_accept: float | None = None,
) -> None:
    """``--seed --draws --tune --chains`` (and ``--target-accept`` when given a default).

    Every fitting command takes these four with the same rules (checked by
    :func:`bayes_scaling.cli.checks.sampler`): ``--draws``, ``--chains``, ``--tune`` ≥ 1 (nutpie
    cannot sample without tuning steps), ``--seed`` ≥ 0. Pass the API's defaults; ``None`` means
    "the fit's own default" (for :func:`bayes_scaling.fit`, 1000 draws and 1000 tuning steps, 500
    each above 2000 runs).
    """
    parser.add_argument("--seed", type=whole, default=seed, help="random seed (reproducible)")
    parser.add_argument("--draws", type=whole, default=draws, help=_default_help(draws))
    parser.add_argument("--tune", type=whole, default=tune, help=_default_help(tune))
    parser.add_argument("--chains", type=whole, default=chains, help=f"default {chains}")
    if target_accept is not None:
        parser.add_argument("--target-accept", type=number, default=target_accept)


def _default_help(value) -> str:
    return (
        f"default {value}"
        if value is not None
        else "default: the fit's (1000; 500 above 2000 runs)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``bayes-scaling`` argument parser: one sub-parser per registered command."""
    p = _Parser(
        prog=PROG,
        description="Bayesian neural scaling laws.",
        epilog="usage of every command:\n" + usage(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS.values():
        child = sub.add_parser(command.name, help=command.help)
        command.arguments(child)
        flags = _option_strings(child)
        child.set_defaults(func=command.run, check=command.check, flags=frozenset(flags))
    return p


def _option_strings(parser) -> set[str]:
    """Every option of ``parser`` and of its sub-commands (``passk bands --models``)."""
    out = set()
    for action in parser._actions:
        out.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                out |= _option_strings(child)
    return out
