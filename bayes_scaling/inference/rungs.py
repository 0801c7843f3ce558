"""The rungs of the rescue ladder as data, and the rules they share.

:mod:`bayes_scaling.inference.rescue` climbs the ladder and its docstring tells the rungs in
order. Here: one attempt's sampler settings (:class:`Attempt`), what the ladder has seen
(:class:`Climb`), a rung (:class:`Rung`), the gate-distance rules the rungs decide by
(:func:`mixes`, :func:`close`, :func:`shortfall`), and the rungs every fit shares
(:data:`STANDARD_RUNGS`: longer, steady, more draws, steady again). A capability builds its own
tuple of rungs from these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from bayes_scaling.results.diagnostics import MAX_RHAT, MIN_ESS, Diagnostics

#: Draws and tuning steps of the longer rungs: twice the caller's, at least this many.
LONGER_MIN = 2000
#: target_accept of the steady rungs.
STEADY_TARGET = 0.99
#: Close to passing ("more draws" at once): no divergence, R-hat at most NEAR_RHAT and every ESS
#: at least NEAR_ESS (half the gate's: a continued attempt with twice the draws reaches it).
NEAR_RHAT, NEAR_ESS = 1.03, MIN_ESS / 2
#: Within reach ("more draws" in its own turn, the last): R-hat ≤ REACH_RHAT, ESS ≥ REACH_ESS.
REACH_RHAT, REACH_ESS = 1.05, 100
#: "more draws" aims at ESS_MARGIN × the gate's ESS at the rate the attempt mixed: 2 to MAX_MORE
#: times its draws.
ESS_MARGIN, MAX_MORE = 1.25, 4


@dataclass(frozen=True)
class Attempt:
    """One rung's sampler settings."""

    rung: str
    draws: int
    tune: int
    target_accept: float
    seed: int
    anchored: bool = False


@dataclass(frozen=True)
class Climb:
    """What the ladder has seen, for the rungs' rules: the first, last and best attempts and
    their gates, whether any attempt diverged, every parameter that failed so far, every attempt
    with its gate (``history``), and whether the rung is asked in its turn (``in_turn``) or out
    of turn."""

    first: Attempt
    last: Attempt
    last_diag: Diagnostics
    best: Attempt
    best_diag: Diagnostics
    diverged: bool
    failing: frozenset[str]
    history: tuple[tuple[Attempt, Diagnostics], ...] = ()
    in_turn: bool = True


@dataclass(frozen=True)
class Rung:
    """One rung as data: ``applies(climb) -> bool``, ``change(climb) -> Attempt`` (the new
    sampler settings; the name is set by the ladder, the seed too unless the rung ``continues``
    an attempt's chains), ``why`` (recorded with the attempt), how many ``times`` it may be
    tried, and whether it is also asked ``out_of_turn`` (after every failed attempt, before the
    next rung in turn)."""

    name: str
    applies: Callable[[Climb], bool]
    change: Callable[[Climb], Attempt]
    why: str
    times: int = 1
    out_of_turn: bool = False
    continues: bool = False


def longer(first: Attempt) -> Attempt:
    """The caller's settings with twice the draws and tuning steps, at least :data:`LONGER_MIN`."""
    return replace(
        first, draws=max(2 * first.draws, LONGER_MIN), tune=max(2 * first.tune, LONGER_MIN)
    )


def mixes(diag: Diagnostics, rhat: float = NEAR_RHAT, ess: float = NEAR_ESS) -> bool:
    """The chains nearly agree, divergences aside: R-hat ≤ ``rhat`` and every ESS ≥ ``ess``."""
    return bool(diag.max_rhat <= rhat and min(diag.min_ess_bulk, diag.min_ess_tail) >= ess)


def close(diag: Diagnostics, rhat: float = NEAR_RHAT, ess: float = NEAR_ESS) -> bool:
    """Close to passing: no divergence, R-hat ≤ :data:`NEAR_RHAT`, every ESS ≥ :data:`NEAR_ESS`."""
    return diag.n_divergent == 0 and mixes(diag, rhat, ess)


#: A failed attempt's divergences count as a shortfall of 1 + this per divergence, on the scale
#: where R-hat 1.01 and ESS 400 are 1: one divergence (3) ranks as R-hat 1.03 or ESS 133, so a
#: run that mixed with one divergence is kept over chains stuck apart (R-hat 1.55: 55).
DIVERGENCE_WEIGHT = 2.0


