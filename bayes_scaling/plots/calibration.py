"""Calibration across ladders: nominal against empirical coverage, one line per method, ladders as
points.

Takes the per-ladder table of :func:`bayes_scaling.trust.calibration.calibration_summary` (columns
``method``, ``ladder`` and ``cover_<p>``) and returns a Figure; nothing here fits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: Colours of the leave-one-out methods (others are drawn in black).
COLOURS = {
    "learned prior (default)": "tab:blue",
    "within-table prior (before)": "tab:purple",
    "parameters only": "tab:orange",
    "Huber + bootstrap": "tab:gray",
}


def calibration_curves(per_ladder: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Empirical against nominal coverage of held-out runs, per method, across ladders.

    A line joins each method's average over ladders (each ladder weighted equally); the dots are
    the ladders themselves (jittered sideways). The diagonal is perfect calibration.

    Examples
    --------
    >>> per_ladder, _ = calibration_summary(leave_one_out(...))  # doctest: +SKIP
    >>> calibration_curves(per_ladder).savefig("calibration.png")  # doctest: +SKIP
    """
    columns = sorted(
        (c for c in per_ladder.columns if c.startswith("cover_")), key=lambda c: int(c[6:])
    )
    if not columns or "method" not in per_ladder:
        raise ValueError("expected a per-ladder table with 'method' and 'cover_<p>' columns")
    nominal = np.array([int(c[6:]) / 100 for c in columns])
    fig = Figure(figsize=(6, 5.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.3", lw=1, ls="--", label="calibrated")
    present = list(dict.fromkeys(per_ladder["method"]))
    methods = [m for m in COLOURS if m in present] + [m for m in present if m not in COLOURS]
    for k, method in enumerate(methods):
        rows = per_ladder[per_ladder["method"] == method]
        colour = COLOURS.get(method, "black")
        offset = (k - (len(methods) - 1) / 2) * 0.008
        for p, col in zip(nominal, columns, strict=True):
            ax.scatter(np.full(len(rows), p + offset), rows[col], s=12, color=colour, alpha=0.35)
        ax.plot(nominal, rows[columns].mean().to_numpy(), "o-", color=colour, lw=2, label=method)
    ax.set(
        xlim=(0.3, 1.0),
        ylim=(0.0, 1.02),
        xlabel="nominal probability of the predictive band",
        ylabel="share of held-out runs inside",
        title=title or f"Calibration over {per_ladder['ladder'].nunique()} ladders (leave one out)",
    )
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig
