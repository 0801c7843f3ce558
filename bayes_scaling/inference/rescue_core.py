"""The core fit's rungs of the rescue ladder (:mod:`bayes_scaling.inference.rescue`): E anchored
at the runs' centre when the failures show the E / coefficient / exponent ridge, and
:func:`escalate`, the core's climb stopped by separate modes, whose final failure says what the
modes or the law's runs cannot settle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import pandas as pd
import xarray as xr

from bayes_scaling.inference.rescue import (
    LONGER,
    STEADY,
    STEADY_CLOSE,
    STEADY_TARGET,
    Attempt,
    Climb,
    Outcome,
    Rung,
    climb,
    longer,
    more_draws,
)
from bayes_scaling.inference.rescue_notes import explain, separate_modes
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


def core_rungs(law: Law, priors: Mapping, pooling=None) -> tuple[Rung, ...]:
    """The core fit's ladder: longer, steady, anchored E (when the law allows), more draws (also
    out of turn), steady again (out of turn)."""
    return (LONGER, STEADY, anchored_rung(law, priors, pooling), more_draws(), STEADY_CLOSE)


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


__all__ = ["anchored_rung", "core_rungs", "escalate", "ridge_parameters"]
