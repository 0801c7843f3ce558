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

from bayes_scaling._lazy import lazy

# Imported on first use: matplotlib is loaded only when a figure is drawn.
__getattr__, __dir__ = lazy(
    __name__,
    {
        "allocation_frontier": "bayes_scaling.plots.allocation",
        "optimum_posterior": "bayes_scaling.plots.allocation",
        "calibration_curves": "bayes_scaling.plots.calibration",
        "comparison_plot": "bayes_scaling.plots.comparison",
        "compute_grid": "bayes_scaling.plots.fan",
        "fan_chart": "bayes_scaling.plots.fan",
        "posterior_pairs": "bayes_scaling.plots.pairs",
        "prior_posterior": "bayes_scaling.plots.priors",
        "rank_histograms": "bayes_scaling.plots.sbc",
        "coverage_plot": "bayes_scaling.plots.trust",
        "error_by_distance": "bayes_scaling.plots.trust",
        "pit_histogram": "bayes_scaling.plots.trust",
    },
)
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
