"""Nothing lost on disk: saves are atomic (a killed, failed or interrupted save leaves the previous
file as it was and no temporary file), a full disk is one line and exit 2 with the fit kept
elsewhere, Ctrl-C during a fit is exit 130 with nothing written, and a saved fit is small and gives
the same numbers as the fit in memory."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayes_scaling as bs
from bayes_scaling import _disk as disk
from bayes_scaling.cli import entry
from bayes_scaling.cli.entry import main
from bayes_scaling.errors import FitFileError
from bayes_scaling.results.base import REBUILT_ATTR, save_tree

COMPUTE = [1e21, 1e23]
INTERRUPTED_LINE = "bayes-scaling: error: interrupted (Ctrl-C); nothing was written"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def same_answers(a, b) -> None:
    """summary, bands and allocate of two fits agree exactly."""
    for prob in (0.5, 0.9):
        pd.testing.assert_frame_equal(a.summary(prob), b.summary(prob), check_exact=True)
    pd.testing.assert_frame_equal(
        a.bands(compute=COMPUTE), b.bands(compute=COMPUTE), check_exact=True
    )
    pd.testing.assert_frame_equal(
        a.allocate(COMPUTE, target=2.5), b.allocate(COMPUTE, target=2.5), check_exact=True
    )


def run_python(code: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(proc: subprocess.Popen, marker: str, timeout: float = 120) -> None:
    """Read the child's stdout until ``marker`` (the child prints it when it gets there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if marker in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"child ended first: {proc.stderr.read()}")
    raise AssertionError(f"no {marker!r} from the child within {timeout} s")


@pytest.fixture
def old_fit(demo_fit, tmp_path) -> Path:
    """The demo fit saved in its own folder: the file a later save must not destroy."""
    folder = tmp_path / "fits"
    folder.mkdir()
    return demo_fit.save(folder / "fit.nc")


# --- same numbers, smaller files ----------------------------------------------------------------


def test_saved_fit_answers_as_in_memory(demo_fit, tmp_path):
    path = demo_fit.save(tmp_path / "fit.nc")
    loaded = bs.load(path)
    same_answers(demo_fit, loaded)
    for group in ("posterior", "log_likelihood", "runs", "observed_data", "constant_data"):
        mem, disk_ = demo_fit.idata[group].to_dataset(), loaded.idata[group].to_dataset()
        assert mem.equals(disk_), group
        assert all(mem[k].dtype == disk_[k].dtype for k in mem.data_vars), group
    assert loaded.posterior["alpha"].dtype == np.float64
    assert REBUILT_ATTR not in loaded.idata.attrs  # the marker is gone once the group is back


def test_zarr_save_swaps_and_reads_back(demo_fit, tmp_path):
    path = tmp_path / "fit.zarr"
    demo_fit.save(path)
    demo_fit.save(path)  # over the first: swapped in, the old store removed
    assert listing(tmp_path) == ["fit.zarr"]
    same_answers(demo_fit, bs.load(path))


def test_240_run_chinchilla_fit_is_small_and_answers_the_same(shared_data, tmp_path):
    runs = bs.datasets.chinchilla(shared_data, drop_highest=5)
    fit = bs.fit(runs, seed=1)
    table = fit.summary()  # computed from the draws, before save stores it
    path = fit.save(tmp_path / "fit.nc")
    assert path.stat().st_size <= 2.5e6, path.stat().st_size
    loaded = bs.load(path)
    pd.testing.assert_frame_equal(table, loaded.summary(), check_exact=True)
    same_answers(fit, loaded)
    ll = loaded.idata["log_likelihood"]["log_loss"]
    assert ll.dtype == np.float64 and ll.shape == (4, 1000, 240)
    assert np.array_equal(ll.values, fit.idata["log_likelihood"]["log_loss"].values)


def test_a_log_likelihood_that_cannot_be_rebuilt_is_stored(demo_fit, tmp_path):
    tree = demo_fit.idata.copy()
    odd = tree["log_likelihood"].to_dataset() + 1e-12  # not what the draws give
    tree["log_likelihood"] = xr.DataTree(odd)
    path = save_tree(tree, tmp_path / "odd.nc")
    loaded = bs.load(path)
    assert REBUILT_ATTR not in loaded.idata.attrs
    assert loaded.idata["log_likelihood"].to_dataset().equals(odd)


