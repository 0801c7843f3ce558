"""Figures of a downstream chain: loss → metric, metric against compute, each step's share.

Each function takes computed objects (:mod:`bayes_scaling.downstream.answers`) and returns a
Figure; nothing here samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.plots._common import shade_intervals, stamp_not_converged


def link_plot(
    runs: pd.DataFrame,
    via: str,
    metric: str,
    curve: xr.Dataset,
    targets=None,
    *,
    chance=None,
    title=None,
):
    """Loss → metric: the runs, the posterior bands and a few draws of step 2's curve.

    Parameters
    ----------
    runs : DataFrame
        The fitted runs (columns ``via`` and ``metric``).
    curve : Dataset
        :func:`~bayes_scaling.downstream.answers.link_bands` over a grid of losses; a fit that
        did not converge (``attrs["converged"]`` 0) gets the red "NOT CONVERGED" stamp.
    targets : dict, optional
        Name to (loss, metric) of models not fitted (e.g. the actual 13B), drawn as crosses.
    chance : float, optional
        A dotted line at the chance level.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    x = curve["loss"].values
    order = np.argsort(x)
    probs = sorted(curve["prob"].values, reverse=True)
    shade_intervals(ax, x[order], curve, order, probs, "tab:blue", "{p} band of the link")
    for row in curve["curves"].transpose("curve", "point").values:
        ax.plot(x[order], row[order], color="tab:blue", lw=0.5, alpha=0.25, zorder=2)
    ax.plot(x[order], curve["median"].isel(prob=0).values[order], color="tab:blue", lw=1.5,
            label="posterior median")  # fmt: skip
    ax.scatter(runs[via], runs[metric], s=14, color="black", zorder=3, label="runs")
    for name, (lx, my) in (targets or {}).items():
        ax.scatter([lx], [my], marker="x", s=50, zorder=4, label=name)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xlabel(via)
    ax.set_ylabel(metric)
    ax.invert_xaxis()
    ax.set_title(title or f"{metric} against {via}")
    ax.legend(fontsize=7, loc="upper left")
    if not curve.attrs.get("converged", 1):
        stamp_not_converged(ax, [ax])
    return fig


def metric_fan(runs: pd.DataFrame, metric: str, bands: xr.Dataset, targets=None, *, title=None):
    """Metric against compute: the chain's bands as a fan, the runs, and the targets.

    ``bands`` is :func:`~bayes_scaling.downstream.answers.metric_bands` over a compute grid;
    ``targets`` maps a name to (compute, actual metric) or to a compute alone (a vertical line).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    c = bands["compute"].values
    order = np.argsort(c)
    probs = sorted(bands["prob"].values, reverse=True)
    shade_intervals(ax, c[order], bands, order, probs, "tab:green", "{p} band")
    ax.plot(c[order], bands["median"].isel(prob=0).values[order], color="tab:green", lw=1.5,
            label="median")  # fmt: skip
    ax.scatter(runs["compute"], runs[metric], s=14, color="black", zorder=3, label="runs")
    for name, value in (targets or {}).items():
        if np.ndim(value) == 0:
            ax.axvline(float(value), color="grey", ls="--", lw=1)
            ax.text(float(value), ax.get_ylim()[1], name, fontsize=7, ha="right", va="top")
        else:
            ax.scatter([value[0]], [value[1]], marker="x", s=50, zorder=4, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric}: (N, D) → loss → metric")
    ax.legend(fontsize=7, loc="upper left")
    if not bands.attrs.get("converged", 1):
        stamp_not_converged(ax, [ax])
    return fig


def step_shares(table: pd.DataFrame, *, label: str = "label", title=None):
    """Each step's share of the interval, one bar per row of ``table`` (columns ``label`` and
    ``step1_share``; e.g. one row per task at a target, from the bands)."""
    import matplotlib.pyplot as plt

    names = table[label].astype(str).to_numpy()
    first = np.clip(table["step1_share"].to_numpy(float), 0, 1)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))
    y = np.arange(len(names))
    ax.barh(y, first, color="tab:orange", label="step 1: (N, D) → loss")
    ax.barh(y, 1 - first, left=first, color="tab:blue", label="step 2: loss → metric")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the interval")
    ax.set_title(title or "Where the uncertainty comes from")
    ax.legend(fontsize=7, loc="lower right")
    return fig
