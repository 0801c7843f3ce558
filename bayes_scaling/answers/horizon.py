"""Trust horizon: how far beyond the largest run the predictive band stays within a tolerance.

For a tolerance t and a central probability p, along compute budgets C = m·C_max (m the multiple of
the largest run's compute, on each draw's compute-optimal split or a fixed tokens-per-parameter
ratio), the band's half-width is h(m) = (u_p(m) − l_p(m)) / 2, absolute in nats, or relative
h(m) / median(m). The trust horizon is

    m* = max { m ≥ 1 : h(m') ≤ t for every m' in [1, m] }

on a log grid of multiples. m* is None when the band is already wider than t at the largest run,
and "at least the grid's end" when it never exceeds t there. The band includes the extrapolation
discrepancy (see :mod:`bayes_scaling.discrepancy.record`) unless ``discrepancy=False``: without it
the horizon is the parameter-only one, which is optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB
from bayes_scaling.answers.bands import loss_bands

#: Multiples of the largest run's compute searched for the horizon.
MULTIPLES = np.geomspace(1.0, 1e4, 81)


@dataclass(frozen=True)
class TrustHorizon:
    """The answer of :func:`trust_horizon`.

    Attributes
    ----------
    multiple : float or None
        m*, the largest multiple of the largest run's compute within tolerance (None: none).
    compute : float or None
        m*·C_max in FLOPs.
    beyond_grid : bool
        True when the band stayed within tolerance up to the last multiple searched.
    tolerance, relative, prob, band :
        The question asked.
    grid : DataFrame
        ``multiple, compute, median, half_width, within`` along the path.
    discrepancy : bool
        Whether the band carried the extrapolation discrepancy.
    """

    multiple: float | None
    compute: float | None
    beyond_grid: bool
    tolerance: float
    relative: bool
    prob: float
    band: str
    grid: pd.DataFrame
    discrepancy: bool

    def tolerance_text(self) -> str:
        if self.relative:  # 2% as "2%", 0.01% as "0.01%": never "0%"
            return f"±{100 * self.tolerance:.3g}%"
        return f"±{self.tolerance:.3g} nats"

    def sentence(self) -> str:
        what = f"the {self.prob:.0%} {self.band} band stays within {self.tolerance_text()}"
        if self.multiple is None:
            return f"Not even at the largest run does {what.replace('stays', 'stay')}."
        if self.beyond_grid:
            return (
                f"{what[0].upper()}{what[1:]} up to at least {self.multiple:.3g}x the largest run."
            )
        return (
            f"{what[0].upper()}{what[1:]} up to {self.multiple:.3g}x the largest run's compute "
            f"({self.compute:.2g} FLOPs); beyond that, treat predictions as guesses."
        )

    def to_dict(self) -> dict:
        return {
            "multiple": self.multiple,
            "compute": self.compute,
            "beyond_grid": self.beyond_grid,
            "tolerance": self.tolerance,
            "relative": self.relative,
            "prob": self.prob,
            "band": self.band,
            "discrepancy": self.discrepancy,
            "sentence": self.sentence(),
        }


def horizon_from_grid(grid: pd.DataFrame, largest: float, **question) -> TrustHorizon:
    """m* from a table with ``multiple`` and ``within`` along increasing multiples."""
    within = grid["within"].to_numpy(bool)
    first_out = int(np.argmin(within)) if not within.all() else len(within)
    if first_out == 0:
        multiple = None
    else:
        multiple = float(grid["multiple"].iloc[first_out - 1])
    return TrustHorizon(
        multiple=multiple,
        compute=None if multiple is None else multiple * largest,
        beyond_grid=first_out == len(within),
        grid=grid,
        **question,
    )


def trust_horizon(
    fit,
    tolerance: float,
    *,
    relative: bool = False,
    prob: float = DEFAULT_PROB,
    band: str = "predictive",
    tokens_per_param=None,
    multiples=MULTIPLES,
    discrepancy: bool = True,
) -> TrustHorizon:
    """The largest compute multiple beyond the largest run whose band stays within ``tolerance``.

    Parameters
    ----------
    fit : ScalingFit
    tolerance : float
        Largest acceptable half-width: nats, or a fraction of the median when ``relative``.
    relative : bool
        Read ``tolerance`` as relative (0.02 = ±2% of the predicted loss).
    prob : float
        Central probability of the band (:data:`bayes_scaling._constants.DEFAULT_PROB`).
    band : {"predictive", "law"}
    tokens_per_param : float, optional
        A fixed D/N ratio; by default each draw's compute-optimal split.
    multiples : array-like
        Strictly increasing multiples of the largest run's compute to search, each ≥ 1.
    discrepancy : bool
        Include the extrapolation discrepancy (False: the optimistic parameter-only horizon).

    Returns
    -------
    TrustHorizon
    """
    relative = check.flag(relative, "relative")
    tolerance = check.tolerance(tolerance, relative)
    prob = check.probability(prob, "prob")
    band = check.one_of(band, "band", ("predictive", "law"))
    tokens_per_param = check.optional_positive(tokens_per_param, "tokens_per_param")
    multiples = check.increasing(multiples, "multiples", minimum=1.0)
    discrepancy = check.flag(discrepancy, "discrepancy")
    largest = float(fit.runs["compute"].max())
    ds = loss_bands(
        fit,
        compute=largest * multiples,
        prob=prob,
        tokens_per_param=tokens_per_param,
        discrepancy=discrepancy,
    ).sel(band=band, prob=prob)
    half = (ds["upper"] - ds["lower"]).values / 2
    median = ds["median"].values
    width = half / median if relative else half
    grid = pd.DataFrame(
        {
            "multiple": multiples,
            "compute": largest * multiples,
            "median": median,
            "half_width": half,
            "within": width <= tolerance,
        }
    )
    return horizon_from_grid(
        grid,
        largest,
        tolerance=float(tolerance),
        relative=bool(relative),
        prob=float(prob),
        band=band,
        discrepancy=bool(discrepancy and fit.discrepancy is not None),
    )
