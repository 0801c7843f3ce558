"""Posterior loss bands at given sizes or compute budgets.

Two bands, always named:

- ``law``: the posterior of the mean curve L(x; θ), i.e. parameter uncertainty only;
- ``predictive``: a new run's loss, log L(x; θ) + ε with ε the fitted run-to-run noise
  (Student-t(ν, 0, σ) or Normal(0, σ) on log loss). Compare measured runs with this one.

Both carry the extrapolation discrepancy δ(x) = (m + τ·η)·d(x)^γ when the fit learned one (the
default; see :mod:`bayes_scaling.discrepancy.record`): zero inside the data, growing with the
decades d(x) beyond it, put on the loss so that no draw falls below its E
(:func:`~bayes_scaling.discrepancy.protocol.with_error`). ``discrepancy=False`` gives the
parameter-only bands.

Intervals are central (equal-tailed): at probability p, the quantiles (1 − p)/2 and (1 + p)/2 of the
draws. Where the sizes come from:

- ``params`` and ``tokens``: the points (N_i, D_i), with C = k·N·D;
- ``compute`` alone, for a law in N and D: each draw's own compute-optimal split N*(C; θ), D*(C; θ)
  (the columns then show the posterior median of N* and D*); with ``tokens_per_param`` r the fixed
  split N = sqrt(C / (k·r)), D = r·N;
- ``compute`` with ``params`` (or ``tokens``): the other follows from C = k·N·D.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROBS, FLOPS_PER_PARAM_TOKEN, SAMPLE_DIMS
from bayes_scaling.answers.choices import refuse_split
from bayes_scaling.answers.intervals import central_interval
from bayes_scaling.discrepancy.protocol import irreducible_loss, with_error
from bayes_scaling.discrepancy.record import distance_beyond, reference_sizes
from bayes_scaling.errors import ArgumentError, ExtrapolationWarning
from bayes_scaling.laws import ratio_split
from bayes_scaling.model.likelihoods import draw_noise

BAND_COLUMNS = [
    "params",
    "tokens",
    "compute",
    "distance",
    "band",
    "prob",
    "lower",
    "median",
    "upper",
    "converged",
    "discrepancy",
]
#: The argument that gives each runs-table size column (a law's inputs) at a point.
SIZE_ARGUMENTS = {"n_params": "params", "n_tokens": "tokens", "compute": "compute"}


def argument_of(column: str) -> str:
    """The argument name of a law input column: ``n_params`` is given as ``params``."""
    return SIZE_ARGUMENTS.get(column, column)


def resolve_sizes(
    fit, params=None, tokens=None, compute=None, tokens_per_param=None, unique_tokens=None
) -> dict:
    """N, D and C at every point, per draw where the split depends on θ.

    Point i of the result is point i as given (``params[i]``, ``tokens[i]``, ``compute[i]``; a
    single value stands for every point). Returns a dict with ``n_params``, ``n_tokens`` and
    ``compute`` as DataArrays with dim ``point`` (and ``chain``, ``draw`` for a per-draw
    compute-optimal split), or None where not defined; and ``unique_tokens`` (dim ``point``) for
    a law that reads it (``data_constrained``), from ``unique_tokens``.

    Raises
    ------
    ArgumentError
        Sizes that are not positive numbers, of unequal lengths, or a combination that does not
        define the law's inputs.
    """
    k = fit.settings.get("flops_per_param_token", FLOPS_PER_PARAM_TOKEN)
    given = {
        col: check.optional_positive_array(v, argument_of(col))
        for col, v in zip(SIZE_ARGUMENTS, (params, tokens, compute), strict=True)
    }
    tokens_per_param = check.optional_positive(tokens_per_param, "tokens_per_param")
    present = {col: v for col, v in given.items() if v is not None}
    if not present:
        raise ArgumentError(
            "compute",
            "no sizes given: give params and tokens, or compute (optionally with params, "
            "tokens or tokens_per_param)",
        )
    if len(present) == 3:
        raise ArgumentError(
            "compute", "give at most two of params, tokens and compute (C = k·N·D fixes the third)"
        )
    if tokens_per_param is not None and fit.law.reads_compute_only:
        refuse_split(fit, tokens_per_param=tokens_per_param)  # the law would ignore the split
    if tokens_per_param is not None and list(present) != ["compute"]:
        raise ArgumentError(
            "tokens_per_param",
            "splits compute alone; drop it, or give compute without params/tokens",
        )
    unique = check.optional_positive_array(unique_tokens, "unique_tokens")
    if unique is not None and "unique_tokens" not in fit.law.inputs:
        raise ArgumentError(
            "unique_tokens",
            f"law {fit.law.name!r} does not read unique tokens; drop it (it is for a "
            "data-constrained law)",
        )
    arrays = check.matched(
        {argument_of(col): v for col, v in present.items()}
        | ({"unique_tokens": unique} if unique is not None else {})
    )
    sizes = {col: None for col in given}
    if unique is not None:
        sizes["unique_tokens"] = xr.DataArray(arrays["unique_tokens"], dims="point")
    sizes.update({col: xr.DataArray(arrays[argument_of(col)], dims="point") for col in present})
    n, d, c = sizes["n_params"], sizes["n_tokens"], sizes["compute"]
    if n is not None and d is not None:
        sizes["compute"] = k * n * d
        over = np.flatnonzero(~np.isfinite(sizes["compute"].values))
        if over.size:
            i = int(over[0])
            raise ArgumentError(
                "params",
                f"point {i}: the compute {k:g}·N·D overflows a float (N = {float(n[i]):.3g}, "
                f"D = {float(d[i]):.3g}); give sizes whose product is below ~1e307",
            )
    elif c is not None and n is not None:
        sizes["n_tokens"] = c / (k * n)
    elif c is not None and d is not None:
        sizes["n_params"] = c / (k * d)
    elif c is not None and tokens_per_param is not None:
        sizes.update(ratio_split(c, tokens_per_param, k))
    elif c is not None and "compute" not in fit.law.inputs:
        if fit.law.optimum is None:
            raise ArgumentError(
                "compute",
                f"law {fit.law.name!r} has no compute-optimal split; give params, tokens or "
                "tokens_per_param with compute",
            )
        sizes.update(fit.law.optimum(fit.posterior, c, k))
    missing = [argument_of(col) for col in fit.law.inputs if sizes.get(col) is None]
    if missing:
        raise ArgumentError(
            missing[0],
            f"law {fit.law.name!r} needs {' and '.join(missing)} at each point; give "
            + (
                "them (the unique tokens of the data, before repetition)"
                if missing == ["unique_tokens"]
                else "them, or compute with a split"
            ),
        )
    return sizes


def loss_bands(
    fit,
    *,
    params=None,
    tokens=None,
    compute=None,
    prob=None,
    tokens_per_param=None,
    seed=None,
    discrepancy: bool = True,
    unique_tokens=None,
    **aliases,
) -> xr.Dataset:
    """Law-only and predictive loss bands.

    Parameters
    ----------
    fit : ScalingFit
    params, tokens, compute : float or array-like, optional
        Sizes (parameters N, tokens D, FLOPs C); see the module docstring for the combinations.
        Point i of the bands is point i as given.
    prob : float or sequence of float
        Central interval probabilities, each in (0, 1); :data:`DEFAULT_PROBS` by default.
        ``probs=`` is accepted as its old name.
    tokens_per_param : float, optional
        A fixed D/N ratio for compute-only bands, instead of each draw's optimal split.
    seed : int, optional
        Seed of the noise draws of the predictive band (the fit's own seed by default, so that a
        saved and re-loaded fit gives identical bands).
    discrepancy : bool
        Include the fit's extrapolation discrepancy (when it has one); False: parameter-only.
    unique_tokens : float or array-like, optional
        Unique tokens U at each point, for a law that reads them (``data_constrained``).

    Returns
    -------
    Dataset
        ``lower``, ``median`` and ``upper`` with dims ``(band, prob, point)``; ``params``,
        ``tokens`` and ``compute`` as coordinates on ``point`` (posterior medians when the split
        varies by draw); ``distance`` (decades beyond the data); ``attrs["converged"]`` and
        ``attrs["discrepancy"]`` (its description, or "off").
    """
    prob = check.renamed(aliases, "probs", "prob", prob, where="loss_bands")
    probs = check.probabilities(DEFAULT_PROBS if prob is None else prob, "prob")
    seed = check.seed(seed)
    discrepancy = check.flag(discrepancy, "discrepancy")
    sizes = resolve_sizes(fit, params, tokens, compute, tokens_per_param, unique_tokens)
    warn_below_data(fit, sizes)
    draws = band_draws(fit, sizes, seed=seed, discrepancy=discrepancy)
    ds = summarise_draws(draws, probs, SAMPLE_DIMS)
    ds = ds.assign_coords(size_coords(fit, sizes, ds.sizes["point"]))
    disc = fit.discrepancy if discrepancy else None
    ds.attrs.update(
        discrepancy=disc.describe() if disc is not None else "off",
        converged=int(fit.converged),
        law=fit.law.name,
        split="per-draw optimum"
        if sizes["n_params"] is not None and sizes["n_params"].ndim > 1
        else "given",
    )
    return ds


def decades_below(fit, sizes: dict) -> np.ndarray:
    """Per point, the decades below the smallest fitted run, the most along any axis (compute and
    the law's inputs; medians over draws for a per-draw split); 0 at or above the runs."""
    below = 0.0
    for axis in reference_sizes(fit.runs, fit.law):
        value = sizes.get(axis)
        if value is None:
            continue
        if isinstance(value, xr.DataArray) and value.ndim > 1:
            value = value.median(dim=[d for d in SAMPLE_DIMS if d in value.dims])
        low = float(fit.runs[axis].min())
        below = np.maximum(below, np.log10(low / np.asarray(value, float)).clip(min=0))
    return np.atleast_1d(below)


def warn_below_data(fit, sizes: dict) -> None:
    """An :class:`~bayes_scaling.errors.ExtrapolationWarning` naming the points below the runs:
    the discrepancy grows only beyond the largest run, so a band there is parameter-only."""
    below = decades_below(fit, sizes)
    points = np.flatnonzero(below > 0.01)
    if points.size:
        named = ", ".join(str(int(i)) for i in points[:5]) + (", ..." if points.size > 5 else "")
        warnings.warn(
            f"point(s) {named} lie below the smallest run, by up to {below.max():.2g} decades; "
            "the extrapolation error is learned beyond the largest run only, so their bands "
            "carry parameter uncertainty alone and may be far too narrow",
            ExtrapolationWarning,
            stacklevel=4,  # the caller of fit.bands (fit.bands -> loss_bands -> here)
        )


def band_draws(fit, sizes: dict, seed=None, discrepancy: bool = True) -> xr.DataArray:
    """Loss draws with dims ``(band, chain, draw, point)``, bands ``law`` and ``predictive``.

    ``sizes`` comes from :func:`resolve_sizes`. With ``discrepancy`` and a fit that learned one,
    both bands carry δ(x); the predictive band adds the run noise ε.

    The draws are made once for each distinct point, in a canonical order (sorted by its sizes),
    and laid out as asked: a point gets the same draws whatever order the points come in, and a
    point asked twice the same draws twice (the run noise and the local misfit are drawn per
    point, so the positions would otherwise decide which draws a point gets).
    """
    distinct, inverse = _distinct(sizes)
    if distinct is None:
        return _band_draws(fit, sizes, seed, discrepancy)
    return _band_draws(fit, distinct, seed, discrepancy).isel(point=inverse)


def _distinct(sizes: dict) -> tuple[dict | None, np.ndarray | None]:
    """The distinct points of ``sizes`` sorted by their sizes, and where each point asked is among
    them; ``(None, None)`` when the points are already distinct and sorted."""
    keys = [
        np.nan_to_num(np.asarray(v, float), nan=-1.0)
        for v in sizes.values()
        if isinstance(v, xr.DataArray) and v.dims == ("point",)
    ]
    if not keys:
        return None, None
    table = np.column_stack(keys)
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    if len(first) == len(table) and np.array_equal(first, np.arange(len(table))):
        return None, None
    picked = {
        k: v.isel(point=first) if isinstance(v, xr.DataArray) and "point" in v.dims else v
        for k, v in sizes.items()
    }
    return picked, np.asarray(inverse).ravel()


def _band_draws(fit, sizes: dict, seed, discrepancy: bool) -> xr.DataArray:
    post = fit.posterior
    mean = fit.law.fn(
        {c: sizes[c] for c in fit.law.inputs}, {p: post[p] for p in fit.law.params}, np
    )
    mean = mean.broadcast_like(post["sigma"]).transpose(*SAMPLE_DIMS, "point")
    seed = fit.settings.get("seed", 0) if seed is None else seed
    noise = draw_noise(post, fit.settings.get("likelihood", "student_t"), mean.shape, seed)
    disc = fit.discrepancy if discrepancy else None
    if disc is not None:
        error = disc.error(sizes, draws_shape=mean.shape[:2], seed=seed).broadcast_like(mean)
        mean = with_error(mean, error, irreducible_loss(fit.law, post))
    predictive = np.exp(np.log(mean) + noise)
    return xr.concat([mean, predictive], dim=xr.DataArray(["law", "predictive"], dims="band"))


def summarise_draws(draws: xr.DataArray, probs, sample_dims) -> xr.Dataset:
    """Central intervals and medians of loss draws over ``sample_dims``.

    Returns ``lower``, ``median``, ``upper`` with dims (band, prob, point).
    """
    probs = np.atleast_1d(np.asarray(probs, float))
    ci = central_interval(draws, probs, sample_dims)
    return ci[["lower", "upper", "median"]].transpose("band", "prob", "point")


def size_coords(fit, sizes: dict, n_points: int) -> dict:
    """``params``, ``tokens``, ``compute`` (medians over draws) and ``distance`` per point."""
    coords = {}
    for col, name in (("n_params", "params"), ("n_tokens", "tokens"), ("compute", "compute")):
        v = sizes[col]
        if v is None:
            coords[name] = ("point", np.full(n_points, np.nan))
        else:
            v = v.median(dim=[d for d in SAMPLE_DIMS if d in v.dims]) if v.ndim > 1 else v
            coords[name] = ("point", np.asarray(v, float))
    if sizes.get("unique_tokens") is not None:  # a data-constrained law's third input
        coords["unique_tokens"] = ("point", np.asarray(sizes["unique_tokens"], float))
    dist = distance_beyond(reference_sizes(fit.runs, fit.law), sizes)
    dist = dist.median(dim=[d for d in SAMPLE_DIMS if d in dist.dims])
    coords["distance"] = ("point", np.broadcast_to(np.asarray(dist, float), n_points))
    return coords


def mark_tolerance(ds: xr.Dataset, tolerance: float, relative: bool = False) -> xr.Dataset:
    """Add ``within_tolerance``: half-width (u − l)/2 ≤ tolerance (relative: ≤ tolerance·median)."""
    half = (ds["upper"] - ds["lower"]) / 2
    limit = tolerance * ds["median"] if relative else tolerance
    out = ds.assign(within_tolerance=half <= limit)
    out.attrs.update(tolerance=float(tolerance), relative=int(relative))
    return out


def bands_to_frame(ds: xr.Dataset) -> pd.DataFrame:
    """Tidy table: ``params, tokens, compute, distance, band, prob, lower, median, upper,
    converged, discrepancy`` (and ``within_tolerance`` when marked); attrs copied over.

    Rows run over bands, then probabilities, then points, each in the dataset's order: within a
    band and a probability, row i is point i as given. ``unique_tokens`` follows ``tokens`` when
    the points have it (a data-constrained law)."""
    extra = ["within_tolerance"] if "within_tolerance" in ds else []
    df = ds[["lower", "median", "upper", *extra]].to_dataframe(dim_order=["band", "prob", "point"])
    df = df.reset_index()
    df["converged"] = bool(ds.attrs.get("converged", 1))
    df["discrepancy"] = ds.attrs.get("discrepancy", "off") != "off"
    columns = list(BAND_COLUMNS)
    if "unique_tokens" in ds.coords:
        columns.insert(columns.index("tokens") + 1, "unique_tokens")
    df = df[[*columns, *extra]].reset_index(drop=True)
    df.attrs.update(ds.attrs)
    return df
