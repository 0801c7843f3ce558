"""``main``: parse, check, run one registered command, and turn every error into one line.

Exit codes: 0 success (fit converged); 2 bad input (one line on stderr starting
``bayes-scaling: error:``, no traceback; usage errors included; a file that cannot be written,
the disk full among the reasons, after keeping the fit elsewhere when possible); 3 a fit written,
or read, that did not converge (one-line reason on stderr); 130 interrupted by Ctrl-C (one line,
no traceback, nothing written: a file already at the output path is left as it was).

Ctrl-C while sampling: nutpie catches the ``KeyboardInterrupt`` and returns the draws made so
far, so one interrupt would end the sampling early and the command would go on (rescue attempts,
then a save). While a command runs, a first SIGINT therefore also arms a short repeating timer
whose signal raises ``KeyboardInterrupt`` again until it reaches :func:`main`;
:func:`~bayes_scaling.cli.checks.save_fit` writes nothing once an interrupt has been seen, and an
error (or an ending) after it is reported as the interrupt, exit 130.
"""

from __future__ import annotations

import signal
import sys
import threading
import warnings

from bayes_scaling.cli.checks import INTERRUPTED, check_args
from bayes_scaling.cli.parser import EXIT_BAD_INPUT, build_parser, error_line, one_line
from bayes_scaling.cli.registry import load_deferred
from bayes_scaling.errors import (
    ArgumentError,
    BayesScalingError,
    CacheWarning,
    ExtrapolationWarning,
    RunsWarning,
)

#: Exit code after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: Seconds between the repeated interrupts after a Ctrl-C.
REPEAT_SECONDS = 0.1
#: Warnings printed as one line each (convergence is reported by the commands' exit status).
PRINTED_WARNINGS = (RunsWarning, CacheWarning, ExtrapolationWarning)


def main(argv=None) -> int:
    """Run one command; return its exit code (0, 2 bad input, 3 not converged, 130 Ctrl-C).

    Every error, usage errors included, is one line on stderr starting ``bayes-scaling: error:``.
    ``--help`` prints the help and returns 0.
    """
    load_deferred(sys.argv[1:] if argv is None else list(argv))
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a usage error already printed as one line (2)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return _interrupted()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = _run_interruptibly(args)
    if code is None:
        return _interrupted()
    if code == EXIT_BAD_INPUT:  # the error is the one line; warnings on the way are moot
        return code
    for w in caught:
        if issubclass(w.category, PRINTED_WARNINGS):
            print(one_line(f"bayes-scaling: warning: {w.message}"), file=sys.stderr)
    return code


def _run(args) -> int:
    """The command's exit code; after a Ctrl-C, ``KeyboardInterrupt`` whatever happened next
    (a sampler stopped early makes later steps fail or answer from a few draws)."""
    try:
        check_args(args)
        code = args.func(args)
    except Exception as exc:
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt from exc
        if not isinstance(exc, BayesScalingError | OSError):
            raise
        print(error_line(_as_flags(exc, args)), file=sys.stderr)
        return EXIT_BAD_INPUT
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt
    return code


#: API arguments whose CLI flag is not their name with dashes.
_FLAG_OF = {"n_runs": "--runs", "n_sims": "--sims"}


def _as_flags(exc: Exception, args) -> str:
    """The error's text, an :class:`ArgumentError` naming this command's flag instead of the
    Python argument behind it (``n_runs: ...`` is ``--runs: ...`` on the command line)."""
    if not isinstance(exc, ArgumentError) or exc.argument.startswith("-"):
        return str(exc)
    flag = _FLAG_OF.get(exc.argument, "--" + exc.argument.replace("_", "-"))
    if flag in getattr(args, "flags", ()):  # this command's own option, not a positional
        return f"{flag}: {exc.detail}"
    return str(exc)


def _run_interruptibly(args) -> int | None:
    """The command's exit code, or None when Ctrl-C stopped it."""
    guard = _Interrupts()
    guard.arm()
    try:
        try:
            return _run(args)
        finally:
            guard.disarm()
    except KeyboardInterrupt:
        while True:  # a last repeated interrupt may land here before the guard is off
            try:
                guard.disarm()
                return None
            except KeyboardInterrupt:
                continue


def _interrupted() -> int:
    print(error_line("interrupted (Ctrl-C); nothing was written"), file=sys.stderr)
    return EXIT_INTERRUPTED


class _Interrupts:
    """SIGINT raises ``KeyboardInterrupt`` and arms a timer that raises it again every
    :data:`REPEAT_SECONDS` while armed (so that a sampler that swallows one cannot go on).
    Installed only in the main thread, where Python delivers signals."""

    def __init__(self):
        self.armed = self.installed = False
        self.saved: dict = {}
        self.repeat = hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")

    def arm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        INTERRUPTED.clear()
        self.saved[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_signal)
        if self.repeat:
            self.saved[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._on_signal)
        self.armed = self.installed = True

    def disarm(self) -> None:
        """Stop the timer, restore the handlers; safe to call again (late signals are ignored
        from its first line on)."""
        self.armed = False
        if self.repeat and self.installed:
            signal.setitimer(signal.ITIMER_REAL, 0)
        while self.saved:
            signum, handler = self.saved.popitem()
            signal.signal(signum, handler)

    def _on_signal(self, signum, frame):
        if not self.armed:  # a late signal after the command ended
            return
        if signum == signal.SIGINT and not INTERRUPTED.is_set():
            INTERRUPTED.set()
            if self.repeat:
                signal.setitimer(signal.ITIMER_REAL, REPEAT_SECONDS, REPEAT_SECONDS)
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt
