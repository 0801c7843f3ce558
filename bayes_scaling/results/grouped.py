"""``GroupedFit``: the result of :func:`bayes_scaling.fit_groups`, one hierarchical fit over groups.

Group-varying parameters have dims ``(chain, draw, group)``; population values ``<param>_mu`` and
spreads ``<param>_tau`` have ``(chain, draw)``. The fit itself is
:func:`bayes_scaling.inference.grouped.fit_groups`; comparisons between two groups are
:mod:`bayes_scaling.answers.gap`. The learned discrepancy (a law error shared by the groups and
each group's own, :mod:`bayes_scaling.discrepancy.grouped`) is the tree's ``discrepancy``
group.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling._constants import NOISE_PARAMS
from bayes_scaling.discrepancy.grouped import GroupDiscrepancy
from bayes_scaling.errors import Problem, RunsError
from bayes_scaling.model.pooling import Pooling, mu_name, tau_name
from bayes_scaling.results.base import FitResult
from bayes_scaling.results.diagnostics import Diagnostics
from bayes_scaling.results.scaling import ScalingFit, make_datatree

FORMAT = "bayes_scaling.grouped_fit/1"


class GroupedFit(FitResult):
    """A fitted hierarchical law over groups of runs; made by :func:`fit_groups` or :func:`load`.

    Attributes
    ----------
    idata : xarray.DataTree
        As a :class:`~bayes_scaling.ScalingFit`'s; group-varying parameters have dims
        ``(chain, draw, group)``, population values ``<param>_mu`` and spreads ``<param>_tau``
        have ``(chain, draw)``. Root attributes add ``pooling`` (JSON); the ``discrepancy``
        group, when learned, holds the shared and group-specific discrepancy.
    law, priors, pooling, diagnostics, runs, settings
    discrepancy : GroupDiscrepancy or None
        Read from the tree (see :attr:`discrepancy`).
    """

    FORMAT = FORMAT

    def __init__(
        self, idata, law, priors, pooling: Pooling, diagnostics: Diagnostics, runs, settings
    ):
        self.idata, self.law, self.priors, self.pooling = idata, law, priors, pooling
        self.diagnostics, self.runs, self.settings = diagnostics, runs, settings

    @cached_property
    def discrepancy(self) -> GroupDiscrepancy | None:
        """The learned discrepancy, shared by the groups and specific to each
        (:class:`~bayes_scaling.discrepancy.grouped.GroupDiscrepancy`), or None when the fit
        was made with ``discrepancy=False``."""
        if "discrepancy" not in self._tree.children:
            return None
        return GroupDiscrepancy.from_dataset(self._tree["discrepancy"].to_dataset())

    @property
    def groups(self) -> tuple[str, ...]:
        return self.pooling.groups

    @property
    def group_parameters(self) -> list[str]:
        """What each group has: the law's parameters, its derived quantities and the noise."""
        return [
            *self.law.params,
            *self.law.derived,
            *(n for n in NOISE_PARAMS if n in self.priors),
        ]

    @property
    def parameters(self) -> list[str]:
        """Reported parameters: each group's, and each partially pooled parameter's population
        value ``<p>_mu`` and spread ``<p>_tau``."""
        names = self.group_parameters
        return names + [n for p in self.pooling.partial(names) for n in (mu_name(p), tau_name(p))]

    def _describe(self) -> str:
        return (
            f"law={self.law.name} groups={list(self.groups)} pool={self.pooling.preset} "
            f"runs={len(self.runs)}"
        )

    def group_posterior(self, group: str) -> xr.Dataset:
        """One group's parameter draws (law, derived and noise parameters), dims (chain, draw)."""
        self._check_group(group)
        post = self.posterior[self.group_parameters]
        return post.sel(group=group, drop=True) if "group" in post.dims else post

    def group_fit(self, group: str) -> ScalingFit:
        """One group as a :class:`~bayes_scaling.ScalingFit`, for its bands, allocation and
        plots. It carries the grouped fit's diagnostics and, when the fit learned one, the group's
        discrepancy: the shared part (the same draws for every group) plus its own."""
        mask = (self.runs["group"] == group).to_numpy()
        runs = self.runs[mask].reset_index(drop=True)
        runs.attrs = dict(self.runs.attrs)
        loglik = self.idata["log_likelihood"]["log_loss"].isel(run=np.flatnonzero(mask))
        settings = {**self.settings, "group": group, "pooling": self.pooling.preset}
        tree = make_datatree(
            self.group_posterior(group),
            self.idata["sample_stats"].to_dataset(),
            loglik.variable,
            runs,
            self.law,
            self.priors,
            self.diagnostics,
            settings,
            None if self.discrepancy is None else self.discrepancy.for_group(group),
        )
        return ScalingFit(tree, self.law, self.priors, self.diagnostics, runs, settings)

    def _label_rows(self, table: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
        """Add ``group``: the group of a group-varying parameter, "population" for μ and τ, "all"
        for a shared one."""
        group = [
            label.split("[", 1)[1].rstrip("]")
            if "[" in label
            else ("population" if label.endswith(("_mu", "_tau")) else "all")
            for label in labels
        ]
        table.insert(1, "group", group)
        return table

    def _check_group(self, group: str) -> None:
        if group not in self.groups:
            raise RunsError(
                Problem(None, "group", f"no group {group!r}; groups: {list(self.groups)}")
            )
