"""``ScalingFit``: the posterior DataTree plus its law, priors and diagnostics; save and load.

A saved fit is one NetCDF (h5netcdf) or Zarr store, never a pickle. Its groups are ``posterior``,
``sample_stats``, ``log_likelihood``, ``observed_data``, ``constant_data`` and ``runs`` (the whole
runs table it saw); the root attributes hold the provenance: format tag, law name, priors (JSON),
sampler settings (JSON), diagnostics (JSON), package version and a SHA-256 of the runs table.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling._constants import NOISE_PARAMS, package_version
from bayes_scaling.data.runs import runs_hash
from bayes_scaling.discrepancy.record import Discrepancy
from bayes_scaling.laws import Law
from bayes_scaling.priors import Prior, priors_to_json
from bayes_scaling.results.base import FitResult
from bayes_scaling.results.diagnostics import Diagnostics

FORMAT = "bayes_scaling.fit/1"


def make_datatree(
    posterior, sample_stats, loglik, runs, law, priors, diag, settings, discrepancy=None
) -> xr.DataTree:
    """Assemble the fit's DataTree, with provenance attributes on the root."""
    run = runs["run_id"].astype(str).to_numpy()
    table = runs.drop(columns="run_id").reset_index(drop=True).rename_axis("run")
    # pandas' own column types (categorical, string, nullable integers and booleans) become what
    # NetCDF holds: numbers as floats (missing: NaN), the rest as text, as object columns are
    for name, dtype in table.dtypes.items():
        if not isinstance(dtype, np.dtype):
            numeric = pd.api.types.is_numeric_dtype(dtype)
            table[name] = table[name].astype(float) if numeric else table[name].astype(object)
    runs_ds = xr.Dataset.from_dataframe(table).assign_coords(run=run)
    for name in runs_ds.data_vars:
        if runs_ds[name].dtype == object:
            runs_ds[name] = runs_ds[name].astype(str)
    constant = xr.Dataset(
        {c: ("run", runs[c].to_numpy(float)) for c in law.inputs}, coords={"run": run}
    )
    observed = xr.Dataset(
        {"log_loss": ("run", np.log(runs["loss"].to_numpy(float)))}, coords={"run": run}
    )
    attrs = {
        "format": FORMAT,
        "law": law.name,
        "law_description": law.description,
        "priors": priors_to_json(priors),
        "settings": json.dumps(settings),
        "diagnostics": diag.to_json(),
        "converged": int(diag.converged),
        "package_version": package_version(),
        "runs_sha256": runs_hash(runs),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    extra = {} if discrepancy is None else {"discrepancy": discrepancy.to_dataset()}
    return xr.DataTree.from_dict(
        {
            "/": xr.Dataset(attrs=attrs),
            "posterior": posterior,
            "sample_stats": sample_stats,
            "log_likelihood": xr.Dataset({"log_loss": loglik}).assign_coords(run=run),
            "observed_data": observed,
            "constant_data": constant,
            "runs": runs_ds,
            **extra,
        }
    )


class ScalingFit(FitResult):
    """A fitted scaling law: posterior DataTree, law, priors, diagnostics and the runs it saw.

    Made by :func:`bayes_scaling.fit` or :func:`bayes_scaling.load`; it never samples by itself.

    Attributes
    ----------
    idata : xarray.DataTree
        ``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data``, ``constant_data``
        and ``runs`` groups.
    law : Law
    priors : dict of Prior
    diagnostics : Diagnostics
    runs : DataFrame
    settings : dict
        Sampler settings, seed included.
    """

    FORMAT = FORMAT

    def __init__(
        self,
        idata: xr.DataTree,
        law: Law,
        priors: dict[str, Prior],
        diagnostics: Diagnostics,
        runs: pd.DataFrame,
        settings: dict,
    ):
        self.idata, self.law, self.priors = idata, law, priors
        self.diagnostics, self.runs, self.settings = diagnostics, runs, settings

    @cached_property
    def discrepancy(self):
        """The learned extrapolation discrepancy
        (:class:`~bayes_scaling.discrepancy.record.Discrepancy`),
        or None when the fit was made with ``discrepancy=False``."""
        if "discrepancy" not in self._tree.children:
            return None
        return Discrepancy.from_dataset(self._tree["discrepancy"].to_dataset())

    @property
    def parameters(self) -> list[str]:
        """Reported parameters: the law's, its derived quantities and the noise parameters."""
        extra = [n for n in NOISE_PARAMS if n in self.priors]
        return [*self.law.params, *self.law.derived, *extra]

    def _describe(self) -> str:
        return f"law={self.law.name} runs={len(self.runs)} draws={self.diagnostics.n_draws}"
