"""The law's error beyond the data: one protocol for every kind of discrepancy.

Parameter uncertainty and run noise under-cover runs beyond the data: the law itself errs there.
Each kind of discrepancy is a grid posterior, learned after the fit from the fit's own internal
backtests times a prior, of an error that is zero inside the runs and grows with the decades
d(x) beyond them (one error curve per posterior draw s)::

    scaling  (record.py)   δ_s(x) = m_s·c(x)^γ_s + τ_s·η_s·d(x)^γ_s (+ g_s(x))     on log loss
    group    (grouped.py)  δ_s(x) = (m_s + τ_s·η_s)·d^γ_s + τ'_s·η_{g,s}·d^γ'_s  on log loss
    link     (link.py)     δ₂_s(x) = τ₂_s·η_s·d(x)                                on the metric

with η ~ Normal(0, 1) per draw, m a drift per decade, τ the error's sd one decade out and γ its
growth; g is the scaling fit's local misfit inside and near the runs (``local.py``, a Gaussian
process on the fitted runs' residuals). All three follow
:class:`~bayes_scaling.discrepancy.protocol.DiscrepancyKind`: the same
``curves`` / ``error`` / ``shift_and_sd`` (keywords ``draws_shape``, ``seed``, ``group``),
``quantiles`` (of the error's sd at d = 1), ``describe``, ``to_dataset`` / ``from_dataset``, and
the attributes ``kind``, ``scale``, ``reference``, ``cut_on``, ``cuts``, ``n_checked``,
``learned``, ``prior``. :func:`read_discrepancy` reads any kind back from its dataset.

A log-loss error is put on a loss by :func:`with_error`, which never goes below the draw's
irreducible loss E however far out (the form and why: :mod:`.protocol`).

Modules, bottom first: ``protocol`` (the protocol, :func:`with_error`), ``prior`` (+
``prior.json``: the prior of (m, τ, γ) learned across public ladders), ``density`` (the
predictive density with an error), ``local`` (+ ``local.json``: the local misfit), ``record``
(the scaling kind, distances), ``evidence`` (what internal backtests
say, :func:`estimate`), ``grouped`` and ``link`` (the other two kinds).

Examples
--------
>>> import numpy as np
>>> from bayes_scaling.discrepancy import LinkDiscrepancy, read_discrepancy
>>> link = LinkDiscrepancy(np.array([0.0, 0.1]), np.array([0.5, 0.5]), 0.05, {"compute": 1e21})
>>> read_discrepancy(link.to_dataset()).describe() == link.describe()
True
"""

from __future__ import annotations

import xarray as xr

from bayes_scaling.discrepancy.evidence import estimate
from bayes_scaling.discrepancy.grouped import GroupDiscrepancy
from bayes_scaling.discrepancy.grouped_evidence import estimate_groups
from bayes_scaling.discrepancy.link import LinkDiscrepancy
from bayes_scaling.discrepancy.prior import DiscrepancyPrior, resolve_prior, shipped_prior
from bayes_scaling.discrepancy.protocol import (
    DiscrepancyKind,
    error_of_curves,
    irreducible_loss,
    with_error,
)
from bayes_scaling.discrepancy.record import (
    READERS,
    Discrepancy,
    distance_beyond,
    reference_sizes,
)

__all__ = [
    "READERS",
    "Discrepancy",
    "DiscrepancyKind",
    "DiscrepancyPrior",
    "GroupDiscrepancy",
    "LinkDiscrepancy",
    "distance_beyond",
    "error_of_curves",
    "estimate",
    "estimate_groups",
    "irreducible_loss",
    "read_discrepancy",
    "reference_sizes",
    "resolve_prior",
    "shipped_prior",
    "with_error",
]


def read_discrepancy(ds: xr.Dataset) -> DiscrepancyKind:
    """The record of any kind from its saved dataset, by its ``kind`` attribute (a dataset
    without one was written before it: a scaling record, or a link record when it has a
    ``prior_sd``)."""
    kind = ds.attrs.get("kind", "link" if "prior_sd" in ds.attrs else Discrepancy.kind)
    return READERS[str(kind)](ds)
