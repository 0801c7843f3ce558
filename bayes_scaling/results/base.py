"""The result protocol: what every fitted result has, written once.

A result is a posterior ``xarray.DataTree`` plus what made it: the runs it saw, the sampler
settings and the diagnostics gate's verdict. Every result made by this package (:class:`ScalingFit`,
:class:`GroupedFit`, and the results of later stages) derives from :class:`FitResult` and so has

- ``converged``: the gate's flag (R-hat, bulk and tail ESS, divergences), and ``diagnostics``;
- ``posterior``: the draws, an ``xarray.Dataset`` with dims ``(chain, draw, ...)``;
- ``summary(prob)``: one row per reported parameter, built on :func:`arviz.summary` (mean, sd,
  median, equal-tailed interval, R-hat, ESS), with ``converged`` in ``attrs``;
- ``save(path)``: NetCDF (h5netcdf) or Zarr with provenance attributes, never pickle; one
  :func:`bayes_scaling.load` reads any result back (:mod:`bayes_scaling.results.io`).

Answers live in higher stages (bands, allocation, comparisons, the report). They give a result its
convenience methods (``fit.bands(...)``, ``fit.report(...)``) with :func:`method_of`, as xarray
accessors do: a result never imports the stages that answer questions about it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB
from bayes_scaling.errors import FitFileError
from bayes_scaling.results.diagnostics import Diagnostics

#: Columns of every result's summary (a grouped result adds ``group`` after ``parameter``).
SUMMARY_COLUMNS = [
    "parameter",
    "mean",
    "sd",
    "median",
    "lower",
    "upper",
    "r_hat",
    "ess_bulk",
    "ess_tail",
]


#: Root attribute holding the summary table at the default probability, written by ``save``.
SUMMARY_ATTR = "summary"


class FitResult:
    """Base of every fitted result: converged, diagnostics, posterior, summary, save.

    Subclasses set ``FORMAT`` (the file format tag written to the root attributes), implement
    :meth:`parameters` (the reported variables) and may override :meth:`_describe` (the middle of
    the repr) and :meth:`_label_rows` (extra summary columns from ArviZ's row labels).
    """

    FORMAT: ClassVar[str] = ""

    idata: xr.DataTree
    diagnostics: Diagnostics
    runs: pd.DataFrame
    settings: dict

    @property
    def converged(self) -> bool:
        """True when the diagnostics gate passed (R-hat, ESS, divergences)."""
        return self.diagnostics.converged

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior draws, dims ``(chain, draw, ...)``."""
        return self.idata["posterior"].to_dataset()

    @property
    def parameters(self) -> list[str]:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _describe(self) -> str:
        return f"runs={len(self.runs)} draws={self.diagnostics.n_draws}"

    def __repr__(self) -> str:
        status = "converged" if self.converged else f"NOT converged ({self.diagnostics.reason()})"
        return f"<{type(self).__name__} {self._describe()} {status}>"

    def summary(self, prob: float = DEFAULT_PROB) -> pd.DataFrame:
        """Posterior table: mean, sd, median, central ``prob`` interval, R-hat and ESS.

        Built on :func:`arviz.summary` (``ci_kind="eti"``: the interval is equal-tailed, quantiles
        (1 − prob)/2 and (1 + prob)/2; nothing rounded). ``df.attrs`` carries ``converged``, the
        diagnostics reason and ``prob``.

        Examples
        --------
        >>> fit.summary(prob=0.9)[["parameter", "median", "lower", "upper"]]  # doctest: +SKIP
        """
        prob = check.probability(prob, "prob")
        stored = self.idata.attrs.get(SUMMARY_ATTR)
        if stored is not None and json.loads(stored)["prob"] == prob:
            return self._table(json.loads(stored), prob)
        import arviz_stats as az  # ArviZ's statistics, on first use (all of ArviZ loads matplotlib)

        post = self.posterior[self.parameters]
        stats = az.summary(post, ci_prob=prob, ci_kind="eti", round_to="none")
        median = az.summary(post, kind="stats_median", ci_prob=prob, ci_kind="eti", round_to="none")
        lower, upper = (c for c in stats.columns if c.startswith("eti"))
        table = pd.DataFrame(
            {
                "parameter": stats.index.str.split("[").str[0],
                "mean": stats["mean"].to_numpy(float),
                "sd": stats["sd"].to_numpy(float),
                "median": median["median"].to_numpy(float),
                "lower": stats[lower].to_numpy(float),
                "upper": stats[upper].to_numpy(float),
                "r_hat": stats["r_hat"].to_numpy(float),
                "ess_bulk": stats["ess_bulk"].to_numpy(float),
                "ess_tail": stats["ess_tail"].to_numpy(float),
            }
        )
        table = self._label_rows(table, list(stats.index))
        table.attrs.update(converged=self.converged, reason=self.diagnostics.reason(), prob=prob)
        return table

    def _table(self, stored: dict, prob: float) -> pd.DataFrame:
        """The summary table stored by :meth:`save`, with its attrs."""
        table = pd.DataFrame(stored["data"], columns=stored["columns"])
        table.attrs.update(converged=self.converged, reason=self.diagnostics.reason(), prob=prob)
        return table

    def _label_rows(self, table: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
        return table

    def save(self, path: str | Path) -> Path:
        """Write to NetCDF (``.nc``, via h5netcdf) or Zarr (``.zarr``); never pickle.

        The folder must exist and be writable; :func:`bayes_scaling.load` reads the file back. The
        summary at the default probability is computed once here and stored with the draws
        (attribute ``summary``): a saved fit's table is then read, not recomputed, and answering
        it needs no ArviZ.
        """
        table = self.summary(DEFAULT_PROB)
        stored = {"prob": DEFAULT_PROB, "columns": list(table.columns)}
        stored["data"] = table.astype(object).to_numpy().tolist()
        self.idata.attrs[SUMMARY_ATTR] = json.dumps(stored)
        return save_tree(self.idata, path)


def save_tree(tree: xr.DataTree, path: str | Path) -> Path:
    """Write a result's DataTree to NetCDF (``.nc``, via h5netcdf) or Zarr (``.zarr``).

    Raises
    ------
    FitFileError
        When the file cannot be written (a missing folder, no permission, a full disk).
    """
    path = Path(path)
    try:
        if path.suffix == ".zarr":
            tree.to_zarr(path, mode="w")
        else:
            tree.to_netcdf(path, engine="h5netcdf")
    except OSError as exc:
        raise FitFileError(f"could not write {str(path)!r}: {exc}") from exc
    return path


def method_of(*classes):
    """Attach the decorated function as a method of ``classes`` (used by the answering stages).

    Examples
    --------
    >>> @method_of(ScalingFit)  # doctest: +SKIP
    ... def bands(self, **kwargs): ...
    """

    def attach(fn):
        for cls in classes:
            setattr(cls, fn.__name__, fn)
        return fn

    return attach
