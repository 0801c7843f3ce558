"""Corner plot of posterior draws, with published fits (e.g. Hoffmann et al.) as references."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bayes_scaling.plots._common import check_vars, flat_draws, label, stamp_not_converged

#: The parameters a corner plot shows by default, where the posterior has them.
DEFAULT_PAIRS = ("alpha", "beta", "E")

REFERENCE_STYLES = [
    ("tab:red", "*", 200),
    ("tab:orange", "D", 70),
    ("tab:green", "s", 70),
    ("tab:purple", "^", 90),
    ("tab:brown", "P", 90),
]


def _references(reference, reference_label: str) -> dict[str, dict[str, float]]:
    """Normalise ``reference`` to ``{label: {param: value}}``."""
    if reference is None:
        return {}
    if not isinstance(reference, Mapping):
        raise TypeError(f"reference must be a dict, got {type(reference).__name__}")
    if reference and all(isinstance(v, Mapping) for v in reference.values()):
        return {str(k): {p: float(x) for p, x in v.items()} for k, v in reference.items()}
    if all(isinstance(v, Real) for v in reference.values()):
        return {reference_label: {p: float(x) for p, x in reference.items()}}
    raise TypeError("reference must be {param: value} or {label: {param: value}}, not a mix")


def posterior_pairs(
    posterior: xr.Dataset,
    var_names=None,
    *,
    reference: Mapping | None = None,
    reference_label: str = "reference",
    max_points: int = 2000,
    seed: int = 0,
    converged: bool = True,
) -> Figure:
    """Corner plot: marginal histograms on the diagonal, thinned draws below it.

    Histograms use every draw; the scatter panels show at most ``max_points`` draws picked at
    random (the same draws in every panel), with the posterior median marked. Reference values,
    such as a published point estimate, are drawn as a vertical line on the diagonal and a marker
    in every scatter panel whose two parameters they give.

    Parameters
    ----------
    posterior : Dataset
        Posterior draws (``fit.posterior``), any dims (usually ``chain, draw``).
    var_names : sequence of str, optional
        Parameters to show, in order; by default those of ``alpha``, ``beta``, ``E`` the
        posterior has (a Chinchilla-form law), else its first four parameters (Kaplan's, a
        power law's).
    converged : bool
        False stamps the figure "NOT CONVERGED" (pass ``fit.converged``).
    reference : dict, optional
        ``{param: value}`` (one reference, labelled ``reference_label``) or
        ``{label: {param: value}}`` for several, each in its own colour and marker. Parameters a
        reference does not give are simply not marked.
    reference_label : str
        Legend label of a single ``{param: value}`` reference.
    max_points : int
        Most draws shown in a scatter panel.
    seed : int
        Seed of the thinning.

    Returns
    -------
    Figure
        k(k + 1)/2 axes for k parameters (the empty upper triangle is removed); the legend sits in
        the upper right corner of the figure.

    Examples
    --------
    >>> fig = posterior_pairs(fit.posterior, reference={
    ...     "Hoffmann et al. 2022": {"alpha": 0.34, "beta": 0.28, "E": 1.69},
    ...     "Besiroglu et al. 2024": {"alpha": 0.35, "beta": 0.37, "E": 1.82}})  # doctest: +SKIP
    """
    if var_names is None:
        var_names = [n for n in DEFAULT_PAIRS if n in posterior.data_vars] or [
            n for n in posterior.data_vars if set(posterior[n].dims) <= {"chain", "draw"}
        ][:4]
    names = check_vars(posterior, var_names, "posterior")
    refs = _references(reference, reference_label)
    draws = {n: np.asarray(posterior[n].values, float).ravel() for n in names}
    n_draws = len(next(iter(draws.values())))
    ok = np.all([np.isfinite(v) for v in draws.values()], axis=0)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        raise ValueError("no draw has finite values for every parameter shown")
    if idx.size > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_points, replace=False))

    k = len(names)
    size = 2.3 * k + 0.6
    fig = Figure(figsize=(size, size), layout="constrained")
    axes = fig.subplots(k, k, squeeze=False)
    styles = {lab: REFERENCE_STYLES[i % len(REFERENCE_STYLES)] for i, lab in enumerate(refs)}
    for i, yi in enumerate(names):
        for j, xj in enumerate(names):
            ax = axes[i, j]
            if j > i:
                fig.delaxes(ax)
                continue
            if i == j:
                values = flat_draws(posterior, xj)
                ax.hist(values, bins=40, color="tab:blue", alpha=0.75, edgecolor="none")
                ax.axvline(np.median(values), color="black", lw=1)
                ax.set_yticks([])
                for lab, ref in refs.items():
                    if xj in ref:
                        colour = styles[lab][0]
                        ax.axvline(ref[xj], color=colour, lw=2, ls="--")
            else:
                ax.scatter(
                    draws[xj][idx],
                    draws[yi][idx],
                    s=3,
                    color="tab:blue",
                    alpha=0.25,
                    lw=0,
                    rasterized=True,
                )
                ax.plot(
                    np.median(draws[xj][ok]),
                    np.median(draws[yi][ok]),
                    marker="+",
                    color="black",
                    ms=10,
                    mew=1.5,
                )
                for lab, ref in refs.items():
                    colour, marker, s = styles[lab]
                    if xj in ref and yi in ref:
                        ax.scatter(
                            ref[xj],
                            ref[yi],
                            marker=marker,
                            s=s,
                            color=colour,
                            edgecolor="black",
                            lw=0.7,
                            zorder=5,
                        )
                    elif xj in ref:
                        ax.axvline(ref[xj], color=colour, lw=1.2, ls="--")
                    elif yi in ref:
                        ax.axhline(ref[yi], color=colour, lw=1.2, ls="--")
            if i == k - 1:
                ax.set_xlabel(label(xj, short=True))
            else:
                ax.tick_params(labelbottom=False)
            if 0 < i and j == 0:
                ax.set_ylabel(label(yi, short=True))
            elif i != j:
                ax.tick_params(labelleft=False)
            ax.tick_params(labelsize=8)
    # One range per parameter, shared by its column and row: every draw and reference, padded.
    for j, name in enumerate(names):
        values = [*draws[name][ok], *(ref[name] for ref in refs.values() if name in ref)]
        lo, hi = float(np.min(values)), float(np.max(values))
        pad = 0.06 * (hi - lo) if hi > lo else max(abs(lo) * 0.05, 1e-9)
        for i in range(j, k):
            axes[i, j].set_xlim(lo - pad, hi + pad)
        for jj in range(j):
            axes[j, jj].set_ylim(lo - pad, hi + pad)

    handles = [
        Line2D(
            [],
            [],
            ls="none",
            marker="o",
            ms=5,
            color="tab:blue",
            alpha=0.6,
            label=f"posterior ({len(idx)} of {n_draws} draws shown)",
        ),
        Line2D(
            [], [], ls="none", marker="+", ms=10, mew=1.5, color="black", label="posterior median"
        ),
    ]
    for lab, (colour, marker, s) in styles.items():
        handles.append(
            Line2D(
                [],
                [],
                ls="--",
                color=colour,
                marker=marker,
                ms=np.sqrt(s),
                mec="black",
                mew=0.7,
                label=lab,
            )
        )
    if k > 1:
        fig.legend(
            handles=handles,
            loc="upper right",
            fontsize=9,
            frameon=False,
            bbox_to_anchor=(0.99, 0.99),
        )
    else:
        axes[0, 0].legend(handles=handles, fontsize=8)
    if not converged:
        stamp_not_converged(fig, axes.ravel())
    return fig
