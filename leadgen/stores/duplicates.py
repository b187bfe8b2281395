"""Duplicate detection on emails: normalise, hash, and a store with one interface.

The raw email never leaves this module: only its hash is stored, logged or compared. The local
store is SQLite; the AWS store (DynamoDB, stores.dynamo) has the same interface and the same
semantics: `record_lead` is a conditional insert, so of two concurrent submissions of one person
exactly one is not a duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# Providers that ignore dots in the local part, and those that deliver +tag addresses to the
# base mailbox (so "jane+crm@" is "jane@").
_DOTLESS = {"gmail.com", "googlemail.com"}
_PLUS_TAGS = {
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "icloud.com",
    "me.com",
    "fastmail.com",
    "protonmail.com",
    "proton.me",
    "yahoo.com",
}
_ALIASES = {"googlemail.com": "gmail.com"}


def normalise_email(email: str) -> str | None:
    """Canonical form of an address, or None if it is not an address at all."""
    text = email.strip().lower()
    if text.count("@") != 1:
        return None
    local, domain = text.split("@")
    domain = _ALIASES.get(domain.strip("."), domain.strip("."))
    if not local or not domain or "." not in domain or " " in text:
        return None
    if domain in _PLUS_TAGS:
        local = local.split("+", 1)[0]
    if domain in _DOTLESS:
        local = local.replace(".", "")
    if not local:
        return None
    return f"{local}@{domain}"


def email_hash(email: str, key: str | None = None) -> str | None:
    """sha256 of the normalised email; keyed (HMAC) when LEADGEN_EMAIL_HASH_KEY is set, so the
    table cannot be reversed with a dictionary of addresses by someone without the key."""
    norm = normalise_email(email)
    if norm is None:
        return None
    secret = key if key is not None else os.environ.get("LEADGEN_EMAIL_HASH_KEY", "")
    if secret:
        return hmac.new(secret.encode(), norm.encode(), hashlib.sha256).hexdigest()
    return hashlib.sha256(norm.encode()).hexdigest()


@dataclass(frozen=True)
class DuplicateHit:
    kind: str  # "customer" | "lead"
    ref: str  # customer id, or the lead reference that was scored first


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
        return DuplicateHit(kind=row[0], ref=row[1])

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


def customer_hash_pairs(emails: Iterable[str | None], ids: Iterable[int]) -> list[tuple[str, str]]:
    """(hash, customer id) of current customers with a valid email; first id wins per person."""
    seen: dict[str, str] = {}
    for email, cid in zip(emails, ids, strict=True):
        if not email:
            continue
        h = email_hash(email)
        if h is not None and h not in seen:
            seen[h] = str(cid)
    return list(seen.items())
