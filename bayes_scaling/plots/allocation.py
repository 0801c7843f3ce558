"""Compute allocation figures: the posterior of the optimal split, and the allocation frontier.

Compute first (:func:`bayes_scaling.answers.allocation.optimal_allocation`,
:func:`bayes_scaling.answers.allocation.frontier`), then draw here; this module never samples or
evaluates a law.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from bayes_scaling.plots._common import shade_intervals, stamp_not_converged

#: Central interval shown on every histogram.
INTERVAL = 0.9
#: Suffixes of the short count format (e.g. ``94.3B`` parameters, ``1.77T`` tokens).
_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def _count(x: float) -> str:
    """A count in short form: ``94.3B``, ``1.77T``, ``512``."""
    for scale, suffix in _SUFFIXES:
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def _flops(c: float) -> str:
    return f"{c:.3g}"


def _log_ticks(lo: float, hi: float) -> np.ndarray:
    """Readable major ticks for a log axis from ``lo`` to ``hi``, even within one decade."""
    if hi / lo < 10:
        # Within a decade, linear nice numbers read best (80B, 100B, 120B) and look fine.
        ticks = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        return ticks[(ticks >= lo) & (ticks <= hi) & (ticks > 0)]
    decades = np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
    for subs in ((1.0,), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0)):
        ticks = np.array([s * 10**d for d in decades for s in subs])
        ticks = ticks[(ticks >= lo) & (ticks <= hi)]
        if ticks.size >= 3:
            return ticks if ticks.size <= 8 else ticks[:: int(np.ceil(ticks.size / 8))]
    return ticks


def _count_axis(axis, lo: float, hi: float) -> None:
    """Log scale from ``lo`` to ``hi`` with short-count tick labels (no unreadable 10^x minors)."""
    axis.set_major_locator(FixedLocator(_log_ticks(lo, hi)))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: _count(x)))


def _select_budget(opt: xr.Dataset, budget: float | None) -> tuple[xr.Dataset, float | None]:
    """One budget's slice of ``opt`` (the first by default) and its value in FLOPs."""
    if "budget" not in opt.dims:
        value = float(opt["budget"]) if "budget" in opt.coords else budget
        return opt, value
    budgets = np.atleast_1d(np.asarray(opt["budget"].values, float))
    if budget is None:
        i = 0
    else:
        hits = np.flatnonzero(np.isclose(budgets, float(budget), rtol=1e-6, atol=0.0))
        if hits.size == 0:
            raise ValueError(
                f"budget {budget:.3g} FLOPs is not in opt; it has {[f'{b:.3g}' for b in budgets]}"
            )
        i = int(hits[0])
    return opt.isel(budget=i), float(budgets[i])


def _histogram(ax, values: np.ndarray, *, log: bool, colour: str, fmt) -> tuple[float, float]:
    """Histogram of draws with the median and central ``INTERVAL`` marked; returns the interval."""
    tail = (1 - INTERVAL) / 2
    lo, med, hi = np.quantile(values, [tail, 0.5, 1 - tail])
    a, b = np.quantile(values, [0.001, 0.999])
    if log:
        la, lb = np.log10(a), np.log10(b)
        pad = 0.06 * (lb - la) if lb > la else 0.01
        edges = np.logspace(la - pad, lb + pad, 46)
        ax.set_xscale("log")
    else:
        pad = 0.06 * (b - a) if b > a else max(abs(a) * 0.01, 1e-9)
        edges = np.linspace(a - pad, b + pad, 46)
    ax.axvspan(lo, hi, color=colour, alpha=0.12, lw=0, zorder=0, label=f"{INTERVAL:.0%} interval")
    ax.hist(values, bins=edges, color=colour, alpha=0.75, edgecolor="none", zorder=1)
    ax.axvline(med, color="black", lw=1.3, zorder=3, label="median")
    ax.set_xlim(edges[0], edges[-1])
    if log:
        _count_axis(ax.xaxis, edges[0], edges[-1])
    ax.set_yticks([])
    ax.tick_params(labelsize=8)
    ax.text(
        0.03,
        0.97,
        f"median {fmt(med)}\n{INTERVAL:.0%}: {fmt(lo)} – {fmt(hi)}",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=8,
        bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "0.8", "alpha": 0.9},
        zorder=5,
    )
    return float(lo), float(hi)


