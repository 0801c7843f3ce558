"""What a design makes smaller: objectives as data, each a pure function of weighted draws.

The draws are the current posterior's S draws at the target points; a design changes their
**weights** (importance reweighting by a fantasised run's likelihood) or the law's values in them
(a linearised update; both in :mod:`.updates`), and the **reference** the extrapolation
discrepancy is measured from (a run nearer the target shrinks the
target's distance beyond the data, and so the discrepancy's part of the band). At target point t
and draw s::

    log L_pred(t; s) = log L'(x_t; s) + ε_s,    L' = with_error(L(x_t; θ_s), δ_s(x_t), E_s),
    δ_s(x) = Σ_k c_{k,s} · d(x)^γ_{k,s}

with the discrepancy's per-draw terms (for a scaling fit one, c_s = m_s + τ_s·η_s), d(x) the
decades beyond the reference, measured by the discrepancy record itself
(:meth:`~bayes_scaling.discrepancy.record.Discrepancy.term_distances` with the reference moved:
:func:`term_distances`) and ``with_error`` the core's way of
putting a log-loss error on a loss without crossing the draw's irreducible loss E_s
(:func:`bayes_scaling.discrepancy.protocol.with_error`; L·e^δ wherever that stays well above E).
Each objective maps weights ``w`` (worlds K × draws S, rows summing to one) to K values; lower is
better. Built by small factories that check their
argument when built (as pymc-marketing's risk measures):

- :func:`width` (default): mean over targets of the central ``prob`` predictive band's width,
  in loss units (nats): exp(q_{(1+p)/2}) − exp(q_{(1−p)/2}) of the weighted log L_pred;
- :func:`variance`: mean over targets of the weighted variance of log L* = log L'(x_t; s)
  (the law band's log loss, the noise left out);
- :func:`regret`: the expected regret of the allocation decision at each target budget (value of
  information, Raiffa & Schlaifer 1961): the Bayes-optimal N̂ = argmin_N Σ_s w_s L(N, C/(kN); θ_s)
  on a grid of N, then Σ_s w_s [L(N̂, C/(kN̂); θ_s) − L*(C; θ_s)] (the law only: the discrepancy
  is left out of the split).

>>> width(0.9).name
'width'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB
from bayes_scaling.discrepancy.protocol import with_error
from bayes_scaling.errors import ArgumentError

#: Axes along which the distance beyond the data is measured (those in the reference).
DISTANCE_AXES = ("compute", "n_params", "n_tokens")


@dataclass(frozen=True)
class TargetDraws:
    """The current posterior at the target points, as plain arrays.

    Attributes
    ----------
    log_law : ndarray (S, T)
        log L(x_t; θ_s).
    terms : tuple of (ndarray (S,), ndarray (S,))
        The discrepancy's per-draw terms (c_k, γ_k); empty without a discrepancy.
    floor : ndarray (S, 1)
        The draw's irreducible loss E (0 for a law without one), which the error never crosses.
    noise : ndarray (S, T)
        Run-to-run noise ε on log loss, drawn once.
    sizes : dict of ndarray (S, T)
        ``compute``, ``n_params``, ``n_tokens`` at every target and draw (per draw for a
        compute-optimal split).
    loss_grid, regret_grid : ndarray (S, T, G), optional
        L(N_g, C_t/(kN_g); θ_s) on a grid of N per target budget, and its regret against the draw's
        optimum (compute targets only).
    discrepancy : Discrepancy, optional
        The fit's discrepancy record, which measures each term's distance beyond a reference.
    local : ndarray (S, T), optional
        g_s(x_t), the local misfit of the record at the targets (as the bands draw it), held as
        drawn: a new run moves the law's residual GP only near itself, and the targets are far.
    """

    log_law: np.ndarray
    terms: tuple
    floor: np.ndarray
    noise: np.ndarray
    sizes: dict
    loss_grid: np.ndarray | None = None
    regret_grid: np.ndarray | None = None
    grid: np.ndarray | None = field(default=None, repr=False)
    discrepancy: object = field(default=None, repr=False)
    local: np.ndarray | None = field(default=None, repr=False)

    def distances(self, reference: dict | None) -> tuple:
        """The distance of each term beyond ``reference`` at the targets, (S, T) each."""
        return term_distances(self.discrepancy, reference, self.sizes, self.log_law.shape)

    def log_mean(self, reference: dict | None) -> np.ndarray:
        """log L'(x_t; s): the law with the discrepancy measured from ``reference``, (S, T)."""
        if not self.terms and self.local is None:
            return self.log_law
        delta = error(self.terms, self.distances(reference)) if self.terms else 0.0
        if self.local is not None:
            delta = delta + self.local
        return np.log(with_error(np.exp(self.log_law), delta, self.floor))

    def log_predictive(self, reference: dict | None) -> np.ndarray:
        """log L_pred(t; s) = log L' + ε, (S, T)."""
        return self.log_mean(reference) + self.noise


def error(terms, distance) -> np.ndarray:
    """δ = Σ_k c_k·d_k^γ_k for per-draw terms (arrays (S,)) at distances (S, ...): one array for
    every term, or a tuple with one per term."""
    if not isinstance(distance, tuple):
        distance = (distance,) * len(terms)
    out = np.zeros(np.broadcast_shapes(*(d.shape for d in distance)))
    for (coefficient, growth), d in zip(terms, distance, strict=True):
        shape = (-1,) + (1,) * (d.ndim - 1)
        out = out + coefficient.reshape(shape) * d ** growth.reshape(shape)
    return out


