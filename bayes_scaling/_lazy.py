"""Attributes of a package imported on first use (PEP 562), so that ``import bayes_scaling``
and the answers from a saved fit never import PyMC, PyTensor, nutpie or numba.

>>> names = {"fit": "bayes_scaling.inference.sampling"}
>>> __getattr__, __dir__ = lazy(__name__, names)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import sys


def lazy(package: str, names: dict[str, str]):
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps an attribute to the module that
    defines it; the module is imported, and the attribute kept in the package, on first access."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
