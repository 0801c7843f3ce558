"""The numbers behind the report, computed once: no formatting, no wording.

Every decision number comes from :func:`bayes_scaling.decision.allocate` (so the page and the
table agree), the bands from :meth:`ScalingFit.bands` over the fan chart's budgets (so the page and
the figure agree) and the target sentences from
:func:`bayes_scaling.targets.target_answer`. When no choice is proposed, the choice assessed for
risk is the point fit's N: the N* of the posterior-mean parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import allocation as al
from bayes_scaling.decision import allocate
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.horizon import TrustHorizon, trust_horizon
from bayes_scaling.plots import compute_grid
from bayes_scaling.targets import TargetAnswer

#: Probabilities at which the compute needed for the target is reported.
TARGET_PROBS = (0.5, 0.9)


@dataclass(frozen=True)
class Facts:
    """What the report says, as numbers.

    Attributes
    ----------
    compute : float
        The budget C (FLOPs).
    prob : float
        Central interval probability of every interval.
    target : float or None
        Target loss (nats).
    table : DataFrame
        ``allocate(fit, compute, ...)`` for the assessed choice (the proposed one, else the point
        fit's N).
    proposed : dict
        ``{"params": N}`` or ``{"tokens_per_param": r}`` as given, or ``{}`` for the point fit.
    predictive : tuple of float
        (lower, median, upper) of a run's final loss at the budget (predictive band), on each
        draw's optimal split, in nats; read from ``bands``, so the fan chart shows the same.
    bands : Dataset
        Loss bands (law-only and predictive, probabilities 0.5 and ``prob``) over
        :func:`budget_grid`, for the fan chart.
    answer : TargetAnswer or None
    k : float
        FLOPs per parameter per token (C = k·N·D).
    param_only : tuple of float or None
        The predictive band at the budget without the extrapolation discrepancy (None when the
        fit has none).
    horizon : TrustHorizon or None
        How far beyond the largest run the band stays within the report's tolerance.
    discrepancy : str
        The discrepancy's description, or "off".
    """

    compute: float
    prob: float
    target: float | None
    table: pd.DataFrame
    proposed: dict
    predictive: tuple[float, float, float]
    bands: xr.Dataset
    answer: TargetAnswer | None
    k: float = 6.0
    param_only: tuple[float, float, float] | None = None
    horizon: TrustHorizon | None = None
    discrepancy: str = "off"

    def value(self, quantity: str) -> float:
        """The ``estimate`` of one ``allocate`` row (NaN when absent)."""
        rows = self.table.loc[self.table["quantity"] == quantity, "estimate"]
        return float(rows.iloc[0]) if len(rows) else float("nan")

    def interval(self, quantity: str) -> tuple[float, float, float]:
        """(lower, median, upper) of one ``allocate`` row."""
        row = self.table.loc[self.table["quantity"] == quantity].iloc[0]
        return float(row["lower"]), float(row["estimate"]), float(row["upper"])

    @property
    def law(self) -> tuple[float, float, float]:
        """(lower, median, upper) of the mean curve at the budget (law-only band), in nats.

        It is ``allocate``'s ``loss_opt``: the law at each draw's own optimal split.
        """
        return self.interval("loss_opt")

    def has(self, quantity: str) -> bool:
        return bool((self.table["quantity"] == quantity).any())


def assessed_choice(fit, compute: float, params=None, tokens_per_param=None) -> dict:
    """The split whose risk is reported: the proposed one, else the point fit's N (``params``)."""
    if params is not None and tokens_per_param is not None:
        raise BayesScalingError("propose either params (N) or tokens_per_param (D/N), not both")
    if params is not None:
        return {"params": float(params)}
    if tokens_per_param is not None:
        return {"tokens_per_param": float(tokens_per_param)}
    n_mean_fit = float(np.asarray(al.mean_parameter_optimum(fit, compute)["n_params"]))
    return {"params": n_mean_fit}


def budget_grid(runs, compute: float) -> np.ndarray:
    """Budgets (FLOPs) of the fan chart: :func:`plots.compute_grid`, with the budget itself in."""
    return np.union1d(compute_grid(runs, compute), [compute])


def band_at(bands: xr.Dataset, compute: float, prob: float, band: str) -> tuple[float, ...]:
    """(lower, median, upper) of ``band`` ("predictive" or "law") at budget C, in nats."""
    point = int(np.argmin(np.abs(np.log(bands["compute"].values / compute))))
    one = bands.sel(band=band).isel(point=point).sel(prob=prob, method="nearest")
    return float(one["lower"]), float(one["median"]), float(one["upper"])


def gather(
    fit,
    compute: float,
    *,
    target=None,
    params=None,
    tokens_per_param=None,
    prob: float = 0.9,
    tolerance: float | None = 0.02,
    relative: bool = True,
) -> Facts:
    """Compute every number of the report.

    Examples
    --------
    >>> facts = gather(fit, 1e24, target=2.3)       # doctest: +SKIP
    >>> facts.interval("n_params_opt")              # doctest: +SKIP
    (8.2e+09, 1.26e+10, 1.94e+10)
    """
    compute = float(compute)
    if not (np.isfinite(compute) and compute > 0):
        raise BayesScalingError(f"compute must be a finite budget > 0 FLOPs, got {compute}")
    if not 0 < prob < 1:
        raise BayesScalingError(f"prob must lie strictly between 0 and 1, got {prob}")
    al._require_optimum(fit)
    choice = assessed_choice(fit, compute, params, tokens_per_param)
    table = allocate(fit, compute, **choice, target=target, prob=prob, target_probs=TARGET_PROBS)
    answer = table.attrs["target_answer"]
    probs = tuple(sorted({0.5, float(prob)}))
    bands = fit.bands(compute=budget_grid(fit.runs, compute), probs=probs, as_xarray=True)
    proposed = {
        k: v
        for k, v in (("params", params), ("tokens_per_param", tokens_per_param))
        if v is not None
    }
    disc = fit.discrepancy
    param_only = None
    if disc is not None:
        plain = fit.bands(compute=[compute], probs=[prob], as_xarray=True, discrepancy=False)
        param_only = band_at(plain, compute, prob, "predictive")
    horizon = None
    if tolerance is not None:
        horizon = trust_horizon(fit, tolerance, relative=relative, prob=prob)
    return Facts(
        param_only=param_only,
        horizon=horizon,
        discrepancy=disc.describe() if disc is not None else "off",
        compute=compute,
        prob=prob,
        target=None if target is None else float(target),
        table=table,
        proposed={k: float(v) for k, v in proposed.items()},
        predictive=band_at(bands, compute, prob, "predictive"),
        bands=bands,
        answer=answer,
        k=al._k(fit, None),
    )
