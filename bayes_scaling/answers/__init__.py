"""Answers from a fitted result, computed per posterior draw and returned as xarray objects:

- :mod:`.bands`: law-only and predictive loss bands at (N, D) points or compute budgets;
- :mod:`.allocation`: the compute-optimal split N*, D*, L* per draw, regret and risk measures;
- :mod:`.targets`: P(reach a target loss), the compute needed at probability p;
- :mod:`.decision`: the tidy allocation table that tables, the report and the CLI format;
- :mod:`.horizon`: how far beyond the largest run the band stays within a tolerance;
- :mod:`.gap` and :mod:`.comparison`: group B against group A (ΔL, crossover, multiplier);
- :mod:`.methods`: the same answers as methods of the results (``fit.bands(...)``).
"""

from bayes_scaling.answers import methods  # noqa: F401  (attaches fit.bands, fit.allocate, ...)
from bayes_scaling.answers.bands import loss_bands
from bayes_scaling.answers.decision import allocate
from bayes_scaling.answers.difference import difference_table, loss_difference
from bayes_scaling.answers.gap import compare
from bayes_scaling.answers.horizon import trust_horizon

__all__ = [
    "allocate",
    "compare",
    "difference_table",
    "loss_bands",
    "loss_difference",
    "trust_horizon",
]
