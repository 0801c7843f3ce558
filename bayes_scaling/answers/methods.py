"""The answers as methods of the results: ``fit.bands``, ``fit.allocate``, ``grouped.compare``.

Results never import the stages that answer questions about them; this module attaches the methods
(:func:`bayes_scaling.results.base.method_of`), as xarray accessors do.
"""

from __future__ import annotations

import pandas as pd

from bayes_scaling import _validate as check
from bayes_scaling.answers.bands import bands_to_frame, loss_bands, mark_tolerance
from bayes_scaling.answers.decision import allocate as allocate_table
from bayes_scaling.answers.gap import compare as compare_groups
from bayes_scaling.answers.horizon import trust_horizon
from bayes_scaling.results import GroupedFit, ScalingFit
from bayes_scaling.results.base import method_of


@method_of(ScalingFit)
def bands(
    self,
    *,
    params=None,
    tokens=None,
    compute=None,
    prob=None,
    tokens_per_param=None,
    as_xarray: bool = False,
    seed: int | None = None,
    discrepancy: bool = True,
    tolerance: float | None = None,
    relative: bool = False,
    unique_tokens=None,
    **aliases,
):
    """Posterior loss bands; see :func:`bayes_scaling.answers.bands.loss_bands`.

    Rows come back in the order of the points given (``params``/``tokens`` pairs, or ``compute``):
    for each band and probability, row i is point i. ``prob`` is one probability or several
    (default :data:`bayes_scaling._constants.DEFAULT_PROBS`; ``probs=`` is its old name). With a
    ``tolerance`` (nats, or a fraction when ``relative``) the bands also say where they stay
    within it (``within_tolerance``) and carry the trust horizon
    (:func:`bayes_scaling.answers.horizon.trust_horizon`, at the 90% predictive band) in
    ``attrs["trust_horizon"]``.

    Examples
    --------
    >>> fit.bands(compute=[1e23, 1e24], prob=[0.5, 0.9])  # doctest: +SKIP
    """
    prob = check.renamed(aliases, "probs", "prob", prob, where="bands")
    as_xarray = check.flag(as_xarray, "as_xarray")
    relative = check.flag(relative, "relative")
    if tolerance is not None:
        tolerance = check.tolerance(tolerance, relative)
    ds = loss_bands(
        self,
        params=params,
        tokens=tokens,
        compute=compute,
        prob=prob,
        tokens_per_param=tokens_per_param,
        seed=seed,
        discrepancy=discrepancy,
        unique_tokens=unique_tokens,
    )
    if tolerance is not None:
        ds = mark_tolerance(ds, tolerance, relative)
        horizon = trust_horizon(
            self,
            tolerance,
            relative=relative,
            tokens_per_param=tokens_per_param,
            discrepancy=discrepancy,
        )
        ds.attrs["trust_horizon"] = horizon.to_dict()
    return ds if as_xarray else bands_to_frame(ds)


@method_of(ScalingFit)
def allocate(self, compute, **kwargs) -> pd.DataFrame:
    """Optimal split, risk and target answers; see
    :func:`bayes_scaling.answers.decision.allocate`."""
    return allocate_table(self, compute, **kwargs)


@method_of(GroupedFit)
def compare(self, a: str | None = None, b: str | None = None, **kwargs):
    """Compare group ``b`` with group ``a``; see :func:`bayes_scaling.answers.gap.compare`."""
    return compare_groups(self, a, b, **kwargs)