# --- failed and killed saves --------------------------------------------------------------------


def test_full_disk_keeps_the_old_file(demo_fit, old_fit, monkeypatch):
    before = digest(old_fit)

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(FitFileError, match="No space left on device"):
        demo_fit.save(old_fit)
    assert digest(old_fit) == before
    assert listing(old_fit.parent) == ["fit.nc"]


def test_write_failing_halfway_keeps_the_old_file(demo_fit, old_fit, monkeypatch):
    """ENOSPC from write itself after part of the bytes (no preallocation), in both the unnamed
    and the named temporary paths."""
    before = digest(old_fit)
    real_write = os.write

    def half(fd, data):
        if fd > 2 and len(data) > 1000:
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.delattr(os, "posix_fallocate")
    monkeypatch.setattr(os, "write", half)
    for unnamed in (True, False):
        if not unnamed:
            monkeypatch.setattr(disk, "_write_unnamed", lambda *a: False)
        with pytest.raises(FitFileError, match="No space left"):
            demo_fit.save(old_fit)
        assert digest(old_fit) == before
        assert listing(old_fit.parent) == ["fit.nc"]


def test_missing_folder_is_a_fit_file_error(demo_fit, tmp_path):
    with pytest.raises(FitFileError, match="no such folder"):
        demo_fit.save(tmp_path / "absent" / "fit.nc")
    assert listing(tmp_path) == []


def test_killed_while_writing_leaves_the_old_file_and_no_temporary(old_fit):
    """SIGKILL once the new bytes are in the temporary file, before the rename (fsync blocks)."""
    before = digest(old_fit)
    proc = run_python(
        f"""
        import os, sys, time
        import bayes_scaling as bs
        fit = bs.load({str(old_fit)!r})
        fit.idata.attrs["created_at"] = "a newer fit"
        def stuck(fd):
            print("WRITTEN", flush=True)
            time.sleep(120)
        os.fsync = stuck
        fit.save({str(old_fit)!r})
        """,
        old_fit.parent,
    )
    try:
        wait_for(proc, "WRITTEN")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert digest(old_fit) == before
    assert listing(old_fit.parent) == ["fit.nc"]
    assert bs.load(old_fit).idata.attrs["created_at"] != "a newer fit"


def test_named_temporary_of_a_killed_process_is_swept(demo_fit, old_fit):
    """Where unnamed files are not available, a killed writer leaves its named temporary; the
    next save into that folder removes it (its process is gone)."""
    before = digest(old_fit)
    proc = run_python(
        f"""
        import os, time
        import bayes_scaling as bs
        from bayes_scaling import _disk as disk
        disk._write_unnamed = lambda *a: False
        fit = bs.load({str(old_fit)!r})
        def stuck(fd):
            print("WRITTEN", flush=True)
            time.sleep(120)
        os.fsync = stuck
        fit.save({str(old_fit)!r})
        """,
        old_fit.parent,
    )
    try:
        wait_for(proc, "WRITTEN")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert digest(old_fit) == before
    assert len(listing(old_fit.parent)) == 2  # the old file and the dead writer's temporary
    demo_fit.save(old_fit.parent / "other.nc")
    assert listing(old_fit.parent) == ["fit.nc", "other.nc"]


def test_killed_at_any_moment_of_a_save_leaves_a_whole_fit(old_fit):
    """Saves in a loop, killed after a few of them: the file is always one whole fit."""
    proc = run_python(
        f"""
        import bayes_scaling as bs
        fit = bs.load({str(old_fit)!r})
        print("START", flush=True)
        for i in range(10_000):
            fit.idata.attrs["created_at"] = f"save {{i}}"
            fit.save({str(old_fit)!r})
        """,
        old_fit.parent,
    )
    try:
        wait_for(proc, "START")
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert listing(old_fit.parent) == ["fit.nc"]
    assert bs.load(old_fit).idata.attrs["created_at"].startswith(("save ", "20"))


