"""Downstream answers from a :class:`~bayes_scaling.downstream.result.DownstreamFit`.

Every answer pushes each step-1 posterior draw s through step 2 with step 2's draw s (the two
posteriors are independent; :func:`~bayes_scaling.downstream.result.pair_draws`)::

    L_s(x) = L(x; θ_s)·exp(δ_s(x) + ε₁)          step 1: a new run's intermediate loss, with the
                                                  extrapolation discrepancy δ and run noise ε₁
    m_s(x) = link(L_s(x); φ_s) + δ₂_s(x) + ε₂,  ε₂ ~ Normal(0, σ_s)     step 2, with the link's
                                                  extrapolation discrepancy δ₂ and its noise ε₂

clipped to [0, ceiling]. Sizes x are (N, D) points or compute budgets on the compute-optimal split
of step 1's law, per draw (:func:`bayes_scaling.answers.bands.resolve_sizes`).

- :func:`metric_bands`: central intervals of m at each point, of L too, and **each step's share**
  of the interval: with w the full interval's width and w₂ its width when step 1 is held at its
  median loss L̃(x) (m = link(L̃; φ_s) + ε₂), step 2's share is (w₂/w)² and step 1's is the rest
  (shares of the variance, as for independent sources; clipped to [0, 1]).

Targets and where a task leaves chance: :mod:`bayes_scaling.downstream.targets`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _format as fmt
from bayes_scaling import _validate as check
from bayes_scaling._constants import SAMPLE_DIMS
from bayes_scaling.answers.bands import band_draws, resolve_sizes, size_coords, warn_below_data
from bayes_scaling.answers.intervals import central_interval
from bayes_scaling.downstream.result import DownstreamFit, DownstreamWarning, pair_draws
from bayes_scaling.results.base import method_of

#: Band probabilities of the downstream answers by default.
DOWNSTREAM_PROBS = (0.5, 0.9)
#: Columns of the bands table (the CLI prints the first seven).
BAND_COLUMNS = [
    "params",
    "tokens",
    "compute",
    "prob",
    "lower",
    "median",
    "upper",
    "via_lower",
    "via_median",
    "via_upper",
    "step1_share",
    "direct_lower",
    "direct_median",
    "direct_upper",
    "converged",
]


def _sign(fit: DownstreamFit) -> float:
    return 1.0 if fit.link.higher_is_better else -1.0


def _paired(fit: DownstreamFit, seed) -> xr.Dataset:
    return pair_draws(fit.posterior, fit.step1.posterior, fit.settings.get("seed", 0))


def _seed(fit, seed) -> int:
    seed = check.seed(seed)
    return int(fit.settings.get("seed", 0) if seed is None else seed)


def link_error(fit: DownstreamFit, sizes: dict, seed: int, discrepancy=True):
    """δ₂: step 2's extrapolation discrepancy per draw at ``sizes`` (0 without one), one error
    curve per draw (:mod:`bayes_scaling.discrepancy.link`)."""
    found = fit.link_discrepancy if discrepancy else None
    if found is None:
        return 0.0
    post = fit.step1.posterior
    return found.error(sizes, draws_shape=(post.sizes["chain"], post.sizes["draw"]), seed=seed)


def metric_draws(fit: DownstreamFit, sizes: dict, seed=None, discrepancy=True) -> xr.Dataset:
    """Per-draw ``via`` (step 1's predictive loss), ``metric`` (with step 2's noise and, with
    ``discrepancy``, its extrapolation discrepancy) and ``metric_step1_fixed`` (step 1 held at
    its median loss), dims (chain, draw, point)."""
    seed = _seed(fit, seed)
    via = band_draws(fit.step1, sizes, seed=seed, discrepancy=discrepancy).sel(band="predictive")
    via = via.drop_vars("band")
    p2 = _paired(fit, seed)
    const = fit.link_constants()
    shape = tuple(via.sizes[d] for d in (*SAMPLE_DIMS, "point"))
    eps = (
        np.random.default_rng([seed, 41]).standard_normal(shape)
        * np.asarray(p2["sigma"])[..., None]
    )
    eps = xr.DataArray(eps, dims=(*SAMPLE_DIMS, "point"))
    eps = eps + link_error(fit, sizes, seed, discrepancy)
    top = fit.constants["ceiling"]
    metric = (fit.link.evaluate(p2, via, const) + eps).clip(0, top)
    fixed = via.median(SAMPLE_DIMS)
    metric_fixed = (fit.link.evaluate(p2, fixed, const) + eps).clip(0, top)
    return xr.Dataset(
        {
            "via": via.transpose(*SAMPLE_DIMS, "point"),
            "metric": metric.transpose(*SAMPLE_DIMS, "point"),
            "metric_step1_fixed": metric_fixed.transpose(*SAMPLE_DIMS, "point"),
        }
    )


def _interval(draws: xr.DataArray, probs) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """(lower, median, upper) over the draws, dims (prob, ...):
    :func:`~bayes_scaling.answers.intervals.central_interval`."""
    ci = central_interval(draws, np.atleast_1d(np.asarray(probs, float)))
    return ci["lower"], ci["median"], ci["upper"]


def metric_bands(
    fit: DownstreamFit,
    *,
    params=None,
    tokens=None,
    compute=None,
    prob=None,
    tokens_per_param=None,
    seed=None,
    discrepancy=True,
) -> xr.Dataset:
    """Metric bands at (N, D) points or compute budgets, with step 1's share of each interval.

    Returns
    -------
    Dataset
        ``lower``, ``median``, ``upper``, ``via_lower``, ``via_median``, ``via_upper``,
        ``width``, ``width_step1_fixed``, ``step1_share`` (dims prob, point); with the direct
        alternative also ``direct_lower``, ``direct_median``, ``direct_upper`` and
        ``disagree`` (the chain's and the direct law's intervals do not overlap; a
        :class:`DownstreamWarning` says where). Coordinates ``params``, ``tokens``, ``compute``,
        ``distance`` on ``point`` (medians over draws on a per-draw split).
    """
    probs = check.probabilities(DOWNSTREAM_PROBS if prob is None else prob, "prob")
    discrepancy = check.flag(discrepancy, "discrepancy")
    sizes = resolve_sizes(fit.step1, params, tokens, compute, tokens_per_param)
    warn_below_data(fit.step1, sizes)
    draws = metric_draws(fit, sizes, seed, discrepancy)
    lo, med, hi = _interval(draws["metric"], probs)
    vlo, vmed, vhi = _interval(draws["via"], probs)
    flo, _, fhi = _interval(draws["metric_step1_fixed"], probs)
    width, fixed = hi - lo, fhi - flo
    share = (1 - (fixed / width.where(width > 0)) ** 2).clip(0, 1).fillna(0.0)
    ds = xr.Dataset(
        {
            "lower": lo,
            "median": med,
            "upper": hi,
            "via_lower": vlo,
            "via_median": vmed,
            "via_upper": vhi,
            "width": width,
            "width_step1_fixed": fixed,
            "step1_share": share,
        }
    ).transpose("prob", "point")
    ds = ds.assign_coords(size_coords(fit.step1, sizes, ds.sizes["point"]))
    disc = fit.step1.discrepancy if discrepancy else None
    ld = fit.link_discrepancy if discrepancy else None
    ds.attrs.update(
        converged=int(fit.converged),
        metric=fit.metric,
        via=fit.via,
        link=fit.link.name,
        law=fit.law.name,
        discrepancy=disc.describe() if disc is not None else "off",
        link_discrepancy=ld.describe() if ld is not None else "off",
    )
    if fit.direct_posterior is not None:
        ds = _with_direct(fit, ds, probs, _seed(fit, seed))
    return ds


def direct_draws(fit: DownstreamFit, compute, seed: int) -> xr.DataArray:
    """Metric draws of the direct one-step law at budgets ``compute`` (dim point)."""
    post = fit.direct_posterior
    const = {**fit.link_constants(), "ref": fit.settings["direct"]["ref"]}
    x = -np.log10(xr.DataArray(np.asarray(compute, float), dims="point"))
    mean = fit.link.evaluate(post, x, const)
    shape = tuple(mean.sizes[d] for d in (*SAMPLE_DIMS, "point"))
    eps = np.random.default_rng([seed, 43]).standard_normal(shape)
    eps = xr.DataArray(eps * np.asarray(post["sigma"])[..., None], dims=(*SAMPLE_DIMS, "point"))
    return (mean.transpose(*SAMPLE_DIMS, "point") + eps).clip(0, fit.constants["ceiling"])


def _with_direct(fit, ds: xr.Dataset, probs, seed: int) -> xr.Dataset:
    draws = direct_draws(fit, ds["compute"].values, seed)
    lo, med, hi = _interval(draws, probs)
    ds = ds.assign(direct_lower=lo, direct_median=med, direct_upper=hi)
    disagree = (ds["direct_lower"] > ds["upper"]) | (ds["direct_upper"] < ds["lower"])
    ds["disagree"] = disagree.transpose("prob", "point")
    widest = disagree.sel(prob=max(probs))
    if bool(widest.any()):
        where = ", ".join(fmt.flops(c) for c in ds["compute"].values[widest.values])
        warnings.warn(
            f"{fit.metric}: the chain ({fit.via} then the {fit.link.name} link) and the direct "
            f"law on compute disagree beyond their {max(probs):.0%} intervals at {where} FLOPs; "
            "the prediction depends on the model form: trust neither band alone",
            DownstreamWarning,
            stacklevel=3,
        )
    return ds


def bands_frame(ds: xr.Dataset) -> pd.DataFrame:
    """Tidy table, one row per point and probability, points in the order given (point-major):
    columns :data:`BAND_COLUMNS` (direct ones NaN without the direct law); attrs copied."""
    names = [
        c for c in BAND_COLUMNS if c in ds and c not in ("params", "tokens", "compute", "prob")
    ]
    df = ds[names].to_dataframe(dim_order=["point", "prob"]).reset_index()
    df["converged"] = bool(ds.attrs.get("converged", 1))
    for col in BAND_COLUMNS:
        if col not in df:
            df[col] = np.nan
    df = df[BAND_COLUMNS].reset_index(drop=True)
    df.attrs.update(ds.attrs)
    return df


# --- methods --------------------------------------------------------------------------------


@method_of(DownstreamFit)
def bands(
    self,
    *,
    params=None,
    tokens=None,
    compute=None,
    prob=None,
    tokens_per_param=None,
    as_xarray: bool = False,
    seed: int | None = None,
    discrepancy: bool = True,
):
    """Metric bands at (N, D) points or compute budgets (optimal split of step 1's law), with
    step 1's share of each interval; see :func:`metric_bands`. Rows in the order of the points
    given (one row per point and probability)."""
    ds = metric_bands(
        self,
        params=params,
        tokens=tokens,
        compute=compute,
        prob=prob,
        tokens_per_param=tokens_per_param,
        seed=seed,
        discrepancy=discrepancy,
    )
    return ds if check.flag(as_xarray, "as_xarray") else bands_frame(ds)


def link_bands(fit: DownstreamFit, loss, prob=None) -> xr.Dataset:
    """Posterior bands of step 2's expected metric (no evaluation noise) at losses ``loss``
    (dim point, coordinate ``loss``), and 30 thinned draws of the curve (``curves``);
    ``attrs["converged"]`` is the fit's gate flag, for the figure's stamp."""
    probs = check.probabilities(DOWNSTREAM_PROBS if prob is None else prob, "prob")
    loss = xr.DataArray(check.positive_array(loss, "loss"), dims="point")
    mean = fit.link.evaluate(fit.posterior, loss, fit.link_constants()).transpose(
        *SAMPLE_DIMS, "point"
    )
    lo, med, hi = _interval(mean, probs)
    flat = mean.stack(sample=SAMPLE_DIMS).transpose("sample", "point").values
    pick = np.linspace(0, flat.shape[0] - 1, min(30, flat.shape[0])).astype(int)
    return xr.Dataset(
        {"lower": lo, "median": med, "upper": hi, "curves": (("curve", "point"), flat[pick])},
        coords={"loss": ("point", loss.values)},
        attrs={"converged": int(fit.converged)},
    ).transpose("prob", "point", "curve")
