"""Recipe comparison figure: two groups' loss fans, their difference, and P(B better) by compute.

Compute first (:meth:`bayes_scaling.results.grouped.GroupedFit.compare`), then draw here; this
module never samples or evaluates a law. Everything comes from the
:class:`~bayes_scaling.answers.gap.Comparison`: its ``curves`` (posterior quantiles of L*_A(C),
L*_B(C) and ΔL(C) = L*_B(C) − L*_A(C) on a log grid, each group on its own compute-optimal
split), its crossover summary and its runs.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.laws import get_law
from bayes_scaling.plots._common import stamp_not_converged

#: Colours of the baseline A, the candidate B and the difference.
COLOURS = {"a": "tab:blue", "b": "tab:orange", "difference": "tab:purple"}


def _bands(prob: float) -> tuple:
    """Central intervals drawn, widest first, as (lower quantile, upper quantile, probability):
    the comparison's ``prob`` interval and the 50% one."""
    return (((1 - prob) / 2, (1 + prob) / 2, prob), (0.25, 0.75, 0.5))


def _quantile(curve, q: float) -> np.ndarray:
    """One quantile of a ``curves`` variable, as a float array over the compute grid."""
    return np.asarray(curve.sel(quantile=q, method="nearest").values, float)


def _fan(ax, x: np.ndarray, curve, colour: str, name: str, prob: float) -> None:
    """``prob`` and 50% bands of ``curve`` (the wider fainter) and its median, labelled ``name``."""
    for (lo, hi, p), alpha in zip(_bands(prob), (0.18, 0.38), strict=True):
        ax.fill_between(
            x,
            _quantile(curve, lo),
            _quantile(curve, hi),
            color=colour,
            alpha=alpha,
            lw=0,
            zorder=1,
            label=f"{name}: {p:.0%} interval",
        )
    ax.plot(x, _quantile(curve, 0.5), color=colour, lw=1.6, zorder=3, label=f"{name}: median")


def _extrapolation(axes, runs, right: float) -> None:
    """Grey beyond the largest run (every panel), labelled in the first."""
    if runs is None or "compute" not in runs or len(runs) == 0:
        return
    largest = float(np.nanmax(runs["compute"].to_numpy(float)))
    if right <= largest:
        return
    for ax in axes:
        ax.axvspan(largest, right * 2, color="0.94", lw=0, zorder=0)
        ax.axvline(largest, color="0.25", ls="--", lw=1.0, zorder=2)
    axes[0].text(
        largest * 1.12,
        0.03,
        f"largest run {largest:.3g} FLOPs; extrapolation →",
        transform=axes[0].get_xaxis_transform(),
        ha="left",
        va="bottom",
        fontsize=8,
        color="0.35",
    )


def _runs(ax, runs, group: str, colour: str, marker: str) -> None:
    """The observed runs of one group as points (compute, loss)."""
    if runs is None or "group" not in runs:
        return
    mine = runs[runs["group"].astype(str) == str(group)]
    if mine.empty:
        return
    ax.scatter(
        mine["compute"].to_numpy(float),
        mine["loss"].to_numpy(float),
        s=18,
        marker=marker,
        facecolor="white",
        edgecolor=colour,
        lw=1.0,
        zorder=4,
        label=f"{group}: runs (n={len(mine)})",
    )


def _crossover(ax, summary: dict, prob: float) -> None:
    """The crossover's median (line) and central interval (span), when enough draws cross."""
    med = summary["crossover"]
    if not np.isfinite(med):
        return
    lo, hi = summary["crossover_lower"], summary["crossover_upper"]
    ax.axvspan(
        lo,
        hi,
        color="tab:green",
        alpha=0.15,
        lw=0,
        zorder=0,
        label=f"crossover: {prob:.0%} interval (if it crosses)",
    )
    ax.axvline(
        med,
        color="tab:green",
        lw=1.4,
        zorder=2,
        label=f"crossover median {med:.3g} FLOPs (P = {summary['p_crossover_in_range']:.2f})",
    )


