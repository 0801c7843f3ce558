"""SBC rank histograms (Talts et al. 2018, Fig. 2): one panel per parameter."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from bayes_scaling.plots._common import label


def rank_histograms(result, bins: int | None = None, prob: float = 0.99) -> Figure:
    """Histogram of SBC ranks per parameter, over the band that uniform ranks would fill.

    Each bar is the number of simulations whose rank fell in that bin. The grey band is the central
    ``prob`` range of a bin's count under calibration, Binomial(S, p_b), and the line its mean
    S·p_b. Bars outside the band in a ∪ shape mean posteriors that are too narrow, ∩ too wide, and
    a slope a biased posterior. Each title gives the chi-square p-value (unadjusted).

    Parameters
    ----------
    result : SBCResult
        From :func:`bayes_scaling.trust.sbc.sbc`.
    bins : int, optional
        Number of bins; by default about five simulations per bin expected.
    prob : float
        Probability of the band.

    Returns
    -------
    Figure
        One axes per parameter (up to four per row); the suptitle gives S, L and the number of
        simulations whose fit passed the gate.

    Examples
    --------
    >>> from bayes_scaling.trust.sbc import sbc
    >>> fig = rank_histograms(sbc(n_sims=40, seed=1))   # doctest: +SKIP
    >>> fig.savefig("sbc_ranks.png")                     # doctest: +SKIP
    """
    hist = result.histogram(bins, prob)
    tests = result.uniformity(bins).set_index("parameter")
    names = list(result.ranks.columns)
    ncols = min(4, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.6 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes, names, strict=False):
        h = hist[hist["parameter"] == name]
        lo, hi = h["rank_lower"].to_numpy(), h["rank_upper"].to_numpy()
        steps = np.append(lo, hi[-1])
        ax.bar(lo, h["count"], width=hi - lo, align="edge", color="C0", ec="white", zorder=1)
        ax.fill_between(
            steps,
            np.append(h["band_lower"], h["band_lower"].iloc[-1]),
            np.append(h["band_upper"], h["band_upper"].iloc[-1]),
            step="post",
            color="0.5",
            alpha=0.3,
            lw=0,
            zorder=2,
            label=f"{prob:.0%} band if uniform",
        )
        expected = np.append(h["expected"], h["expected"].iloc[-1])
        ax.step(steps, expected, where="post", c="0.25", lw=1, zorder=3, label="expected")
        ax.set_xlim(0, hi[-1])
        ax.set_title(
            f"{label(name, short=True)}   p = {tests.loc[name, 'p_chi2']:.2g}", fontsize=10
        )
        ax.set_xlabel(f"rank of the true value (0–{result.n_draws})")
    for ax in axes[::ncols]:
        ax.set_ylabel("simulations")
    axes[0].legend(fontsize=7, loc="upper left", framealpha=0.9)
    n_ok = int(result.sims["converged"].sum())
    fig.suptitle(
        f"SBC ranks: {len(result.ranks)} simulated tables, L = {result.n_draws} draws each, "
        f"{n_ok} fits passed the gate"
    )
    return fig
