"""The report's figures: compute their inputs, draw them, and embed them as PNG data URIs.

Three figures, by key (the fan chart alone for a law in compute alone, L(C)):

- ``fan_chart``: the predictive band over compute out to the budget (:func:`plots.fan_chart`);
- ``optimum_posterior``: the posterior of N*, D* and tokens per parameter at the budget;
- ``allocation_frontier``: expected loss against N at the budget, with the choices marked.

:func:`figure_inputs` computes (bands, optima, frontier); :func:`render` only draws, with
matplotlib's Agg canvas (no pyplot, no display), and returns PNG bytes. :func:`data_uri` makes
the page self-contained: no file or network access is needed to show an image.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.figure import Figure

from bayes_scaling.answers import allocation as al
from bayes_scaling.plots import allocation_frontier, fan_chart, optimum_posterior

#: Figure captions, by figure key.
CAPTIONS = {
    "fan_chart": "Predictive band of a run's final loss against compute, out to the budget, on "
    "each draw's compute-optimal split. Circles are the runs; the grey region is extrapolation; "
    "red shading marks where the band is wider than the trust horizon's tolerance.",
    "optimum_posterior": "Posterior of the compute-optimal split at the budget: N*, D* and tokens "
    "per parameter (one value per posterior draw).",
    "allocation_frontier": "Expected loss (law-only) of each model size N at the budget, with its "
    "bands; the marks show the Bayes-optimal N, the point fit's N and the assessed choice.",
}
#: The captions that differ for a law in compute alone (L(C): no split).
FRONTIER_CAPTIONS = {
    "fan_chart": CAPTIONS["fan_chart"].replace(
        "on each draw's compute-optimal split", "for a run split as the table's runs were"
    ),
}
#: Resolution of the PNGs (dots per inch).
DPI = 110
#: Number of model sizes on the frontier's grid.
FRONTIER_POINTS = 80


def frontier_grid(opt, marks) -> np.ndarray:
    """Model sizes N for the frontier: the spread of N*, widened to include every marked N."""
    n_star = np.asarray(opt["n_params"].values, float).ravel()
    lo, hi = np.quantile(n_star, 0.01) / 4, np.quantile(n_star, 0.99) * 4
    marks = [float(m) for m in marks if m is not None]
    if marks:
        lo, hi = min(lo, min(marks) / 2), max(hi, max(marks) * 2)
    return np.geomspace(lo, hi, FRONTIER_POINTS)


def figure_inputs(fit, facts) -> dict:
    """Everything the figures draw, computed from the fit (no drawing here).

    Returns
    -------
    dict
        ``bands`` (``facts.bands``: the bands the page quotes, out to the budget), ``opt`` (per-draw
        optimal split at the budget), ``frontier`` (expected loss against N at the budget),
        ``chosen_n`` (the proposed N, or None), ``mean_fit_n``, ``budget``, ``converged`` and
        ``runs``.
    """
    inputs = {
        "bands": facts.bands,
        "budget": facts.compute,
        "converged": bool(fit.converged),
        "runs": fit.runs,
        "horizon": facts.horizon,
    }
    if not facts.split:  # a law in compute alone: the fan chart alone
        return inputs
    opt = al.optimal_allocation(fit, [facts.compute])
    chosen = facts.value("chosen_n_params") if facts.proposed else None
    mean_fit = facts.value("n_params_mean_fit")
    n_grid = frontier_grid(opt, [chosen, mean_fit])
    probs = tuple(sorted({0.5, facts.prob}))
    return inputs | {
        "opt": opt,
        "frontier": al.frontier(fit, facts.compute, n_params=n_grid, prob=probs),
        "chosen_n": chosen,
        "mean_fit_n": mean_fit,
    }


def png(fig: Figure, dpi: int = DPI) -> bytes:
    """A figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def render(inputs: dict) -> dict[str, bytes]:
    """Draw the figures of :func:`figure_inputs` (three, or the fan chart alone for a law of the
    compute alone) and return them as PNG bytes, by key."""
    figures = {
        "fan_chart": fan_chart(
            inputs["runs"],
            inputs["bands"],
            band="predictive",
            target_compute=inputs["budget"],
            horizon=inputs.get("horizon"),
        )
    }
    if "opt" in inputs:
        figures["optimum_posterior"] = optimum_posterior(
            inputs["opt"], inputs["budget"], converged=inputs["converged"]
        )
        figures["allocation_frontier"] = allocation_frontier(
            inputs["frontier"], chosen_n=inputs["chosen_n"], mean_fit_n=inputs["mean_fit_n"]
        )
    return {key: png(fig) for key, fig in figures.items()}


def data_uri(data: bytes) -> str:
    """PNG bytes as a ``data:image/png;base64,...`` URI.

    >>> data_uri(b"abc")
    'data:image/png;base64,YWJj'
    """
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
