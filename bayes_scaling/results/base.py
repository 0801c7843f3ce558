"""The result protocol: what every fitted result has, written once.

A result is a posterior ``xarray.DataTree`` plus what made it: the runs it saw, the sampler
settings and the diagnostics gate's verdict. Every result made by this package (:class:`ScalingFit`,
:class:`GroupedFit`, and the results of later stages) derives from :class:`FitResult` and so has

- ``converged``: the gate's flag (R-hat, bulk and tail ESS, divergences), and ``diagnostics``;
- ``posterior``: the draws, an ``xarray.Dataset`` with dims ``(chain, draw, ...)``;
- ``summary(prob)``: one row per reported parameter, ArviZ's summary numbers (mean, sd,
  median, equal-tailed interval, R-hat, ESS), with ``converged`` in ``attrs``;
- ``save(path)``: NetCDF (h5netcdf) or Zarr with provenance attributes, never pickle; one
  :func:`bayes_scaling.load` reads any result back (:mod:`bayes_scaling.results.io`).

Answers live in higher stages (bands, allocation, comparisons, the report). They give a result its
convenience methods (``fit.bands(...)``, ``fit.report(...)``) with :func:`method_of`, as xarray
accessors do: a result never imports the stages that answer questions about it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pandas as pd
import xarray as xr

from bayes_scaling import _validate as check
from bayes_scaling._constants import DEFAULT_PROB
from bayes_scaling._disk import swap_folder, write_atomic
from bayes_scaling.errors import FitFileError
from bayes_scaling.results.diagnostics import Diagnostics, posterior_table

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

    diagnostics: Diagnostics
    runs: pd.DataFrame
    settings: dict

    @property
    def idata(self) -> xr.DataTree:
        """The whole DataTree; a loaded fit's ``log_likelihood`` group, left out of its file
        because it is rebuilt from the draws, is put back on first use (:meth:`restore_later`)."""
        if self.__dict__.get("_restore_pending"):
            self.__dict__["_idata"] = restore_tree(self.__dict__["_idata"])
            self.__dict__["_restore_pending"] = False
        return self.__dict__["_idata"]

    @idata.setter
    def idata(self, tree: xr.DataTree) -> None:
        self.__dict__["_idata"] = tree
        self.__dict__["_restore_pending"] = False

    @property
    def _tree(self) -> xr.DataTree:
        """The DataTree as held, without putting back a left-out ``log_likelihood``: for what
        reads the draws, the data or the attributes only."""
        return self.__dict__["_idata"]

    def restore_later(self) -> None:
        """Put the left-out ``log_likelihood`` groups back when ``idata`` is first used, not now:
        a loaded fit's summary, bands and allocation never read them (only LOO does)."""
        self.__dict__["_restore_pending"] = True

    @property
    def converged(self) -> bool:
        """True when the diagnostics gate passed (R-hat, ESS, divergences)."""
        return self.diagnostics.converged

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior draws, dims ``(chain, draw, ...)``."""
        return self._tree["posterior"].to_dataset()

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

        ArviZ's ``summary`` numbers (``ci_kind="eti"``: equal-tailed interval, quantiles
        (1 − prob)/2 and (1 + prob)/2; nothing rounded). ``df.attrs`` carries ``converged``, the
        diagnostics reason and ``prob``.

        Examples
        --------
        >>> fit.summary(prob=0.9)[["parameter", "median", "lower", "upper"]]  # doctest: +SKIP
        """
        prob = check.probability(prob, "prob")
        stored = self._tree.attrs.get(SUMMARY_ATTR)
        if stored is not None and json.loads(stored)["prob"] == prob:
            return self._table(json.loads(stored), prob)
        # ArviZ's summary numbers, computed without importing ArviZ (SciPy's stats, LOO: 0.7 s)
        labels, columns = posterior_table(self.posterior[self.parameters], prob)
        table = pd.DataFrame({"parameter": [label.split("[")[0] for label in labels], **columns})
        table = self._label_rows(table, labels)
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
        table = FitResult.summary(self, DEFAULT_PROB)  # the base table (a subclass adds to it)
        stored = {"prob": DEFAULT_PROB, "columns": list(table.columns)}
        stored["data"] = table.astype(object).to_numpy().tolist()
        # a loaded fit whose log-likelihood was left out is saved as it was read: still marked
        # as rebuilt, nothing to rebuild and compare again
        self._tree.attrs[SUMMARY_ATTR] = json.dumps(stored)
        return save_tree(self._tree, path)


def save_tree(tree: xr.DataTree, path: str | Path) -> Path:
    """Write a result's DataTree to NetCDF (``.nc``, via h5netcdf) or Zarr (``.zarr``), atomically.

    A NetCDF file is serialised in memory first (HDF5 never writes to the disk itself, so a full
    disk cannot crash it), then written by :func:`write_atomic`. A Zarr store is written to a
    temporary folder beside ``path`` and swapped in (the old store renamed aside, the new one
    renamed in, the old one removed). Either way a failed or interrupted save leaves a file that
    was at ``path`` as it was, and no temporary file behind.

    Floats and integers of 1,024 values or more are stored compressed (zlib level
    :data:`COMPLEVEL` with byte shuffling: lossless, the values read back are the same bits), and
    a pointwise log-likelihood that :data:`LOG_LIKELIHOOD_REBUILDERS` can recompute exactly from
    the posterior and the data is not stored at all (:func:`compact_tree`): a 240-run Chinchilla
    fit is 1.2 MB instead of 8.8 MB.

    Raises
    ------
    FitFileError
        When the file cannot be written (a missing folder, no permission, a full disk); nothing
        at ``path`` has changed then.
    """
    path = Path(path)
    tree = compact_tree(tree)
    encoding = _encoding(tree, zlib=path.suffix != ".zarr")  # Zarr compresses by default
    try:
        if path.suffix == ".zarr":
            swap_folder(path, lambda temp: tree.to_zarr(temp, mode="w-", encoding=encoding))
        else:
            write_atomic(path, netcdf_bytes(tree, encoding))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FitFileError(f"could not write {str(path)!r}: {reason}") from exc
    return path


