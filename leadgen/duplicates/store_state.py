"""What state a local duplicate store is really in, for /health: a cheap probe of its file.

A store that answers nothing is not "ok": a deleted file (no tables until the next build), a
read-only folder (every record fails, the same email twice is not caught), another process's
write transaction (every call gives up at its deadline) or a damaged file each have a name, so
the operator sees the reason the duplicate check is skipped. The probe never waits (SQLite's
busy timeout 0, read-only connection) and its answer is kept a few seconds, so /health stays
cheap under load and never queues behind the store's own lock.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

StoreState = Literal["ok", "read_only", "missing", "locked", "corrupt"]
# How long a probe's answer stands: /health may be polled often, the state changes rarely.
PROBE_SECONDS = 3.0
_TABLES = {"dup", "ident_entry", "ident_block"}


def probe(path: Path) -> StoreState:
    """The file's state now, without waiting on any lock."""
    if not path.is_file():
        return "missing"
    if not (os.access(path, os.R_OK) and os.access(path, os.W_OK)):
        return "read_only" if os.access(path, os.R_OK) else "corrupt"
    if not os.access(path.parent, os.W_OK):  # WAL needs its -wal and -shm files beside it
        return "read_only"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=0)
    except sqlite3.Error:
        return "corrupt"
    try:
        return _probe_open(conn)
    finally:
        conn.close()


def _probe_open(conn: sqlite3.Connection) -> StoreState:
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.OperationalError as exc:
        return "locked" if "locked" in str(exc) else "corrupt"
    except sqlite3.DatabaseError:
        return "corrupt"
    if not tables >= _TABLES:
        return "missing"
    try:
        conn.execute("BEGIN IMMEDIATE")  # would a record get the write lock now?
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        return "locked" if "locked" in str(exc) or "busy" in str(exc) else "read_only"
    return "ok"


class CachedProbe:
    """`probe(path)` at most once per PROBE_SECONDS; concurrent callers share one probe."""

    def __init__(
        self,
        path: Path,
        seconds: float = PROBE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._value: StoreState | None = None
        self._at = 0.0

    def get(self, fresh: bool = False) -> StoreState:
        with self._lock:
            now = self._clock()
            if fresh or self._value is None or now - self._at >= self.seconds:
                self._value, self._at = probe(self.path), now
            return self._value


@runtime_checkable
class Probed(Protocol):
    """A store that can say what state it is in (the SQLite one; DynamoDB answers per call)."""

    def state(self) -> StoreState: ...
