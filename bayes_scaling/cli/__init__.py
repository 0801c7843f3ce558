"""The command line, ``bayes-scaling``: a thin layer over the public API.

- :mod:`.parser`: the argument parser, its vocabulary and the exit codes;
- :mod:`.commands`: fit, summary, bands, allocate, report, backtest, demo, and ``main``;
- :mod:`.compare`: ``compare``, grouped fits and two recipes;
- :mod:`.checks`: every command's arguments and output paths, checked before any file is read or
  any sampler starts, and a fit kept elsewhere when its file cannot be written;
- :mod:`.output`: what the commands share (column map, table formats, exit status).

``python -m bayes_scaling.cli`` runs the command without the console script.
"""

from bayes_scaling.cli.commands import main

__all__ = ["main"]
