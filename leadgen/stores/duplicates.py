"""Duplicate stores: who is already known (customers, recently scored leads), by email hash.

One interface, two stores: SQLite here for a laptop, DynamoDB (stores.dynamo) in AWS, with the
same semantics: `record_lead` is a conditional insert, so of two concurrent submissions of one
person exactly one is not a duplicate. Only hashes are stored (leadgen.model.identity).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class DuplicateHit:
    kind: Literal["customer", "lead"]
    ref: str  # customer id, or the lead reference that was scored first

    @classmethod
    def stored(cls, kind: str, ref: str) -> DuplicateHit:
        """From a store's row: anything but a customer entry is a lead entry."""
        return cls(kind="customer" if kind == "customer" else "lead", ref=ref)


class DuplicateStore(Protocol):
    def lookup(self, email_hash: str) -> DuplicateHit | None: ...

    def record_lead(self, email_hash: str, ref: str, ttl_seconds: int) -> DuplicateHit | None:
        """Insert if absent; returns None if this call recorded it, else the existing entry."""
        ...

    def sync_customers(self, pairs: Iterable[tuple[str, str]]) -> dict[str, int]:
        """Make customer entries equal to `pairs` (hash, customer id); never touch leads."""
        ...


class SqliteDuplicateStore:
    """Local store: one SQLite file, INSERT OR IGNORE as the conditional write."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS dup (email_hash TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                "ref TEXT NOT NULL, expires_at INTEGER)"
            )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def lookup(self, email_hash: str) -> DuplicateHit | None:
        row = (
            self._conn()
            .execute("SELECT kind, ref, expires_at FROM dup WHERE email_hash = ?", (email_hash,))
            .fetchone()
        )
        if row is None or (row[2] is not None and row[2] < time.time()):
            return None
        return DuplicateHit.stored(row[0], row[1])

    def record_lead(self, email_hash: str, ref: str, ttl_seconds: int) -> DuplicateHit | None:
        conn = self._conn()
        now = int(time.time())
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "DELETE FROM dup WHERE email_hash = ? "
                "AND expires_at IS NOT NULL AND expires_at < ?",
                (email_hash, now),
            )
            cur = conn.execute(
                "INSERT OR IGNORE INTO dup (email_hash, kind, ref, expires_at) VALUES (?, ?, ?, ?)",
                (email_hash, "lead", ref, now + ttl_seconds),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if cur.rowcount == 1:
            return None
        return self.lookup(email_hash)

    def sync_customers(self, pairs: Iterable[tuple[str, str]]) -> dict[str, int]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS cur (email_hash TEXT PRIMARY KEY, ref TEXT)"
            )
            conn.execute("DELETE FROM cur")
            conn.executemany("INSERT OR REPLACE INTO cur VALUES (?, ?)", pairs)
            removed = conn.execute(
                "DELETE FROM dup WHERE kind = 'customer' AND email_hash NOT IN "
                "(SELECT email_hash FROM cur)"
            ).rowcount
            # A customer entry replaces a lead entry for the same person (they converted).
            upserted = conn.execute(
                "INSERT OR REPLACE INTO dup (email_hash, kind, ref, expires_at) "
                "SELECT email_hash, 'customer', ref, NULL FROM cur"
            ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return {"upserted": upserted, "removed": removed}


NO_EMAILS = "no valid customer emails in the export (no 'email' column?); store left as is"


def sync_customer_hashes(store: DuplicateStore, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Make the store's customers equal to `pairs`: {"status": "ok", "upserted", "removed"}.

    An export without a single valid email is not synced ({"status": "skipped", "reason"}):
    removing every customer because the email column went missing would turn every known
    customer into a new lead. The CLI's SQLite store and the build job's table both sync here."""
    if not pairs:
        return {"status": "skipped", "reason": NO_EMAILS}
    return {"status": "ok", **store.sync_customers(pairs)}
