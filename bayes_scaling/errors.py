"""The project's own exception and warning types.

Every problem with user input is raised as a subclass of :class:`BayesScalingError`, so that a
script can catch one type, and the CLI can turn it into a one-line message with exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass


class BayesScalingError(Exception):
    """Base class of every error this package raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem in a runs table: where it is and how to fix it. ``column`` is the canonical
    name; ``source``, when given and different, the table's own header that was read as it
    (the message names both: ``column 'tokens' (read as 'n_tokens')``)."""

    row: object | None
    column: str | None
    message: str
    source: str | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(column_text(self.column, self.source))
        return f"{', '.join(where)}: {self.message}" if where else self.message


def column_text(column: str, source=None) -> str:
    """``column 'n_tokens'``, or ``column 'tokens' (read as 'n_tokens')`` when the table's
    header ``source`` differs from the canonical name."""
    if source is None or str(source) == column:
        return f"column {column!r}"
    return f"column {str(source)!r} (read as {column!r})"


#: Said once in a message that names rows: how they are counted (not a file's line numbers).
ROWS_NOTE = "(rows count from 0: row 0 is the table's first data row)"


class RunsError(BayesScalingError, ValueError):
    """A runs table that cannot be used.

    ``problems`` lists every problem found, not only the first.
    """

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(None, None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        message = "; ".join(str(p) for p in self.problems)
        if any(p.row is not None for p in self.problems):
            message += f" {ROWS_NOTE}"
        super().__init__(message)

    def __reduce__(self):  # across processes (a batch's tasks) with every problem and note
        return (type(self), (self.problems,), self.__dict__)


class ArgumentError(BayesScalingError, ValueError):
    """A bad argument to a public function or a CLI command.

    The message names the argument, what was given and how to fix it; ``argument`` holds the
    argument's name (the CLI prints it as its ``--flag``).
    """

    def __init__(self, argument: str, message: str):
        self.argument, self.detail = argument, message
        super().__init__(f"{argument}: {message}")

    def __reduce__(self):  # across processes (a batch's tasks): both arguments, any note
        return (type(self), (self.argument, self.detail), self.__dict__)


class LawError(BayesScalingError, ValueError):
    """An unknown law, or a law definition that cannot work."""


class PriorError(BayesScalingError, ValueError):
    """A prior that names an unknown parameter or distribution."""


class FitFileError(BayesScalingError, ValueError):
    """A file that is not a saved bayes_scaling fit, or that cannot be read back."""


class RunsWarning(UserWarning):
    """A runs table that can be used but looks suspicious (e.g. C far from 6ND, replicates)."""


class ExtrapolationWarning(UserWarning):
    """Points outside the runs in a direction the extrapolation error was not learned for (below
    the smallest run): their bands carry parameter uncertainty only."""


class CacheWarning(UserWarning):
    """A compiled-model cache folder that is not safe to load from; fits compile without it."""


class ConvergenceWarning(UserWarning):
    """A fit whose sampler diagnostics failed the gate; its results carry ``converged=False``."""
