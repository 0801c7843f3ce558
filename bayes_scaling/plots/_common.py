"""Small helpers shared by the plot modules: draws as flat arrays, axis labels, figure setup."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.colors import to_rgba

#: Display names of the parameters that have a usual symbol.
LABELS = {
    "E": "E (irreducible loss, nats)",
    "alpha": "α (params exponent)",
    "beta": "β (tokens exponent)",
    "log_A": "log A",
    "log_B": "log B",
    "A": "A",
    "B": "B",
    "sigma": "σ (noise of log loss)",
    "nu": "ν (Student-t dof)",
}

#: Short names, for the crowded axes of a corner plot.
SYMBOLS = {"alpha": "α", "beta": "β", "sigma": "σ", "nu": "ν", "log_A": "log A", "log_B": "log B"}


def label(name: str, short: bool = False) -> str:
    """Axis label of parameter ``name``."""
    return (SYMBOLS if short else LABELS).get(name, name)


def flat_draws(ds: xr.Dataset, name: str) -> np.ndarray:
    """All finite draws of ``ds[name]`` as a 1-d float array (every dim flattened)."""
    values = np.asarray(ds[name].values, float).ravel()
    return values[np.isfinite(values)]


def check_vars(ds: xr.Dataset, names, what: str) -> list[str]:
    """``names`` as a list, or a ValueError that lists what ``ds`` does have."""
    names = [names] if isinstance(names, str) else list(names)
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise ValueError(f"{what} has no variable(s) {missing}; it has {list(ds.data_vars)}")
    if not names:
        raise ValueError(f"no variables to plot from the {what}")
    return names


def band_colours(base: str, k: int) -> list[tuple]:
    """``k`` opaque shades of ``base``, lightest first (for the widest interval)."""
    r, g, b, _ = to_rgba(base)
    mix = np.linspace(0.22, 0.8, k) if k > 1 else np.array([0.45])
    return [(1 - m + m * r, 1 - m + m * g, 1 - m + m * b, 1.0) for m in mix]


def shade_intervals(ax, x, ds: xr.Dataset, order, probs_desc, base: str, label: str):
    """Fill ``lower``–``upper`` of ``ds`` for every prob (widest, lightest first) against ``x``.

    ``order`` sorts the points of ``ds`` like ``x``; ``label`` is a format with ``{p}``. Returns the
    (lowest lower, highest upper) drawn, for axis limits.
    """
    y_lo, y_hi = np.inf, -np.inf
    for p, colour in zip(probs_desc, band_colours(base, len(probs_desc)), strict=True):
        one = ds.sel(prob=p) if "prob" in ds["lower"].dims else ds
        lo = np.asarray(one["lower"].values, float)[order]
        hi = np.asarray(one["upper"].values, float)[order]
        text = label.format(p=f"{p:.0%}") if np.isfinite(p) else "interval"
        ax.fill_between(x, lo, hi, color=colour, lw=0, zorder=1, label=text)
        y_lo, y_hi = min(y_lo, np.nanmin(lo)), max(y_hi, np.nanmax(hi))
    return y_lo, y_hi


def stamp_not_converged(target, axes, y: float = 0.5) -> None:
    """Red "NOT CONVERGED" across ``target`` (a Figure, or an Axes for a single panel that may sit
    in a caller's figure), and red frames on every axes in ``axes``."""
    style = dict(
        ha="center",
        va="center",
        color="red",
        fontsize=30,
        fontweight="bold",
        alpha=0.75,
        rotation=12,
        zorder=10,
    )
    if hasattr(target, "transAxes"):
        target.text(0.5, y, "NOT CONVERGED", transform=target.transAxes, **style)
    else:
        target.text(0.5, y, "NOT CONVERGED", **style)
    for ax in axes:
        for side in ax.spines.values():
            side.set_edgecolor("red")
            side.set_linewidth(2)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_label(value: float, _pos=None) -> str:
    """A log-axis tick as plain text: ``10²²`` for exact powers of ten, ``3e21`` otherwise.

    Matplotlib's default log labels are mathtext, whose parser costs seconds to build in a fresh
    process; plain Unicode looks the same and costs nothing.

    >>> power_label(1e22), power_label(3e21), power_label(0.01)
    ('10²²', '3e+21', '10⁻²')
    """
    if value <= 0 or not np.isfinite(value):
        return ""
    exponent = np.log10(value)
    if abs(exponent - round(exponent)) < 1e-9:
        return "10" + str(int(round(exponent))).translate(_SUPERSCRIPT)
    return f"{value:.0e}"


def plain_log_labels(axis) -> None:
    """Label a log ``axis`` (``ax.xaxis``) with :func:`power_label`, minor ticks unlabelled."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(power_label))
    axis.set_minor_formatter(NullFormatter())
