"""Fits that rescue themselves: one ladder of attempts before a fit is reported unconverged.

Every fit climbs the same ladder (:func:`climb`): the core fit and the grouped fit
(:func:`escalate`), each pass@k model and the difficulty law, and step 2 of a downstream chain.
A rung is data (:class:`Rung`: its name, when it applies, how it changes the sampler settings,
and why); a capability passes its rungs as a tuple, built from the shared ones here. Every
attempt is checked by the same gate (:mod:`bayes_scaling.results.diagnostics`) on the same
compiled model (only a rung that changes the coordinates compiles once more, per structure and
process), with a seed derived from the fit's seed and the rung, so the same seed gives the same
ladder and the same result. The shared rungs, in the core's order:

1. **as asked**: the caller's draws, tuning steps and target_accept (the caller's seed).
2. **longer** (:data:`LONGER`): twice the draws and tuning steps, at least 2000 each. Slow mixing
   along a ridge and a low ESS are the usual failures on real tables, and both shrink with length.
3. **target_accept 0.99** (:data:`STEADY`, with 2's lengths), only when an attempt so far had
   divergences: a smaller step follows a curved posterior. On ridge failures without divergences
   it does not help (gemstones, OLMo and two simulated ladders, 16 fits each: 7 passed at 0.99
   against 10 at 0.95), so it is not tried for them.
4. **anchored E** (:func:`anchored_rung`, the core's own; with 2's lengths, 0.99 if divergences
   were seen), only when the failures show the E / coefficient / exponent ridge (E, a log
   coefficient or its exponent fails R-hat or ESS, or divergences) and the law is
   E + Σ A·x^(−e) with a prior on E > 0: E is sampled through the loss at the runs' centre
   (:mod:`~.centred_coordinates`). The model, priors included, is unchanged;
   ``settings["parameterisation"]`` says which coordinates gave the draws.
5. **more draws** (:func:`more_draws`): twice the draws of the best attempt so far, whenever that
   attempt came close (no divergence, R-hat ≤ :data:`NEAR_RHAT`, every ESS ≥ :data:`NEAR_ESS`):
   R-hat falls and the ESS grows with the draws, and a break location the runs barely inform
   mixes slowly but correctly (the broken law on the OLMo, loss-to-loss and Llama 3 tables).
   pass@k allows it twice (a model that almost never succeeds mixes slowly in its tail).

The ladder stops at the first attempt that passes. When every attempt fails it **returns the
best one** (fewest divergences, then the smallest shortfall from the gate,
:func:`shortfall`), never a later attempt that did worse. The core also stops early when the
chains settled in separate modes of similar density (:mod:`~.rescue_notes`): more tuning cannot
join such modes and a new seed could only hide one, so the fit says so
and names the runs the modes disagree on. The record (``settings["rescue"]``) lists every attempt:
its settings, why it was tried, failures, seconds, whether it passed and which one was kept. A
:class:`ConvergenceWarning` is raised by the caller only when the kept one fails, and names what
was tried. ``rescue=False`` runs rung 1 only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.inference.rescue_notes import (
    ORDINALS,
    Modes,
    describe,
    explain,
    separate_modes,
    settings_text,
)
from bayes_scaling.laws import Law
from bayes_scaling.model.centred_coordinates import anchorable
from bayes_scaling.results import diagnostics
from bayes_scaling.results.diagnostics import MAX_RHAT, MIN_ESS, Diagnostics

#: Draws and tuning steps of the longer rungs: twice the caller's, at least this many.
LONGER_MIN = 2000
#: target_accept of the steady rung.
STEADY_TARGET = 0.99
#: An attempt is close to passing ("more draws" applies) with no divergence, R-hat at most
#: NEAR_RHAT and every ESS at least NEAR_ESS.
NEAR_RHAT, NEAR_ESS = 1.05, 100


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
    their gates, whether any attempt diverged, and every parameter that failed so far."""

    first: Attempt
    last: Attempt
    last_diag: Diagnostics
    best: Attempt
    best_diag: Diagnostics
    diverged: bool
    failing: frozenset[str]


