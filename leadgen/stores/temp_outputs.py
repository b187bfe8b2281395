"""Temporary output files that a killed run cannot leave behind for good.

An output is written to a hidden temporary file beside its destination and renamed over it when
complete (the destination never holds half a file). A run killed with SIGKILL runs no cleanup,
and its temporary file (lead data, possibly megabytes) would stay. So each temporary file names
the process that writes it (`.leadgen-out-<pid>-XXXX`), and every new output first removes the
ones in its folder whose process is gone. A file of another machine on a shared folder, or of a
reused pid, is left alone until it is older than STALE_SECONDS.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from leadgen.errors import InputError

PREFIX = ".leadgen-out-"
STALE_SECONDS = 24 * 3600  # a temp output this old is abandoned whoever its pid names
UNNAMED_IDLE_SECONDS = 600  # one without a pid (older leadgen), untouched this long: abandoned


def temp_output(directory: Path | None) -> str:
    """A new temporary file in `directory` (the temp dir for None), after sweeping dead ones."""
    folder = directory or Path(tempfile.gettempdir())
    sweep(folder)
    try:
        fd, name = tempfile.mkstemp(prefix=f"{PREFIX}{os.getpid()}-", dir=folder)
    except OSError as exc:
        raise InputError(f"{folder}: cannot write there ({exc.strerror or exc})") from None
    os.close(fd)
    return name


def sweep(folder: Path) -> list[Path]:
    """Remove the temporary outputs in `folder` whose writer is gone; returns them."""
    removed = []
    for path in folder.glob(PREFIX + "*"):
        if path.is_file() and not path.is_symlink() and _abandoned(path):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _abandoned(path: Path) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    pid = _pid(path.name)
    if age > STALE_SECONDS:
        return True
    if pid is None:  # an older leadgen's name: abandoned once nobody wrote to it for a while
        return age > UNNAMED_IDLE_SECONDS
    return not _alive(pid)


def _pid(name: str) -> int | None:
    head = name[len(PREFIX) :].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True
