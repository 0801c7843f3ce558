"""bayes_scaling: Bayesian neural scaling laws with checked posteriors and honest loss bands.

The package is laid out by stage, each importing only from the stages below it::

    data → priors → laws → model → results → inference → answers → trust → plots → report → cli

(``errors``, ``_validate``, ``_constants`` and ``_format`` are shared by all.) The public API:

>>> import bayes_scaling as bs
>>> runs = bs.datasets.demo()                       # doctest: +SKIP
>>> result = bs.fit(runs, law="chinchilla", seed=1)  # doctest: +SKIP
>>> result.summary()                                 # doctest: +SKIP
>>> result.bands(compute=[1e22, 1e23])               # doctest: +SKIP
"""

# Every stage that attaches methods to the results.
import sys as _sys
import types as _types

from bayes_scaling import answers, laws, report  # noqa: F401
from bayes_scaling._lazy import lazy, xarray_without_dask
from bayes_scaling.cli.registry import defer
from bayes_scaling.data import datasets, load_runs
from bayes_scaling.errors import (
    ArgumentError,
    BayesScalingError,
    ConvergenceWarning,
    FitFileError,
    LawError,
    PriorError,
    RunsError,
    RunsWarning,
)
from bayes_scaling.laws import Law, get_law, register_law
from bayes_scaling.priors import Prior
from bayes_scaling.results import FitResult, GroupedFit, ScalingFit, load
from bayes_scaling.results.io import defer_format

# The capabilities are imported on first use: by name (``bs.passk``, ``bs.PassKFit``,
# ``bs.design``, ...), by their CLI command, or by loading one of their files. A command of the
# core and an answer from a saved scaling-law fit then never import them (0.1 s).
for _capability in ("design", "downstream", "passk"):
    defer(_capability, f"bayes_scaling.{_capability}")
for _capability in ("downstream", "passk"):
    defer_format(f"bayes_scaling.{_capability}", f"bayes_scaling.{_capability}")
del _capability


class _Package(_types.ModuleType):
    """This package's module: ``bs.design`` stays the function (from the lazy table below) when
    the package of the same name is first imported (say, by the ``design`` command or
    ``from bayes_scaling.design import selection``), which would bind the package in its place."""

    def __setattr__(self, name, value):
        if name == "design" and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

# What samples is imported on first use: loading a saved fit and answering from it never imports
# PyMC, PyTensor, nutpie or numba.
__getattr__, __dir__ = lazy(
    __name__,
    {
        "FitTask": "bayes_scaling.inference.batch",
        "fit_many": "bayes_scaling.inference.batch",
        "fit_groups": "bayes_scaling.inference.grouped",
        "fit": "bayes_scaling.inference.sampling",
        "downstream": "bayes_scaling.downstream",
        "passk": "bayes_scaling.passk",
        "DownstreamFit": "bayes_scaling.downstream",
        "PassKFit": "bayes_scaling.passk",
        "fit_downstream": "bayes_scaling.downstream.fit",
        "fit_passk": "bayes_scaling.passk.fit",
        "design": "bayes_scaling.design.selection",  # the function; the package: _Package
        "prior_predictive": "bayes_scaling.model.predictive",
    },
)

# xarray imports dask (1.2 s with dask.array and distributed) only once a dask object exists; no
# import above makes an xarray object (tests/test_imports.py checks that no command imports dask).
xarray_without_dask()

__all__ = [
    "ArgumentError",
    "BayesScalingError",
    "ConvergenceWarning",
    "DownstreamFit",
    "FitFileError",
    "FitResult",
    "FitTask",
    "GroupedFit",
    "Law",
    "LawError",
    "PassKFit",
    "Prior",
    "PriorError",
    "RunsError",
    "RunsWarning",
    "ScalingFit",
    "datasets",
    "design",
    "fit",
    "fit_downstream",
    "fit_groups",
    "fit_many",
    "fit_passk",
    "get_law",
    "laws",
    "load",
    "load_runs",
    "prior_predictive",
    "register_law",
]
