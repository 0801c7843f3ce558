"""A capability's files load before the capability is imported: the package root defers its
format (``bayes_scaling.results.io.defer_format``) and reading such a file imports it."""

from __future__ import annotations

import sys

import xarray as xr

from bayes_scaling.results import io
from bayes_scaling.results.base import save_tree

PLUGIN = """
from bayes_scaling.results.io import register_format
register_format("test.deferred/1", lambda tree: ("read", tree.attrs["format"]))
"""


def test_a_deferred_format_imports_its_package_when_read(tmp_path, monkeypatch):
    (tmp_path / "deferred_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(io, "FORMATS", dict(io.FORMATS))
    monkeypatch.setattr(io, "DEFERRED_FORMATS", {})
    tree = xr.DataTree(xr.Dataset({"x": ("i", [1.0, 2.0])}))
    tree.attrs["format"] = "test.deferred/1"
    path = save_tree(tree, tmp_path / "plugin.nc")
    io.defer_format("test.deferred", "deferred_plugin")
    assert "deferred_plugin" not in sys.modules
    assert io.load(path) == ("read", "test.deferred/1")
    assert "deferred_plugin" in sys.modules
    sys.modules.pop("deferred_plugin")
