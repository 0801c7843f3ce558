"""Imports paid only when used.

- :func:`lazy`: attributes of a package imported on first use (PEP 562), so that ``import
  bayes_scaling`` and the answers from a saved fit never import PyMC, PyTensor, nutpie or numba;
- :func:`defer_import`: a module that another library imports at module level but this package
  never needs (ArviZ, imported by nutpie) becomes a placeholder until first used;
- :func:`xarray_without_dask`: xarray stops importing dask and dask.distributed to ask whether
  an object is a dask array while no dask is imported;
- :func:`scipy_function`: a SciPy function imported on its first call.

>>> names = {"fit": "bayes_scaling.inference.sampling"}
>>> __getattr__, __dir__ = lazy(__name__, names)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def lazy(package: str, names: dict[str, str]):
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps an attribute to the module that
    defines it (or, for a subpackage, to the subpackage itself); the module is imported, and the
    attribute kept in the package, on first access."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(names[name])
        value = module if names[name] == f"{package}.{name}" else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__


#: Attributes that tools scanning every module ask for (``inspect.getmodule``, ``unittest.mock``);
#: they never import a deferred module.
_INTROSPECTION = frozenset({"__wrapped__", "__cached__", "__builtins__", "__signature__"})


class _Deferred(types.ModuleType):
    """A module imported on its first attribute access (a module-level ``import`` of it is free)."""

    def __getattr__(self, attr: str):
        if attr in _INTROSPECTION:  # scanners of sys.modules (inspect.getmodule) import nothing
            raise AttributeError(attr)
        real = sys.modules.get(self.__name__)
        if real is self or real is None:
            sys.modules.pop(self.__name__, None)
            real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)  # later lookups through this object are plain
        return getattr(real, attr)


def defer_import(name: str) -> None:
    """Register ``name`` as a :class:`_Deferred` module unless it is imported (or absent): a
    later ``import name`` costs nothing, the first use of one of its attributes imports it.

    Used for ArviZ, which nutpie imports at module level only to convert draws (which the
    inference stage does itself): see :mod:`bayes_scaling.inference`."""
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    placeholder = _Deferred(name)
    placeholder.__spec__ = spec = importlib.util.find_spec(name)
    placeholder.__file__, placeholder.__loader__ = spec.origin, spec.loader
    sys.modules[name] = placeholder


class _DaskIfImported:
    """xarray's record of the ``dask`` duck-array module, answering without importing dask:
    before ``dask.array`` is imported no object can be a dask array, so the type is ``()``;
    after, it is ``(dask.array.Array,)`` as xarray's own record says."""

    @property
    def module(self):
        return sys.modules.get("dask")

    @property
    def available(self) -> bool:
        return self.module is not None

    @property
    def type(self) -> tuple:
        array = getattr(sys.modules.get("dask.array"), "Array", None)
        return () if array is None else (array,)

    @property
    def version(self):
        from packaging.version import Version  # what xarray's own record holds

        return Version(getattr(self.module, "__version__", "0.0.0"))


def xarray_without_dask() -> None:
    """Stop xarray from importing dask (and dask.distributed) in a process that uses none.

    xarray asks "is this a dask array / collection, is a dask scheduler active?" when it makes
    any Variable, applies any ufunc and writes any file, and imports ``dask``, ``dask.array``
    and ``distributed`` to answer (1.2 s of a fit's or a saved fit's command, measured on the
    2-core machine: more than everything else they import). The answer is "no" for certain
    while dask is not imported, so each question is answered from ``sys.modules`` until it is;
    once dask is imported (``fit_many`` on a Dask client, a user's dask arrays) xarray's own
    answers apply unchanged. A no-op when xarray's internals differ from those known here.
    """
    try:
        from xarray.backends import locks, writers
        from xarray.namedarray import pycompat, utils
    except ImportError:  # pragma: no cover - another xarray layout
        return
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    if isinstance(cache, dict) and "dask" not in cache and "dask.array" not in sys.modules:
        cache["dask"] = _DaskIfImported()
    collection = getattr(utils, "is_dask_collection", None)
    if collection is not None and not getattr(collection, "_bayes_scaling", False):

        def is_dask_collection(x) -> bool:
            return "dask" in sys.modules and collection(x)

        is_dask_collection._bayes_scaling = True
        utils.is_dask_collection = is_dask_collection
    scheduler = getattr(writers, "get_dask_scheduler", None)
    if scheduler is not None and not getattr(scheduler, "_bayes_scaling", False):

        def get_dask_scheduler(get=None, collection=None):
            return scheduler(get, collection) if "dask" in sys.modules else None

        get_dask_scheduler._bayes_scaling = True
        writers.get_dask_scheduler = locks.get_dask_scheduler = get_dask_scheduler


def scipy_function(module: str, name: str):
    """``scipy.<module>.<name>``, imported on its first call.

    SciPy's ``special`` loads ``scipy.linalg`` (0.35 s on the 2-core machine) and ``optimize``
    more; a saved fit's summary, bands and allocation call neither, so the modules that use them
    now and then hold this stand-in instead of a module-level import.

    >>> logsumexp = scipy_function("special", "logsumexp")
    >>> float(logsumexp([0.0, 0.0]))  # doctest: +ELLIPSIS
    0.693...
    """
    found = []

    def call(*args, **kwargs):
        if not found:
            found.append(getattr(importlib.import_module(f"scipy.{module}"), name))
        return found[0](*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``scipy.{module}.{name}``, imported on first call."
    return call