def optimum_posterior(
    opt: xr.Dataset,
    budget: float | None = None,
    *,
    reference_tokens_per_param: float | None = 20.0,
    converged: bool = True,
) -> Figure:
    """Posterior of the compute-optimal split at one budget: N*, D* and D*/N*, one panel each.

    Each panel is a histogram of the per-draw optimum with its median (black line) and central 90%
    interval (shaded, and written in the corner). N* and D* are on log axes with short tick labels
    (``94B``, ``1.8T``); the tokens-per-parameter panel marks a reference ratio (the Chinchilla
    rule of about 20 tokens per parameter) with a dashed line. When ``opt`` has
    ``allocation_exponent``, the title also gives its median and P(a > 0.5).

    Parameters
    ----------
    opt : Dataset
        From :func:`bayes_scaling.answers.allocation.optimal_allocation`: ``n_params``,
        ``n_tokens`` and
        ``tokens_per_param`` with dims ``(chain, draw, budget)`` and a ``budget`` coordinate
        (FLOPs).
    budget : float, optional
        The budget (FLOPs) to show, one of ``opt.budget``; by default the first.
    reference_tokens_per_param : float or None
        Ratio marked on the D*/N* panel; ``None`` for no line.
    converged : bool
        Whether the fit converged (``fit.converged``); ``False`` stamps "NOT CONVERGED".

    Returns
    -------
    Figure
        Three axes: N*, D*, D*/N*.

    Examples
    --------
    >>> from bayes_scaling.answers.allocation import optimal_allocation
    >>> opt = optimal_allocation(fit, [1e24])                                # doctest: +SKIP
    >>> fig = optimum_posterior(opt, converged=fit.converged)                # doctest: +SKIP
    >>> fig.savefig("optimum.png")                                           # doctest: +SKIP
    """
    missing = [v for v in ("n_params", "n_tokens", "tokens_per_param") if v not in opt.data_vars]
    if missing:
        raise ValueError(f"opt has no variable(s) {missing}; it has {list(opt.data_vars)}")
    one, value = _select_budget(opt, budget)
    draws = {}
    for name in ("n_params", "n_tokens", "tokens_per_param"):
        x = np.asarray(one[name].values, float).ravel()
        draws[name] = x[np.isfinite(x) & (x > 0)]
        if draws[name].size == 0:
            raise ValueError(f"opt[{name!r}] has no finite, positive draws at this budget")

    fig = Figure(figsize=(12, 4.0), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = (
        ("n_params", "parameters N*", "tab:blue", True, _count),
        ("n_tokens", "tokens D*", "tab:green", True, _count),
        ("tokens_per_param", "tokens per parameter D*/N*", "tab:orange", False, "{:.3g}".format),
    )
    for ax, (name, xlabel, colour, log, fmt) in zip(axes, panels, strict=True):
        _histogram(ax, draws[name], log=log, colour=colour, fmt=fmt)
        ax.set_xlabel(xlabel)
    ratio_ax = axes[2]
    if reference_tokens_per_param is not None:
        ref = float(reference_tokens_per_param)
        ratio_ax.axvline(
            ref, color="tab:red", ls="--", lw=1.5, zorder=4, label=f"Chinchilla rule ~{ref:.3g}"
        )
        lo, hi = ratio_ax.get_xlim()
        ratio_ax.set_xlim(min(lo, ref - 0.05 * (hi - lo)), max(hi, ref + 0.05 * (hi - lo)))
        share = float(np.mean(draws["tokens_per_param"] > ref))
        ratio_ax.set_title(f"P(D*/N* > {ref:.3g}) = {share:.2f}", fontsize=9)
    ratio_ax.legend(loc="upper right", fontsize=8, framealpha=0.95)

    title = "compute-optimal split"
    title += f" at {_flops(value)} FLOPs (posterior)" if value is not None else " (posterior)"
    if "allocation_exponent" in opt.data_vars:
        a = np.asarray(opt["allocation_exponent"].values, float).ravel()
        a = a[np.isfinite(a)]
        if a.size:
            title += (
                f"\nallocation exponent a (N* ∝ C^a): median {np.median(a):.3f}, "
                f"P(a > 0.5) = {np.mean(a > 0.5):.2f}"
            )
    fig.suptitle(title, fontsize=11)
    if not converged:
        stamp_not_converged(fig, axes)
    return fig


def _reciprocal(scale: float, x):
    """``scale / x`` (N ↔ D at a fixed budget), quiet at x = 0."""
    with np.errstate(divide="ignore"):
        return scale / np.asarray(x, float)


def _interp_log(x: np.ndarray, y: np.ndarray, at: float) -> float:
    """``y`` at ``at`` by linear interpolation in log x (NaN outside the grid)."""
    if not (x.min() <= at <= x.max()):
        return float("nan")
    return float(np.interp(np.log10(at), np.log10(x), y))


def allocation_frontier(
    frontier: xr.Dataset,
    *,
    chosen_n: float | None = None,
    mean_fit_n: float | None = None,
) -> Figure:
    """Expected loss of each model size N at a fixed budget C (D = C/(kN)): the frontier.

    The posterior expected loss E[L(N, C/(kN))] is drawn against N (log scale), with the central
    intervals of the law-only loss shaded (the widest lightest) and the posterior median dashed.
    Vertical lines mark the Bayes-optimal N (minimum expected loss), the posterior median of the
    per-draw optima N*, and optionally a chosen N (its expected loss above the Bayes-optimal N is
    written next to it) and the N* of the posterior-mean parameters. The top axis gives the tokens
    D of each N. The y range spans the bands over the N grid, so the curvature stays visible.

    Parameters
    ----------
    frontier : Dataset
        From :func:`bayes_scaling.answers.allocation.frontier`: ``expected_loss`` and ``median``
        over
        ``n_params``, ``lower``/``upper`` over ``(prob, n_params)``, coordinate ``n_tokens`` and
        attrs ``compute``, ``bayes_n``, ``n_star_median`` and ``converged``.
    chosen_n : float, optional
        A proposed N to mark, e.g. ``choose_params(fit, C, quantile(0.95))``.
    mean_fit_n : float, optional
        N* of the posterior-mean parameters (``mean_parameter_optimum(fit, C)["n_params"]``).

    Returns
    -------
    Figure
        One axes (with a secondary top axis for tokens).

    Examples
    --------
    >>> from bayes_scaling.answers.allocation import frontier
    >>> fig = allocation_frontier(frontier(fit, 1e24))                      # doctest: +SKIP
    """
    missing = [v for v in ("expected_loss", "lower", "upper") if v not in frontier.data_vars]
    if missing:
        raise ValueError(
            f"frontier has no variable(s) {missing}; it has {list(frontier.data_vars)}"
        )
    n = np.asarray(frontier["n_params"].values, float)
    order = np.argsort(n)
    n = n[order]
    expected = np.asarray(frontier["expected_loss"].values, float)[order]
    has_prob = "prob" in frontier["lower"].dims
    probs = np.atleast_1d(frontier["prob"].values) if has_prob else np.array([np.nan])
    probs_desc = sorted(probs, reverse=True)
    attrs = frontier.attrs

    fig = Figure(figsize=(8.5, 5.4), layout="constrained")
    ax = fig.add_subplot()
    y_lo, y_hi = np.nanmin(expected), np.nanmax(expected)
    lo, hi = shade_intervals(
        ax, n, frontier, order, probs_desc, "tab:blue", "{p} interval of the loss"
    )
    y_lo, y_hi = min(y_lo, lo), max(y_hi, hi)
    ax.plot(n, expected, color="black", lw=2.2, zorder=3, label="expected loss E[L]")
    if "median" in frontier.data_vars:
        med = np.asarray(frontier["median"].values, float)[order]
        ax.plot(
            n, med, color="0.65", lw=1.2, ls=(0, (4, 3)), zorder=3, label="posterior median loss"
        )

    markers = [
        (attrs.get("bayes_n"), "Bayes-optimal N (min E[L])", "tab:red", "-", 1.8),
        (attrs.get("n_star_median"), "median of per-draw N*", "black", ":", 1.8),
        (mean_fit_n, "N* of posterior-mean parameters", "tab:purple", (0, (6, 3)), 1.5),
        (chosen_n, "chosen N", "tab:orange", "-.", 1.8),
    ]
    for value, what, colour, ls, lw in markers:
        if value is None or not np.isfinite(value):
            continue
        ax.axvline(
            float(value),
            color=colour,
            ls=ls,
            lw=lw,
            zorder=4,
            label=f"{what}: {_count(float(value))}",
        )
    bayes_n = attrs.get("bayes_n")
    if bayes_n is not None:
        at = _interp_log(n, expected, float(bayes_n))
        if np.isfinite(at):
            ax.plot(float(bayes_n), at, "o", color="tab:red", ms=6, zorder=5)
    if chosen_n is not None and bayes_n is not None:
        gap = _interp_log(n, expected, float(chosen_n)) - _interp_log(n, expected, float(bayes_n))
        if np.isfinite(gap):
            ax.annotate(
                f"chosen N: E[L] {gap * 1e3:+.2g} mnats\nvs the Bayes-optimal N",
                xy=(float(chosen_n), _interp_log(n, expected, float(chosen_n))),
                xytext=(8, -28),
                textcoords="offset points",
                fontsize=8,
                color="tab:orange",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
                zorder=6,
            )

    ax.set_xscale("log")
    ax.set_xlim(n[0], n[-1])
    _count_axis(ax.xaxis, n[0], n[-1])
    pad = 0.08 * (y_hi - y_lo) if y_hi > y_lo else 0.01
    ax.set_ylim(y_lo - pad, y_hi + 2.2 * pad)
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss (nats)")
    ax.grid(True, which="major", alpha=0.3)
    if "n_tokens" in frontier.coords:
        nd = float(np.median(n * np.asarray(frontier["n_tokens"].values, float)[order]))
        if np.isfinite(nd) and nd > 0:
            top = ax.secondary_xaxis("top", functions=(partial(_reciprocal, nd),) * 2)
            _count_axis(top.xaxis, nd / n[-1], nd / n[0])
            top.set_xlabel("tokens D = C / (k N)", fontsize=9)
            top.tick_params(labelsize=8)
    compute = attrs.get("compute")
    where = f" at C = {_flops(float(compute))} FLOPs" if compute is not None else ""
    ax.set_title(f"allocation frontier{where}: loss of each N (law-only)", fontsize=11)

    handles, labels = ax.get_legend_handles_labels()
    k = len(probs_desc)  # intervals listed narrowest first, reading from the curve outwards
    pairs = list(zip(handles[:k], labels[:k], strict=True))[::-1]
    pairs += list(zip(handles[k:], labels[k:], strict=True))
    h, lab = zip(*pairs, strict=True)
    ax.legend(h, lab, loc="upper center", fontsize=8, framealpha=0.95, ncols=2)
    if not int(attrs.get("converged", 1)):
        stamp_not_converged(fig, [ax], y=0.45)
    return fig