def test_write_atomic_keeps_mode_and_replaces(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("old")
    path.chmod(0o640)
    disk.write_atomic(path, "new")
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o640
    assert listing(tmp_path) == ["page.html"]


# --- the command line ---------------------------------------------------------------------------


def demo_csv(folder: Path) -> Path:
    path = folder / "runs.csv"
    bs.datasets.demo().to_csv(path, index=False)
    return path


def test_cli_full_disk_is_one_line_exit_2_and_keeps_the_fit(old_fit, tmp_path, monkeypatch, capsys):
    """ENOSPC in the output folder only: exit 2, one line, old file intact, fit kept in cwd."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    runs = demo_csv(elsewhere)
    before = digest(old_fit)
    real = os.posix_fallocate
    target = str(old_fit.parent)

    def full_there(fd, offset, length):
        if os.readlink(f"/proc/self/fd/{fd}").startswith(target):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, offset, length)

    monkeypatch.setattr(os, "posix_fallocate", full_there)
    args = ["fit", str(runs), "--out", str(old_fit), "--draws", "300", "--tune", "300"]
    code = main([*args, "--seed", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("bayes-scaling: error:"), err
    assert "No space left on device" in err[0] and "kept in" in err[0]
    assert digest(old_fit) == before and listing(old_fit.parent) == ["fit.nc"]
    kept = [p for p in elsewhere.iterdir() if p.name.startswith("fit-kept-")]
    assert len(kept) == 1 and bs.load(kept[0]).settings["seed"] == 3


def test_cli_real_full_tmpfs(old_fit, tmp_path):
    """The same on a real full filesystem: a tiny tmpfs (needs root; skipped otherwise)."""
    mount = tmp_path / "small"
    mount.mkdir()
    size = old_fit.stat().st_size + 64 * 1024  # room for the old fit, not for a second one
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        target = mount / "fit.nc"
        target.write_bytes(old_fit.read_bytes())
        before = digest(target)
        runs = demo_csv(tmp_path)
        proc = subprocess.run(
            [sys.executable, "-m", "bayes_scaling.cli", "fit", str(runs), "--out", str(target)]
            + ["--draws", "300", "--tune", "300", "--seed", "3"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        err = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, proc.stderr
        assert len(err) == 1 and "No space left on device" in err[0] and "kept in" in err[0]
        assert digest(target) == before and listing(mount) == ["fit.nc"]
        assert len(list(tmp_path.glob("fit-kept-*.nc"))) == 1
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_ctrl_c_during_a_fit_is_exit_130_and_writes_nothing(old_fit, tmp_path):
    """A real ``bayes-scaling fit`` sent SIGINT while nutpie samples (the child prints a marker
    when sampling starts; the sampler itself is nutpie's)."""
    before = digest(old_fit)
    runs = demo_csv(tmp_path)
    proc = run_python(
        f"""
        import sys
        import nutpie
        real = nutpie.sample
        def sample(*args, **kwargs):
            print("SAMPLING", flush=True)
            return real(*args, **kwargs)
        nutpie.sample = sample
        from bayes_scaling.cli import main
        sys.exit(main(["fit", {str(runs)!r}, "--out", {str(old_fit)!r},
                       "--draws", "200000", "--tune", "1000", "--seed", "4"]))
        """,
        tmp_path,
    )
    try:
        wait_for(proc, "SAMPLING", timeout=180)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [
        "bayes-scaling: error: interrupted (Ctrl-C); nothing was written"
    ]
    assert digest(old_fit) == before and listing(old_fit.parent) == ["fit.nc"]
    assert listing(tmp_path) == ["fits", "runs.csv"]


def test_plumbing_an_error_after_ctrl_c_is_still_the_interrupt(monkeypatch, capsys):
    """Plumbing: a step that swallows the first KeyboardInterrupt (as nutpie does) and then
    fails is reported as the interrupt; the handlers and the timer are put back afterwards."""
    before = signal.getsignal(signal.SIGINT)

    def swallowing(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass
        raise IndexError("index 0 is out of bounds")  # what the few draws made fail

    monkeypatch.setattr(entry, "check_args", swallowing)
    assert main(["summary", "fit.nc"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == [INTERRUPTED_LINE]
    assert signal.getsignal(signal.SIGINT) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
