"""The duplicate store of a laptop (`leadgen build`, `serve`, `score`, `score-file`): one SQLite
file, by default beside the artifacts (<artifacts>/duplicates.sqlite), keeping the promises of
leadgen.duplicates.store; record_lead's condition holds inside one IMMEDIATE transaction.

The store is optional to a request, so it must never hold one up: every call has one deadline
(`timeout`, LEADGEN_DUP_STORE_TIMEOUT_MS for the server) covering both the wait for this process's
lock and SQLite's busy wait on another process's transaction; past it the call raises StoreBusy
and the lead is answered `duplicate_check: skipped`. One lock and one connection per store: at
most one worker thread is ever inside SQLite, the others give up at their deadline instead of
queueing behind a lock held elsewhere. A file that cannot be opened (corrupt, unreadable) is not
an error at start-up: each call fails (skipped), /health says why
(leadgen.duplicates.store_state).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from leadgen.duplicates.address import Place
from leadgen.duplicates.normalise import Counts, CrmRecord, Entry, Identity, entry_kind
from leadgen.duplicates.store import (
    LEAD_BLOCK_CAP,
    DuplicateHit,
    Known,
    LeadKeys,
    Recorded,
)
from leadgen.duplicates.store_state import CachedProbe, StoreState

# A request's wait for the store, at most (seconds): a lead is never held up longer than this by
# a lock held in this process or another one; the server's is LEADGEN_DUP_STORE_TIMEOUT_MS.
REQUEST_TIMEOUT = 0.1
# `leadgen build` syncing customers is no request: it waits for a server's short transactions.
SYNC_TIMEOUT = 30.0
PAGE_CACHE_KIB = 256 * 1024  # SQLite's page cache per connection, at most

_ENTRY_COLS = (
    "kind, ref, first, last, company, domain, phone, country, phone_n, expires_at, place, stage, "
    "counts"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS dup (email_hash TEXT PRIMARY KEY, kind TEXT NOT NULL,
    ref TEXT NOT NULL, expires_at INTEGER, stage TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS ident_entry (kind TEXT NOT NULL, ref TEXT NOT NULL,
    first TEXT NOT NULL, last TEXT NOT NULL, company TEXT NOT NULL, domain TEXT NOT NULL,
    phone TEXT NOT NULL, country TEXT NOT NULL, phone_n INTEGER NOT NULL, expires_at INTEGER,
    place TEXT NOT NULL DEFAULT '', stage TEXT NOT NULL DEFAULT '',
    counts TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (kind, ref)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ident_block (key TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL,
    PRIMARY KEY (key, kind, ref)) WITHOUT ROWID;
"""
# Columns later versions added, for a store file an older version created (lead entries in it
# are kept: they are the leads scored so far).
_ADDED_COLUMNS = (
    ("dup", "stage", "TEXT NOT NULL DEFAULT ''"),
    ("ident_entry", "place", "TEXT NOT NULL DEFAULT ''"),
    ("ident_entry", "stage", "TEXT NOT NULL DEFAULT ''"),
    ("ident_entry", "counts", "TEXT NOT NULL DEFAULT ''"),
)
_CRM = "kind IN ('customer', 'non_customer')"  # rows the build writes (leads: scoring)


_STATE_WORDS = {
    "read_only": "is read-only (the file or its folder)",
    "missing": "cannot be created",
    "locked": "is locked by another process",
    "corrupt": "is not a readable SQLite database (delete it: the next build recreates it)",
}


class StoreBusy(Exception):
    """The store did not answer within the call's deadline (locked, or another worker in it)."""


