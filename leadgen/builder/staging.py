"""The build's local staging folder, and the sweeping of those a killed build left behind.

A build writes the version's files into `TMPDIR/leadgen-build-XXXX/` before uploading them (and
downloads them back there to verify a remote copy): about the size of the indices. A build
killed with SIGKILL (OOM killer, `kill -9`, a lost machine) runs no cleanup, so the folder stays.
Each staging folder therefore holds a lock (`flock`) for as long as its build runs; the kernel
drops it when the process dies however it dies, so the next build deletes every staging folder
whose lock it can take, and none that a running build still holds. The lock file goes last when
a folder is removed, so a build killed during its own cleanup leaves a folder that is still
swept; a folder without one (killed between creating it and locking it, microseconds apart) is
swept once LOCKLESS_AGE old.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "leadgen-build-"
LOCK = ".lock"
LOCKLESS_AGE = 60  # seconds: a live build locks its folder at once


@contextmanager
def staging_dir(say: Callable[[str], None] | None = None) -> Iterator[Path]:
    """A fresh, locked staging folder (removed on exit), after sweeping abandoned ones."""
    swept = sweep_staging()
    if swept and say is not None:
        say(f"removed {len(swept)} staging folder(s) of killed builds")
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    fd = os.open(path / LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        _remove(path)
        os.close(fd)


def sweep_staging(root: Path | None = None) -> list[Path]:
    """Delete the staging folders under `root` (the temp dir) that no live build holds."""
    removed = []
    for path in (root or Path(tempfile.gettempdir())).glob(PREFIX + "*"):
        if path.is_dir() and not path.is_symlink() and _abandoned(path):
            _remove(path)
            removed.append(path)
    return removed


def _remove(path: Path) -> None:
    """Everything but the lock, then the lock, then the folder: killed at any point, what is
    left still has its lock file and is swept by the next build."""
    try:
        entries = list(path.iterdir())
    except OSError:  # gone already
        return
    for entry in entries:
        if entry.name == LOCK:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    (path / LOCK).unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)


def _abandoned(path: Path) -> bool:
    try:
        fd = os.open(path / LOCK, os.O_RDWR)
    except FileNotFoundError:  # made by a leadgen without locks (or killed before locking): a
        return time.time() - path.stat().st_mtime > LOCKLESS_AGE  # build of that age is dead
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a running build holds it
    finally:
        os.close(fd)
    return True
