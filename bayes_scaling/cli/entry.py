"""``main``: parse, check, run one registered command, and turn every error into one line.

Exit codes: 0 success (fit converged); 2 bad input (one line on stderr starting
``bayes-scaling: error:``, no traceback; usage errors included); 3 a fit written, or read, that
did not converge (one-line reason on stderr).
"""

from __future__ import annotations

import sys
import warnings

from bayes_scaling.cli.checks import check_args
from bayes_scaling.cli.parser import EXIT_BAD_INPUT, build_parser, error_line, one_line
from bayes_scaling.errors import BayesScalingError, RunsWarning


def main(argv=None) -> int:
    """Run one command; return its exit code (0, 2 bad input, 3 not converged).

    Every error, usage errors included, is one line on stderr starting ``bayes-scaling: error:``.
    ``--help`` prints the help and returns 0.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a usage error already printed as one line (2)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_args(args)
            code = args.func(args)
        except (BayesScalingError, OSError) as exc:
            print(error_line(str(exc)), file=sys.stderr)
            code = EXIT_BAD_INPUT
    for w in caught:  # runs warnings as one line each; convergence is reported by _status
        if issubclass(w.category, RunsWarning):
            print(one_line(f"bayes-scaling: warning: {w.message}"), file=sys.stderr)
    return code