@dataclass(frozen=True)
class Rung:
    """One rung as data: ``applies(climb) -> bool``, ``change(climb) -> Attempt`` (the new
    sampler settings; name and seed are set by the ladder), ``why`` (recorded with the attempt)
    and how many ``times`` it may be tried."""

    name: str
    applies: Callable[[Climb], bool]
    change: Callable[[Climb], Attempt]
    why: str
    times: int = 1


def longer(first: Attempt) -> Attempt:
    """The caller's settings with twice the draws and tuning steps, at least :data:`LONGER_MIN`."""
    return replace(
        first, draws=max(2 * first.draws, LONGER_MIN), tune=max(2 * first.tune, LONGER_MIN)
    )


def close(diag: Diagnostics) -> bool:
    """Close to passing: no divergence, R-hat ≤ :data:`NEAR_RHAT`, every ESS ≥ :data:`NEAR_ESS`."""
    return (
        diag.n_divergent == 0
        and diag.max_rhat <= NEAR_RHAT
        and min(diag.min_ess_bulk, diag.min_ess_tail) >= NEAR_ESS
    )


def shortfall(diag: Diagnostics) -> tuple:
    """How far an attempt is from passing, smaller is better: (failed, any divergence, the
    largest of (R-hat − 1)/(1.01 − 1) and 400/ESS, divergences). A passing attempt ranks first."""
    rhat = diag.max_rhat if np.isfinite(diag.max_rhat) else np.inf
    ess = min(diag.min_ess_bulk, diag.min_ess_tail)
    ess = ess if np.isfinite(ess) and ess > 0 else 1e-9
    worst = max((rhat - 1) / (MAX_RHAT - 1), MIN_ESS / ess)
    return (not diag.converged, diag.n_divergent > 0, worst, diag.n_divergent)


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


def more_draws(times: int = 1) -> Rung:
    """Twice the draws of the best attempt so far, when it came close (:func:`close`); up to
    ``times`` times."""
    return Rung(
        "more draws",
        lambda c: close(c.best_diag),
        lambda c: replace(c.best, draws=2 * c.best.draws),
        f"the best attempt so far came close (R-hat ≤ {NEAR_RHAT}, ESS ≥ {NEAR_ESS}, no "
        "divergence): R-hat falls and the ESS grows with the draws",
        times,
    )


