"""Prior against posterior, one panel per parameter: how much did the data teach us?"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

from bayes_scaling.plots._common import check_vars, flat_draws, label, stamp_not_converged

#: The prior's shown range is capped at this many posterior widths either side of the posterior.
PRIOR_CAP = 3.0
QUANTILES = (0.005, 0.995)


def _window(prior: np.ndarray, post: np.ndarray, cap: float) -> tuple[float, float, bool]:
    """x-range: the union of both 0.5–99.5% ranges, the prior's capped near the posterior."""
    p_lo, p_hi = np.quantile(post, QUANTILES)
    width = p_hi - p_lo
    if width <= 0:
        width = max(abs(p_lo) * 0.1, 1e-9)
    if prior.size == 0:
        return p_lo - 0.2 * width, p_hi + 0.2 * width, False
    q_lo, q_hi = np.quantile(prior, QUANTILES)
    lo = max(q_lo, p_lo - cap * width)
    hi = min(q_hi, p_hi + cap * width)
    clipped = bool(lo > q_lo or hi < q_hi)
    return min(lo, p_lo), max(hi, p_hi), clipped


def _posterior_density(values: np.ndarray, grid: np.ndarray) -> np.ndarray | None:
    if values.size < 2 or np.ptp(values) == 0:
        return None
    return gaussian_kde(values)(grid)


def prior_posterior(
    prior: xr.Dataset, posterior: xr.Dataset, var_names=None, *, converged: bool = True
) -> Figure:
    """Prior and posterior densities overlaid, one panel per parameter.

    The prior is a histogram normalised over *all* its draws (so its height is its true density,
    not re-normalised to the window); the posterior a Gaussian KDE. The x-range is the union of
    both central 99% ranges, but the prior's part is capped at ``PRIOR_CAP`` posterior widths
    either side of the posterior so that a narrow posterior stays visible; a capped panel says so,
    with the prior's full 99% range. A panel's title gives the posterior-to-prior sd ratio
    (small: the data dominate; near 1: the prior does).

    Parameters
    ----------
    prior : Dataset
        Prior draws, e.g. ``draw_priors(fit.priors, 4000, seed=0)``.
    posterior : Dataset
        Posterior draws, e.g. ``fit.posterior``.
    var_names : sequence of str, optional
        Parameters to show; by default every variable in both, in the prior's order.
    converged : bool
        False stamps the figure "NOT CONVERGED" (pass ``fit.converged``).

    Returns
    -------
    Figure
        One axes per parameter (up to three per row).

    Examples
    --------
    >>> from bayes_scaling.priors import draw_priors
    >>> prior = draw_priors(fit.priors, 4000, seed=0)              # doctest: +SKIP
    >>> fig = prior_posterior(prior, fit.posterior)                # doctest: +SKIP
    """
    if var_names is None:
        names = [n for n in prior.data_vars if n in posterior.data_vars]
    else:
        names = check_vars(prior, var_names, "prior")
    names = check_vars(posterior, names, "posterior")

    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(3.6 * ncols, 2.9 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(names) :]:
        fig.delaxes(ax)
    for ax, name in zip(axes, names, strict=False):
        pr, po = flat_draws(prior, name), flat_draws(posterior, name)
        if po.size == 0:
            ax.text(0.5, 0.5, "no finite posterior draws", transform=ax.transAxes, ha="center")
            ax.set_title(name)
            continue
        lo, hi, clipped = _window(pr, po, PRIOR_CAP)
        if pr.size:
            edges = np.linspace(lo, hi, 41)
            counts, _ = np.histogram(pr, bins=edges)
            dens = counts / (pr.size * np.diff(edges))
            ax.stairs(dens, edges, fill=True, color="0.6", alpha=0.55, label="prior")
        grid = np.linspace(lo, hi, 300)
        dens = _posterior_density(po, grid)
        if dens is None:
            ax.axvline(po[0], color="tab:blue", lw=2, label="posterior (constant)")
        else:
            ax.fill_between(grid, dens, color="tab:blue", alpha=0.3, lw=0)
            ax.plot(grid, dens, color="tab:blue", lw=1.5, label="posterior")
        ax.set_xlim(lo, hi)
        ax.set_ylim(bottom=0)
        ax.set_yticks([])
        ax.set_xlabel(label(name), fontsize=9)
        ax.tick_params(labelsize=8)
        ratio = np.std(po) / np.std(pr) if pr.size > 1 and np.std(pr) > 0 else np.nan
        ax.set_title(
            f"{name}   sd post/prior = {ratio:.2g}" if np.isfinite(ratio) else name, fontsize=9
        )
        if clipped:
            q_lo, q_hi = np.quantile(pr, QUANTILES)
            ax.text(
                0.98,
                0.97,
                f"prior 99% range\n[{q_lo:.3g}, {q_hi:.3g}]\nextends beyond",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=7,
                color="0.3",
            )
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper right", ncols=2, fontsize=9, frameon=False)
    fig.suptitle("prior (grey) vs posterior (blue) densities", fontsize=11)
    if not converged:
        stamp_not_converged(fig, axes)
    return fig