class SqliteDuplicateStore:
    """Local store: one SQLite file. A lookup is one read snapshot (WAL); a record is one
    IMMEDIATE transaction, which serialises writers: the conditional write. Every call gives up
    after `timeout` seconds (StoreBusy)."""

    def __init__(self, path: str | Path, timeout: float = REQUEST_TIMEOUT) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._schema_ready = False
        self._state = CachedProbe(self.path)
        self.error: str | None = None  # why the file could not be opened at start
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._transaction():
                pass
        except (OSError, sqlite3.Error, StoreBusy) as exc:
            self.error = describe(exc)

    def state(self) -> StoreState:
        """ok | read_only | missing | locked | corrupt, from a cheap probe cached a few seconds."""
        return self._state.get()

    def unusable(self) -> str | None:
        """Why the store cannot be used now, in one line naming the file (None: it can)."""
        state = self._state.get(fresh=True)
        if state == "ok":
            return None
        cause = f" ({self.error})" if self.error else ""
        return f"{self.path}: duplicate store {_STATE_WORDS[state]}{cause}"

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                # A build's sync writes a row per customer under random (hashed) keys: with
                # SQLite's default 2 MB page cache every insert pages B-tree nodes in and out
                # (bench/BUILD_SPEED.md). The cache grows only as pages are touched, up to this.
                conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
                conn.execute("PRAGMA temp_store = MEMORY")  # the sync's staging table
            except BaseException:
                conn.close()
                raise
            self._db = conn
        return self._db

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """One transaction within the deadline: this process's lock first, then SQLite's busy
        wait for what is left of it."""
        deadline = time.monotonic() + self.timeout
        if not self._lock.acquire(timeout=self.timeout):
            raise StoreBusy(f"another worker held {self.path.name} for {self.timeout:g}s")
        try:
            yield from _within(self._connected(), mode, deadline)
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise StoreBusy(f"{self.path.name} locked by another process") from exc
            self._reset()
            raise
        except sqlite3.DatabaseError:
            self._reset()
            raise
        finally:
            self._lock.release()

    def _connected(self) -> sqlite3.Connection:
        conn = self._conn()
        if not self._schema_ready:
            conn.executescript(_SCHEMA)
            for table, column, kind in _ADDED_COLUMNS:  # a store an older version created
                have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            self._schema_ready = True
        return conn

    def _reset(self) -> None:
        """Drop a connection that failed for another reason than a lock (a deleted or replaced
        file): the next call opens the file afresh."""
        if self._db is not None:
            self._db.close()
        self._db, self._schema_ready = None, False

    def lookup(self, keys: LeadKeys) -> Known:
        with self._transaction("DEFERRED") as conn:
            return _known(conn, keys, int(time.time()))

    def record_lead(
        self, keys: LeadKeys, ref: str, who: Identity, ttl_seconds: int, seen: Mapping[str, int]
    ) -> Recorded:
        now = int(time.time())
        with self._transaction() as conn:
            if keys.email_hash is not None:
                conn.execute(
                    "DELETE FROM dup WHERE email_hash = ? AND expires_at < ?",
                    (keys.email_hash, now),
                )
                hit = _email_hit(conn, keys.email_hash, now)
                if hit is not None:
                    return Recorded(email=hit)
            counts = _lead_counts(conn, keys.blocks)
            if any(counts.get(k, 0) != seen.get(k, 0) for k in keys.blocks):
                return Recorded(changed=_known(conn, keys, now))
            _insert_lead(conn, keys, ref, who, now + ttl_seconds, counts)
        return Recorded()

    def sync_customers(
        self, pairs: Iterable[tuple[str, str]], records: Mapping[str, CrmRecord] | None = None
    ) -> dict[str, int]:
        known = records or {}
        plain = CrmRecord()
        rows = ((h, ref, (r := known.get(ref, plain)).kind, r.stage) for h, ref in pairs)
        with self._transaction() as conn:
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS cur (email_hash TEXT PRIMARY KEY, ref TEXT, "
                "kind TEXT, stage TEXT)"
            )
            conn.execute("DELETE FROM cur")
            conn.executemany("INSERT OR REPLACE INTO cur VALUES (?, ?, ?, ?)", rows)
            removed = conn.execute(
                f"DELETE FROM dup WHERE {_CRM} AND email_hash NOT IN (SELECT email_hash FROM cur)"
            ).rowcount
            # A CRM entry replaces a lead entry for the same person (they converted).
            upserted = conn.execute(
                "INSERT OR REPLACE INTO dup (email_hash, kind, ref, expires_at, stage) "
                "SELECT email_hash, kind, ref, NULL, stage FROM cur"
            ).rowcount
        return {"upserted": upserted, "removed": removed}

    def sync_identities(self, blocks: Mapping[str, Sequence[Entry]]) -> dict[str, int]:
        """Replace every customer entry and link in one transaction (readers keep the old
        snapshot until it commits); lead entries stay, but expired ones are purged."""
        now = int(time.time())
        with self._transaction() as conn:
            conn.execute(f"DELETE FROM ident_entry WHERE {_CRM}")
            conn.execute(f"DELETE FROM ident_block WHERE {_CRM}")
            conn.execute(
                "DELETE FROM ident_block WHERE kind = 'lead' AND ref IN "
                "(SELECT ref FROM ident_entry WHERE kind = 'lead' AND expires_at < ?)",
                (now,),
            )
            conn.execute("DELETE FROM ident_entry WHERE kind = 'lead' AND expires_at < ?", (now,))
            entries = {e.ref: e for block in blocks.values() for e in block}
            conn.executemany(_INSERT_ENTRY, [_entry_row(e) for e in entries.values()])
            links = [(k, e.kind, e.ref) for k, block in blocks.items() for e in block]
            conn.executemany(
                "INSERT OR IGNORE INTO ident_block (key, kind, ref) VALUES (?, ?, ?)", links
            )
        return {"entries": len(entries), "blocks": len(blocks)}


