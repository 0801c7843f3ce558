"""Compiled nutpie models that survive the process: an on-disk cache of the two C callbacks.

nutpie compiles a PyMC model into two numba C callbacks (the log density with its gradient, and
the "expand" function that writes the draws) around PyTensor's numba functions. nutpie builds
them as closures that numba cannot cache ("dynamic globals"), so every new process paid about
5 s for them, and about 2 s more for PyTensor's graph rewrites. Here the callbacks are generated
as plain source whose only inputs are nutpie's own ``user_data`` record (the pointers and shapes
of the model's shared data, passed by nutpie at every call), so numba can write them to disk and
a later process loads them instead of compiling anything. The callbacks themselves (their
source, numba's cache pointed at one entry, nutpie's model around them) are
:mod:`bayes_scaling.inference.compile_wrappers`; this module decides where entries live, when one
is used, and how it is written:

* **key**: a digest of the model itself (:mod:`bayes_scaling.inference.model_digest`: the
  log-density graph before any rewrite, the value variables, the deterministics, every shape,
  ``check_bounds``), inside a directory named by the versions of this package, PyMC, PyTensor,
  nutpie, numba, llvmlite, NumPy and Python, and of the source of this module, of the callbacks'
  (:mod:`~bayes_scaling.inference.compile_wrappers`) and of the digest (:func:`versions`). An
  upgrade never reuses a stale entry. Data values are not in the key: they travel through
  ``user_data``.
* **hit**: only the digest (about 0.3 s) and the initial-point function are built; PyTensor's
  rewrites and numba's compiler do not run.
* **miss**: nutpie's own pipeline builds the PyTensor functions, our callbacks are compiled and
  the entry is written to a private temporary directory, then renamed into place (atomic: a
  reader sees a whole entry or none). One process compiles a model at a time: another that
  misses the same entry meanwhile (a Dask batch's workers, parallel tests, on a cold cache)
  waits for it and loads what it stored (:func:`bayes_scaling._disk.exclusive`).
* **safety**: every file's SHA-256 is in the entry's ``meta.json``; a missing, changed, truncated
  or unreadable entry is deleted and rebuilt. Any failure of the cache (unwritable or missing
  directory, corrupt entry, a graph it cannot digest) only costs the compile: the fit goes on
  through nutpie's stock compiler.

Numba's cache format is pickle (the machine code plus its description), and the checksums sit in
the same folder, so they only guard against accidents: what keeps others' code out is the folder.
An entry is read only from a cache folder that is the user's own and that no one else can write
(the folders we create are mode 0700; one that is another user's, writable by group or others, a
symbolic link, or under a folder others can write without the sticky bit is refused with a
:class:`~bayes_scaling.errors.CacheWarning` and the fit compiles without the cache), never
through a symbolic link, versioned as above, and after the checksums match;
``BAYES_SCALING_CACHE=off`` disables it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import stat
import sys
import tempfile
import uuid
import warnings
from functools import cache
from importlib import metadata
from pathlib import Path

import numba
from nutpie import compile_pymc as _nutpie

from bayes_scaling._disk import exclusive
from bayes_scaling.errors import CacheWarning
from bayes_scaling.inference import compile_wrappers, model_digest
from bayes_scaling.inference.compile_wrappers import _assemble, _callbacks, _disk_cache
from bayes_scaling.inference.model_digest import (
    Uncacheable,
    digest,
    fingerprint,
    pymc_initial_point,
)

#: Bump when the layout of an entry or of the generated callbacks changes.
FORMAT = 1
#: Packages whose versions name the cache directory.
VERSIONED = ("bayes_scaling", "pymc", "pytensor", "nutpie", "numba", "llvmlite", "numpy")
#: Environment variable: the cache root (``off``, ``0`` or empty: no disk cache).
ENV = "BAYES_SCALING_CACHE"
_OFF = {"", "0", "off", "false", "no", "none"}


# ---------------------------------------------------------------------------------------------
# Where: versions and directories


@cache
def versions() -> dict[str, str]:
    """Everything that makes a compiled entry stale: package versions, Python, the machine, the
    entry format and the sources of this module, of :mod:`compile_wrappers` and of the digest
    (the entries, the generated callbacks and the keys come from them)."""
    found = {}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    found["python"] = sys.version
    found["machine"] = f"{platform.system()}-{platform.machine()}"
    found["format"] = str(FORMAT)
    modules = (__file__, compile_wrappers.__file__, model_digest.__file__)
    sources = b"".join(Path(m).read_bytes() for m in modules)
    found["modules"] = hashlib.sha256(sources).hexdigest()[:16]
    return found


def versions_hash() -> str:
    return digest(json.dumps(versions(), sort_keys=True))[:20]


def cache_root() -> Path | None:
    """The cache root: ``$BAYES_SCALING_CACHE`` or the user's cache directory
    (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS,
    ``%LOCALAPPDATA%`` on Windows) plus ``bayes_scaling``. None when switched off."""
    env = os.environ.get(ENV)
    if env is not None:
        return None if env.strip().lower() in _OFF else Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "bayes_scaling"


def cache_dir() -> Path | None:
    """This installation's directory of compiled models, created on first use (every folder we
    create mode 0700), or None when there is none, it cannot be written, or it is not safe (then
    nothing is cached: slower, not broken).

    Safe means that no one else can put an entry there: the folders from the cache root down
    are ours, are not symbolic links and cannot be written by group or others, and every folder
    above the root is ours or root's and writable by others only with the sticky bit (as
    ``/tmp``). An entry holds machine code that a fit loads, so an unsafe folder is refused with
    a :class:`~bayes_scaling.errors.CacheWarning` (once per folder and reason) that says how to
    fix it.
    """
    root = cache_root()
    if root is None:
        return None
    path = root / "compiled" / versions_hash()
    try:
        _make_private(root.parent, root)
        problem = unsafe_reason(root, path)  # before anything is made inside
        if problem is None:
            _make_private(root, root / "compiled", path)
            problem = unsafe_reason(root, path)
        if problem is None:
            tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return None
    if problem is not None:
        _warn_once(root, problem)
        return None
    return path


def _make_private(parent: Path, *folders: Path) -> None:
    """Create ``parent`` (as ``mkdir -p`` would) and then each of ``folders`` with mode 0700."""
    parent.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        if not os.path.lexists(folder):
            try:
                folder.mkdir(mode=0o700)
            except FileExistsError:  # made by another process meanwhile
                pass


def unsafe_reason(root: Path, path: Path) -> str | None:
    """Why the cache folder ``path`` under ``root`` is not safe to load from, or None.

    See :func:`cache_dir`; the folders from ``root`` down are checked as far as they exist.
    Where the system has no user ids (Windows), always None.
    """
    if not hasattr(os, "getuid"):
        return None
    me = os.getuid()
    ours = [root, *[p for p in path.parents if root in p.parents], path]
    for folder in ours:
        if not os.path.lexists(folder):
            break
        info = os.lstat(folder)
        if stat.S_ISLNK(info.st_mode):
            return f"{str(folder)!r} is a symbolic link"
        if info.st_uid != me:
            return f"{str(folder)!r} belongs to another user (uid {info.st_uid})"
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"{str(folder)!r} can be written by other users (mode {info.st_mode & 0o777:o})"
    above = Path(os.path.realpath(root.parent))
    for folder in [above, *above.parents]:
        info = os.stat(folder)
        if info.st_uid not in (me, 0):
            return f"{str(folder)!r}, above the cache, belongs to another user (uid {info.st_uid})"
        sticky = info.st_mode & stat.S_ISVTX
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not sticky:
            return f"{str(folder)!r}, above the cache, can be written by other users"
    return None


_WARNED: set[tuple[str, str]] = set()


def _warn_once(root: Path, problem: str) -> None:
    if (str(root), problem) in _WARNED:
        return
    _WARNED.add((str(root), problem))
    warnings.warn(
        f"compiled-model cache not used: {problem}, so another user could plant code that a fit "
        f"would load; fits compile without it (slower, same draws). Fix: 'chmod 700' the "
        f"folder (and own it), or set {ENV} to a private folder ({ENV}=off to silence this)",
        CacheWarning,
        stacklevel=3,
    )


# ---------------------------------------------------------------------------------------------
# The compiled model: load, store, compile


def _stamp() -> str:
    """numba's source stamp of our entries: the versions record (an entry written under other
    versions never loads)."""
    return json.dumps(versions(), sort_keys=True)


def _files(path: Path) -> dict[str, str]:
    return {
        f.name: digest(f.read_bytes())
        for f in sorted(path.iterdir())
        if f.is_file() and f.name != "meta.json"
    }


def _load(model, entry: Path, key: str, shared_vars, initial_point):
    if entry.is_symlink() or any(f.is_symlink() or not f.is_file() for f in entry.iterdir()):
        raise ValueError("entry is or holds a symbolic link (or a folder)")
    meta = json.loads((entry / "meta.json").read_text())
    if meta.get("key") != key or meta.get("versions") != versions():
        raise ValueError("entry of another model or version")
    if _files(entry) != meta["files"]:
        raise ValueError("entry files do not match their checksums")
    if set(meta["shared"]) - set(shared_vars):
        raise ValueError("entry names shared variables the model does not have")
    logp, expand = _callbacks(meta, shared_vars, load_from=entry, stamp=_stamp())
    return _assemble(model, meta, shared_vars, initial_point, logp[0], expand[0])


def _discard(entry: Path) -> None:
    """Delete an entry; a symbolic link is removed itself, never what it points to."""
    try:
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink()
        else:
            shutil.rmtree(entry)
    except OSError:
        pass


def _store(folder: Path, entry: Path, key: str, meta: dict, callbacks) -> bool:
    """Write the entry under a private name, then rename it into place. True when this process
    stored it (False when it could not, or another process stored it first)."""
    tmp = folder / f".tmp-{uuid.uuid4().hex}"
    try:
        tmp.mkdir(mode=0o700)
        for func, cres, pyfunc, name in callbacks:
            cache = _disk_cache(pyfunc, tmp, name, _stamp())
            with warnings.catch_warnings():
                warnings.simplefilter("error", numba.NumbaWarning)  # uncachable: give up
                cache.save_overload(func._sig, cres)
        meta = {**meta, "key": key, "versions": versions(), "files": _files(tmp)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, entry)
        except OSError:  # another process stored it first (or the rename failed)
            return False
        return True
    except Exception:  # noqa: BLE001 (a cache that cannot write only costs time)
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _compile(model, shared_vars, initial_point):
    """nutpie's pipeline for the PyTensor functions, our callbacks around them."""
    n_dim, n_expanded, logp_pt, expand_pt, _, shape_info, reparam = _nutpie._make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=initial_point,
        var_names=None,
    )
    order = []
    for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if var not in order:
            order.append(var)
    if any(shared_vars.get(v.name) is not v for v in order):
        raise Uncacheable("compiled functions read shared variables outside the digest")
    names, slices, shapes = shape_info
    meta = {
        "format": FORMAT,
        "n_dim": int(n_dim),
        "n_expanded": int(n_expanded),
        "shape_info": [
            list(names),
            [[int(s.start), int(s.stop)] for s in slices],  # numpy ints past a vector
            [[int(n) for n in s] for s in shapes],
        ],
        "reparameterized_names": list(reparam),
        "shared": [v.name for v in order],
        "logp_shared": [v.name for v in logp_pt.get_shared()],
        "expand_shared": [v.name for v in expand_pt.get_shared()],
    }
    logp, expand = _callbacks(meta, shared_vars, logp_pt.vm.jit_fn, expand_pt.vm.jit_fn)
    compiled = _assemble(
        model, meta, shared_vars, initial_point, logp[0], expand[0], logp_pt, expand_pt
    )
    return compiled, meta, [logp, expand]


