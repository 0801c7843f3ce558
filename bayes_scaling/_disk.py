"""Writing files without losing what was there: atomic replacement of a file or a folder store,
and a lock between processes.

A save must never leave a half-written file where a good one was: a full disk, a permission
error, Ctrl-C or a killed process all leave the previous file exactly as it was and no temporary
file behind. :func:`write_atomic` writes bytes (a NetCDF fit serialised in memory, a report's
HTML) through a temporary file in the destination's folder and renames it over the destination;
:func:`swap_folder` does the same for a folder store (Zarr) with two renames.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import os
import shutil
import socket
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: str | Path, data: bytes | memoryview | str) -> Path:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of ``data``.

    The bytes go to a temporary file in ``path``'s folder (unnamed where Linux allows it, so that
    even a killed process leaves nothing), their space reserved first (a full disk fails before
    anything is written), flushed and fsynced; then the file is renamed over ``path``
    (:func:`os.replace`, atomic) and the folder fsynced. An existing file's permissions are kept.
    On any failure the temporary file is removed and ``path`` is untouched.

    Raises
    ------
    OSError
        The folder is missing or not writable, or the disk is full.

    Examples
    --------
    >>> write_atomic("report.html", "<html>...</html>")  # doctest: +SKIP
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(folder))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    _sweep(folder)
    if _write_unnamed(folder, path, data, mode):
        return path
    temp = folder / f"{_TEMP_PREFIX}{path.name}.{socket.gethostname()}.{os.getpid()}.{_token()}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            _fill(fd, data, mode)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync_folder(folder)
    return path


_TEMP_PREFIX = ".bayes-scaling-tmp."
_AT_EMPTY_PATH, _AT_FDCWD = 0x1000, -100


def _token() -> str:
    return uuid.uuid4().hex[:12]


def _fill(fd: int, data, mode: int | None) -> None:
    """Reserve, write, set the mode, fsync."""
    view = memoryview(data).cast("B")
    if view.nbytes and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, view.nbytes)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
    while view.nbytes:
        view = view[os.write(fd, view[: 1 << 22]) :]
    if mode is not None:
        os.fchmod(fd, mode)
    os.fsync(fd)


def _write_unnamed(folder: Path, path: Path, data, mode: int | None) -> bool:
    """Write through an unnamed ``O_TMPFILE`` file (Linux), given a name only just before the
    rename. False when the system cannot do this (then the caller uses a named temporary)."""
    if not hasattr(os, "O_TMPFILE"):
        return False
    try:
        fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise
        return False
    temp = None
    try:
        _fill(fd, data, mode)
        temp = folder / f"{_TEMP_PREFIX}{path.name}.{socket.gethostname()}.{os.getpid()}.{_token()}"
        if not _link(fd, temp):
            temp = None
            return False
        os.replace(temp, path)
        temp = None
    finally:
        os.close(fd)
        if temp is not None:
            temp.unlink(missing_ok=True)
    _sync_folder(folder)
    return True


def _link(fd: int, name: Path) -> bool:
    """Give the unnamed file ``fd`` the name ``name`` (through /proc, else ``AT_EMPTY_PATH``)."""
    try:
        os.link(f"/proc/self/fd/{fd}", name, follow_symlinks=True)
        return True
    except OSError:
        pass
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        done = libc.linkat(fd, b"", _AT_FDCWD, os.fsencode(name), _AT_EMPTY_PATH) == 0
    except (OSError, AttributeError):
        return False
    return done


def _sweep(folder: Path) -> None:
    """Tidy what writers of this host that no longer run left in ``folder`` (a process killed
    while writing through a named temporary): their temporaries are removed, and a folder store
    they had renamed aside is put back where it was when nothing took its place."""
    host = socket.gethostname()
    for temp in folder.glob(f"{glob.escape(_TEMP_PREFIX)}*"):
        rest = temp.name[len(_TEMP_PREFIX) :]
        aside = rest.endswith(".old")
        try:
            rest, pid, _ = rest.removesuffix(".old").rsplit(".", 2)
            if not rest.endswith(f".{host}"):
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            destination = folder / rest[: -len(host) - 1]
            try:
                if aside and not os.path.lexists(destination):
                    os.rename(temp, destination)
                else:
                    _remove(temp)
            except OSError:
                continue
        except (ValueError, OSError):
            continue


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def swap_folder(path: Path, write: Callable[[Path], object]) -> None:
    """Write a folder store (Zarr) beside ``path``, then swap it in: the old one is renamed
    aside, the new one renamed in, the old one removed; on failure the old one is put back."""
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(folder))
    _sweep(folder)
    stem = f"{_TEMP_PREFIX}{path.name}.{socket.gethostname()}.{os.getpid()}.{_token()}"
    temp, old = folder / stem, folder / f"{stem}.old"
    try:
        write(temp)
        for file in [temp, *temp.rglob("*")]:
            if file.is_file():
                with open(file, "rb+") as handle:
                    os.fsync(handle.fileno())
        if os.path.lexists(path):
            os.rename(path, old)
            try:
                os.rename(temp, path)
            except BaseException:
                os.rename(old, path)
                raise
        else:
            os.rename(temp, path)
    except BaseException:
        _remove(temp)
        raise
    _remove(old)
    _sync_folder(folder)


#: Seconds between two tries of :func:`exclusive`.
LOCK_PAUSE = 0.05


def _pause() -> None:
    time.sleep(LOCK_PAUSE)


@contextlib.contextmanager
def exclusive(path: str | Path, wait: float):
    """Held by one process at a time: an exclusive ``flock`` on the file ``path`` (made, mode
    0600, and left in place; never through a symbolic link). Another process entering waits up
    to ``wait`` seconds. The kernel releases the lock when its holder ends, however it ends.

    Best effort: without ``fcntl`` (Windows), on a file system without locks, when the file
    cannot be made, or after ``wait`` seconds, the body runs unlocked, so callers must stay
    correct without it (the lock only saves repeated work).
    """
    fd = _lock_file(path)
    try:
        if fd is not None:
            _acquire(fd, wait)
        yield
    finally:
        if fd is not None:
            os.close(fd)  # the lock goes with it


def _lock_file(path) -> int | None:
    """An open descriptor of the lock file, or None where there can be no lock."""
    try:
        import fcntl  # noqa: F401 (POSIX only)
    except ImportError:
        return None
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return None


def _acquire(fd: int, wait: float) -> None:
    """Take the lock on ``fd``; give up after ``wait`` seconds or on a file system without."""
    import fcntl

    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                return
            _pause()
        except OSError:  # a file system without locks
            return
