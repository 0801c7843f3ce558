"""The design's figure: the picks on the (N, D) plane, and the band at the target before/after.

Takes a computed :class:`~bayes_scaling.design.result.DesignResult` and returns a Figure; nothing
here samples or reweights.
"""

from __future__ import annotations

import numpy as np


def _plain_log(axis) -> None:
    """Plain-text log tick labels (matplotlib's mathtext labels cost seconds in a new process)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0e}" if v > 0 else ""))
    axis.set_minor_formatter(NullFormatter())


def design_plot(result, *, k: float = 6.0):
    """Two panels: (left) runs, candidates, picks (numbered in the order chosen) and targets on
    the (N, D) plane with isoFLOP lines C = k·N·D; (right) the predictive band at each target
    before the picks and expected after them.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1.3, 1]})
    pool, picks, bands = result.pool, result.picks, result.bands
    if pool is not None and len(pool):
        ax.scatter(
            pool["params"], pool["tokens"], s=10, marker="x", color="0.7", label="candidates"
        )
    if result.runs is not None and len(result.runs):
        ax.scatter(
            result.runs["n_params"], result.runs["n_tokens"], s=16, color="black", label="runs"
        )
    if len(picks):
        colours = plt.cm.viridis(np.linspace(0.1, 0.9, len(picks)))
        ax.scatter(
            picks["params"],
            picks["tokens"],
            s=60,
            color=colours,
            edgecolor="black",
            zorder=3,
            label="picks (in order)",
        )
        for i, (n, d) in enumerate(zip(picks["params"], picks["tokens"], strict=True)):
            ax.annotate(str(i + 1), (n, d), textcoords="offset points", xytext=(5, 4), fontsize=8)
    targets = bands[bands["stage"] == "before"]
    ax.scatter(
        targets["params"],
        targets["tokens"],
        s=140,
        marker="*",
        color="tab:red",
        zorder=4,
        label="target",
    )
    xs = np.concatenate(
        [a for a in (pool["params"] if pool is not None else [], targets["params"]) if len(a)]
    )
    lo, hi = np.nanmin(xs) / 3, np.nanmax(xs) * 3
    grid = np.geomspace(lo, hi, 50)
    for c in np.unique(np.round(np.log10(targets["compute"].dropna()))):
        ax.plot(grid, 10**c / (k * grid), color="tab:red", lw=0.6, ls=":")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="parameters N",
        ylabel="tokens D",
        title="which runs next",
    )
    _plain_log(ax.xaxis)
    _plain_log(ax.yaxis)
    ax.legend(fontsize=8, loc="best")

    for j, (stage, colour) in enumerate((("before", "0.5"), ("after", "tab:blue"))):
        rows = bands[bands["stage"] == stage]
        x = rows["target"].to_numpy() + (j - 0.5) * 0.2
        bx.errorbar(
            x,
            rows["median"],
            yerr=[rows["median"] - rows["lower"], rows["upper"] - rows["median"]],
            fmt="o",
            color=colour,
            capsize=4,
            label=f"{stage} ({rows['prob'].iloc[0]:.0%} predictive band)" if len(rows) else stage,
        )
    ticks = targets["target"].to_numpy()
    bx.set_xlim(-0.6, len(ticks) - 0.4)
    bx.set_xticks(ticks, [f"{c:.1e} FLOPs" for c in targets["compute"]], fontsize=8)
    bx.set(
        ylabel="loss",
        title=f"band at the target ({result.objective}: {result.initial:.3g} → {result.final:.3g})",
    )
    bx.legend(fontsize=8)
    if not result.converged:
        fig.suptitle("NOT CONVERGED: " + result.reason, color="red", fontweight="bold")
    fig.tight_layout()
    return fig
