"""Can this process write there? Asked before long work, not found out at its end.

A build that cannot write its artifacts folder or its staging folder (read-only mount, no
permission, a full disk) would otherwise fail at upload, after the whole build. A real write is
the only honest test (permission bits say nothing to root, nor about a read-only mount or a full
disk): one small file is created, flushed and removed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from leadgen.errors import InputError

PROBE_BYTES = 4096  # a block: a disk with no room for it fails here, not after the build


def check_writable(folder: Path, what: str) -> None:
    """InputError naming `folder` and the cause if a file cannot be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".leadgen-write-check-", dir=folder)
    except OSError as exc:
        raise InputError(f"{folder}: cannot write the {what} ({_cause(exc)})") from None
    try:
        os.write(fd, b"\0" * PROBE_BYTES)
        os.fsync(fd)
    except OSError as exc:
        raise InputError(f"{folder}: cannot write the {what} ({_cause(exc)})") from None
    finally:
        os.close(fd)
        Path(name).unlink(missing_ok=True)


def _cause(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_build_outputs(artifacts_uri: str) -> None:
    """Before a build starts: its local artifacts folder and its staging folder (TMPDIR)."""
    if not artifacts_uri.startswith("s3://"):
        check_writable(Path(artifacts_uri), "artifacts")
    check_writable(Path(tempfile.gettempdir()), "build's staging files (TMPDIR)")
