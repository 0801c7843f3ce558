"""Summaries of posterior draws shared by every answer: central intervals and "amount needed".

- :func:`central_interval`: the equal-tailed interval of draws along the sample dims at one or
  several probabilities p: the quantiles (1 − p)/2 and (1 + p)/2, with the median. Every band,
  table and report of the core, pass@k and downstream answers takes its intervals from here.
- :func:`needed_quantiles`: the amount (compute, samples) needed to reach a target with
  probability p. Per draw s the amount needed is a_s (+∞ when draw s never reaches the target);
  P(reached with amount a) = P(a_s ≤ a), so the amount needed with probability p is the
  p-quantile of the a_s (the smallest a with P ≥ p, no interpolation). When that quantile is +∞,
  i.e. p > 1 − q with q = P(a_s = ∞), no amount gives probability p: the answer is None,
  "not reachable with probability p" (:func:`bayes_scaling._format.not_reachable`), never a
  number extrapolated towards infinity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from bayes_scaling._constants import SAMPLE_DIMS


def central_interval(
    draws,
    prob,
    dims: Sequence[str] = SAMPLE_DIMS,
    *,
    method: str = "linear",
) -> xr.Dataset:
    """Equal-tailed intervals and the median of draws along ``dims``.

    Parameters
    ----------
    draws : DataArray or array
        Posterior draws. A plain array is read with its first axis as the draws.
    prob : float or sequence of float
        Central probabilities p; the interval is [q_{(1−p)/2}, q_{(1+p)/2}].
    dims : str or sequence of str
        The sample dims (those present are reduced; default ``("chain", "draw")``).
    method : str
        numpy's quantile method (``"linear"``; ``"inverted_cdf"`` for draws with infinities).

    Returns
    -------
    Dataset
        ``lower``, ``median``, ``upper``; with a sequence ``prob`` each has a ``prob`` dim in the
        order given (the median repeated), with a scalar ``prob`` none.

    Examples
    --------
    >>> ds = central_interval(np.arange(101.0), [0.5, 0.9])
    >>> ds["lower"].round(6).values.tolist(), float(ds["median"][0])
    ([25.0, 5.0], 50.0)
    """
    if not isinstance(draws, xr.DataArray):
        values = np.asarray(draws, float)
        names = ("sample", *(f"dim_{i}" for i in range(1, values.ndim)))
        draws, dims = xr.DataArray(values, dims=names), ("sample",)
    dims = [dims] if isinstance(dims, str) else list(dims)
    dims = [d for d in dims if d in draws.dims]
    scalar = np.ndim(prob) == 0
    probs = np.atleast_1d(np.asarray(prob, float))
    n = len(probs)
    levels = np.concatenate([(1 - probs) / 2, [0.5], (1 + probs) / 2])
    q = draws.quantile(levels, dim=dims, method=method).drop_vars("quantile")

    def part(index) -> xr.DataArray:
        return q.isel(quantile=index).rename(quantile="prob").assign_coords(prob=probs)

    out = xr.Dataset(
        {
            "lower": part(slice(0, n)),
            "median": q.isel(quantile=n).expand_dims(prob=probs),
            "upper": part(slice(n + 1, 2 * n + 1)),
        }
    )
    out = out.transpose("prob", ...)
    return out.isel(prob=0, drop=True) if scalar else out


@dataclass(frozen=True)
class Needed:
    """The amount needed with each probability (None: not reachable with that probability) and
    q = P(never reached)."""

    values: dict  # {p: amount, or None when not reachable with probability p}
    prob_unreachable: float

    @property
    def prob_reachable(self) -> float:
        return 1.0 - self.prob_unreachable


def needed_quantiles(needs, probs) -> Needed:
    """The p-quantile of per-draw amounts needed, +∞ (or NaN) where a draw never reaches the
    target; None where that quantile is infinite (see the module docstring).

    Examples
    --------
    >>> out = needed_quantiles([1.0, 2.0, 3.0, np.inf], [0.5, 0.9])
    >>> out.values, out.prob_unreachable
    ({0.5: 2.0, 0.9: None}, 0.25)
    """
    x = np.asarray(needs, float).ravel()
    x = np.where(np.isnan(x), np.inf, x)
    q = float(np.mean(~np.isfinite(x))) if x.size else 1.0
    values = {}
    for p in np.atleast_1d(np.asarray(probs, float)).tolist():
        value = float(np.quantile(x, p, method="inverted_cdf")) if x.size else np.inf
        values[p] = value if np.isfinite(value) else None
    return Needed(values, q)
