"""The numbers behind the report, computed once: no formatting, no wording.

Every decision number comes from :func:`bayes_scaling.answers.decision.decide`, computed once per
draw and read here by variable name (the tidy table of ``allocate`` formats the same Dataset, so
the page and the table agree), the bands from :meth:`ScalingFit.bands` over the fan chart's budgets
(so the page and the figure agree) and the target sentences from
:func:`bayes_scaling.answers.targets.target_answer`. When no choice is proposed, the choice
assessed for risk is the point fit's N: the N* of the posterior-mean parameters.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB, FLOPS_PER_PARAM_TOKEN, SAMPLE_DIMS
from bayes_scaling.answers import allocation as al
from bayes_scaling.answers.bands import resolve_sizes, warn_below_data
from bayes_scaling.answers.choices import check_choice
from bayes_scaling.answers.decision import TARGET_PROBS, decide
from bayes_scaling.answers.decision_table import allocation_table
from bayes_scaling.answers.horizon import TrustHorizon, trust_horizon
from bayes_scaling.answers.target_answer import TargetAnswer
from bayes_scaling.errors import ExtrapolationWarning
from bayes_scaling.plots import compute_grid


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
    decision : Dataset
        :func:`~bayes_scaling.answers.decision.decide` at the budget for the assessed choice (the
        proposed one, else the point fit's N): every number per draw, by variable name.
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
    local_misfit : bool
        Whether the discrepancy has a local misfit inside the runs (a law in N and D).
    """

    compute: float
    prob: float
    target: float | None
    decision: xr.Dataset
    proposed: dict
    predictive: tuple[float, float, float]
    bands: xr.Dataset
    answer: TargetAnswer | None
    k: float = FLOPS_PER_PARAM_TOKEN
    param_only: tuple[float, float, float] | None = None
    horizon: TrustHorizon | None = None
    discrepancy: str = "off"
    local_misfit: bool = False

    @property
    def table(self) -> pd.DataFrame:
        """The tidy allocation table of :attr:`decision` (for display only)."""
        return allocation_table(self.decision, self.prob)

    def _at_budget(self, quantity: str) -> xr.DataArray:
        var = self.decision[quantity]
        return var.isel(budget=0) if "budget" in var.dims else var

    def value(self, quantity: str) -> float:
        """A number of the decision: the posterior median of a per-draw variable, else its value;
        ``compute_needed_p50``/``_p90`` are the compute needed at that probability. NaN when the
        decision does not have it."""
        if quantity.startswith("compute_needed_p") and "compute_needed" in self.decision:
            p = int(quantity.rsplit("_p", 1)[1]) / 100
            return float(self.decision["compute_needed"].sel(target_prob=p, method="nearest"))
        if quantity not in self.decision:
            return float("nan")
        var = self._at_budget(quantity)
        return float(var.median(SAMPLE_DIMS) if SAMPLE_DIMS[0] in var.dims else var)

    def interval(self, quantity: str) -> tuple[float, float, float]:
        """(lower, median, upper) of a per-draw variable of the decision, central ``prob``."""
        draws = np.asarray(self._at_budget(quantity), float).ravel()
        tail = (1 - self.prob) / 2
        lo, med, hi = np.quantile(draws, [tail, 0.5, 1 - tail])
        return float(lo), float(med), float(hi)

    @property
    def law(self) -> tuple[float, float, float]:
        """(lower, median, upper) of the mean curve at the budget (law-only band), in nats.

        It is ``allocate``'s ``loss_opt_discrepancy`` when the fit's discrepancy is on (the law at
        each draw's own optimal split with the extrapolation error, as the bands' law band),
        else ``loss_opt``.
        """
        return self.interval(
            "loss_opt_discrepancy" if self.has("loss_opt_discrepancy") else "loss_opt"
        )

    def has(self, quantity: str) -> bool:
        return quantity in self.decision

    @property
    def split(self) -> bool:
        """Whether the law splits the budget into N and D (False for a law in compute alone,
        L(C): the page then has no split, no regret and no optimum figures)."""
        return self.has("n_params_opt")


def assessed_choice(fit, compute: float, params=None, tokens_per_param=None) -> dict:
    """The split whose risk is reported: the proposed one, else the point fit's N (``params``);
    none for a law in compute alone (L(C)), which takes no split."""
    check_choice(fit, params, tokens_per_param)
    if fit.law.reads_compute_only:
        return {}
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
    prob: float = DEFAULT_PROB,
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
    compute = check.positive(compute, "compute")
    prob = check.probability(prob, "prob")
    choice = assessed_choice(fit, compute, params, tokens_per_param)
    decision = decide(fit, compute, **choice, target=target, target_probs=TARGET_PROBS)
    answer = decision.attrs["target_answer"]
    probs = tuple(sorted({0.5, float(prob)}))
    warn_below_data(fit, resolve_sizes(fit, compute=[compute]))  # the budget asked, alone
    with warnings.catch_warnings():  # the fan chart's grid is the report's, not the user's
        warnings.simplefilter("ignore", ExtrapolationWarning)
        bands = fit.bands(compute=budget_grid(fit.runs, compute), prob=probs, as_xarray=True)
    proposed = {
        k: v
        for k, v in (("params", params), ("tokens_per_param", tokens_per_param))
        if v is not None
    }
    disc = fit.discrepancy
    param_only = None
    if disc is not None:
        plain = fit.bands(compute=[compute], prob=[prob], as_xarray=True, discrepancy=False)
        param_only = band_at(plain, compute, prob, "predictive")
    horizon = None
    if tolerance is not None:
        horizon = trust_horizon(fit, tolerance, relative=relative, prob=prob)
    return Facts(
        param_only=param_only,
        horizon=horizon,
        discrepancy=disc.describe() if disc is not None else "off",
        local_misfit=disc is not None and disc.local is not None,
        compute=compute,
        prob=prob,
        target=None if target is None else float(target),
        decision=decision,
        proposed={k: float(v) for k, v in proposed.items()},
        predictive=band_at(bands, compute, prob, "predictive"),
        bands=bands,
        answer=answer,
        k=decision.attrs["flops_per_param_token"],
    )
