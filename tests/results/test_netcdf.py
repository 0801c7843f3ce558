"""The quick NetCDF reader gives exactly the tree xarray gives (plumbing: no inference claimed), it
hands anything it does not decode back to xarray, and a loaded fit rebuilds its log-likelihood
only when something reads it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayes_scaling as bs
from bayes_scaling.results import io
from bayes_scaling.results.base import REBUILT_ATTR, save_tree
from bayes_scaling.results.netcdf import read_netcdf


def xarray_tree(path) -> xr.DataTree:
    """What ``read_tree`` read before the quick reader: xarray, no masking, no ``_FillValue``."""
    tree = xr.open_datatree(path, engine="h5netcdf", mask_and_scale=False).load()
    for node in tree.subtree:
        for var in node.variables.values():
            var.attrs.pop("_FillValue", None)
    return tree


def assert_same_tree(fast: xr.DataTree, slow: xr.DataTree) -> None:
    """Identical, and the same order of groups and variables, dtypes and attribute types."""
    assert fast.identical(slow)
    assert [n.path for n in fast.subtree] == [n.path for n in slow.subtree]
    for a, b in zip(fast.subtree, slow.subtree, strict=True):
        assert list(a.dataset.variables) == list(b.dataset.variables), a.path
        assert list(a.dataset.data_vars) == list(b.dataset.data_vars), a.path
        assert list(a.attrs) == list(b.attrs), a.path
        assert [type(v) for v in a.attrs.values()] == [type(v) for v in b.attrs.values()]
        for name, var in a.dataset.variables.items():
            other = b.dataset.variables[name]
            assert var.dtype == other.dtype, (a.path, name)
            assert var.dims == other.dims, (a.path, name)
            assert [type(v) for v in var.attrs.values()] == [type(v) for v in other.attrs.values()]


def varied_tree() -> xr.DataTree:
    """Every kind of content a result of ours writes: floats, ints, bools, strings (as data and
    as a dimension), a dimension without coordinates, a non-dimension coordinate, scalars, a
    nested group, attributes of every type."""
    rng = np.random.default_rng(0)
    posterior = xr.Dataset(
        {
            "alpha": (("chain", "draw"), rng.normal(size=(2, 600))),
            "theta": (("chain", "draw", "k"), rng.normal(size=(2, 600, 3))),
            "flag": (("chain", "draw"), rng.random((2, 600)) > 0.5),
            "count": (("chain", "draw"), rng.integers(0, 9, (2, 600)).astype(np.uint64)),
            "scalar": ((), 1.5),
        },
        coords={"chain": [0, 1], "draw": np.arange(600), "label": ("k", ["a", "bb", "ccc"])},
        attrs={"note": "draws", "ints": [1, 2], "floats": [0.5], "names": ["x", "y"]},
    )
    runs = xr.Dataset(
        {
            "loss": ("run", [2.1, 2.0, 1.9]),
            "group": ("run", ["small", "mid", "large"]),
            "missing": ("run", [1.0, np.nan, 3.0]),
        },
        coords={"run": ["r0", "r1", "r2"]},
    )
    nested = xr.Dataset({"w": (("i", "j"), rng.random((4, 5)))}, attrs={"kind": "inner"})
    return xr.DataTree.from_dict(
        {
            "/": xr.Dataset(attrs={"format": "test.varied/1", "converged": 1, "json": "{}"}),
            "posterior": posterior,
            "runs": runs,
            "outer/inner": nested,
        }
    )


def test_the_quick_reader_gives_the_tree_xarray_gives(tmp_path):
    path = save_tree(varied_tree(), tmp_path / "varied.nc")
    fast = read_netcdf(path)
    assert fast is not None
    assert_same_tree(fast, xarray_tree(path))


@pytest.mark.parametrize(
    "odd",
    [
        {"when": ("t", pd.date_range("2020-01-01", periods=3).to_numpy())},  # time units
        {"chars": ("t", np.array([b"ab", b"cd", b"ef"]))},  # fixed-length bytes
    ],
    ids=["times", "fixed-length"],
)
def test_what_the_quick_reader_does_not_decode_goes_to_xarray(tmp_path, odd):
    tree = xr.DataTree(xr.Dataset(odd, attrs={"format": bs.ScalingFit.FORMAT}))
    path = tmp_path / "odd.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    assert read_netcdf(path) is None
    assert io.read_tree(path).identical(xarray_tree(path))


def test_a_saved_fit_reads_back_as_xarray_reads_it(small_fit, small_grouped, tmp_path):
    for name, fit in {"single": small_fit, "grouped": small_grouped}.items():
        path = fit.save(tmp_path / f"{name}.nc")
        assert read_netcdf(path) is not None  # read by the quick reader, not handed back
        assert_same_tree(io.read_tree(path, restore=False), xarray_tree(path))
        assert_same_tree(io.read_tree(path), bs.load(path).idata)


def test_the_log_likelihood_is_rebuilt_on_first_use(small_fit, tmp_path):
    path = small_fit.save(tmp_path / "fit.nc")
    loaded = bs.load(path)
    assert "log_likelihood" not in loaded._tree.children  # left out on disk, not rebuilt yet
    loaded.summary()
    loaded.bands(compute=[1e22])
    assert "log_likelihood" not in loaded._tree.children
    tree = loaded.idata
    assert "log_likelihood" in tree.children and REBUILT_ATTR not in tree.attrs
    assert (
        tree["log_likelihood"].to_dataset().equals(small_fit.idata["log_likelihood"].to_dataset())
    )
    again = loaded.save(tmp_path / "again.nc")  # a loaded fit saves as it was read
    assert bs.load(again).idata.identical(tree)


def test_capability_files_read_back_as_xarray_reads_them(passk_fit, downstream_fit, tmp_path):
    for name, fit in {"passk": passk_fit, "downstream": downstream_fit}.items():
        path = fit.save(tmp_path / f"{name}.nc")
        assert read_netcdf(path) is not None  # read by the quick reader, not handed back
        assert_same_tree(io.read_tree(path, restore=False), xarray_tree(path))
        assert type(bs.load(path)) is type(fit)


def test_pandas_own_column_types_in_the_runs_are_saved(small_fit, tmp_path):
    # a categorical, string, nullable-integer or nullable-boolean column in the runs table once
    # made the save fail with a TypeError after a whole fit
    from bayes_scaling.results.scaling import ScalingFit, make_datatree

    runs = small_fit.runs.copy()
    n = len(runs)
    runs["recipe"] = pd.Categorical(["a", "b"] * (n // 2) + ["a"] * (n % 2))
    runs["note"] = pd.array(["x", None] * (n // 2) + ["x"] * (n % 2), dtype="string")
    runs["seed"] = pd.array([1, None] * (n // 2) + [1] * (n % 2), dtype="Int64")
    tree = small_fit.idata
    made = make_datatree(
        tree["posterior"].to_dataset(), tree["sample_stats"].to_dataset(),
        tree["log_likelihood"]["log_loss"].variable, runs, small_fit.law, small_fit.priors,
        small_fit.diagnostics, small_fit.settings, small_fit.discrepancy,
    )  # fmt: skip
    fit = ScalingFit(made, small_fit.law, small_fit.priors, small_fit.diagnostics, runs,
                     small_fit.settings)  # fmt: skip
    back = bs.load(fit.save(tmp_path / "typed.nc")).runs
    assert list(back["recipe"][:2]) == ["a", "b"] and back["note"][0] == "x"
    np.testing.assert_array_equal(back["seed"][:2], [1.0, np.nan])
    np.testing.assert_allclose(back["loss"], small_fit.runs["loss"])
