"""The one protocol every kind of discrepancy follows, and how an error is put on a loss.

A discrepancy is the law's own error beyond the data: zero inside the fitted runs, growing with
the decades d(x) by which a point x lies beyond them (the worst axis,
:func:`~bayes_scaling.discrepancy.record.distance_beyond`). Every kind draws it as a sum of
terms, one curve per posterior draw s::

    δ_s(x) = Σ_k c_{k,s} · d_k(x)^{γ_{k,s}}

each term on its own distance (:meth:`DiscrepancyKind.term_distances`; d(x) for all but the
scaling kind's drift):

- ``"scaling"`` (:class:`~bayes_scaling.discrepancy.record.Discrepancy`): a drift m along
  compute, c(x), and the error τ·η along the farthest axis, d(x), on log loss (records written
  before: one term, m + τ·η, on d);
- ``"group"`` (:class:`~bayes_scaling.discrepancy.grouped.GroupDiscrepancy`): a term shared by
  the groups (m + τ·η) and the group's own (τ'·η_g), on log loss;
- ``"link"`` (:class:`~bayes_scaling.discrepancy.link.LinkDiscrepancy`): one term τ₂·η with
  γ = 1, on the task metric (step 2 of a downstream chain).

The terms come from :meth:`DiscrepancyKind.curves` (for root finders that move x per draw) and
:meth:`DiscrepancyKind.error` evaluates them at given points; both take the same keywords, so
code that puts an error on a loss never asks which kind it holds.

**The error cannot push a loss below E.** Far beyond the data δ grows without bound, and a
negative drift would take L·e^δ under the irreducible loss E (on the Chinchilla table a target
below E's whole 90% interval got a finite median "compute needed"). So a log-loss error δ is put
on the law's loss L (E the draw's own irreducible loss; 0 for a law without one) by
:func:`with_error`, with x = L·e^δ the error as learned and R = L − E the reducible loss::

    L' = x                                        x − E ≥ ρ·R
    L' = E + ρ·R · exp((x − E)/(ρ·R) − 1)          x − E < ρ·R,     ρ = KNEE = 1/2

The error is used as learned until it has taken away a share 1 − ρ of the reducible loss; the
rest of the way to E is approached exponentially and never reached: E < L' for every draw
however far out (E = L' only where the exponential underflows). The two pieces meet with the same
value and slope at the knee, so the map is continuous with a continuous derivative and
increasing in δ (quantiles move through it in order); δ ≥ 0, so δ = 0 inside the data, leaves
x = L·e^δ unchanged. For a law without E (Kaplan's) E = 0 and the bend starts at δ < log ρ.

Why this form: the grid posteriors are learned from held-out runs on log loss (δ added to log L),
within a decade or two of the data, where x rarely comes within ρ·R of E; there the bound
changes nothing. Measured on the protocol backtests of the 11 corpus ladders (the shipped prior,
so in-sample; the same seeded fits scored with both forms): coverage at 50/80/90/95% was that of
L·e^δ on every ladder (averages 0.738/0.909/0.964/0.990) and the mean 90% interval score 0.196
against 0.197. Putting the error on the reducible loss instead (E + R·e^{δ·L/R} for δ < 0, equal
to first order, no knee to choose) cut gemstones' 90% coverage from 0.72 to 0.54. Far out the
bound is what it is for: on the Chinchilla table (245 runs, seed 0) L·e^δ put 78% of the law
band's draws below their E at 1e27 FLOPs and 88% at 1e30; with the bound none.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import xarray as xr

from bayes_scaling.errors import ArgumentError


@runtime_checkable
class DiscrepancyKind(Protocol):
    """What every discrepancy record offers (see the module docstring).

    Attributes
    ----------
    kind : str
        ``"scaling"``, ``"group"`` or ``"link"``: the ``kind`` attribute of its saved dataset.
    scale : str
        What δ adds to: ``"log loss"`` (put on a loss by :func:`with_error`) or ``"metric"``.
    reference : dict
        Largest value of each axis in the fitted runs; d(x) is measured from these.
    cut_on : str
        Axis of the internal cuts whose held-out runs informed the grid posterior.
    cuts : tuple of float
        The internal cuts used; empty when none was possible.
    n_checked : int
        Held-out runs that informed it.
    learned : bool
        False when no internal backtest informed it (the prior alone).
    prior : str
        The name of the prior the grid posterior started from.
    """

    kind: str
    scale: str

    @property
    def reference(self) -> dict: ...

    @property
    def cut_on(self) -> str: ...

    @property
    def cuts(self) -> tuple: ...

    @property
    def n_checked(self) -> int: ...

    @property
    def learned(self) -> bool: ...

    @property
    def prior(self) -> str: ...

    def distance(self, sizes) -> xr.DataArray:
        """d(x): decades beyond the fitted runs along the worst axis (0 inside the data)."""
        ...

    def term_distances(self, sizes) -> tuple:
        """The distance d_k(x) of each term of :meth:`curves`, in order."""
        ...

    def curves(self, *, draws_shape: tuple, seed: int, group: str | None = None) -> tuple:
        """The per-draw terms ``((c_1, γ_1), ...)``, arrays of ``draws_shape``, so that
        δ_s(x) = Σ_k c_{k,s}·d_k(x)^{γ_{k,s}} with d_k from :meth:`term_distances`; the draws
        :meth:`error` makes with the same seed."""
        ...

    def error(
        self, sizes, *, draws_shape: tuple, seed: int, group: str | None = None
    ) -> xr.DataArray:
        """δ(x) per draw at the points ``sizes`` (a mapping of axis to sizes), dims
        ``(chain, draw, ...point dims)`` for ``draws_shape`` = (chains, draws)."""
        ...

    def shift_and_sd(
        self, sizes, *, draws_shape: tuple, seed: int, group: str | None = None
    ) -> tuple[xr.DataArray, xr.DataArray]:
        """Per-draw mean and sd of δ(x) given the draw's scales (its η integrated out)."""
        ...

    def quantiles(self, probs=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Posterior quantiles of the error's sd one decade beyond the data (d = 1)."""
        ...

    def describe(self) -> str:
        """One sentence for tables, reports and figures."""
        ...

    def to_dataset(self) -> xr.Dataset:
        """The record as a NetCDF-safe dataset (attribute ``kind``), for a fit's DataTree."""
        ...

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> DiscrepancyKind:
        """The record of a dataset written by :meth:`to_dataset`."""
        ...


def error_of_curves(curves, distance) -> xr.DataArray:
    """δ = Σ_k c_k·d_k^{γ_k} for per-draw terms with dims (chain, draw); ``distance`` is one d for
    every term, or a tuple with one per term (:meth:`DiscrepancyKind.term_distances`)."""
    dims = ("chain", "draw")
    if not isinstance(distance, tuple):
        distance = (distance,) * len(curves)
    distance = [d if isinstance(d, xr.DataArray) else xr.DataArray(np.asarray(d)) for d in distance]
    first = distance[0]
    if not set(dims) & set(first.dims) and all(
        d.dims == first.dims and d.shape == first.shape for d in distance
    ):
        # distances per point, not per draw, with one set of dims: the sum in numpy, dims
        # (chain, draw, *point dims) as xarray's broadcasting gives them (the root finders and
        # searches call this point by point)
        tail = (...,) + (None,) * first.ndim
        out = sum(
            np.asarray(coefficient)[tail] * d.values ** np.asarray(growth)[tail]
            for (coefficient, growth), d in zip(curves, distance, strict=True)
        )
        return xr.DataArray(out, dims=(*dims, *first.dims), coords=first.coords)
    out = 0
    for (coefficient, growth), d in zip(curves, distance, strict=True):
        out = out + xr.DataArray(coefficient, dims=dims) * d ** xr.DataArray(growth, dims=dims)
    return out


#: ρ: the share of the reducible loss L − E below which a downward error bends towards E.
KNEE = 0.5


def with_error(loss, error, floor=0.0, knee: float = KNEE):
    """The loss with a log-loss error put on it, never below ``floor`` (the module docstring)::

        x = L·e^δ;   L' = x  if x − E ≥ ρ·(L − E),   else E + ρ·(L − E)·exp((x − E)/(ρ·(L − E)) − 1)

    Parameters
    ----------
    loss : array-like
        The law's loss L per draw (any arrays that broadcast; xarray keeps its dims).
    error : array-like
        The log-loss error δ, e.g. :meth:`DiscrepancyKind.error`.
    floor : array-like
        The irreducible loss E per draw (:func:`irreducible_loss`), 0 for a law without one;
        ``loss`` must lie above it.
    knee : float
        ρ in (0, 1]: the share of the reducible loss where the bend towards E starts.

    Examples
    --------
    >>> round(float(with_error(2.0, -0.05, 1.8)), 4)  # x − E ≥ ρ·R: as learned, L·e^δ
    1.9025
    >>> round(float(with_error(2.0, -0.2, 1.8)), 4)  # bent: L·e^δ would be 1.637, below E
    1.8072
    >>> float(with_error(2.0, -5.0, 1.8)) >= 1.8  # L·e^δ would be 0.013
    True
    >>> round(float(with_error(2.0, 0.1, 1.8)), 4)  # upward: L·e^δ
    2.2103
    """
    if not 0 < knee <= 1:
        raise ArgumentError("knee", f"must lie in (0, 1], got {knee!r}")
    x = loss * np.exp(error)
    bend = knee * (loss - floor)  # ρ·R
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        bent = floor + bend * np.exp(np.minimum((x - floor) / bend, 1.0) - 1.0)
    labelled = any(isinstance(v, xr.DataArray) for v in (loss, error, floor))
    return (xr.where if labelled else np.where)(x - floor >= bend, x, bent)


def irreducible_loss(law, params):
    """E per draw: ``params["E"]`` when the law has a parameter ``E`` (its irreducible loss, by
    the convention of every built-in law with one), else 0 (e.g. Kaplan's law)."""
    return params["E"] if "E" in law.params else 0.0
