"""Step 2's extrapolation discrepancy: the link's own error beyond the ladder.

Step 2 learns the link from loss to metric on the ladder's runs. A model far beyond them may sit
on another curve: the relation between a task's loss and its accuracy moves with scale (on the
OLMo ladder, 7B-4T and 13B-5T score up to 0.17 above the ladder's link at their own measured
loss), and no posterior of the link's parameters can say so. As for step 1
(:mod:`bayes_scaling.discrepancy.record`), the chain adds an error that is zero inside the data and
grows with the distance beyond it, one curve per posterior draw::

    m(x) = link(L(x); φ) + δ₂(x) + ε₂,     δ₂(x) = τ₂·η·d(x),     η ~ Normal(0, 1)

with d(x) the decades beyond the fitted runs along the worst axis (compute and the law's inputs,
:func:`~bayes_scaling.discrepancy.record.distance_beyond`, the same d as step 1's), so τ₂ is the
sd of the metric's error one decade out (a random slope: linear growth, a stated choice).

τ₂ has a grid posterior: a prior times the ladder's own backtests of the link. The prior is
HalfNormal(:data:`PRIOR_SHARE` × (ceiling − chance)): at one prior sd the link moves a tenth of
the way from chance to the ceiling per decade, a statement of ignorance, not a fit to any table.
Each backtest refits step 2 on the runs below an internal cut in compute and scores the runs
above at their *measured* loss (so only the link's error is scored, not step 1's), the held-out
runs sharing one error curve as the predictive assumes::

    p(r | τ₂) = (1/S) Σ_s N(r; 0, σ_s²·I + τ₂²·d·dᵀ),   r_j = m_j − link(L_j; φ_s)

(closed form by the matrix determinant lemma). Cuts and their refits: :data:`CUT_FRACTIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import xarray as xr

from bayes_scaling._lazy import scipy_function
from bayes_scaling._numeric import grid_quantiles
from bayes_scaling.discrepancy.record import READERS, distance_beyond
from bayes_scaling.errors import ArgumentError

logsumexp = scipy_function("special", "logsumexp")  # SciPy on first use

#: Prior sd of τ₂ as a share of (ceiling − chance), per decade beyond the data.
PRIOR_SHARE = 0.1
#: Grid of τ₂ in units of the prior sd (dense near 0).
GRID = np.concatenate([[0.0], np.geomspace(1e-3, 4.0, 80)])
#: Fractions of the runs (by compute) below each internal cut; each cut keeps at least
#: max(8, 2·parameters) runs to fit and 3 to check.
CUT_FRACTIONS = (0.5, 0.625, 0.75)


@dataclass(frozen=True)
class LinkDiscrepancy:
    """The grid posterior of τ₂ and where d(x) is measured from (see the module docstring).

    Attributes
    ----------
    tau : ndarray
        Grid of τ₂ (sd of the metric's error one decade beyond the data).
    weights : ndarray
        Posterior probability of each τ₂ cell.
    prior_sd : float
        The sd of τ₂'s HalfNormal prior (:func:`prior_sd`).
    reference : dict
        Largest value of each axis in the fitted runs; d(x) is measured from these.
    cuts : tuple of float
        Internal cuts in compute whose refits scored held-out runs.
    n_checked : int
        Held-out runs that informed τ₂.
    kind, scale, cut_on, learned, prior
        The protocol's (:class:`~bayes_scaling.discrepancy.protocol.DiscrepancyKind`):
        ``"link"``, ``"metric"``, ``"compute"``, whether a backtest informed τ₂, the prior's name.
    """

    kind: ClassVar[str] = "link"
    scale: ClassVar[str] = "metric"
    cut_on: ClassVar[str] = "compute"

    tau: np.ndarray
    weights: np.ndarray
    prior_sd: float
    reference: dict
    cuts: tuple = ()
    n_checked: int = 0

    @property
    def learned(self) -> bool:
        """False when no internal backtest was possible and τ₂ is the prior alone."""
        return self.n_checked > 0

    @property
    def prior(self) -> str:
        return f"HalfNormal({self.prior_sd:.3g})"

    def quantiles(self, probs=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Posterior quantiles of τ₂, the metric error's sd one decade beyond the data."""
        return grid_quantiles(self.tau, self.weights, probs)

    def describe(self) -> str:
        """One sentence: τ₂'s median and 90% interval and what informed it."""
        lo, med, hi = self.quantiles()
        source = (
            f"prior {self.prior} updated by {self.n_checked} held-out runs at "
            f"{len(self.cuts)} internal cuts on compute"
            if self.n_checked
            else f"prior {self.prior} only (no internal backtest was possible)"
        )
        return (
            f"link discrepancy: sd {med:.3g} of the metric at 10x beyond the data (90% "
            f"{lo:.3g}-{hi:.3g}), growing linearly, {source}"
        )

    def distance(self, sizes) -> xr.DataArray:
        """d(x): decades beyond the fitted runs along the worst axis (0 inside the data)."""
        return distance_beyond(self.reference, sizes)

    def term_distances(self, sizes) -> tuple:
        """One term, on d(x)."""
        return (self.distance(sizes),)

    def _draw_tau(self, rng, shape) -> np.ndarray:
        p = self.weights / self.weights.sum()
        i = rng.choice(len(self.tau), size=shape, p=p)
        lo = self.tau[np.maximum(i - 1, 0)]
        hi = self.tau[np.minimum(i + 1, len(self.tau) - 1)]
        tau = self.tau[i] + rng.uniform(-0.5, 0.5, shape) * (hi - lo) / 2  # within the cell
        return np.clip(tau, 0, None)

    def curves(self, *, draws_shape, seed, group=None) -> tuple:
        """The one term ``((τ₂_s·η_s, 1),)`` of δ₂ = τ₂_s·η_s·d(x), arrays of ``draws_shape``."""
        if group is not None:
            raise ArgumentError("group", f"a link discrepancy has no groups; got {group!r}")
        rng = np.random.default_rng([int(seed), 53])
        tau = self._draw_tau(rng, draws_shape)
        return ((tau * rng.standard_normal(draws_shape), np.ones(draws_shape)),)

    def error(self, sizes, *, draws_shape, seed, group=None) -> xr.DataArray:
        """δ₂ = τ₂_s·η_s·d(x) on the metric per draw (dims chain, draw, then the sizes' dims)."""
        ((coef, _),) = self.curves(draws_shape=draws_shape, seed=seed, group=group)
        return xr.DataArray(coef, dims=("chain", "draw")) * self.distance(sizes)

    def shift_and_sd(self, sizes, *, draws_shape, seed, group=None) -> tuple[xr.DataArray, ...]:
        """Per-draw mean 0 and sd τ₂_s·d(x) of δ₂ (its η integrated out)."""
        if group is not None:
            raise ArgumentError("group", f"a link discrepancy has no groups; got {group!r}")
        tau = self._draw_tau(np.random.default_rng([int(seed), 53]), draws_shape)
        sd = xr.DataArray(tau, dims=("chain", "draw")) * self.distance(sizes)
        return xr.zeros_like(sd), sd

    def to_dataset(self) -> xr.Dataset:
        """The record as a NetCDF-safe dataset (attribute ``kind`` = ``"link"``)."""
        return xr.Dataset(
            {"weights": ("tau", self.weights)},
            coords={"tau": self.tau},
            attrs={
                "kind": self.kind,
                "prior_sd": float(self.prior_sd),
                "cuts": list(map(float, self.cuts)) or [np.nan],
                "n_checked": int(self.n_checked),
                "reference_axes": list(self.reference),
                "reference_values": [float(v) for v in self.reference.values()],
            },
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> LinkDiscrepancy:
        """The record of a dataset written by :meth:`to_dataset` (with or without ``kind``)."""
        a = ds.attrs
        axes = [str(x) for x in np.atleast_1d(a["reference_axes"])]
        values = [float(v) for v in np.atleast_1d(a["reference_values"])]
        return cls(
            tau=np.asarray(ds["tau"], float),
            weights=np.asarray(ds["weights"], float),
            prior_sd=float(a["prior_sd"]),
            reference=dict(zip(axes, values, strict=True)),
            cuts=tuple(float(c) for c in np.atleast_1d(a["cuts"]) if np.isfinite(c)),
            n_checked=int(a["n_checked"]),
        )


READERS[LinkDiscrepancy.kind] = LinkDiscrepancy.from_dataset


def prior_sd(chance: float, ceiling: float) -> float:
    """The prior sd of τ₂: :data:`PRIOR_SHARE` of the span from chance to the ceiling."""
    return PRIOR_SHARE * abs(float(ceiling) - float(chance))


def log_prior(tau: np.ndarray, sd: float) -> np.ndarray:
    """log HalfNormal(τ; sd) on the grid, up to a constant."""
    return -0.5 * (np.asarray(tau, float) / sd) ** 2


def internal_cuts(compute: np.ndarray, n_params: int) -> list[float]:
    """Cuts in compute leaving >= max(8, 2·n_params) runs to fit and >= 3 beyond."""
    values = np.sort(np.asarray(compute, float))
    cuts = []
    for frac in CUT_FRACTIONS:
        idx = int(np.ceil(frac * len(values)))
        if idx >= len(values):
            continue
        cut = float(values[idx])
        n_fit, n_check = int((values < cut).sum()), int((values >= cut).sum())
        if n_fit >= max(8, 2 * n_params) and n_check >= 3 and cut not in cuts:
            cuts.append(cut)
    return cuts


def shared_loglik(resid: np.ndarray, sigma: np.ndarray, d: np.ndarray, tau: np.ndarray):
    """log p(r | τ₂) on the grid ``tau`` (module docstring): ``resid`` (S, m) residuals of the
    held-out runs per draw, ``sigma`` (S,) step 2's noise sd per draw, ``d`` (m,) distances."""
    r, d = np.asarray(resid, float), np.asarray(d, float)
    s2 = np.asarray(sigma, float)[:, None] ** 2  # (S, 1)
    t2 = np.asarray(tau, float)[None, :] ** 2  # (1, T)
    m, dd = r.shape[1], float(d @ d)
    rr, dr = (r**2).sum(1)[:, None], (r @ d)[:, None]
    denom = s2 + t2 * dd
    logdet = m * np.log(s2) + np.log1p(t2 * dd / s2)
    quad = rr / s2 - t2 * dr**2 / (s2 * denom)
    dens = -0.5 * (m * np.log(2 * np.pi) + logdet + quad)  # (S, T)
    return logsumexp(dens, axis=0) - np.log(dens.shape[0])
