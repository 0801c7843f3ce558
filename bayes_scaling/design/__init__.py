"""Which run next: Bayesian design of the next runs of a ladder, under a FLOP budget.

A capability over the core, in the core's stage order (each module imports only from those above
it in this list, and from the core)::

    candidates → objectives → worlds → updates → result → selection → plots → report → cli

- :mod:`.candidates`: the pool (a user's table with ``params``, ``tokens``, optional ``cost``; or
  proposed isoFLOP sweeps), checked with row and column;
- :mod:`.objectives`: what a design makes smaller, as data (band width, variance of log L*, regret
  of the split), each a pure function of weighted posterior draws;
- :mod:`.worlds`: the posterior as arrays and the fantasy worlds the candidates are judged in;
- :mod:`.updates`: how a pick changes the posterior (a linearised Gaussian update of the draws,
  the default, or importance reweighting in the fantasy worlds);
- :mod:`.result`: :class:`DesignResult`, the picks in the order chosen with the band before/after;
- :mod:`.selection`: :func:`design`, the greedy batch under the budget;
- :mod:`.plots`, :mod:`.report`, :mod:`.cli`: the figure, report section, ``bayes-scaling design``.

``bayes_scaling.design`` the attribute is the function (``bs.design(...)``); import the modules
with ``from bayes_scaling.design import selection``.

>>> import bayes_scaling as bs
>>> runs = bs.datasets.demo()
>>> d = bs.design(runs, "pool.csv", budget=5e20, compute=[1e23], seed=1)  # doctest: +SKIP
>>> d.picks                                                              # doctest: +SKIP
"""

from bayes_scaling.design import cli, report  # noqa: F401  (register the command, attach methods)
from bayes_scaling.design.candidates import isoflop_grid, read_pool
from bayes_scaling.design.objectives import OBJECTIVES, Objective
from bayes_scaling.design.result import DesignResult
from bayes_scaling.design.selection import design

__all__ = ["OBJECTIVES", "DesignResult", "Objective", "design", "isoflop_grid", "read_pool"]
