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
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.diagnostics import Diagnostics
from bayes_scaling.errors import FitFileError
from bayes_scaling.laws import Law, get_law
from bayes_scaling.priors import Prior, priors_from_json, priors_to_json
from bayes_scaling.runs import runs_hash

FORMAT = "bayes_scaling.fit/1"
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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayes_scaling")
    except PackageNotFoundError:
        return "0+unknown"


def make_datatree(
    posterior, sample_stats, loglik, runs, law, priors, diag, settings, discrepancy=None
) -> xr.DataTree:
    """Assemble the fit's DataTree, with provenance attributes on the root."""
    run = runs["run_id"].astype(str).to_numpy()
    table = runs.drop(columns="run_id").reset_index(drop=True).rename_axis("run")
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
        "package_version": _version(),
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


class ScalingFit:
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

    @property
    def converged(self) -> bool:
        """True when the diagnostics gate passed (R-hat, ESS, divergences)."""
        return self.diagnostics.converged

    @property
    def posterior(self) -> xr.Dataset:
        return self.idata["posterior"].to_dataset()

    @cached_property
    def discrepancy(self):
        """The learned extrapolation discrepancy (:class:`~bayes_scaling.discrepancy.Discrepancy`),
        or None when the fit was made with ``discrepancy=False``."""
        from bayes_scaling.discrepancy import Discrepancy

        if "discrepancy" not in self.idata.children:
            return None
        return Discrepancy.from_dataset(self.idata["discrepancy"].to_dataset())

    @property
    def parameters(self) -> list[str]:
        """Reported parameters: the law's, its derived quantities and the noise parameters."""
        extra = [n for n in ("sigma", "nu") if n in self.priors]
        return [*self.law.params, *self.law.derived, *extra]

    def __repr__(self) -> str:
        status = "converged" if self.converged else f"NOT converged ({self.diagnostics.reason()})"
        return (
            f"<ScalingFit law={self.law.name} runs={len(self.runs)} "
            f"draws={self.diagnostics.n_draws} {status}>"
        )

    def summary(self, prob: float = 0.95) -> pd.DataFrame:
        """Posterior table: mean, sd, median, central ``prob`` interval, R-hat and ESS.

        The interval is equal-tailed (quantiles (1 − prob)/2 and (1 + prob)/2). ``df.attrs``
        carries ``converged`` and the diagnostics reason.
        """
        post = self.posterior[self.parameters]
        tail = (1 - prob) / 2
        q = post.quantile([tail, 0.5, 1 - tail], dim=("chain", "draw"))
        diag = az.summary(post, kind="diagnostics")
        rows = []
        for name in self.parameters:
            rows.append(
                {
                    "parameter": name,
                    "mean": float(post[name].mean()),
                    "sd": float(post[name].std()),
                    "median": float(q[name][1]),
                    "lower": float(q[name][0]),
                    "upper": float(q[name][2]),
                    "r_hat": float(diag.loc[name, "r_hat"]),
                    "ess_bulk": float(diag.loc[name, "ess_bulk"]),
                    "ess_tail": float(diag.loc[name, "ess_tail"]),
                }
            )
        table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
        table.attrs.update(converged=self.converged, reason=self.diagnostics.reason(), prob=prob)
        return table

    def bands(
        self,
        *,
        params=None,
        tokens=None,
        compute=None,
        probs=(0.5, 0.8, 0.9, 0.95),
        tokens_per_param=None,
        as_xarray: bool = False,
        seed: int | None = None,
        discrepancy: bool = True,
        tolerance: float | None = None,
        relative: bool = False,
    ):
        """Posterior loss bands; see :func:`bayes_scaling.bands.loss_bands`.

        With a ``tolerance`` (nats, or a fraction when ``relative``) the bands also say where they
        stay within it (``within_tolerance``) and carry the trust horizon
        (:func:`bayes_scaling.horizon.trust_horizon`, at the 90% predictive band) in
        ``attrs["trust_horizon"]``.
        """
        from bayes_scaling.bands import bands_to_frame, loss_bands, mark_tolerance

        ds = loss_bands(
            self,
            params=params,
            tokens=tokens,
            compute=compute,
            probs=probs,
            tokens_per_param=tokens_per_param,
            seed=seed,
            discrepancy=discrepancy,
        )
        if tolerance is not None:
            from bayes_scaling.horizon import trust_horizon

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

    def allocate(self, compute, **kwargs) -> pd.DataFrame:
        """Optimal split, risk and target answers; see :func:`bayes_scaling.decision.allocate`."""
        from bayes_scaling.decision import allocate

        return allocate(self, compute, **kwargs)

    def report(self, compute, **kwargs):
        """The decision report; see :func:`bayes_scaling.report.build_report`."""
        from bayes_scaling.report import build_report

        return build_report(self, compute, **kwargs)

    def save(self, path: str | Path) -> Path:
        """Write the fit to NetCDF (``.nc``, via h5netcdf) or Zarr (``.zarr``). Never pickle."""
        return save_tree(self.idata, path)


def save_tree(tree: xr.DataTree, path: str | Path) -> Path:
    """Write a fit's DataTree to NetCDF (``.nc``, via h5netcdf) or Zarr (``.zarr``)."""
    path = Path(path)
    if path.suffix == ".zarr":
        tree.to_zarr(path, mode="w")
    else:
        tree.to_netcdf(path, engine="h5netcdf")
    return path


def load(path: str | Path):
    """Read a fit written by :meth:`ScalingFit.save` (or a grouped fit written by
    :meth:`~bayes_scaling.grouped.GroupedFit.save`); it answers bands without refitting.

    Raises
    ------
    FitFileError
        When the file is missing, unreadable, or not a bayes_scaling fit.
    """
    path = Path(path)
    if not path.exists():
        raise FitFileError(f"no such fit file: {str(path)!r}")
    try:
        if path.suffix == ".zarr" or path.is_dir():
            tree = xr.open_datatree(path, engine="zarr")
        else:
            tree = xr.open_datatree(path, engine="h5netcdf")
        tree = tree.load()
    except Exception as exc:  # any reader failure means: not one of ours
        raise FitFileError(f"{path.name!r} is not a readable NetCDF/Zarr fit file ({exc})") from exc
    from bayes_scaling.grouped import FORMAT as GROUPED_FORMAT

    if tree.attrs.get("format") not in (FORMAT, GROUPED_FORMAT):
        raise FitFileError(
            f"{path.name!r} is not a bayes_scaling fit (no '{FORMAT}' format "
            "attribute); write fits with ScalingFit.save or 'bayes-scaling fit'"
        )
    law = get_law(tree.attrs["law"])
    priors = priors_from_json(tree.attrs["priors"])
    diag = Diagnostics.from_json(tree.attrs["diagnostics"])
    settings = json.loads(tree.attrs["settings"])
    runs = tree["runs"].to_dataset().to_dataframe().rename_axis("run_id").reset_index()
    runs["run_id"] = runs["run_id"].astype(str)
    runs.attrs["flops_per_param_token"] = settings.get("flops_per_param_token", 6.0)
    if tree.attrs["format"] == GROUPED_FORMAT:
        from bayes_scaling.grouped import GroupedFit
        from bayes_scaling.pooling import Pooling

        pooling = Pooling.from_json(tree.attrs["pooling"])
        return GroupedFit(tree, law, priors, pooling, diag, runs, settings)
    return ScalingFit(tree, law, priors, diag, runs, settings)
