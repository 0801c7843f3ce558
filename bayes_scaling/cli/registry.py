"""The one registry of ``bayes-scaling`` commands: a command is a record, not a branch of code.

Each CLI module (the core's :mod:`.commands`, :mod:`.compare`, :mod:`.many`; a capability's
``cli`` module, such as :mod:`bayes_scaling.passk.cli`) defines its :class:`Command` records and
registers them here when it is imported. :func:`bayes_scaling.cli.parser.build_parser` makes one
sub-parser per record, ``main`` runs ``check`` before any file is read or any sampler starts, then
``run``. The usage text (:func:`usage`) is made from the same records, so it lists every command.

>>> from bayes_scaling.cli.registry import COMMANDS
>>> "fit" in COMMANDS  # doctest: +SKIP
True
"""

from __future__ import annotations

import argparse
import importlib
import textwrap
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One ``bayes-scaling`` command.

    Attributes
    ----------
    name : str
        The sub-command (``"fit"``, ``"passk"``).
    help : str
        One line for ``bayes-scaling --help``.
    arguments : callable
        ``arguments(parser)`` adds the command's flags (and sub-commands) to its sub-parser.
    run : callable
        ``run(args) -> int``: the exit code (0, 2 bad input, 3 not converged).
    check : callable, optional
        ``check(args)``: raises :class:`~bayes_scaling.errors.ArgumentError` for a bad argument and
        may normalise ``args`` in place; run before any file is read or any sampler starts.
    usage : str
        The command's synopsis lines, shown in :func:`usage`.
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    check: Callable[[argparse.Namespace], None] | None = None
    usage: str = ""


#: Every registered command, by name, in the order registered.
COMMANDS: dict[str, Command] = {}


def register(*commands: Command) -> None:
    """Add ``commands`` to the registry; a name registered twice is a programming error."""
    for command in commands:
        if command.name in COMMANDS and COMMANDS[command.name] is not command:
            raise ValueError(f"the command {command.name!r} is already registered")
        COMMANDS[command.name] = command


#: Commands not imported yet: the command's name -> the module whose import registers it. The
#: package root (the capabilities) and :mod:`bayes_scaling.cli` (the core's commands beyond fit,
#: summary, bands, allocate, report) fill it with :func:`defer`, so that a command never pays for
#: importing the others; :func:`load_deferred` imports what a command line needs.
DEFERRED: dict[str, str] = {}


def defer(name: str, module: str) -> None:
    """Register the command ``name`` as defined by ``module``, imported only when needed."""
    if name not in COMMANDS:
        DEFERRED[name] = module


def load_deferred(argv) -> None:
    """Import the deferred command that ``argv`` names; every deferred command when it names
    none (``--help``, no command, an unknown one: the parser then lists them all)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in COMMANDS:
        return
    for name in [first] if first in DEFERRED else list(DEFERRED):
        if name not in COMMANDS:
            importlib.import_module(DEFERRED[name])


def usage() -> str:
    """The synopsis of every registered command, one block each."""
    blocks = (textwrap.dedent(c.usage).strip("\n") for c in COMMANDS.values() if c.usage)
    return "\n".join(blocks) + "\n"
