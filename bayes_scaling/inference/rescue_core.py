"""The core fit's rungs of the rescue ladder (:mod:`bayes_scaling.inference.rescue`): E anchored
at the runs' centre when the failures show the E / coefficient / exponent ridge, fresh chains
tuned longer (:data:`RETUNED`) when continuing the best attempt did not finish it, and
:func:`escalate`, the core's climb stopped by separate modes that some run decides between,
whose final failure says what the modes, the law's runs or the noise cannot settle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import pandas as pd
import xarray as xr

from bayes_scaling.inference.rescue import Outcome, climb
from bayes_scaling.inference.rescue_notes import deciding_runs, explain, separate_modes
from bayes_scaling.inference.rungs import (
    LONGER,
    REACH_ESS,
    REACH_RHAT,
    STEADY,
    STEADY_CLOSE,
    STEADY_TARGET,
    Attempt,
    Climb,
    Rung,
    close,
    longer,
    more_draws,
)
from bayes_scaling.laws import Law
from bayes_scaling.model.centred_coordinates import anchorable


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


#: The retuned rung's draws and tuning steps: this many times the longer rung's (4000 each).
RETUNE_FACTOR = 2


def _retuned(c: Climb) -> Attempt:
    lengths = longer(c.first)
    return replace(c.best, draws=RETUNE_FACTOR * lengths.draws, tune=RETUNE_FACTOR * lengths.tune)


#: The last rung in turn: when the best attempt is within reach (no divergence, R-hat ≤
#: :data:`~bayes_scaling.inference.rungs.REACH_RHAT`, ESS ≥ ``REACH_ESS``) and nothing else
#: applies, its settings with :data:`RETUNE_FACTOR` × the longer rung's draws and tuning steps and
#: a new seed. A continued attempt keeps its tuning: when the step or mass matrix adapted badly its
#: ESS stops growing (a 20-run gemstones subsample: 310 at 2000 draws, 309 continued to 4000, tail
#: ESS 109 at 8000), while fresh chains tuned for 4000 steps passed (bulk / tail ESS 980 / 764).
RETUNED = Rung(
    "retuned",
    lambda c: close(c.best_diag, REACH_RHAT, REACH_ESS),
    _retuned,
    "the best attempt came within reach but its chains, continued, did not finish it: fresh "
    "chains with twice the longer rung's tuning steps and draws, in its coordinates and "
    "target_accept, adapt the step and mass matrix anew",
)


def core_rungs(law: Law, priors: Mapping, pooling=None) -> tuple[Rung, ...]:
    """The core fit's ladder: longer, steady, anchored E (when the law allows), more draws (also
    out of turn), steady again (out of turn), retuned (last)."""
    return (
        LONGER,
        STEADY,
        anchored_rung(law, priors, pooling),
        more_draws(),
        STEADY_CLOSE,
        RETUNED,
    )


def decided_modes(runs: pd.DataFrame, law: Law, likelihood: str, pooling=None):
    """The ladder's stop: :func:`separate_modes`, kept only when some run decides between them
    (:func:`~bayes_scaling.inference.rescue_notes.deciding_runs`; grouped fits: always). Chains
    at two ends of a ridge that no run prefers are slow mixing, which later rungs can fix: a
    5-run Llama 3 sweep at 1e22 FLOPs under the weak default priors stopped after its first
    attempt (E 0.10 in two chains, 0.58 in two, 4.7 nats apart, no run more than 2 nats worse
    in either), while seed 1 of the same table went on to R-hat 1.05."""

    def stop(posterior: xr.Dataset, sample_stats: xr.Dataset, health):
        modes = separate_modes(posterior, sample_stats, health)
        if modes is None or pooling is not None:
            return modes
        return modes if len(deciding_runs(modes, posterior, runs, law, likelihood)[1]) else None

    return stop


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
    """The core fit's ladder (:func:`core_rungs`, stopped by :func:`decided_modes`) through
    :func:`climb`; a final failure says what the modes, the law's runs or the noise cannot
    settle."""
    out = climb(
        sample,
        first,
        gate,
        core_rungs(law, priors, pooling),
        rescue=rescue,
        stop=decided_modes(runs, law, likelihood, pooling),
    )
    if not out.diagnostics.converged:
        out.diagnostics = explain(out, runs, law, likelihood, pooling)
    return out


__all__ = [
    "RETUNED",
    "anchored_rung",
    "core_rungs",
    "decided_modes",
    "escalate",
    "ridge_parameters",
]