def shortfall(diag: Diagnostics) -> tuple:
    """How far an attempt is from passing, smaller is better: (failed, the largest of
    (R-hat − 1)/(1.01 − 1), 400/ESS and, with divergences, 1 + :data:`DIVERGENCE_WEIGHT` ·
    divergences; the mixing part alone (the first two); divergences). A passing attempt ranks
    first."""
    rhat = diag.max_rhat if np.isfinite(diag.max_rhat) else np.inf
    ess = min(diag.min_ess_bulk, diag.min_ess_tail)
    ess = ess if np.isfinite(ess) and ess > 0 else 1e-9
    mixing = max((rhat - 1) / (MAX_RHAT - 1), MIN_ESS / ess)
    diverged = 1 + DIVERGENCE_WEIGHT * diag.n_divergent if diag.n_divergent else 0.0
    return (not diag.converged, max(mixing, diverged), mixing, diag.n_divergent)


def continued(attempt: Attempt, diag: Diagnostics, most: int | None = None) -> Attempt:
    """``attempt``'s chains continued: its seed, tuning, target_accept and coordinates with k
    times the draws, k = ⌈:data:`ESS_MARGIN` · 400 / ESS⌉ clipped to [2, :data:`MAX_MORE`]
    (the ESS grows in proportion to the draws while the chains mix), and at most ``most``."""
    ess = min(diag.min_ess_bulk, diag.min_ess_tail)
    k = np.ceil(ESS_MARGIN * MIN_ESS / ess) if np.isfinite(ess) and ess > 0 else MAX_MORE
    draws = int(np.clip(k, 2, MAX_MORE)) * attempt.draws
    return replace(attempt, draws=draws if most is None else min(draws, most))


def settings_key(attempt: Attempt) -> tuple:
    """What makes two attempts the same settings (the seed aside): the ladder tries each once."""
    return (attempt.draws, attempt.tune, attempt.target_accept, attempt.anchored)


LONGER = Rung(
    "longer",
    lambda c: True,
    lambda c: longer(c.first),
    "the first attempt failed: longer chains mix along a ridge and raise the ESS",
)
STEADY = Rung(
    f"target_accept {STEADY_TARGET}",
    lambda c: c.diverged and c.first.target_accept < STEADY_TARGET,
    lambda c: replace(longer(c.first), target_accept=STEADY_TARGET),
    "divergences: a smaller step follows a curved posterior",
)


def more_draws(times: int = 2) -> Rung:
    """Continue the best attempt so far (:func:`continued`, to at most :data:`MAX_MORE` times
    the longer rung's draws) when it came close (:func:`close`), out of turn; in its own turn
    also when it is within reach (:data:`REACH_RHAT`, :data:`REACH_ESS`, no divergence). Up to
    ``times`` times."""

    def applies(c: Climb) -> bool:
        return close(c.best_diag) or (c.in_turn and close(c.best_diag, REACH_RHAT, REACH_ESS))

    return Rung(
        "more draws",
        applies,
        lambda c: continued(c.best, c.best_diag, MAX_MORE * longer(c.first).draws),
        f"the best attempt so far came close (no divergence, R-hat ≤ {NEAR_RHAT}, ESS ≥ "
        f"{NEAR_ESS:g}; or ≤ {REACH_RHAT} and ≥ {REACH_ESS} when nothing else applies): its "
        "chains continued with the same seed and tuning, as the ESS grows with the draws",
        times,
        out_of_turn=True,
        continues=True,
    )


def _mixed_but_diverged(c: Climb) -> Attempt | None:
    """The attempt that mixed best (:func:`mixes`) among those that diverged below
    :data:`STEADY_TARGET` and were not tried at it, or None."""
    tried = {settings_key(a) for a, _ in c.history}
    found = [
        (shortfall(d)[2], i)
        for i, (a, d) in enumerate(c.history)
        if d.n_divergent
        and mixes(d)
        and a.target_accept < STEADY_TARGET
        and settings_key(replace(a, target_accept=STEADY_TARGET)) not in tried
    ]
    return c.history[min(found)[1]][0] if found else None


STEADY_CLOSE = Rung(
    f"target_accept {STEADY_TARGET} again",
    lambda c: _mixed_but_diverged(c) is not None,
    lambda c: replace(_mixed_but_diverged(c), target_accept=STEADY_TARGET),
    f"an attempt mixed (R-hat ≤ {NEAR_RHAT}, ESS ≥ {NEAR_ESS:g}) but diverged: its settings "
    f"again at target_accept {STEADY_TARGET}",
    times=2,
    out_of_turn=True,
)

#: The rungs every fit climbs unless it passes its own: longer, steady, more draws, steady again.
STANDARD_RUNGS = (LONGER, STEADY, more_draws(), STEADY_CLOSE)


def derived_seed(seed: int, rung: int) -> int:
    """The seed of rung ``rung`` (0-based) of a fit seeded ``seed``; rung 0 keeps ``seed``."""
    if rung == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), rung]).generate_state(1)[0])