def term_distances(disc, reference: dict, sizes: dict, shape) -> tuple:
    """The distance of each term of ``disc.curves`` at ``sizes``, measured beyond ``reference``
    (the fit's own reference grown by the picks) by the record's own
    :meth:`~bayes_scaling.discrepancy.record.Discrepancy.term_distances`, as numpy arrays
    broadcast to ``shape``."""
    moved = replace(disc, reference=dict(reference))
    return tuple(np.broadcast_to(np.asarray(d, float), shape) for d in moved.term_distances(sizes))


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs) -> np.ndarray:
    """Quantiles ``qs`` of ``values`` (S,) under each row of ``weights`` (K, S): (K, len(qs)).

    The inverse of the weighted empirical CDF with midpoint interpolation (uniform weights give
    numpy's ``"hazen"`` quantiles).
    """
    order = np.argsort(values)
    v = values[order]
    w = weights[:, order]
    cdf = np.cumsum(w, axis=1) - 0.5 * w
    cdf /= w.sum(axis=1, keepdims=True)
    out = np.empty((weights.shape[0], len(qs)))
    for i, q in enumerate(qs):
        j = np.clip((cdf < q).sum(axis=1), 1, len(v) - 1)
        lo, hi = cdf[np.arange(len(j)), j - 1], cdf[np.arange(len(j)), j]
        frac = np.clip((q - lo) / np.maximum(hi - lo, 1e-300), 0, 1)
        out[:, i] = v[j - 1] + frac * (v[j] - v[j - 1])
    return out


@dataclass(frozen=True)
class Objective:
    """An objective: ``evaluate(weights, draws, reference) -> (K,)`` values, lower is better.

    Attributes
    ----------
    name : str
    evaluate : callable
    description : str
        One line with what the number is and its unit.
    needs_compute : bool
        True when the objective is defined at compute budgets only (:func:`regret`).
    """

    name: str
    evaluate: Callable[[np.ndarray, TargetDraws, dict | None], np.ndarray]
    description: str
    needs_compute: bool = False


def width(prob: float = DEFAULT_PROB) -> Objective:
    """Mean width of the central ``prob`` predictive band at the targets (nats of loss).

    Examples
    --------
    >>> width(1.5)
    Traceback (most recent call last):
    ...
    bayes_scaling.errors.ArgumentError: prob: ...
    """
    prob = check.probability(prob, "prob")
    qs = ((1 - prob) / 2, (1 + prob) / 2)

    def evaluate(weights, draws: TargetDraws, reference) -> np.ndarray:
        values = draws.log_predictive(reference)
        total = np.zeros(weights.shape[0])
        for t in range(values.shape[1]):
            q = np.exp(weighted_quantiles(values[:, t], weights, qs))
            total += q[:, 1] - q[:, 0]
        return total / values.shape[1]

    return Objective(
        "width", evaluate, f"mean width of the {prob:.0%} predictive band at the targets (loss)"
    )


def variance() -> Objective:
    """Mean weighted variance of log L* = log L(x_t; θ) + δ(x_t) + g(x_t) at the targets ((log
    loss)²): the law, its extrapolation error and its local misfit, as the law band has them."""

    def evaluate(weights, draws: TargetDraws, reference) -> np.ndarray:
        values = draws.log_mean(reference)
        mean = weights @ values
        return (weights @ values**2 - mean**2).clip(min=0).mean(axis=1)

    return Objective("variance", evaluate, "mean variance of log L* at the targets (log loss²)")


def regret() -> Objective:
    """Expected regret of the Bayes-optimal split at each target budget (nats of loss)."""

    def evaluate(weights, draws: TargetDraws, reference) -> np.ndarray:
        if draws.loss_grid is None:
            raise ArgumentError(
                "objective", "'regret' needs compute budgets as the target; give compute="
            )
        total = np.zeros(weights.shape[0])
        for t in range(draws.loss_grid.shape[1]):
            best = (weights @ draws.loss_grid[:, t, :]).argmin(axis=1)  # Bayes-optimal N per row
            total += np.einsum("ks,ks->k", weights, draws.regret_grid[:, t, best].T)
        return total / draws.loss_grid.shape[1]

    return Objective(
        "regret",
        evaluate,
        "expected regret of the Bayes-optimal split at the target budgets (loss)",
        needs_compute=True,
    )


def check_law(objective: Objective, law, flag: str = "objective") -> None:
    """Refuse an objective the law cannot answer: the regret of the split between N and D
    (:func:`regret`) needs a law in both (``power:compute`` has no split to regret)."""
    if objective.needs_compute and not {"n_params", "n_tokens"} <= set(law.inputs):
        raise ArgumentError(
            flag,
            f"{objective.name!r} compares splits of a budget between N and D, and law "
            f"{law.name!r} is in {', '.join(law.inputs)} alone; choose 'width' or 'variance', "
            "or a law in N and D",
        )


#: Objectives by name; each entry builds one (``width`` takes ``prob``).
OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "width": width,
    "variance": variance,
    "regret": regret,
}


def get_objective(objective: str | Objective, prob: float = DEFAULT_PROB) -> Objective:
    """An :class:`Objective` from its name (``prob`` is the band's for ``"width"``) or itself."""
    if isinstance(objective, Objective):
        return objective
    name = check.one_of(objective, "objective", OBJECTIVES)
    return width(prob) if name == "width" else OBJECTIVES[name]()
