"""The compiled-model disk cache (bayes_scaling.inference.compile_cache): a second process loads
instead of compiling, corrupt entries are rebuilt, an unusable directory only costs time, a
version change never reuses an entry, a folder others could write (or a symlinked entry) is
never loaded from, and a model missed by two processes at once is compiled once. Counted through
STATS, never timed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import nutpie
import pymc as pm
import pytest

from bayes_scaling import _disk
from bayes_scaling.errors import CacheWarning
from bayes_scaling.inference import compile_cache

SEED = 5


def build(n: int = 20, prior: str = "normal"):
    """A tiny regression with every changing input a pm.Data (like the package's models)."""
    x = np.linspace(0.0, 1.0, n)
    with pm.Model() as model:
        x_data = pm.Data("x", x)
        y_data = pm.Data("y", 1.0 + 2.0 * x + 0.1 * np.sin(7.0 * x))
        a = pm.Normal("a")
        b = pm.Normal("b") if prior == "normal" else pm.StudentT("b", nu=4)
        sigma = pm.HalfNormal("sigma")
        pm.Deterministic("a_plus_b", a + b)
        pm.Normal("obs", a + b * x_data, sigma, observed=y_data)
    return model


def draws(compiled) -> np.ndarray:
    trace = nutpie.sample(compiled, draws=150, tune=150, chains=2, seed=SEED, progress_bar=False)
    return np.stack([trace.posterior[v].values for v in ("a", "b", "sigma", "a_plus_b")])


def entry_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A cache root holding the tiny model's entry, and the draws of that first compile."""
    root = tmp_path_factory.mktemp("compile-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv(compile_cache.ENV, str(root))
    stats = {}
    compiled = compile_cache.compile_model(build(), stats)
    mp.undo()
    assert stats == {"disk_misses": 1, "disk_writes": 1}
    return root, draws(compiled)


def test_second_process_loads_instead_of_compiling(stored):
    root, _ = stored
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_compile_cache import build
        from bayes_scaling.inference import compiled
        compiled.compiled_for(("tiny", 40), lambda: build(40))  # other data length: same entry
        print(json.dumps(compiled.STATS))
        """
    )
    env = {**os.environ, compile_cache.ENV: str(root)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    assert stats["disk_hits"] == 1
    assert stats["disk_misses"] == 0 and stats["disk_errors"] == 0
    assert stats["compiles"] == 1


@pytest.mark.skipif(sys.platform == "win32", reason="no fcntl: two processes compile, as before")
def test_a_model_another_process_is_compiling_is_waited_for_and_loaded(
    stored, tmp_path, monkeypatch
):
    """On a cold cache, a process that misses an entry another one is compiling waits for that
    one's lock, then loads what it stored instead of compiling too (a Dask batch's workers).
    Here the first process is this test, holding the lock while it puts the entry in place; the
    second is a thread, with its own handle on the lock file, as another process has."""
    root, _ = stored
    (source,) = [p for p in (root / "compiled").rglob("*") if (p / "meta.json").is_file()]
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "cache"))
    folder = compile_cache.cache_dir()
    waiting = threading.Event()
    monkeypatch.setattr(_disk, "_pause", lambda: (waiting.set(), time.sleep(0.01)))
    stats = {}
    with _disk.exclusive(folder / f".lock-{source.name}", wait=1.0):
        second = threading.Thread(target=compile_cache.compile_model, args=(build(), stats))
        second.start()
        assert waiting.wait(30), "the second compile did not wait for the lock"
        shutil.copytree(source, folder / source.name)  # what the first one stores
    second.join(60)
    assert stats == {"disk_hits": 1}
    # a holder that never lets go only delays the others: after the wait they go on unlocked
    with _disk.exclusive(tmp_path / "lock", wait=1.0):
        start = time.monotonic()
        with _disk.exclusive(tmp_path / "lock", wait=0.2):
            assert time.monotonic() - start >= 0.2


def test_corrupt_entry_is_rebuilt_and_draws_match_uncached(stored, tmp_path, monkeypatch):
    root, cached_draws = stored
    copy = tmp_path / "cache"
    shutil.copytree(root, copy)
    machine_code = [p for p in entry_files(copy) if p.suffix == ".nbc"]
    assert len(machine_code) == 2
    data = bytearray(machine_code[0].read_bytes())
    data[len(data) // 2 :] = b"\x00" * (len(data) - len(data) // 2)  # keep size, break content
    machine_code[0].write_bytes(bytes(data))
    monkeypatch.setenv(compile_cache.ENV, str(copy))
    stats = {}
    rebuilt = compile_cache.compile_model(build(), stats)
    assert stats == {"disk_errors": 1, "disk_misses": 1, "disk_writes": 1}
    np.testing.assert_array_equal(draws(rebuilt), cached_draws)  # same seed, same draws
    stats = {}
    compile_cache.compile_model(build(), stats)  # the rebuilt entry is whole again
    assert stats == {"disk_hits": 1}
    # garbage in meta.json is refused like any other damage (compile_model then rebuilds)
    (meta,) = [p for p in entry_files(copy) if p.name == "meta.json"]
    meta.write_text("{not json")
    key, shared = compile_cache.fingerprint(build())
    with pytest.raises(ValueError):
        compile_cache._load(build(), meta.parent, key, shared, None)


def test_unusable_directory_only_costs_time(stored, tmp_path, monkeypatch):
    _, cached_draws = stored
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(compile_cache.ENV, str(blocker / "cache"))
    assert compile_cache.cache_dir() is None
    stats = {}
    compiled = compile_cache.compile_model(build(), stats)
    assert stats == {"disk_off": 1, "disk_misses": 1}
    np.testing.assert_array_equal(draws(compiled), cached_draws)
    # a missing directory is created on first use
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "not" / "yet" / "there"))
    assert compile_cache.cache_dir() is not None and compile_cache.cache_dir().is_dir()
    monkeypatch.setenv(compile_cache.ENV, "off")
    assert compile_cache.cache_dir() is None


def test_version_change_misses(stored, tmp_path, monkeypatch):
    root, _ = stored
    copy = tmp_path / "cache"
    shutil.copytree(root, copy)
    monkeypatch.setenv(compile_cache.ENV, str(copy))
    upgraded = {**compile_cache.versions(), "numba": "99.0"}
    monkeypatch.setattr(compile_cache, "versions", lambda: upgraded)
    stats = {}
    compile_cache.compile_model(build(), stats)
    assert stats == {"disk_misses": 1, "disk_writes": 1}
    assert len(list((copy / "compiled").iterdir())) == 2  # the old entry is left alone


def test_fingerprint_is_structure_not_data():
    key = compile_cache.fingerprint(build(20))[0]
    assert compile_cache.fingerprint(build(35))[0] == key  # other data, same graph
    assert compile_cache.fingerprint(build(20, prior="student_t"))[0] != key


# --- a folder others could write is never loaded from -------------------------------------------


def test_folder_others_can_write_is_refused_once_with_the_fix(stored, tmp_path, monkeypatch):
    _, cached_draws = stored
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv(compile_cache.ENV, str(shared))
    monkeypatch.setattr(compile_cache, "_WARNED", set())
    stats = {}
    with pytest.warns(CacheWarning, match=r"can be written by other users.*chmod 700"):
        compiled = compile_cache.compile_model(build(), stats)
    assert stats == {"disk_off": 1, "disk_misses": 1}
    assert list(shared.iterdir()) == []  # nothing written there
    np.testing.assert_array_equal(draws(compiled), cached_draws)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per folder and reason
        compile_cache.compile_model(build(), {})
    shared.chmod(0o700)  # fixed: used again
    stats = {}
    compile_cache.compile_model(build(), stats)
    assert stats == {"disk_misses": 1, "disk_writes": 1}


def test_compiled_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    if not hasattr(os, "getuid") or os.getuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    root = tmp_path / "cache"
    (root / "compiled").mkdir(parents=True, mode=0o700)
    os.chown(root / "compiled", 4321, 4321)
    monkeypatch.setenv(compile_cache.ENV, str(root))
    monkeypatch.setattr(compile_cache, "_WARNED", set())
    with pytest.warns(CacheWarning, match="belongs to another user"):
        assert compile_cache.cache_dir() is None
    assert list((root / "compiled").iterdir()) == []


def test_symlinked_cache_root_is_refused(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "link"))
    monkeypatch.setattr(compile_cache, "_WARNED", set())
    with pytest.warns(CacheWarning, match="symbolic link"):
        assert compile_cache.cache_dir() is None
    assert list(real.iterdir()) == []


def test_symlinked_entry_is_not_loaded_and_its_target_is_left(stored, tmp_path, monkeypatch):
    root, _ = stored
    copy = tmp_path / "cache"
    shutil.copytree(root, copy)
    (entry,) = [p for p in (copy / "compiled").rglob("*") if (p / "meta.json").is_file()]
    elsewhere = tmp_path / "planted"
    shutil.move(entry, elsewhere)
    entry.symlink_to(elsewhere, target_is_directory=True)
    monkeypatch.setenv(compile_cache.ENV, str(copy))
    stats = {}
    compile_cache.compile_model(build(), stats)
    assert stats == {"disk_errors": 1, "disk_misses": 1, "disk_writes": 1}
    assert entry.is_dir() and not entry.is_symlink()  # rebuilt in place
    assert (elsewhere / "meta.json").is_file()  # the link was removed, not what it pointed to


@pytest.mark.skipif(sys.platform != "linux", reason="the default folder under XDG_CACHE_HOME")
def test_default_folder_is_private(tmp_path, monkeypatch):
    monkeypatch.delenv(compile_cache.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = compile_cache.cache_dir()
    root = tmp_path / "xdg" / "bayes_scaling"
    assert path == root / "compiled" / compile_cache.versions_hash()
    for folder in (root, root / "compiled", path):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def test_a_model_with_vector_parameters_is_stored_and_loaded(tmp_path, monkeypatch):
    """Past a vector-valued variable, nutpie's slice bounds are numpy integers: the entry's
    metadata must still be written (grouped fits compiled in every process before)."""

    def vector_model():
        with pm.Model(coords={"g": ["a", "b", "c"]}) as model:
            y = pm.Data("y", np.array([0.1, 0.5, 0.9]))
            s = pm.HalfNormal("s")
            mu = pm.Normal("mu", dims="g")
            pm.Normal("obs", mu, s, observed=y, dims="g")
        return model

    monkeypatch.setenv(compile_cache.ENV, str(tmp_path))
    first, again = {}, {}
    made = compile_cache.compile_model(vector_model(), first)
    loaded = compile_cache.compile_model(vector_model(), again)
    assert first == {"disk_misses": 1, "disk_writes": 1}
    assert again == {"disk_hits": 1}
    kwargs = dict(draws=100, tune=100, chains=1, seed=SEED, progress_bar=False)
    a, b = nutpie.sample(made, **kwargs), nutpie.sample(loaded, **kwargs)
    np.testing.assert_array_equal(a.posterior["mu"].values, b.posterior["mu"].values)


def test_an_entry_another_process_stored_first_is_not_counted_as_ours(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    assert compile_cache._store(folder, folder / "k1", "k1", {"format": 1}, []) is True
    assert json.loads((folder / "k1" / "meta.json").read_text())["key"] == "k1"
    theirs = folder / "k2"  # stored by another process while this one wrote its own
    theirs.mkdir()
    (theirs / "meta.json").write_text("{}")
    assert compile_cache._store(folder, theirs, "k2", {"format": 1}, []) is False
    assert (theirs / "meta.json").read_text() == "{}"  # theirs is left as it was
    assert sorted(p.name for p in folder.iterdir()) == ["k1", "k2"]  # no temporary left
