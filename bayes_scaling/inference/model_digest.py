"""A digest of a PyMC model that names its compiled form: equal digests, same compiled callbacks.

The key of :mod:`bayes_scaling.inference.compile_cache`'s disk entries. The digest covers the log
density before rewrites (every Op by class and props, as PyTensor's own equality does;
constants by value; inputs by name and type), the value variables, the deterministics nutpie
writes, every shape, ``check_bounds`` and the PyTensor settings that change the code. Shared
variables (``pm.Data``) enter by name and type only: their values are data, swapped at sampling
time. Anything it cannot digest safely raises :class:`Uncacheable`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from types import BuiltinFunctionType, FunctionType

import numpy as np
from nutpie import compile_pymc as _nutpie
from pytensor.compile.builders import SymbolicOp
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.configdefaults import config as pytensor_config
from pytensor.graph.basic import Constant
from pytensor.graph.traversal import toposort
from pytensor.scalar.basic import ScalarOp


class Uncacheable(Exception):
    """The model holds something :func:`fingerprint` cannot digest safely."""


def digest(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def _token(obj, depth: int = 0):
    """A printable token that equals another's only when the objects are interchangeable in a
    graph (PyTensor's own notion: an Op is its class and ``__props__``)."""
    if depth > 20:
        raise Uncacheable("nested too deeply")
    if obj is None or isinstance(obj, bool | int | float | complex | str | bytes):
        return (type(obj).__name__, repr(obj))
    if obj is Ellipsis:
        return ("Ellipsis",)
    if isinstance(obj, slice):
        return ("slice", _token((obj.start, obj.stop, obj.step), depth + 1))
    if isinstance(obj, tuple | list):
        return (type(obj).__name__, tuple(_token(o, depth + 1) for o in obj))
    if isinstance(obj, Mapping):
        return ("dict", tuple(sorted((repr(k), _token(v, depth + 1)) for k, v in obj.items())))
    if isinstance(obj, frozenset | set):
        return ("set", tuple(sorted(repr(_token(o, depth + 1)) for o in obj)))
    if isinstance(obj, np.ndarray):
        data = np.ascontiguousarray(obj)
        if data.dtype.hasobject:
            raise Uncacheable("object array")
        return ("ndarray", data.dtype.str, data.shape, digest(data.tobytes()))
    if isinstance(obj, np.generic):
        return ("npscalar", obj.dtype.str, obj.tobytes().hex())
    if isinstance(obj, np.dtype):
        return ("dtype", obj.str)
    if isinstance(obj, type):
        return ("class", obj.__module__, obj.__qualname__)
    cls = type(obj)
    props = getattr(cls, "__props__", None)
    if isinstance(obj, SymbolicOp):  # logsumexp, logaddexp...: the inner graph is built from
        extra = dict(getattr(obj, "_init_kwargs", {}))  # the class, props and input types
        if set(extra) - {"inline", "strict"}:
            raise Uncacheable(f"{cls.__qualname__} built with {sorted(extra)}")
        return (
            cls.__module__,
            cls.__qualname__,
            tuple((p, _token(getattr(obj, p), depth + 1)) for p in props or ()),
            _token(extra, depth + 1),
            _token(list(getattr(obj, "input_types", ())), depth + 1),
        )
    if any(hasattr(obj, a) for a in ("fgraph", "inner_outputs", "_fn")):
        raise Uncacheable(f"{cls.__qualname__} has an inner graph")  # Composite, Scan, OFG
    if isinstance(props, tuple):
        return (
            cls.__module__,
            cls.__qualname__,
            tuple((p, _token(getattr(obj, p), depth + 1)) for p in props),
        )
    if isinstance(obj, ScalarOp):  # equal when of one class and output type rule
        rule = getattr(obj, "output_types_preference", None)
        return (cls.__module__, cls.__qualname__, _token(rule, depth + 1))
    if isinstance(obj, FunctionType | BuiltinFunctionType):
        name = getattr(obj, "__qualname__", "")
        if "<" not in name:  # module-level: named by the versioned package it comes from
            return ("function", obj.__module__, name)
    raise Uncacheable(f"cannot digest a {type(obj).__module__}.{type(obj).__qualname__}")


def graph_digest(outputs) -> tuple[str, dict[str, SharedVariable]]:
    """Digest of the graph of ``outputs``: every node's Op (class and props), its inputs by
    position in topological order, root inputs by name and type, constants by value. Shared
    variables enter by name and type only (their values are data, swapped at sampling time);
    returns them by name too. Raises :class:`Uncacheable` for unnamed or duplicated shared
    variables and for Ops it cannot digest."""
    hasher = hashlib.sha256()
    index: dict = {}
    shared: dict[str, SharedVariable] = {}

    def ref(var):
        if var not in index:
            if var.owner is not None:
                raise Uncacheable("graph is not in topological order")
            if isinstance(var, Constant):
                tok = ("constant", _token(var.type), _token(var.data))
            elif isinstance(var, SharedVariable):
                if not var.name or shared.get(var.name, var) is not var:
                    raise Uncacheable(f"shared variable {var.name!r} is unnamed or not unique")
                shared[var.name] = var
                tok = ("shared", var.name, _token(var.type))
            else:
                tok = ("input", var.name, _token(var.type))
            hasher.update(repr(tok).encode())
            index[var] = len(index)
        return index[var]

    for node in toposort(outputs):
        inputs = [ref(v) for v in node.inputs]
        hasher.update(
            repr((_token(node.op), inputs, [_token(o.type) for o in node.outputs])).encode()
        )
        for out in node.outputs:
            index[out] = len(index)
    hasher.update(repr(("outputs", [ref(o) for o in outputs])).encode())
    return hasher.hexdigest(), shared


def _shapes(model, initial_point) -> dict:
    """Every traced variable's shape (nutpie's ``_compute_shapes``, reusing the start point)."""
    import pytensor
    from pytensor.tensor import as_tensor

    point = initial_point(0)
    exclude = model.observed_RVs + model.potentials
    trace_vars = {
        var.name: var
        for var in model.value_vars + model.free_RVs + model.deterministics
        if var not in exclude
    }
    shape_func = pytensor.function(
        inputs=[],
        outputs=[as_tensor(var.shape) for var in trace_vars.values()],
        givens=[(obs, model.rvs_to_values[obs]) for obs in model.observed_RVs]
        + [(trace_vars[name], point[name]) for name in trace_vars if name in point],
        mode="FAST_COMPILE",
        on_unused_input="ignore",
    )
    return dict(zip(trace_vars, shape_func(), strict=True))


def fingerprint(model, initial_point=None) -> tuple[str, dict[str, SharedVariable]]:
    """The model's identity for the disk cache, and its shared variables by name.

    The digest covers what nutpie compiles: the log density before rewrites (priors,
    transforms and their Jacobians, likelihood), the value variables in order, the
    deterministics it writes, every variable's shape, ``check_bounds`` and the PyTensor settings
    that change the compiled code. Two models with equal fingerprints compile to the same
    callbacks; only their shared data differ. ``initial_point`` is PyMC's start-point function
    (made when not given).
    """
    if initial_point is None:
        initial_point = pymc_initial_point(model)
    shapes = {k: tuple(int(n) for n in v) for k, v in _shapes(model, initial_point).items()}
    values = [model.rvs_to_values[rv] for rv in model.free_RVs]
    names = {v.name for v in values}
    remaining = [v for v in model.unobserved_value_vars if v.name not in names]
    graph, shared = graph_digest([model.logp(), *values, *remaining])
    settings = {
        "graph": graph,
        "values": [v.name for v in values],
        "remaining": [v.name for v in remaining],
        "shapes": sorted(shapes.items()),
        "check_bounds": bool(model.check_bounds),
        "floatX": pytensor_config.floatX,
        "fastmath": bool(pytensor_config.numba__fastmath),
    }
    return digest(json.dumps(settings, sort_keys=True, default=str)), shared


def pymc_initial_point(model):
    """PyMC's start-point function as nutpie's ``compile_pymc_model`` makes it by default."""
    from pymc.initial_point import make_initial_point_fn

    fn = make_initial_point_fn(
        model=model,
        overrides=None,
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    )
    return _nutpie._wrap_with_lock(fn)