def comparison_plot(comparison, *, axes=None, title: str | None = None) -> Figure:
    """Three panels against training compute C (FLOPs, log scale), one recipe against another.

    (a) Each group's compute-optimal loss L*_g(C) (nats): ``prob`` and 50% central posterior
    bands and the median, with the group's observed runs as points. (b) The difference
    ΔL(C) = L*_B(C) − L*_A(C) (negative where B is better), ``prob`` and 50% bands, a zero line,
    and the crossover's median and interval when draws cross in the range.
    (c) P(B better) = P(ΔL(C) < 0), with a 0.5 line. Dotted lines mark the budgets of the
    comparison's table; grey marks the extrapolation beyond the largest run. The runs of a budget
    lie on or above L*(C): only a run at the optimal split can reach it. The title says whether
    the bands carry the law's error beyond the data (the comparison's ``discrepancy``) or are
    parameter-only. A comparison whose fit failed the diagnostics gate gets a red
    "NOT CONVERGED" title and stamp.

    Parameters
    ----------
    comparison : Comparison
        From :meth:`GroupedFit.compare <bayes_scaling.results.grouped.GroupedFit.compare>`.
    axes : sequence of three matplotlib Axes, optional
        Draw into these (top to bottom: fans, difference, probability); a new figure otherwise.
    title : str, optional
        Figure title; by default "B against A".

    Returns
    -------
    Figure

    Examples
    --------
    >>> from bayes_scaling.inference.grouped import fit_groups                      # doctest: +SKIP
    >>> from bayes_scaling.model.simulate import two_recipe_ladder              # doctest: +SKIP
    >>> c = fit_groups(two_recipe_ladder(seed=1), seed=1).compare()      # doctest: +SKIP
    >>> comparison_plot(c).savefig("compare.png")                         # doctest: +SKIP
    """
    curves = comparison.curves
    missing = [v for v in ("loss_a", "loss_b", "difference", "p_b_better") if v not in curves]
    if missing:
        raise ValueError(f"comparison.curves has no {missing}; it has {list(curves.data_vars)}")
    if axes is None:
        fig = Figure(figsize=(8, 10), layout="constrained")
        axes = fig.subplots(3, 1, sharex=True, height_ratios=[2.2, 1.4, 1.0])
    else:
        axes = list(axes)
        if len(axes) != 3:
            raise ValueError(f"axes must be three Axes, got {len(axes)}")
        fig = axes[0].figure
    ax_loss, ax_diff, ax_prob = axes
    a, b, prob = comparison.a, comparison.b, comparison.prob
    x = np.asarray(curves["compute"].values, float)
    budgets = np.asarray(comparison.draws["compute"].values, float)
    summary = comparison.crossover_summary()

    # (a) both groups' fans and their runs
    _fan(ax_loss, x, curves["loss_a"], COLOURS["a"], f"{a} (baseline)", comparison.prob)
    _fan(ax_loss, x, curves["loss_b"], COLOURS["b"], f"{b} (candidate)", comparison.prob)
    _runs(ax_loss, comparison.runs, a, COLOURS["a"], "o")
    _runs(ax_loss, comparison.runs, b, COLOURS["b"], "s")
    compute_law = _reads_compute_only(comparison.law)
    ax_loss.set_ylabel("loss L(C) (nats)" if compute_law else "compute-optimal loss L*(C) (nats)")
    ax_loss.set_title(
        "(a) each recipe's loss at each compute"
        if compute_law
        else "(a) each recipe's loss on its own compute-optimal split",
        fontsize=10,
    )
    ax_loss.legend(loc="upper right", fontsize=8, ncol=2, framealpha=0.95)

    # (b) the difference, with the crossover
    _fan(
        ax_diff, x, curves["difference"], COLOURS["difference"], f"ΔL = {b} − {a}", comparison.prob
    )
    ax_diff.axhline(0.0, color="black", lw=1.0, zorder=2)
    _crossover(ax_diff, summary, prob)
    ax_diff.set_ylabel(f"ΔL = L*({b}) − L*({a}) (nats)")
    ax_diff.set_title(f"(b) difference: below zero, {b} is better", fontsize=10)
    ax_diff.legend(loc="best", fontsize=8, framealpha=0.95)

    # (c) probability that B is better
    p = np.asarray(curves["p_b_better"].values, float)
    ax_prob.plot(x, p, color=COLOURS["b"], lw=1.6, zorder=3, label=f"P({b} better than {a})")
    ax_prob.axhline(0.5, color="0.35", ls="--", lw=1.0, zorder=2, label="0.5")
    ax_prob.set_ylim(-0.03, 1.03)
    ax_prob.set_ylabel(f"P({b} better)")
    ax_prob.set_xlabel("training compute C (FLOPs)")
    ax_prob.set_title(f"(c) posterior probability that {b} has the lower loss", fontsize=10)
    ax_prob.legend(loc="best", fontsize=8, framealpha=0.95)

    for ax in axes:
        for c in budgets:
            ax.axvline(c, color="0.55", ls=":", lw=0.9, zorder=0)
        ax.set_xscale("log")
        ax.grid(True, which="major", alpha=0.3)
    right = max(x.max(), budgets.max())
    ax_loss.set_xlim(x.min() / 1.3, right * 1.3)
    _extrapolation(axes, comparison.runs, right)

    heading = title if title is not None else f"{b} against {a}"
    carry = (
        "parameter-only"
        if comparison.discrepancy == "off"
        else "with the law's error beyond the data"
    )
    heading += f" ({prob:.0%} and 50% posterior intervals, {carry})"
    if comparison.converged:
        fig.suptitle(heading, fontsize=11)
    else:
        reason = f": {comparison.reason}" if comparison.reason else ""
        stamp = textwrap.fill(f"NOT CONVERGED{reason}", 90)
        fig.suptitle(f"{stamp}\n{heading}", fontsize=11, color="red", fontweight="bold")
        stamp_not_converged(ax_loss, axes, y=0.5)
    return fig


def _reads_compute_only(name: str) -> bool:
    """Whether the law named ``name`` is L(C) (its loss at each compute, no split), by its
    inputs; False for a name no longer registered (a loaded comparison of a custom law)."""
    try:
        return get_law(name).reads_compute_only
    except BayesScalingError:
        return False
