"""Figures. Each function takes computed objects (runs, bands, draws) and returns a Figure.

- :func:`fan_chart`: loss bands against compute, with the runs and the extrapolated region;
  :func:`compute_grid` gives the budgets to compute them at.
- :func:`posterior_pairs`: corner plot of the posterior, with published fits as references.
- :func:`prior_posterior`: prior and posterior densities, one panel per parameter.
- :func:`optimum_posterior`, :func:`allocation_frontier`: the optimal split and its risk.
- :func:`coverage_plot`, :func:`pit_histogram`, :func:`error_by_distance`: backtests.
- :func:`rank_histograms`: simulation-based calibration.
- :func:`calibration_curves`: coverage across ladders, leave one out, per method.
- :func:`comparison_plot`: two recipes' loss fans, their difference and P(B better).

Nothing here samples; compute first (``fit.bands``, ``draw_priors``), then plot.
"""

from bayes_scaling.plots.allocation import allocation_frontier, optimum_posterior
from bayes_scaling.plots.calibration import calibration_curves
from bayes_scaling.plots.comparison import comparison_plot
from bayes_scaling.plots.fan import compute_grid, fan_chart
from bayes_scaling.plots.pairs import posterior_pairs
from bayes_scaling.plots.priors import prior_posterior
from bayes_scaling.plots.sbc import rank_histograms
from bayes_scaling.plots.trust import coverage_plot, error_by_distance, pit_histogram

__all__ = [
    "allocation_frontier",
    "calibration_curves",
    "comparison_plot",
    "compute_grid",
    "coverage_plot",
    "error_by_distance",
    "fan_chart",
    "optimum_posterior",
    "pit_histogram",
    "posterior_pairs",
    "prior_posterior",
    "rank_histograms",
]
