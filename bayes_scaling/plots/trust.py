"""Backtest figures: coverage against nominal probability, PIT histograms, error against distance.

Each takes a table from :func:`bayes_scaling.trust.backtests.backtest` (one row per method,
held-out run and probability) and returns a Figure; nothing here fits. When a cut's Bayesian fit
did not converge (the table's ``attrs["converged"]``), the figure is stamped "NOT CONVERGED" and
its title names the cuts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from bayes_scaling.errors import ArgumentError
from bayes_scaling.plots._common import stamp_not_converged

#: Method colours and names, shared by the three figures.
METHOD_STYLE = {
    "bayes": ("tab:blue", "ours, with discrepancy"),
    "bayes_params": ("tab:orange", "ours, parameter-only"),
    "huber": ("tab:gray", "Huber + bootstrap baseline"),
}


def _style(method):
    return METHOD_STYLE.get(method, ("black", method))


def _flag_unconverged(table: pd.DataFrame, fig: Figure, axes) -> None:
    """Stamp ``fig`` and name the cuts whose Bayesian fit failed the gate, if any did, of the
    cuts in ``table`` (a filtered table keeps the full backtest's ``attrs``). ``attrs
    ["converged"]`` maps each cut to its flag (as :func:`~bayes_scaling.trust.backtests.
    backtest` sets it), or is one flag for the whole table."""
    flags = table.attrs.get("converged", {})
    if isinstance(flags, bool | int | np.integer | np.bool_):  # one flag for the whole table
        failed, where = ([] if flags else [None]), ""
    elif isinstance(flags, dict):
        shown = set(table["cut"]) if "cut" in table else None
        failed = [c for c, ok in flags.items() if not ok and (shown is None or c in shown)]
        cuts = ", ".join(f"{c:.3g}" if isinstance(c, float | int) else str(c) for c in failed)
        where = f": the fit below cut {cuts}"
    else:
        raise ArgumentError(
            "table", "attrs['converged'] must map each cut to its fit's flag, or be one flag"
        )
    if not failed:
        return
    stamp_not_converged(fig, axes)
    fig.suptitle(f"NOT CONVERGED{where}", color="red", fontsize=10)


def coverage_plot(table: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Empirical coverage of the held-out runs against the nominal probability, per method.

    The diagonal is perfect calibration; the grey band is where a calibrated method's coverage
    would fall 95% of the time with this many held-out runs (binomial).
    """
    fig = Figure(figsize=(5.6, 5), layout="constrained")
    ax = fig.add_subplot()
    grid = np.linspace(0.01, 0.99, 99)
    n = table.groupby(["method", "prob"]).size().min()
    lo, hi = stats.binom.interval(0.95, n, grid)
    ax.fill_between(grid, lo / n, hi / n, color="0.88", lw=0, label=f"calibrated, n={n} (95%)")
    ax.plot([0, 1], [0, 1], color="0.3", lw=1, ls="--")
    for method, rows in table.groupby("method", sort=False):
        cov = rows.groupby("prob")["covered"].mean()
        colour, name = _style(method)
        ax.plot(cov.index, cov.values, "o-", color=colour, label=name)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="nominal probability of the central interval",
        ylabel="share of held-out runs inside it",
        title=title or "Coverage of held-out runs beyond the cut",
    )
    ax.legend(loc="upper left", fontsize=8)
    _flag_unconverged(table, fig, [ax])
    return fig


def pit_histogram(table: pd.DataFrame, *, bins: int = 10) -> Figure:
    """PIT = P(predicted loss ≤ observed) of each held-out run, one panel per method.

    Calibrated predictions give a flat histogram; a U shape means intervals too narrow, mass at
    one end a biased prediction.
    """
    runs = table.drop_duplicates(["method", "cut", "run_id", "compute"])
    methods = list(dict.fromkeys(runs["method"]))
    fig = Figure(figsize=(3.4 * len(methods), 3.2), layout="constrained")
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    for ax, method in zip(axes, methods, strict=True):
        pit = runs.loc[runs["method"] == method, "pit"].to_numpy(float)
        colour, name = _style(method)
        ax.hist(pit, bins=np.linspace(0, 1, bins + 1), color=colour, alpha=0.8)
        ax.axhline(len(pit) / bins, color="0.3", ls="--", lw=1)
        ax.set(title=name, xlabel="PIT", xlim=(0, 1))
    axes[0].set_ylabel("held-out runs")
    _flag_unconverged(table, fig, axes)
    return fig


def error_by_distance(table: pd.DataFrame, prob: float = 0.9) -> Figure:
    """Log error of each held-out run against its distance beyond the data, per method (its
    own median's error, as dots of its colour), with its ``prob`` predictive half-width (log
    scale) as a line on either side of 0."""
    rows = table[np.isclose(table["prob"], prob)]
    if rows.empty:
        raise ArgumentError(
            "prob",
            f"the backtest has no {prob:g} intervals; give one of {sorted(set(table['prob']))}",
        )
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for method, r in rows.groupby("method", sort=False):
        colour, name = _style(method)
        ax.scatter(r["distance"], r["log_error"], color=colour, s=16, zorder=3, alpha=0.8,
                   label=f"{name}: log error")  # fmt: skip
        half = (np.log(r["upper"]) - np.log(r["lower"])) / 2
        order = np.argsort(r["distance"].to_numpy())
        ax.plot(
            r["distance"].to_numpy()[order],
            half.to_numpy()[order],
            color=colour,
            lw=1.2,
            label=f"{name}: ±{prob:.0%} half-width",
        )
        ax.plot(r["distance"].to_numpy()[order], -half.to_numpy()[order], color=colour, lw=1.2)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(
        xlabel="decades beyond the fitted runs (worst axis)",
        ylabel="log(observed) − log(predicted median)",
        title="Extrapolation error against distance",
    )
    ax.legend(fontsize=8)
    _flag_unconverged(table, fig, [ax])
    return fig