def _within(conn: sqlite3.Connection, mode: str, deadline: float) -> Iterator[sqlite3.Connection]:
    left_ms = max(1, int((deadline - time.monotonic()) * 1000))
    conn.execute(f"PRAGMA busy_timeout = {left_ms}")
    conn.execute(f"BEGIN {mode}")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def describe(exc: BaseException) -> str:
    """An error of the store in one line: its cause, never a row."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


_INSERT_ENTRY = f"INSERT OR REPLACE INTO ident_entry ({_ENTRY_COLS}) VALUES ({', '.join('?' * 13)})"


def _email_hit(conn: sqlite3.Connection, email_hash: str, now: int) -> DuplicateHit | None:
    row = conn.execute(
        "SELECT kind, ref, expires_at, stage FROM dup WHERE email_hash = ?", (email_hash,)
    ).fetchone()
    if row is None or (row[2] is not None and row[2] < now):
        return None
    return DuplicateHit.stored(row[0], row[1], row[3])


def _known(conn: sqlite3.Connection, keys: LeadKeys, now: int) -> Known:
    email = _email_hit(conn, keys.email_hash, now) if keys.email_hash is not None else None
    if not keys.blocks:
        return Known(email=email)
    wanted = (*keys.blocks, *keys.lookup_only)
    marks = ",".join("?" * len(wanted))
    rows = conn.execute(
        f"SELECT b.key, {', '.join('e.' + c.strip() for c in _ENTRY_COLS.split(','))} "
        "FROM ident_block b JOIN ident_entry e ON e.kind = b.kind AND e.ref = b.ref "
        f"WHERE b.key IN ({marks})",
        wanted,
    ).fetchall()
    versions = dict.fromkeys(keys.blocks, 0)
    entries: dict[tuple[str, str], Entry] = {}
    for key, *row in rows:
        entry = _row_entry(row)
        if entry.kind == "lead" and key in versions:
            versions[key] += 1
        if entry.expires_at is None or entry.expires_at >= now:
            entries[(entry.kind, entry.ref)] = entry
    return Known(email=email, entries=tuple(entries.values()), versions=versions)


def _lead_counts(conn: sqlite3.Connection, blocks: Sequence[str]) -> dict[str, int]:
    if not blocks:
        return {}
    rows = conn.execute(
        "SELECT key, count(*) FROM ident_block WHERE kind = 'lead' "
        f"AND key IN ({','.join('?' * len(blocks))}) GROUP BY key",
        tuple(blocks),
    )
    return {str(k): int(n) for k, n in rows}


def _insert_lead(
    conn: sqlite3.Connection,
    keys: LeadKeys,
    ref: str,
    who: Identity,
    expires_at: int,
    counts: Mapping[str, int],
) -> None:
    if keys.email_hash is not None:
        conn.execute(
            "INSERT OR IGNORE INTO dup (email_hash, kind, ref, expires_at) VALUES (?, ?, ?, ?)",
            (keys.email_hash, "lead", ref, expires_at),
        )
    open_blocks = [k for k in keys.blocks if counts.get(k, 0) < LEAD_BLOCK_CAP]
    if not open_blocks:
        return
    conn.execute(_INSERT_ENTRY, _entry_row(Entry(ref, "lead", who, 1, expires_at)))
    conn.executemany(
        "INSERT OR IGNORE INTO ident_block (key, kind, ref) VALUES (?, 'lead', ?)",
        [(k, ref) for k in open_blocks],
    )


def _entry_row(e: Entry) -> tuple[Any, ...]:
    w = e.who
    counts = e.counts.encode() if e.counts else ""
    return (e.kind, e.ref, w.first, w.last, w.company, w.domain, w.phone, w.country, e.phone_n,
            e.expires_at, w.place.encode(), e.stage, counts)  # fmt: skip


def _row_entry(row: Sequence[Any]) -> Entry:
    kind, ref, first, last, company, domain, phone, country, phone_n, expires, place, *rest = row
    stage, counts = rest
    who = Identity(first, last, company, domain, phone, country, Place.decode(place))
    return Entry(ref, entry_kind(kind), who, phone_n, expires, stage, Counts.decode(counts))
