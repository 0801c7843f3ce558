"""The command line, ``bayes-scaling``: a thin layer over the public API.

Every command is a record (flags, check, run) in one registry, :mod:`.registry`:

- :mod:`.commands`: fit, summary, bands, allocate, report;
- :mod:`.backtest`, :mod:`.compare`, :mod:`.many` (fit-many, sbc), :mod:`.demo`: imported when a
  command line names them (:func:`.registry.defer`);
- a capability registers its own commands from its package (``bayes_scaling.passk.cli``,
  ``bayes_scaling.downstream.cli``, ``bayes_scaling.design.cli``);
- :mod:`.parser`: the parser made from the registry, the shared flags and the exit codes;
- :mod:`.checks`: every command's arguments and output paths, checked before any file is read or
  any sampler starts, and a fit kept elsewhere when its file cannot be written;
- :mod:`.output`: what the commands share (column map, table formats, exit status);
- :mod:`.entry`: ``main``, which runs one command and turns every error into one line.

``python -m bayes_scaling.cli`` runs the command without the console script.
"""

# Importing a command module registers its records; the order here is the order of --help.
from bayes_scaling.cli import commands  # noqa: F401, I001
from bayes_scaling.cli.entry import main
from bayes_scaling.cli.registry import COMMANDS, defer, usage

# The other commands of the core are imported when a command line names them (all of them for
# --help), as the capabilities' are: a saved fit's summary, bands or allocation then never imports
# the backtests, SBC, the grouped comparison or the batch fitter (a sixth of its imports).
for _name, _module in (
    ("backtest", "backtest"),
    ("compare", "compare"),
    ("fit-many", "many"),
    ("sbc", "many"),
    ("demo", "demo"),
):
    defer(_name, f"bayes_scaling.cli.{_module}")
del _name, _module

__all__ = ["COMMANDS", "main", "usage"]
