r"""The generated, cacheable C callbacks of a nutpie model (used by
:mod:`bayes_scaling.inference.compile_cache`).

nutpie compiles a PyMC model into two numba C callbacks around PyTensor's numba functions:

* ``nutpie_logp(dim, x, grad, logp, user_data)``: the log density
  :math:`\log p(x)` and its gradient :math:`\nabla_x \log p(x)` at the unconstrained point
  :math:`x \in \mathbb{R}^{\text{dim}}`;
* ``nutpie_expand(dim, expanded, x, out, user_data)``: every variable nutpie writes to the
  trace (free variables on their own scale and the deterministics) at :math:`x`.

nutpie builds them as closures over the model's shared data ("dynamic globals"), which numba
cannot cache. Here they are generated as plain source (:func:`_sources`, the same text for the
same structure in every process) whose only inputs are the C arguments: each shared array's data
pointer and shape are read from nutpie's own ``user_data`` record (:func:`_layout`), passed at
every call. numba can then write the machine code, PyTensor's inner functions linked in, to an
entry directory (:class:`_DiskCache`, numba's own cache machinery pointed at one directory) and
load it in a later process (:func:`_cfunc`). :func:`_assemble` wraps the two callbacks into
nutpie's ``CompiledPyMCModel`` with the same fields as nutpie's own; :func:`_callbacks` generates,
then compiles or loads, both.

Where entries live, their key, checksums and atomic writes are
:mod:`bayes_scaling.inference.compile_cache`'s; the ``stamp`` passed here is its versions
record, so numba also refuses an entry written under other versions.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import numba
import numpy as np
from numba.core import caching, sigutils
from numba.core.ccallback import CFunc
from numba.core.compiler_lock import global_compiler_lock
from numba.extending import intrinsic
from nutpie import compile_pymc as _nutpie

from bayes_scaling.inference.model_digest import digest

_LOGP_SIG = numba.types.int64(
    numba.types.uint64,
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.voidptr,
)
_EXPAND_SIG = numba.types.int64(
    numba.types.uint64,
    numba.types.uint64,
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.voidptr,
)


@intrinsic
def _as_pointer(typingctx, address):
    """A void pointer from an integer address."""
    from numba.core import cgutils, types

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


def _layout(user_data: np.ndarray, keys: list[str]) -> dict[str, tuple[int, list[int]]]:
    """Word offsets (uint64) of each shared array's data pointer and shape in ``user_data``."""
    shared = user_data.dtype.fields["shared"]
    base = shared[1]
    fields = shared[0].fields
    data, shape = fields["data"], fields["shape"]
    out = {}
    for key in keys:
        ptr = (base + data[1] + data[0].fields[key][1]) // 8
        sub = shape[0].fields[key]
        first = (base + shape[1] + sub[1]) // 8
        out[key] = (ptr, [first + i for i in range(sub[0].itemsize // 8)])
    return out


def _unpack(args: list[str], layout, shared_data) -> list[str]:
    lines = []
    for name, key in zip(args, layout, strict=True):
        ptr, dims = layout[key]
        shape = "".join(f"np.intp(words[{w}]), " for w in dims)
        dtype = np.dtype(shared_data[key].dtype).name
        lines.append(f"{name} = carray(as_pointer(words[{ptr}]), ({shape}), np.{dtype})")
    return lines


def _sources(n_dim, n_expanded, user_data, logp_keys, expand_keys, shared_data):
    """Source of the two callbacks (same text for the same structure in every process)."""
    words = user_data.dtype.itemsize // 8
    lay_logp = {k: _layout(user_data, [k])[k] for k in logp_keys}
    lay_expand = {k: _layout(user_data, [k])[k] for k in expand_keys}
    args_logp = [f"s{i}" for i in range(len(logp_keys))]
    args_expand = [f"s{i}" for i in range(len(expand_keys))]
    ind = "\n        "
    logp = f"""
def nutpie_logp(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    try:
        words = carray(user_data_, ({words},), np.uint64)
        x = carray(x_, ({n_dim},))
        out = carray(out_, ({n_dim},))
        logp = carray(logp_, ())
        {ind.join(_unpack(args_logp, lay_logp, shared_data)) or "pass"}
        value, grad = inner({", ".join(["x", *args_logp])})
        logp[()] = value
        finite = True
        for i in range({n_dim}):
            g = grad[i]
            out[i] = g
            if not np.isfinite(g):
                finite = False
        if not finite:
            return 3
        if not np.isfinite(logp[()]):
            return 4
    except Exception:  # noqa: BLE001
        return 1
    return 0
"""
    expand = f"""
def nutpie_expand(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    try:
        words = carray(user_data_, ({words},), np.uint64)
        x = carray(x_, ({n_dim},))
        out = carray(out_, ({n_expanded},))
        {ind.join(_unpack(args_expand, lay_expand, shared_data)) or "pass"}
        (values,) = inner({", ".join(["x", *args_expand])})
        for i in range({n_expanded}):
            out[i] = values[i]
    except Exception:  # noqa: BLE001
        return -2
    return 0
"""
    return logp, expand


def _function(source: str, name: str, inner):
    """The Python function of ``source`` (its only free names are below)."""
    env = {"__name__": __name__, "np": np, "carray": numba.carray, "as_pointer": _as_pointer}
    env["inner"] = inner
    exec(compile(source, f"bayes_scaling_{name}", "exec"), env)  # noqa: S102 (our own text)
    return env[name]


# Numba's cache machinery, pointed at one entry directory.
_PLACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Locator(caching._CacheLocator):
    def __init__(self, path: Path, stamp: str, name: str):
        self._path, self._stamp, self._name = str(path), stamp, name
        self._py_file = name  # numba's warnings read it

    def ensure_cache_path(self):
        os.makedirs(self._path, exist_ok=True)

    def get_cache_path(self):
        return self._path

    def get_source_stamp(self):
        return self._stamp

    def get_disambiguator(self):
        return self._name

    @classmethod
    def from_function(cls, py_func, py_file):
        return _PLACES.get(py_func)


class _Impl(caching.CompileResultCacheImpl):
    _locator_classes = [_Locator]


class _DiskCache(caching.FunctionCache):
    _impl_class = _Impl


def _disk_cache(pyfunc, path: Path, name: str, stamp: str) -> _DiskCache:
    """numba's cache of ``pyfunc`` in ``path``; ``stamp`` must match for an entry to load."""
    _PLACES[pyfunc] = _Locator(path, stamp, name)
    return _DiskCache(pyfunc)


def _cfunc(
    pyfunc, signature, *, load_from: Path | None = None, name: str = "", stamp: str = ""
) -> tuple:
    """``(CFunc, compile result)``: loaded from the entry at ``load_from`` (raises when absent
    or written under another ``stamp``) or compiled."""
    func = CFunc(pyfunc, sigutils.normalize_signature(signature), locals={}, options={})
    with global_compiler_lock:
        if load_from is not None:
            # (numba refreshes its target context first, ~0.5 s of imports: skipping it leaves
            # the NRT symbols unresolved and LLVM aborts the process)
            cres = _disk_cache(pyfunc, load_from, name, stamp).load_overload(
                func._sig, func._targetdescr.target_context
            )
            if cres is None:
                raise FileNotFoundError(f"no cached {name} in {load_from}")
        else:
            cres = func._compile_uncached()
        func._library = cres.library
        func._wrapper_name = cres.fndesc.llvm_cfunc_wrapper_name
        func._wrapper_address = cres.library.get_pointer_to_function(func._wrapper_name)
    return func, cres


# ---------------------------------------------------------------------------------------------
# nutpie's compiled model around the two callbacks


def _assemble(
    model, meta, shared_vars, initial_point, logp_cf, expand_cf, logp_pt=None, expand_pt=None
):
    """nutpie's compiled model around our two callbacks (same fields as nutpie's own)."""
    names, slices, shapes = meta["shape_info"]
    slices = [slice(a, b) for a, b in slices]
    shapes = [tuple(s) for s in shapes]
    shape_info = (names, slices, shapes)
    n_free = len(model.free_RVs)
    keys = {shared_vars[n]: f"s{i}" for i, n in enumerate(meta["shared"])}
    data = {}
    for var, key in keys.items():
        data[key] = np.array(var.get_value(), order="C", copy=True)
        data[key].flags.writeable = False
    user_data = _nutpie.make_user_data(keys, data)
    dims, coords = _nutpie._prepare_dims_and_coords(
        model, shape_info, meta["reparameterized_names"]
    )
    return _nutpie.CompiledPyMCModel(
        _n_dim=meta["n_dim"],
        dims=dims,
        _coords=coords,
        _shapes={n: tuple(s) for n, s in zip(names, shapes, strict=True)},
        compiled_logp_func=logp_cf,
        compiled_expand_func=expand_cf,
        initial_point_func=_nutpie._rv_dict_to_flat_array_wrapper(
            initial_point, names=names[:n_free], shapes=shapes[:n_free]
        ),
        shared_data=data,
        shared_var_keys=keys,
        user_data=user_data,
        n_expanded=meta["n_expanded"],
        shape_info=shape_info,
        logp_func=logp_pt,
        expand_func=expand_pt,
        reparameterized_names=meta["reparameterized_names"],
    )


def _callbacks(meta, shared_vars, inner_logp=None, inner_expand=None, load_from=None, stamp=""):
    """Generate, then load (``load_from``, written under ``stamp``) or compile, the two
    callbacks."""
    keys = [f"s{i}" for i in range(len(meta["shared"]))]
    data = {
        k: np.asarray(shared_vars[n].get_value()) for k, n in zip(keys, meta["shared"], strict=True)
    }
    by_name = dict(zip(meta["shared"], keys, strict=True))

    class _Var:  # make_user_data reads only .ndim
        def __init__(self, ndim):
            self.ndim = ndim

    user_data = _nutpie.make_user_data({_Var(data[k].ndim): k for k in keys}, data)
    logp_src, expand_src = _sources(
        meta["n_dim"],
        meta["n_expanded"],
        user_data,
        [by_name[n] for n in meta["logp_shared"]],
        [by_name[n] for n in meta["expand_shared"]],
        data,
    )
    out = []
    for source, name, inner, signature in (
        (logp_src, "nutpie_logp", inner_logp, _LOGP_SIG),
        (expand_src, "nutpie_expand", inner_expand, _EXPAND_SIG),
    ):
        pyfunc = _function(source, name, inner)
        label = f"{name}-{digest(source)[:16]}"
        func, cres = _cfunc(pyfunc, signature, load_from=load_from, name=label, stamp=stamp)
        out.append((func, cres, pyfunc, label))
    return out