#: The rungs every fit climbs unless it passes its own: longer, steady, more draws.
STANDARD_RUNGS = (LONGER, STEADY, more_draws())


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

    Rungs are tried in the order given, each from where the last one stood (a rung with
    ``times > 1`` may repeat); the attempt of rung i (0-based), its u-th use (0-based), is seeded
    ``derived_seed(first.seed, i + 1 + u·len(rungs))``. ``stop(posterior, sample_stats, health)``
    returning anything but None ends the ladder after a failed attempt (recorded as
    ``stopped``, by its ``label``). Returns the first passing attempt, else the best by
    :func:`shortfall` (ties go to the later one). No warning is raised here.

    Examples
    --------
    >>> out = climb(sample, Attempt("as asked", 1000, 1000, 0.9, 1), ["a", "b"])  # doctest: +SKIP
    >>> [r["rung"] for r in out.record], out.attempt.rung                        # doctest: +SKIP
    """
    uses = [0] * len(rungs)
    attempt, why, position, record, seconds = first, "as asked", 0, [], 0.0
    best, tried_failing, diverged, stopped = None, set(), False, None
    while True:
        posterior, stats, spent = sample(attempt)
        seconds += spent
        health = diagnostics.parameter_health(posterior, gate)
        diag = diagnostics.check(posterior, stats, gate, health)
        failing = diagnostics.failing_parameters(health)
        record.append(_entry(attempt, diag, failing, spent, why))
        here = (attempt, posterior, stats, diag, failing, len(record) - 1)
        if best is None or shortfall(diag) <= shortfall(best[3]):
            best = here
        if diag.converged or not rescue:
            break
        diverged |= diag.n_divergent > 0
        tried_failing |= set(failing)
        stopped = stop(posterior, stats, health) if stop is not None else None
        if stopped is not None:
            record[-1]["stopped"] = getattr(stopped, "label", str(stopped))
            break
        state = Climb(first, attempt, diag, best[0], best[3], diverged, frozenset(tried_failing))
        nxt = next(
            (
                i
                for i in range(position, len(rungs))
                if uses[i] < rungs[i].times and rungs[i].applies(state)
            ),
            None,
        )
        if nxt is None:
            break
        rung = rungs[nxt]
        seed = derived_seed(first.seed, nxt + 1 + uses[nxt] * len(rungs))
        uses[nxt] += 1
        position = nxt if uses[nxt] < rung.times else nxt + 1
        attempt = replace(rung.change(state), rung=rung.name, seed=seed)
        why = rung.why
    kept_attempt, kept_post, kept_stats, kept_diag, kept_failing, kept = best
    record[kept]["kept"] = True
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


def _entry(
    attempt: Attempt, diag: Diagnostics, failing: list[str], seconds: float, why: str
) -> dict:
    """One attempt of ``settings["rescue"]`` (plain JSON types)."""
    out = asdict(attempt)
    out.update(
        parameterisation="anchored E" if attempt.anchored else "default",
        reason=why,
        passed=bool(diag.converged),
        failures=list(diag.failures),
        failing_parameters=list(failing),
        max_rhat=round(float(diag.max_rhat), 4),
        min_ess_bulk=round(float(diag.min_ess_bulk), 1),
        min_ess_tail=round(float(diag.min_ess_tail), 1),
        divergences=int(diag.n_divergent),
        seconds=round(float(seconds), 3),
        kept=False,
    )
    del out["anchored"]
    return out


# --- the core fit's ladder ---------------------------------------------------------------------


def ridge_parameters(law: Law) -> set[str]:
    """E, the log coefficients and their exponents: the parameters of the E / A / α ridge."""
    if "E" not in law.params:
        return set()
    return {"E", *law.centred, *(e for _, e in law.centred.values())}


def anchored_rung(law: Law, priors: Mapping, pooling=None) -> Rung:
    """The core's rung 4: E sampled through the loss at the runs' centre, when the law allows it
    (:func:`~bayes_scaling.model.centred_coordinates.anchorable`) and the failures show the
    ridge (a ridge parameter failed, or divergences)."""
    allowed = anchorable(law, priors, pooling)
    ridge = ridge_parameters(law)

    def change(c: Climb) -> Attempt:
        steady = max(c.first.target_accept, STEADY_TARGET)
        accept = steady if c.diverged else c.first.target_accept
        return replace(longer(c.first), anchored=True, target_accept=accept)

    return Rung(
        "anchored E",
        lambda c: allowed and (bool(ridge & c.failing) or c.diverged),
        change,
        "E, a coefficient or an exponent failed (or divergences): the E / A / α ridge, sampled "
        "with E through the loss at the runs' centre",
    )


def core_rungs(law: Law, priors: Mapping, pooling=None) -> tuple[Rung, ...]:
    """The core fit's ladder: longer, steady, anchored E (when the law allows), more draws."""
    return (LONGER, STEADY, anchored_rung(law, priors, pooling), more_draws())


def escalate(
    sample: Callable[[Attempt], tuple[xr.Dataset, xr.Dataset, float]],
    first: Attempt,
    gate: list[str],
    *,
    runs: pd.DataFrame,
    law: Law,
    priors: Mapping,
    likelihood: str,
    pooling=None,
    rescue: bool = True,
) -> Outcome:
    """The core fit's ladder (:func:`core_rungs`, stopped by :func:`separate_modes`) through
    :func:`climb`; a final failure says what the modes or the law's runs cannot settle."""
    out = climb(
        sample,
        first,
        gate,
        core_rungs(law, priors, pooling),
        rescue=rescue,
        stop=separate_modes,
    )
    if not out.diagnostics.converged:
        out.diagnostics = explain(out, runs, law, likelihood, pooling)
    return out


__all__ = [
    "ORDINALS",
    "LONGER",
    "STANDARD_RUNGS",
    "STEADY",
    "Attempt",
    "Climb",
    "Modes",
    "Outcome",
    "Rung",
    "anchored_rung",
    "climb",
    "close",
    "core_rungs",
    "derived_seed",
    "describe",
    "escalate",
    "longer",
    "more_draws",
    "separate_modes",
    "shortfall",
]
