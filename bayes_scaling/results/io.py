"""Read any saved result back: one ``load`` that dispatches on the file's format tag.

A saved result is one NetCDF (h5netcdf) or Zarr store, never a pickle. Its groups are
``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data``, ``constant_data`` and
``runs`` (the whole runs table it saw); the root attributes hold the provenance: format tag, law
name, priors (JSON), sampler settings (JSON), diagnostics (JSON), package version and a SHA-256 of
the runs table. Writing is :meth:`FitResult.save <bayes_scaling.results.base.FitResult.save>`.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from bayes_scaling._constants import FLOPS_PER_PARAM_TOKEN
from bayes_scaling.errors import FitFileError
from bayes_scaling.laws import get_law
from bayes_scaling.model.likelihoods import pointwise_log_density
from bayes_scaling.model.pooling import Pooling
from bayes_scaling.priors import priors_from_json
from bayes_scaling.results.base import LOG_LIKELIHOOD_REBUILDERS, FitResult, restore_tree
from bayes_scaling.results.diagnostics import Diagnostics
from bayes_scaling.results.grouped import GroupedFit
from bayes_scaling.results.netcdf import read_netcdf
from bayes_scaling.results.scaling import ScalingFit

#: Readers by the format tag a result writes: ``reader(tree) -> result``. A capability package
#: registers its result's reader with :func:`register_format` when it is imported.
FORMATS: dict[str, Callable[[xr.DataTree], FitResult]] = {}


#: Capability packages not imported yet, by the family of their format tags (the tag before its
#: "/version"): :func:`read_tree` imports the package (which registers its reader) on meeting
#: one. The package root fills it, so that ``import bayes_scaling`` needs no capability.
DEFERRED_FORMATS: dict[str, str] = {}


def defer_format(family: str, module: str) -> None:
    """Let :func:`load` read tags ``family/<version>`` once ``module`` is imported, importing it
    when such a file is read."""
    DEFERRED_FORMATS[family] = module


def register_format(
    tag: str,
    reader: Callable[[xr.DataTree], FitResult],
    log_likelihood: Callable[[xr.DataTree], xr.Dataset] | None = None,
) -> None:
    """Let :func:`load` read files whose ``format`` attribute is ``tag`` with ``reader(tree)``.

    Each result type registers its one tag: the core's here, a capability's in its ``result``
    module (``register_format(PassKFit.FORMAT, from_tree)``). ``log_likelihood(node)``, when
    given, recomputes the node's ``log_likelihood`` group from its posterior and data; a save
    then leaves that group out whenever the recomputation is bit for bit what was sampled, and
    :func:`read_tree` rebuilds it (:func:`~bayes_scaling.results.base.compact_tree`).
    """
    if tag in FORMATS and FORMATS[tag] is not reader:
        raise ValueError(f"format tag {tag!r} is already registered")
    FORMATS[tag] = reader
    if log_likelihood is not None:
        LOG_LIKELIHOOD_REBUILDERS[tag] = log_likelihood


def read_tree(path: str | Path, restore: bool = True) -> xr.DataTree:
    """Open a saved result's DataTree (NetCDF or Zarr) and check its format tag.

    A NetCDF file of ours is read by :func:`~bayes_scaling.results.netcdf.read_netcdf` (h5py
    straight into xarray, the same tree in a tenth of the time), anything else by xarray.
    ``restore=False`` leaves out the ``log_likelihood`` groups that the save left out
    (:func:`~bayes_scaling.results.base.restore_tree` puts them back).
    """
    path = Path(path)
    if not path.exists():
        raise FitFileError(f"no such fit file: {str(path)!r}")
    try:
        tree = None if path.suffix == ".zarr" or path.is_dir() else read_netcdf(path)
        if tree is None:
            tree = _open_with_xarray(path)
        tag = tree.attrs.get("format")
        family = str(tag).split("/")[0]
        if tag not in FORMATS and family in DEFERRED_FORMATS:  # before the restore, which the
            importlib.import_module(DEFERRED_FORMATS[family])  # package may take part in
        if restore:
            tree = restore_tree(tree)
    except Exception as exc:  # any reader failure means: not one of ours
        raise FitFileError(f"{path.name!r} is not a readable NetCDF/Zarr fit file ({exc})") from exc
    if tree.attrs.get("format") not in FORMATS:
        raise FitFileError(
            f"{path.name!r} is not a bayes_scaling fit (no '{ScalingFit.FORMAT}' format "
            "attribute); write fits with ScalingFit.save or 'bayes-scaling fit'"
        )
    return tree


def _open_with_xarray(path: Path) -> xr.DataTree:
    """A Zarr store, or a NetCDF file that :func:`read_netcdf` does not decode, read by xarray."""
    if path.suffix == ".zarr" or path.is_dir():
        return xr.open_datatree(path, engine="zarr").load()
    # no CF masking: every float of ours is stored with NaN as its fill value, so the values
    # are the same, and opening takes a third of the time (0.66 -> 0.22 s)
    tree = xr.open_datatree(path, engine="h5netcdf", mask_and_scale=False)
    for node in tree.subtree:
        for var in node.variables.values():
            var.attrs.pop("_FillValue", None)
    return tree.load()


#: Formats whose reader keeps the whole tree as its result's ``idata``: :func:`load` gives them
#: the tree without its rebuilt ``log_likelihood`` groups, which the result puts back on first
#: use of ``idata`` (only LOO and the law comparison read them; 0.08 s for a 240-run fit).
LAZY_LOG_LIKELIHOOD = {ScalingFit.FORMAT, GroupedFit.FORMAT}


def load(path: str | Path) -> FitResult:
    """Read a result written by ``save`` (a :class:`ScalingFit`, a :class:`GroupedFit`, ...); it
    answers bands, allocations and comparisons without refitting.

    Raises
    ------
    FitFileError
        When the file is missing, unreadable, or not a bayes_scaling result.

    Examples
    --------
    >>> fit = bs.load("fit.nc")  # doctest: +SKIP
    >>> fit.converged  # doctest: +SKIP
    True
    """
    tree = read_tree(path, restore=False)
    tag = tree.attrs["format"]
    if tag in LAZY_LOG_LIKELIHOOD:
        result = FORMATS[tag](tree)
        result.restore_later()
        return result
    try:
        tree = restore_tree(tree)
    except Exception as exc:
        raise FitFileError(f"{Path(path).name!r} is not a readable fit file ({exc})") from exc
    return FORMATS[tag](tree)


def scaling_from_tree(tree: xr.DataTree) -> FitResult:
    """A :class:`ScalingFit` or :class:`GroupedFit` from its saved tree."""
    law = get_law(tree.attrs["law"])
    priors = priors_from_json(tree.attrs["priors"])
    diag = Diagnostics.from_json(tree.attrs["diagnostics"])
    settings = json.loads(tree.attrs["settings"])
    runs = tree["runs"].to_dataset().to_dataframe().rename_axis("run_id").reset_index()
    runs["run_id"] = runs["run_id"].astype(str)
    runs.attrs["flops_per_param_token"] = settings.get(
        "flops_per_param_token", FLOPS_PER_PARAM_TOKEN
    )
    if tree.attrs["format"] == GroupedFit.FORMAT:
        pooling = Pooling.from_json(tree.attrs["pooling"])
        return GroupedFit(tree, law, priors, pooling, diag, runs, settings)
    return ScalingFit(tree, law, priors, diag, runs, settings)


def scaling_log_likelihood(node: xr.DataTree) -> xr.Dataset:
    """A fit's pointwise log density, log p(log L_i | θ_s) for every draw s and run i, computed
    again from its ``posterior``, ``constant_data`` (the law's inputs) and ``observed_data``
    (log loss) with the likelihood named in its settings: the function
    :func:`~bayes_scaling.inference.fit` used, on the same float64 numbers."""
    law = get_law(node.attrs["law"])
    likelihood = json.loads(node.attrs["settings"])["likelihood"]
    constant = node["constant_data"].to_dataset()
    inputs = {c: constant[c].to_numpy() for c in law.inputs}
    y = node["observed_data"]["log_loss"].to_numpy()
    posterior = node["posterior"].to_dataset()
    loglik = pointwise_log_density(likelihood, law, posterior, inputs, y)
    return xr.Dataset({"log_loss": loglik}).assign_coords(run=constant["run"].to_numpy())


register_format(ScalingFit.FORMAT, scaling_from_tree, scaling_log_likelihood)
register_format(GroupedFit.FORMAT, scaling_from_tree)
