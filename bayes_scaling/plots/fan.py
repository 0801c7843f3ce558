"""Fan chart: posterior loss bands against training compute, with the runs and the extrapolation.

Compute the bands first (``fit.bands(compute=compute_grid(fit.runs, target), as_xarray=True)``),
then draw them here; this module never samples or evaluates a law.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from bayes_scaling.plots._common import plain_log_labels, shade_intervals, stamp_not_converged

#: Legend titles of the two bands (see :mod:`bayes_scaling.answers.bands`).
BAND_NAMES = {
    "predictive": "predictive band: a new run's loss",
    "law": "law-only band: mean curve",
}
BAND_COLOURS = {"predictive": "tab:blue", "law": "tab:purple"}


def compute_grid(
    runs: pd.DataFrame, target_compute: float | None = None, n: int = 60
) -> np.ndarray:
    """Log-spaced compute budgets (FLOPs) from the smallest run to past the largest.

    The grid ends at ``max(10 × largest run compute, target_compute)``, so a fan chart always shows
    one decade of extrapolation and reaches the target.

    Parameters
    ----------
    runs : DataFrame
        A runs table with a ``compute`` column (FLOPs).
    target_compute : float, optional
        A budget (FLOPs) the grid must reach.
    n : int
        Number of points.

    Returns
    -------
    ndarray
        ``n`` increasing budgets, log-spaced.

    Examples
    --------
    >>> runs = pd.DataFrame({"compute": [1e18, 1e20]})
    >>> grid = compute_grid(runs, target_compute=1e22, n=5)
    >>> float(grid[0]), float(grid[-1])
    (1e+18, 1e+22)
    """
    compute = np.asarray(runs["compute"], float)
    compute = compute[np.isfinite(compute) & (compute > 0)]
    if compute.size == 0:
        raise ValueError("runs has no finite, positive compute values")
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    top = 10.0 * compute.max()
    if target_compute is not None:
        if not np.isfinite(target_compute) or target_compute <= 0:
            raise ValueError(f"target_compute must be finite and > 0, got {target_compute}")
        top = max(top, float(target_compute))
    return np.geomspace(compute.min(), top, n)


def _annotate_target(
    ax, sel: xr.Dataset, x: np.ndarray, order: np.ndarray, prob: float, target: float
) -> None:
    """Write the widest interval at ``target`` (interpolated in log compute) next to its line."""
    if not (x.min() <= target <= x.max()) or x.size < 2:
        return
    one = sel.sel(prob=prob) if "prob" in sel.dims else sel
    at = {}
    for name in ("lower", "upper"):
        y = np.asarray(one[name].values, float)[order]
        at[name] = float(np.interp(np.log10(target), np.log10(x), y))
    what = f"{prob:.0%}: " if np.isfinite(prob) else ""
    ax.annotate(
        f"{what}{at['lower']:.3g}–{at['upper']:.3g}",
        xy=(target, at["upper"]),
        xytext=(-6, 14),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=9,
        color="tab:red",
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
    )


def fan_chart(
    runs: pd.DataFrame,
    bands: xr.Dataset,
    *,
    band: str = "predictive",
    target_compute: float | None = None,
    horizon=None,
    title: str | None = None,
    ax=None,
) -> Figure:
    """Nested central loss intervals against compute, with the runs and the extrapolated region.

    The x axis is training compute C (FLOPs, log scale) and the y axis loss (nats). Every interval
    probability in ``bands`` is shaded, the widest lightest, with the posterior median on top; the
    runs are scattered; a dashed line marks the largest run and the region beyond it (an
    extrapolation) is shaded grey. A fit that did not converge gets a red "NOT CONVERGED" stamp.

    Parameters
    ----------
    runs : DataFrame
        The runs table, with ``compute`` (FLOPs) and ``loss`` columns.
    bands : Dataset
        From :func:`bayes_scaling.answers.bands.loss_bands` (``fit.bands(..., as_xarray=True)``):
        ``lower``, ``median``, ``upper`` with dims ``(band, prob, point)`` and a ``compute``
        coordinate on ``point``.
    band : {"predictive", "law"}
        Which band to draw: ``"predictive"`` (a new run's loss; compare runs with it) or ``"law"``
        (the mean curve, parameter uncertainty only).
    target_compute : float, optional
        A budget (FLOPs) marked with a vertical line.
    horizon : TrustHorizon, optional
        From :func:`bayes_scaling.answers.horizon.trust_horizon`: the compute beyond which the band
        is wider than the tolerance is shaded red ("beyond the trust horizon").
    title : str, optional
        Axes title; by default the law's name and the band's meaning.
    ax : matplotlib Axes, optional
        Draw into this axes; a new figure is made otherwise.

    Returns
    -------
    Figure

    Examples
    --------
    >>> grid = compute_grid(fit.runs, target_compute=1e22)            # doctest: +SKIP
    >>> fig = fan_chart(fit.runs, fit.bands(compute=grid, as_xarray=True),
    ...                 target_compute=1e22)                          # doctest: +SKIP
    >>> fig.savefig("fan.png")                                        # doctest: +SKIP
    """
    if band not in BAND_NAMES:
        raise ValueError(f"band must be one of {list(BAND_NAMES)}, got {band!r}")
    if "band" in bands.coords and band not in np.atleast_1d(bands["band"].values):
        raise ValueError(
            f"bands has no {band!r} band; it has {np.atleast_1d(bands['band'].values).tolist()}"
        )
    if "compute" not in bands.coords:
        raise ValueError("bands has no 'compute' coordinate; compute the bands at compute budgets")
    sel = bands.sel(band=band) if "band" in bands.dims else bands
    x = np.asarray(sel["compute"].values, float)
    if not np.any(np.isfinite(x)):
        raise ValueError(
            "the bands' compute coordinate is all NaN; give compute (or params and "
            "tokens) when computing the bands"
        )
    order = np.argsort(x)
    x = x[order]
    probs = np.atleast_1d(sel["prob"].values) if "prob" in sel.coords else np.array([np.nan])
    probs_desc = sorted(probs, reverse=True)

    if ax is None:
        fig = Figure(figsize=(8, 5.2), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    shade_intervals(ax, x, sel, order, probs_desc, BAND_COLOURS[band], "{p} interval")
    med = sel["median"]
    if "prob" in med.dims:
        med = med.isel(prob=0)
    ax.plot(
        x,
        np.asarray(med.values, float)[order],
        color="black",
        lw=1.1,
        zorder=3,
        label="posterior median",
    )

    c_runs = np.asarray(runs["compute"], float)
    loss = np.asarray(runs["loss"], float)
    ax.scatter(
        c_runs,
        loss,
        s=22,
        facecolor="white",
        edgecolor="black",
        lw=0.9,
        zorder=4,
        label=f"runs (n={len(runs)})",
    )
    largest = float(np.nanmax(c_runs))
    right = float(np.nanmax([x.max(), largest, target_compute or 0.0]))
    if right > largest:
        ax.axvspan(largest, right * 2, color="0.94", lw=0, zorder=0)
        ax.text(
            largest * 1.12,
            0.97,
            "extrapolation →",
            transform=ax.get_xaxis_transform(),
            ha="left",
            va="top",
            fontsize=9,
            color="0.35",
        )
    ax.axvline(
        largest, color="0.25", ls="--", lw=1.2, zorder=5, label=f"largest run ({largest:.1e} FLOPs)"
    )
    if horizon is not None and not horizon.beyond_grid:
        start = horizon.compute if horizon.compute is not None else largest
        ax.axvspan(
            start,
            max(right, start) * 2,
            color="tab:red",
            alpha=0.12,
            lw=0,
            zorder=0,
            label=f"band wider than {horizon.tolerance_text()} (beyond the trust horizon)",
        )
    if target_compute is not None:
        ax.axvline(
            target_compute,
            color="tab:red",
            lw=1.6,
            zorder=5,
            label=f"budget ({target_compute:.1e} FLOPs)",
        )
        _annotate_target(ax, sel, x, order, probs_desc[0], float(target_compute))

    ax.set_xscale("log")
    plain_log_labels(ax.xaxis)
    left = float(np.nanmin([x.min(), c_runs.min()]))
    ax.set_xlim(left / 1.3, right * 1.5)
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("loss (nats)")
    ax.grid(True, which="major", alpha=0.3)
    split = bands.attrs.get("split")
    note = (
        "\nat each posterior draw's compute-optimal N*, D*" if split == "per-draw optimum" else ""
    )
    if bands.attrs.get("discrepancy") == "off":  # no law error beyond the data: say so
        note += "\nparameter-only: no extrapolation error (optimistic beyond the runs)"
    law = bands.attrs.get("law")
    ax.set_title(
        title if title is not None else f"{law + ': ' if law else ''}{BAND_NAMES[band]}{note}",
        fontsize=11,
    )
    handles, labels = ax.get_legend_handles_labels()
    # Intervals listed narrowest first reads like a key from the median outwards.
    n_int = len(probs_desc)
    ints = list(zip(handles[:n_int], labels[:n_int], strict=True))[::-1]
    rest = list(zip(handles[n_int:], labels[n_int:], strict=True))
    h, lab = zip(*(ints + rest), strict=True)
    ax.legend(
        h,
        lab,
        title=BAND_NAMES[band],
        loc="lower left",
        fontsize=8,
        title_fontsize=9,
        framealpha=0.95,
    )
    if not int(bands.attrs.get("converged", 1)):
        stamp_not_converged(ax, [ax], y=0.55)
    return fig
