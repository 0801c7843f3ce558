"""The discrepancy of a scaling fit: the part of the error beyond the data that parameters cannot
explain (kind ``"scaling"`` of :class:`~bayes_scaling.discrepancy.protocol.DiscrepancyKind`).

Parameter uncertainty plus i.i.d. run noise under-covers held-out runs beyond the data (on
chinchilla-epoch, fit below 1e21 FLOPs: 61% of the 23 larger runs inside the 90% intervals). The
law is misspecified, and the error of its extrapolation grows with distance from the data. We model
that error on the log-loss scale as a term that is zero inside the data and grows with the distance
beyond it::

    log loss(x) = log L(x; θ) + δ(x) + ε,     δ(x) = m · c(x)^γ + τ·η · d(x)^γ,    η ~ Normal(0, 1)

- d(x) is the number of decades by which x lies beyond the fitted runs, along the worst axis,
  each axis weighted by w_a (:attr:`Discrepancy.axis_weights`, learned across the corpus)::

      d(x) = max_a w_a · max(0, log10(x_a / max_i x_{i,a})),   a ∈ {compute} ∪ law inputs

  (with w = 1, a run at 10x the largest training compute has d = 1; so has one with 10x the most
  tokens). The shipped prior counts a decade of N beyond the largest model twice (w_N = 2, the
  compute of a decade of N at fixed tokens per parameter): a larger model on few tokens lies
  farther from the data than its compute says (on chinchilla-epoch cut at 1e21 the 6.8-16B
  models on 1-6 tokens per parameter were the runs the bands missed). Chosen by the
  leave-one-family-out log score on the corpus (3.134 nats per run against 3.123 with w = 1;
  doubling tokens too, 3.127; halving both, 3.109);
- c(x) is the same along compute alone, c(x) = max(0, log10(C / max_i C_i)): the drift runs
  along compute (across the public ladders the law over-predicts larger-compute runs in every
  family; along N or tokens at fixed compute no common sign), 3.13 against 3.03 nats per
  held-out run for a drift along d (``benchmarks/calibration.py``). Records written before
  (``drift_on = "distance"``) keep c = d;
- m is a systematic drift per decade, common to all ladders (learned across public ladders: the
  fitted law's extrapolation over-predicts held-out losses on average; see
  :mod:`bayes_scaling.discrepancy.prior`); τ is a ladder's own error one decade out;
- γ sets how the error grows: γ = 1 is a random slope (linear growth), γ = 0.5 a random walk
  in log distance (Brownian motion: sd ∝ sqrt(d)), smaller γ an error that appears as soon as one
  steps out of the data and then grows slowly;
- τ (log-loss error at one decade beyond the data) and γ have a grid posterior: a prior learned
  across public ladders (:mod:`bayes_scaling.discrepancy.prior`) times the table's own
  backtests inside its runs: the law is refitted below an internal cut (one, at 75% of the runs,
  with the learned prior: leave-one-ladder-out it scored better than three, see
  :data:`~bayes_scaling.discrepancy.prior.POPULATION_FRACTIONS`; three with the within-table
  prior) and the held-out runs above each cut are scored
  (:mod:`bayes_scaling.discrepancy.evidence`). The held-out runs of one cut share one error
  curve, as in the predictive below; several cuts are nested, so not independent (a stated limit).
- Every posterior draw s gets its own (m_s, τ_s, γ_s) (from that grid posterior) and its own η_s,
  shared by all points: one draw is one "law error curve", so fan charts and allocation see
  smooth curves.
- Inside and near the data a Gaussian process g(x) on the fitted runs' residuals carries the
  law's local misfit (:mod:`bayes_scaling.discrepancy.local`, :attr:`Discrepancy.local`): added
  to δ by :meth:`Discrepancy.error` and :meth:`Discrepancy.shift_and_sd`, 0 in mean and sd s far
  from the runs.
- Far beyond the data δ grows without bound (a negative drift most of all), so it is put on the
  loss by :func:`~bayes_scaling.discrepancy.protocol.with_error`: upward as e^δ, downward on the
  reducible loss L − E with the same first-order effect, so that no draw's loss falls below that
  draw's E (the form and why: :mod:`bayes_scaling.discrepancy.protocol`).

The fitted compiled model is reused for the internal refits (no recompilation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling._numeric import grid_quantiles
from bayes_scaling.discrepancy.local import LocalMisfit
from bayes_scaling.discrepancy.protocol import error_of_curves
from bayes_scaling.errors import ArgumentError, BayesScalingError

AXES = ("compute", "n_params", "n_tokens", "unique_tokens")


@dataclass(frozen=True)
class Discrepancy:
    """The learned extrapolation discrepancy of one fit (see the module docstring).

    Attributes
    ----------
    drift : ndarray
        Grid of drifts m (log-loss error per decade beyond the data common to ladders; ``[0]``
        without drift).
    tau : ndarray
        Grid of τ values (sd of the log-loss error one decade beyond the data).
    gamma : ndarray
        Grid of growth exponents γ.
    weights : ndarray
        Posterior probability of each (m, τ, γ) grid cell, shape (len(drift), len(tau),
        len(gamma)).
    reference : dict
        Largest value of each axis in the fitted runs; d(x) is measured from these.
    cut_on : str
        Axis of the internal cuts.
    cuts : tuple of float
        Internal cuts used ("fit below, check above"); empty when none was possible.
    n_checked : int
        Held-out runs beyond their internal cut's data that informed τ.
    prior : str
        The name of the prior the weights started from (``"learned"``, ``"within-table"``, ...).
    failed_refits : int
        Internal refits that stayed broken after their retry (their cuts taught nothing).
    drift_on : {"compute", "distance"}
        The distance the drift grows with: c(x), along compute (fits since the direction-aware
        discrepancy), or d(x), the farthest axis (records written before; also when the fit has
        no compute axis).
    axis_weights : dict
        w_a of d(x) by axis (missing axes 1; empty for records written before).
    local : LocalMisfit or None
        The misfit inside and near the data, g(x) (:mod:`bayes_scaling.discrepancy.local`),
        added to δ by :meth:`error` and :meth:`shift_and_sd`; None for records written before,
        laws without N and D, and the root finders of :meth:`curves`.
    kind, scale : str
        ``"scaling"`` and ``"log loss"`` (class attributes of the protocol).
    """

    kind: ClassVar[str] = "scaling"
    scale: ClassVar[str] = "log loss"

    drift: np.ndarray
    tau: np.ndarray
    gamma: np.ndarray
    weights: np.ndarray
    reference: dict
    cut_on: str
    cuts: tuple
    n_checked: int
    prior: str = "within-table"
    failed_refits: int = 0
    drift_on: str = "distance"
    axis_weights: dict = field(default_factory=dict)
    local: LocalMisfit | None = None
    # the last draws of curves(), by (shape, seed), read-only: a search calls error() per point
    _curves: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def learned(self) -> bool:
        """False when no internal cut was possible and τ is the prior alone."""
        return self.n_checked > 0

    def quantiles(self, probs=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Posterior quantiles of τ, the error's sd one decade beyond the data (marginal over m
        and γ)."""
        return grid_quantiles(self.tau, self.weights.sum(axis=(0, 2)), probs)

    def gamma_mean(self) -> float:
        """Posterior mean of the growth γ."""
        return float((self.weights.sum(axis=(0, 1)) * self.gamma).sum() / self.weights.sum())

    def drift_mean(self) -> float:
        """Posterior mean of the drift m (log loss per decade at d = 1)."""
        return float((self.weights.sum(axis=(1, 2)) * self.drift).sum() / self.weights.sum())

    def describe(self) -> str:
        """One sentence: the drift, τ's median and 90% interval, γ, and what informed them."""
        lo, med, hi = self.quantiles()
        source = (
            f"{self.prior} prior updated by {self.n_checked} held-out runs at {len(self.cuts)} "
            f"internal cut{'s' if len(self.cuts) != 1 else ''} on {self.cut_on}"
            if self.learned
            else f"{self.prior} prior only (no usable internal backtest: too few runs, or the "
            "refits on the smaller runs failed)"
        )
        if self.failed_refits:
            source += f" ({self.failed_refits} internal refit(s) failed twice and were left out)"
        drift = self.drift_mean()
        shift = f"shift {drift:+.2%} and " if drift else ""
        local = f"; {self.local.describe()}" if self.local is not None else ""
        return (
            f"extrapolation discrepancy: {shift}sd {med:.3g} of log loss at 10x beyond the data "
            f"(90% {lo:.3g}-{hi:.3g}), growing as distance^{self.gamma_mean():.2g}, {source}"
            f"{local}"
        )

    def distance(self, sizes) -> xr.DataArray:
        """d(x): decades beyond the fitted runs along the worst (weighted) axis (0 inside the
        data)."""
        return distance_beyond(self.reference, sizes, self.axis_weights)

    def drift_distance(self, sizes) -> xr.DataArray:
        """c(x): the distance the drift grows with (along compute when :attr:`drift_on` is
        ``"compute"`` and compute is given, else d(x))."""
        given = sizes.get("compute") is not None
        if self.drift_on == "compute" and "compute" in self.reference and given:
            return distance_beyond({"compute": self.reference["compute"]}, sizes)
        return self.distance(sizes)

    def term_distances(self, sizes) -> tuple:
        """The distance of each term of :meth:`curves`, in order."""
        if self.drift_on == "compute":
            return (self.drift_distance(sizes), self.distance(sizes))
        return (self.distance(sizes),)

    def draw_scale(self, shape, seed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(m, τ, γ) draws from the grid posterior (τ jittered uniformly within its grid cell)."""
        rng = np.random.default_rng([int(seed), 7])
        flat = self.weights.ravel() / self.weights.sum()
        i_drift, i_tau, i_gamma = np.unravel_index(
            rng.choice(flat.size, size=shape, p=flat), self.weights.shape
        )
        steps = np.diff(self.tau)
        if not len(steps):  # one τ: a fixed error scale
            tau = np.full(shape, float(self.tau[0]))
        elif np.allclose(steps, steps[0]):  # a linear grid starting at 0: jitter, clip at 0
            jitter = rng.uniform(-steps[0] / 2, steps[0] / 2, shape)
            tau = np.clip(self.tau[i_tau] + jitter, 0, None)
        else:  # a log grid: jitter within the cell in log τ
            half = np.log(self.tau[1] / self.tau[0]) / 2
            tau = self.tau[i_tau] * np.exp(rng.uniform(-half, half, shape))
        return self.drift[i_drift], tau, self.gamma[i_gamma]

    def curves(self, *, draws_shape, seed, group=None) -> tuple:
        """The terms (coefficient, growth) of δ_s, arrays of ``draws_shape``, each on its
        distance of :meth:`term_distances` (for root finders that move x per draw: the draws of
        :meth:`error`): ``((m_s, γ_s), (τ_s·η_s, γ_s))`` on (c, d), or, for a record with
        ``drift_on = "distance"``, the one term ``((m_s + τ_s·η_s, γ_s),)`` on d."""
        _no_group(group)
        key = (tuple(np.atleast_1d(draws_shape).tolist()), int(seed))
        if key not in self._curves:  # the same draws again: made once, the last ones kept
            drift, tau, gamma = map(np.asarray, self.draw_scale(draws_shape, seed))
            eta = np.random.default_rng([int(seed), 11]).standard_normal(draws_shape)
            if self.drift_on == "compute":
                terms = ((drift, gamma), (np.asarray(tau * eta), gamma))
            else:
                terms = ((np.asarray(drift + tau * eta), gamma),)
            for array in (a for term in terms for a in term):
                array.flags.writeable = False
            self._curves.clear()
            self._curves[key] = terms
        return self._curves[key]

    def curve_error(self, *, draws_shape, seed):
        """``sizes ↦ Σ_k c_k·d_k(x)^γ_k`` per draw (shape ``draws_shape``) in plain numpy, the
        curves drawn once: :meth:`error` without the local misfit, for searches that ask one
        point at a time (add the misfit with
        :meth:`~bayes_scaling.discrepancy.local.LocalMisfit.along`)."""
        curves = self.curves(draws_shape=draws_shape, seed=seed)

        def at(sizes) -> np.ndarray:
            far = [np.asarray(d) for d in self.term_distances(sizes)]
            return sum(c * d**g for (c, g), d in zip(curves, far, strict=True))

        return at

    def error(self, sizes, *, draws_shape, seed, group=None) -> xr.DataArray:
        """δ(x) = m_s·c(x)^γ_s + τ_s·η_s·d(x)^γ_s (+ g_s(x), the local misfit, when the record
        has one and ``sizes`` gives N and D) on log loss, dims (chain, draw, ...point dims).

        Put it on a loss with :func:`~bayes_scaling.discrepancy.protocol.with_error` (never below
        E), not as ``loss·e^δ``.
        """
        out = error_of_curves(
            self.curves(draws_shape=draws_shape, seed=seed, group=group),
            self.term_distances(sizes),
        )
        if self.local is None:
            return out
        return out + self.local.error(sizes, draws_shape=draws_shape, seed=seed)

    def shift_and_sd(self, sizes, *, draws_shape, seed, group=None) -> tuple[xr.DataArray, ...]:
        """Per-draw mean m_s·c(x)^γ_s and sd τ_s·d(x)^γ_s of δ, dims (chain, draw, ...points)."""
        _no_group(group)
        drift, tau, gamma = self.draw_scale(draws_shape, seed)
        dims = ("chain", "draw")
        growth = xr.DataArray(gamma, dims=dims)
        shift = xr.DataArray(drift, dims=dims) * self.drift_distance(sizes) ** growth
        sd = xr.DataArray(tau, dims=dims) * self.distance(sizes) ** growth
        local = self.local.moments(sizes) if self.local is not None else None
        if local is None:
            return shift, sd
        return shift + local[0], np.sqrt(sd**2 + local[1])

    def to_dataset(self) -> xr.Dataset:
        """For the fit's DataTree group ``discrepancy`` (NetCDF-safe attributes)."""
        local = self.local.to_dataset() if self.local is not None else xr.Dataset()
        return local.merge(
            xr.Dataset(
                {"weights": (("drift", "tau", "gamma"), self.weights)},
                coords={"drift": self.drift, "tau": self.tau, "gamma": self.gamma},
                attrs={
                    "kind": self.kind,
                    "cut_on": self.cut_on,
                    "cuts": list(map(float, self.cuts)) or [np.nan],
                    "n_checked": int(self.n_checked),
                    "prior": self.prior,
                    "failed_refits": int(self.failed_refits),
                    "drift_on": self.drift_on,
                    "axis_weight_axes": list(self.axis_weights) or [""],
                    "axis_weight_values": [float(v) for v in self.axis_weights.values()] or [1.0],
                    "reference_axes": list(self.reference),
                    "reference_values": [float(v) for v in self.reference.values()],
                },
            ),
            combine_attrs="no_conflicts",
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Discrepancy:
        """The record of a saved ``discrepancy`` group (no ``kind`` attribute: written before
        it, a scaling one); a dataset of another kind (e.g. a group's error in a grouped fit) is
        read by the reader registered for its ``kind`` in :data:`READERS`."""
        a = ds.attrs
        kind = str(a.get("kind", cls.kind))
        if kind != cls.kind:
            if kind not in READERS:
                raise BayesScalingError(f"unknown kind of discrepancy {kind!r}")
            return READERS[kind](ds)
        cuts = tuple(float(c) for c in np.atleast_1d(a["cuts"]) if np.isfinite(c))
        axes = [str(x) for x in np.atleast_1d(a["reference_axes"])]
        values = [float(v) for v in np.atleast_1d(a["reference_values"])]
        weights = ds["weights"]
        if "drift" not in weights.dims:  # files written before the drift: m = 0
            weights = weights.expand_dims(drift=[0.0])
        return cls(
            drift=np.asarray(weights["drift"], float),
            tau=np.asarray(ds["tau"], float),
            gamma=np.asarray(ds["gamma"], float),
            weights=np.asarray(weights.transpose("drift", "tau", "gamma"), float),
            reference=dict(zip(axes, values, strict=True)),
            cut_on=str(a["cut_on"]),
            cuts=cuts,
            n_checked=int(a["n_checked"]),
            prior=str(a.get("prior", "within-table")),
            failed_refits=int(a.get("failed_refits", 0)),
            drift_on=str(a.get("drift_on", "distance")),
            axis_weights={
                str(k): float(v)
                for k, v in zip(
                    np.atleast_1d(a.get("axis_weight_axes", [""])),
                    np.atleast_1d(a.get("axis_weight_values", [1.0])),
                    strict=True,
                )
                if str(k)
            },
            local=LocalMisfit.from_dataset(ds),
        )


#: Readers of discrepancy records by their ``kind`` attribute (``reader(ds)``), so that a fit's
#: ``discrepancy`` group always reads back through :meth:`Discrepancy.from_dataset` (or
#: :func:`bayes_scaling.discrepancy.read_discrepancy`); the grouped and link modules add theirs.
READERS: dict = {Discrepancy.kind: Discrepancy.from_dataset}


def _no_group(group) -> None:
    """A kind without groups takes ``group=None`` only (the protocol's keyword)."""
    if group is not None:
        raise ArgumentError("group", f"this discrepancy has no groups; got {group!r}, give None")


def distance_beyond(reference: dict, sizes, weights: dict | None = None) -> xr.DataArray:
    """d(x) = max over axes of w_a·max(0, log10(x_a / reference_a)), for the axes given in
    ``sizes`` (``weights`` w_a by axis, default 1)."""
    given = {axis: sizes.get(axis) for axis in reference if sizes.get(axis) is not None}
    if not given:
        raise BayesScalingError("no size given to measure the distance beyond the data")
    # plain numbers and arrays in numpy, wrapped once (an answer's searches ask point by point)
    labelled = any(isinstance(v, xr.DataArray) for v in given.values())
    parts = []
    for axis, value in given.items():
        if labelled and not isinstance(value, xr.DataArray):
            value = xr.DataArray(np.asarray(value))
        elif not labelled:
            value = np.asarray(value, float)
        parts.append(np.log10(value / reference[axis]).clip(min=0) * (weights or {}).get(axis, 1.0))
    out = parts[0]
    for p in parts[1:]:
        out = np.maximum(out, p)
    return out if labelled else xr.DataArray(out)


def reference_sizes(runs: pd.DataFrame, law) -> dict:
    """Largest value per axis among the fitted runs (compute and the law's inputs)."""
    axes = [a for a in AXES if a in runs.columns and (a == "compute" or a in law.inputs)]
    return {a: float(runs[a].max()) for a in axes}
