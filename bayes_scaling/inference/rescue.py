"""Fits that rescue themselves: one ladder of attempts before a fit is reported unconverged.

Every fit climbs the same ladder (:func:`climb`): the core fit and the grouped fit
(:func:`escalate`), each pass@k model and the difficulty law, and step 2 of a downstream chain.
A rung is data (:class:`Rung`: its name, when it applies, how it changes the sampler settings,
why); a capability passes its rungs as a tuple, built from the shared ones here. Every attempt
is checked by the same gate (:mod:`bayes_scaling.results.diagnostics`) on the same compiled
model, with a seed derived from the fit's seed and the rung: the same seed gives the same
ladder and result. The rungs in turn, in the core's order:

1. **as asked**: the caller's draws, tuning steps, target_accept and seed.
2. **longer** (:data:`LONGER`): twice the draws and tuning steps, at least 2000 each: slow
   mixing along a ridge and a low ESS, the usual failures on real tables, shrink with length.
3. **target_accept 0.99** (:data:`STEADY`, 2's lengths), only after divergences: a smaller step
   follows a curved posterior (on ridge failures without divergences it does not help:
   gemstones, OLMo, two simulated ladders, 16 fits each, 7 passed at 0.99 against 10 at 0.95).
4. **anchored E** (the core's own, :mod:`~bayes_scaling.inference.rescue_core`; 2's lengths,
   0.99 after divergences),
   when the failures show the E / coefficient / exponent ridge and the law is E + Σ A·x^(−e)
   with a prior on E > 0: E is sampled through the loss at the runs' centre
   (:mod:`~.centred_coordinates`); the model is unchanged, ``settings["parameterisation"]``
   says which coordinates gave the draws.
5. **retuned** (the core's own, last): the best attempt's settings afresh, 4000 tuning steps and
   draws, when it came within reach but its continued chains did not finish it.

Two rungs are also tried **out of turn**, as soon as they apply, before the next in turn:

- **more draws** (:func:`more_draws`, twice at most): when the best attempt so far came close
  (:func:`close`: no divergence, R-hat ≤ :data:`NEAR_RHAT`, every ESS ≥ :data:`NEAR_ESS`, half
  the gate's), its chains are *continued*: the same seed, tuning, target_accept and coordinates
  with 2 to :data:`MAX_MORE` times the draws. nutpie with the same seed and tuning repeats the
  same chains draw for draw, so the continued attempt holds the close one's draws and more,
  not a new gamble (a new seed, as before, ended as often far worse as it passed on 5-run
  isoFLOP sweeps). In its own turn (last) it also continues an attempt within reach (R-hat ≤
  :data:`REACH_RHAT`, ESS ≥ :data:`REACH_ESS`): a break the runs barely inform mixes slowly
  but correctly (the broken law on the OLMo, loss-to-loss and Llama 3 tables).
- **target_accept 0.99 again** (:data:`STEADY_CLOSE`): an attempt that mixed like a close one
  but diverged, again at target_accept 0.99 (on 5-run sweeps the anchored attempt often mixes,
  R-hat ≤ 1.01 and ESS > 500, with 1-4 divergences).

The ladder never tries the same settings twice and stops at the first attempt that passes; when
all fail it **returns the best** (fewest divergences, then the smallest shortfall from the gate,
:func:`shortfall`), never a later attempt that did worse, and its entry says why it was kept.
The core also stops when the chains settled in separate modes of similar density that some run
decides between (:mod:`~.rescue_notes`: no tuning joins them and a new seed could only hide one;
the fit names the runs they disagree on), but only while no attempt had chains that agreed (R-hat ≤
:data:`NEAR_RHAT`): once one did, a later split is slow mixing, not modes. The record
(``settings["rescue"]``) lists every attempt: settings, why, the attempt whose chains it
continues, failures, seconds, passed, kept and why. The caller warns
(:class:`ConvergenceWarning`, naming what was tried) only when the kept one fails.
``rescue=False`` runs rung 1 only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import xarray as xr

from bayes_scaling.inference.rescue_notes import (
    ORDINALS,
    Modes,
    describe,
    entry,
    separate_modes,
    settings_text,
)
from bayes_scaling.results import diagnostics
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


def shortfall(diag: Diagnostics) -> tuple:
    """How far an attempt is from passing, smaller is better: (failed, any divergence, the
    largest of (R-hat − 1)/(1.01 − 1) and 400/ESS, divergences). A passing attempt ranks first."""
    rhat = diag.max_rhat if np.isfinite(diag.max_rhat) else np.inf
    ess = min(diag.min_ess_bulk, diag.min_ess_tail)
    ess = ess if np.isfinite(ess) and ess > 0 else 1e-9
    worst = max((rhat - 1) / (MAX_RHAT - 1), MIN_ESS / ess)
    return (not diag.converged, diag.n_divergent > 0, worst, diag.n_divergent)


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


@dataclass
class Outcome:
    """The ladder's result: the kept attempt's draws and gate (the first that passed, else the
    best), and the record of every attempt."""

    posterior: xr.Dataset
    sample_stats: xr.Dataset
    diagnostics: Diagnostics
    attempt: Attempt
    record: list[dict]
    seconds: float
    failing: list[str] = field(default_factory=list)
    stopped: Any = None  # what stopped the ladder early (e.g. separate Modes), or None
    stopped_posterior: xr.Dataset | None = None

    def tried(self) -> str:
        """What was tried, for the warning (empty after one attempt)."""
        if len(self.record) < 2:
            return ""
        rungs = "; ".join(f"{r['rung']}: {settings_text(r)}" for r in self.record)
        kept = next(i for i, r in enumerate(self.record) if r.get("kept"))
        note = "" if kept == len(self.record) - 1 else f"; kept attempt {kept + 1}, the closest"
        return f"after {len(self.record)} attempts ({rungs}{note})"


def _next(rungs: tuple[Rung, ...], uses: list[int], position: int, state: Climb):
    """The next rung: ``(index, attempt, in_turn)``, or None. Out-of-turn rungs first (in the
    order given), then the rungs in turn from ``position``; a rung whose settings were tried
    already is passed over."""
    tried = {settings_key(a) for a, _ in state.history}
    order = [(i, False) for i, r in enumerate(rungs) if r.out_of_turn]
    order += [(i, True) for i in range(position, len(rungs))]
    for i, in_turn in order:
        here = replace(state, in_turn=in_turn)
        if uses[i] >= rungs[i].times or not rungs[i].applies(here):
            continue
        attempt = rungs[i].change(here)
        if settings_key(attempt) not in tried:
            return i, attempt, in_turn
    return None


def _continues(attempt: Attempt, history: list) -> int | None:
    """The number (1-based) of the latest attempt whose chains ``attempt`` continues: the same
    seed, tuning, target_accept and coordinates with fewer draws."""
    same = [
        k
        for k, (a, _) in enumerate(history, start=1)
        if (a.seed, a.tune, a.target_accept, a.anchored)
        == (attempt.seed, attempt.tune, attempt.target_accept, attempt.anchored)
        and a.draws < attempt.draws
    ]
    return same[-1] if same else None


def climb(
    sample: Callable[[Attempt], tuple[xr.Dataset, xr.Dataset, float]],
    first: Attempt,
    gate: list[str],
    rungs: tuple[Rung, ...] = STANDARD_RUNGS,
    *,
    rescue: bool = True,
    stop: Callable[[xr.Dataset, xr.Dataset, dict], Any] | None = None,
) -> Outcome:
    """Climb the ladder: ``sample(attempt) -> (posterior, sample_stats, seconds)`` per attempt,
    the gate over ``gate`` after each, until one passes or no rung applies.

    After a failed attempt the out-of-turn rungs that apply come first, then the rungs in turn
    from where the last one in turn stood (a rung with ``times > 1`` may repeat); settings
    already tried are passed over. The attempt of rung i (0-based), its u-th use (0-based), is
    seeded ``derived_seed(first.seed, i + 1 + u·len(rungs))``, unless the rung continues an
    attempt's chains (its seed). ``stop(posterior, sample_stats, health)`` returning anything
    but None ends the ladder after a failed attempt (recorded as ``stopped``, by its
    ``label``), unless an attempt so far had R-hat ≤ :data:`NEAR_RHAT`. Returns the first
    passing attempt, else the best by :func:`shortfall` (ties go to the later one), with
    ``kept_why`` in its entry. No warning is raised here.

    Examples
    --------
    >>> out = climb(sample, Attempt("as asked", 1000, 1000, 0.9, 1), ["a", "b"])  # doctest: +SKIP
    >>> [r["rung"] for r in out.record], out.attempt.rung                        # doctest: +SKIP
    """
    uses = [0] * len(rungs)
    attempt, why, position, record, history, seconds = first, "as asked", 0, [], [], 0.0
    best, tried_failing, diverged, stopped = None, set(), False, None
    while True:
        posterior, stats, spent = sample(attempt)
        seconds += spent
        health = diagnostics.parameter_health(posterior, gate)
        diag = diagnostics.check(posterior, stats, gate, health)
        failing = diagnostics.failing_parameters(health)
        record.append(entry(attempt, diag, failing, spent, why, _continues(attempt, history)))
        history.append((attempt, diag))
        here = (attempt, posterior, stats, diag, failing, len(record) - 1)
        if best is None or shortfall(diag) <= shortfall(best[3]):
            best = here
        if diag.converged or not rescue:
            break
        diverged |= diag.n_divergent > 0
        tried_failing |= set(failing)
        agreed = any(d.max_rhat <= NEAR_RHAT for _, d in history)
        stopped = stop(posterior, stats, health) if stop is not None and not agreed else None
        if stopped is not None:
            record[-1]["stopped"] = getattr(stopped, "label", str(stopped))
            break
        state = Climb(
            first, attempt, diag, best[0], best[3], diverged, frozenset(tried_failing), (*history,)
        )
        chosen = _next(rungs, uses, position, state)
        if chosen is None:
            break
        i, attempt, in_turn = chosen
        rung = rungs[i]
        seed = (
            attempt.seed
            if rung.continues
            else derived_seed(first.seed, i + 1 + uses[i] * len(rungs))
        )
        uses[i] += 1
        if in_turn:
            position = i if uses[i] < rung.times else i + 1
        attempt = replace(attempt, rung=rung.name, seed=seed)
        why = rung.why
    kept_attempt, kept_post, kept_stats, kept_diag, kept_failing, kept = best
    record[kept]["kept"] = True
    record[kept]["kept_why"] = (
        "it passed the gate"
        if kept_diag.converged
        else "the only attempt"
        if len(record) == 1
        else f"the closest to passing of the {len(record)} attempts (fewest divergences, then "
        "the smallest shortfall from the gate's R-hat and ESS)"
    )
    return Outcome(
        kept_post,
        kept_stats,
        kept_diag,
        kept_attempt,
        record,
        round(seconds, 3),
        kept_failing,
        stopped,
        posterior if stopped is not None else None,
    )


__all__ = [
    "ORDINALS",
    "LONGER",
    "STANDARD_RUNGS",
    "STEADY",
    "STEADY_CLOSE",
    "Attempt",
    "Climb",
    "Modes",
    "Outcome",
    "Rung",
    "climb",
    "close",
    "derived_seed",
    "describe",
    "continued",
    "longer",
    "mixes",
    "more_draws",
    "separate_modes",
    "settings_key",
    "shortfall",
]