#: Seconds a process waits for another one compiling the same model before it compiles the model
#: itself (a process that dies releases its lock with it).
LOCK_WAIT = 120.0


def _load_entry(model, entry: Path, key: str, shared_vars, initial_point, count, repair: bool):
    """The entry's compiled model, or None when there is none or it cannot be used. With
    ``repair`` (under the lock) an unusable entry (corrupt, foreign) is counted and deleted, to
    be rebuilt; without, it is left for the check under the lock."""
    if not os.path.lexists(entry):
        return None
    try:
        compiled = _load(model, entry, key, shared_vars, initial_point)
    except Exception:  # noqa: BLE001 (corrupt or foreign)
        if repair:
            count("disk_errors")
            _discard(entry)
        return None
    count("disk_hits")
    return compiled


def compile_model(model, stats: dict | None = None):
    """nutpie's compiled model for ``model``, from the disk cache when an entry matches.

    Counts in ``stats``: ``disk_hits`` (loaded, nothing compiled), ``disk_misses`` (compiled),
    ``disk_writes`` (entries stored), ``disk_errors`` (unreadable or corrupt entries, deleted and
    rebuilt), ``disk_off`` (no usable cache directory) and ``uncacheable`` (compiled by nutpie's
    stock compiler: the model could not be digested or our path failed).
    """
    stats = {} if stats is None else stats

    def count(name):
        stats[name] = stats.get(name, 0) + 1

    try:
        initial_point = pymc_initial_point(model)
        key, shared_vars = fingerprint(model, initial_point)
    except Exception:  # noqa: BLE001 (anything we cannot digest is compiled as before)
        return _stock(model, count)
    folder = cache_dir()
    if folder is None:
        count("disk_off")
        ours = _ours(model, shared_vars, initial_point, count)
        return ours[0] if ours is not None else _stock(model, count)
    entry = folder / key
    compiled = _load_entry(model, entry, key, shared_vars, initial_point, count, repair=False)
    if compiled is not None:
        return compiled
    # one process compiles a model at a time; another waits, then loads what it stored
    with exclusive(folder / f".lock-{key}", LOCK_WAIT):
        compiled = _load_entry(model, entry, key, shared_vars, initial_point, count, repair=True)
        if compiled is not None:
            return compiled
        ours = _ours(model, shared_vars, initial_point, count)
        if ours is not None and _store(folder, entry, key, *ours[1:]):
            count("disk_writes")
    # nutpie's stock compile stores nothing: unlocked, so that others need not wait for it
    return ours[0] if ours is not None else _stock(model, count)


def _ours(model, shared_vars, initial_point, count):
    """``(compiled, meta, callbacks)`` of :func:`_compile` (a miss), or None when our path
    fails."""
    try:
        out = _compile(model, shared_vars, initial_point)
    except Exception:  # noqa: BLE001 (nutpie's stock compiler then)
        return None
    count("disk_misses")
    return out


def _stock(model, count):
    count("uncacheable")
    return _nutpie.compile_pymc_model(model)
