"""Fits that rescue themselves: one ladder of attempts before a fit is reported unconverged.

Every fit climbs the same ladder (:func:`climb`): the core fit and the grouped fit
(:func:`~bayes_scaling.inference.rescue_core.escalate`), each pass@k model and the difficulty
law, and step 2 of a downstream chain. A rung is data
(:class:`~bayes_scaling.inference.rungs.Rung`: its name, when it applies, how it changes the
sampler settings, why); a capability passes its rungs as a tuple, built from the shared ones.
The rungs, their thresholds and the tests named below (``LONGER``, ``close``, ``NEAR_RHAT`` ...)
live in :mod:`bayes_scaling.inference.rungs`. Every attempt is checked by the same gate
(:mod:`bayes_scaling.results.diagnostics`) on the same compiled model, with a seed derived from
the fit's seed and the rung: the same seed gives the same ladder and result. The rungs in turn,
in the core's order:

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
all fail it **returns the best** (the smallest shortfall from the gate, :func:`shortfall`: R-hat,
ESS and divergences on one scale), never a later attempt that did worse, and its entry says why
it was kept.
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

import xarray as xr

from bayes_scaling.inference.rescue_notes import (
    ORDINALS,
    Modes,
    describe,
    entry,
    separate_modes,
    settings_text,
)
from bayes_scaling.inference.rungs import (
    NEAR_RHAT,
    STANDARD_RUNGS,
    Attempt,
    Climb,
    Rung,
    derived_seed,
    settings_key,
    shortfall,
)
from bayes_scaling.results import diagnostics
from bayes_scaling.results.diagnostics import Diagnostics


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
        else f"the closest to passing of the {len(record)} attempts (the smallest shortfall "
        "from the gate's R-hat, ESS and divergences)"
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
    "ORDINALS",  # the notes on the record, read through the ladder (rescue_notes)
    "Modes",
    "Outcome",
    "climb",
    "describe",
    "separate_modes",
]