def _no_distributed_lock():
    """A context in which xarray writes without a Dask lock. Inside a worker, or beside an active
    ``distributed.Client``, xarray asks the scheduler for a lock named after the file, and an
    in-memory file has no name the scheduler knows ("Semaphore or Lock not known"). The write
    is in memory and local, so dask's synchronous scheduler (a local lock) is right."""
    if "dask" not in sys.modules:  # xarray only asks dask when dask is loaded
        return contextlib.nullcontext()
    import dask  # already imported: free

    return dask.config.set(scheduler="synchronous")


def netcdf_bytes(tree: xr.DataTree | xr.Dataset, encoding: dict | None = None) -> bytes:
    """The NetCDF file as bytes, made in memory. xarray hands back a view of its ``BytesIO``: it
    is copied and released at once, because a view still held when that buffer is collected
    (say, by a traceback of a failed write) crashes the interpreter."""
    with _no_distributed_lock():
        view = tree.to_netcdf(None, engine="h5netcdf", encoding=encoding)
    try:
        return bytes(view)
    finally:
        view.release()


# --- what is stored -----------------------------------------------------------------------------

#: zlib level of stored arrays (4: most of level 9's saving at a fraction of its time).
COMPLEVEL = 4
#: Rebuilders of the ``log_likelihood`` group from the rest of a result's node, by format tag:
#: ``rebuild(node) -> Dataset``. A result registers one when its pointwise log density is a pure
#: function of its stored posterior and data (:func:`bayes_scaling.results.io.register_format`).
LOG_LIKELIHOOD_REBUILDERS: dict[str, Callable[[xr.DataTree], xr.Dataset]] = {}
#: Node attribute marking a log-likelihood left out by :func:`compact_tree`.
REBUILT_ATTR = "log_likelihood_rebuilt"


def compact_tree(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` without the ``log_likelihood`` groups that can be rebuilt bit for bit.

    For every node whose format tag has a rebuilder, the group is rebuilt from the node and
    compared with the stored one (values, dims, coordinates); only when they are equal is it left
    out, and the node marked with :data:`REBUILT_ATTR` (:func:`restore_tree` puts it back on
    load). Anything else is stored as it is.
    """
    nodes = tree.to_dict()
    changed = False
    for node in tree.subtree:
        rebuild = LOG_LIKELIHOOD_REBUILDERS.get(node.attrs.get("format"))
        if rebuild is None or "log_likelihood" not in node.children:
            continue
        stored = node["log_likelihood"].to_dataset()
        try:
            same = _same(rebuild(node), stored)
        except Exception:  # noqa: BLE001 (an old or unusual node is stored whole)
            same = False
        if same:
            base = "" if node.path == "/" else node.path
            del nodes[f"{base}/log_likelihood"]
            key = node.path
            nodes[key] = nodes[key].assign_attrs({REBUILT_ATTR: 1})
            changed = True
    return xr.DataTree.from_dict(nodes) if changed else tree


def restore_tree(tree: xr.DataTree) -> xr.DataTree:
    """Put back the ``log_likelihood`` groups that :func:`compact_tree` left out.

    The rebuild is the same numpy function on the same float64 numbers, so on the machine that
    saved the file it gives the same bits; another CPU's vectorised ``log``/``exp`` may differ in
    the last bit (only LOO reads this group; the posterior itself is stored as it was drawn).
    """
    nodes = None
    for node in tree.subtree:
        if not node.attrs.get(REBUILT_ATTR):
            continue
        nodes = tree.to_dict() if nodes is None else nodes
        rebuild = LOG_LIKELIHOOD_REBUILDERS[node.attrs["format"]]
        base = "" if node.path == "/" else node.path
        nodes[f"{base}/log_likelihood"] = rebuild(node)
        own = nodes[node.path].copy()
        own.attrs = {k: v for k, v in node.attrs.items() if k != REBUILT_ATTR}
        nodes[node.path] = own
    return tree if nodes is None else xr.DataTree.from_dict(nodes)


def _same(a: xr.Dataset, b: xr.Dataset) -> bool:
    return (
        set(a.data_vars) == set(b.data_vars)
        and all(a[k].dtype == b[k].dtype for k in a.data_vars)
        and a.equals(b)
    )


def _encoding(tree: xr.DataTree, zlib: bool) -> dict:
    """Per node and variable: zlib-compressed (``zlib`` and numbers of 1,024 values or more) or
    the engine's default; explicit for every variable, so that a loaded tree's read-time encoding
    is not carried over."""
    encoding = {}
    for node in tree.subtree:
        per_var = {}
        for name, var in node.dataset.data_vars.items():
            if zlib and var.dtype.kind in "fiu" and var.size >= 1024:
                per_var[name] = {"zlib": True, "complevel": COMPLEVEL, "shuffle": True}
            else:
                per_var[name] = {}
        if per_var:
            encoding[node.path] = per_var
    return encoding


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
