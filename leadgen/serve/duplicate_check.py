"""The duplicate check of one request: lookup -> state -> record.

Before scoring, each lead's email hash is looked up: a known customer or a lead scored recently
is answered as a duplicate without being embedded. After scoring, the new lead is recorded with a
conditional write; losing that race to a concurrent submission of the same person makes it a
duplicate after all. The store is optional (no table: nothing is checked) and fallible: after one
failed call the rest of the request skips it, since each failure can cost its timeouts and
retries and a batch of 100 must not wait 100 times for them. Only hashes reach the store and the
log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from leadgen.model.identity import email_hash
from leadgen.serve.schemas import DuplicateCheckStatus
from leadgen.stores.duplicates import DuplicateHit, DuplicateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DuplicateState:
    """Where one lead stands: its key (None without a usable email), whether the store answered
    ("done"), could not be asked ("skipped") or was not needed ("no_email"), and the hit."""

    key: str | None
    status: DuplicateCheckStatus
    hit: DuplicateHit | None = None


class DuplicateCheck:
    """One request's check; create one per request (it remembers a store failure)."""

    def __init__(self, store: DuplicateStore | None, hash_key: str, lead_ttl_seconds: int) -> None:
        self._store = store
        self._hash_key = hash_key
        self._ttl = lead_ttl_seconds
        self._down = store is None

    def lookup(self, email: str | None) -> DuplicateState:
        key = email_hash(email, self._hash_key) if email else None
        if key is None:
            return DuplicateState(None, "no_email")
        if self._store is None or self._down:
            return DuplicateState(key, "skipped")
        try:
            return DuplicateState(key, "done", self._store.lookup(key))
        except Exception as exc:
            self._failed("lookup", exc)
            return DuplicateState(key, "skipped")

    def record(self, state: DuplicateState, ref: str) -> DuplicateState:
        """Record a scored lead under `ref`; the state says whether another submission won."""
        if state.status != "done":
            return state
        if self._store is None or self._down:
            return replace(state, status="skipped")
        try:
            return replace(state, hit=self._store.record_lead(state.key or "", ref, self._ttl))
        except Exception as exc:
            self._failed("record", exc)
            return replace(state, status="skipped")

    def _failed(self, what: str, exc: Exception) -> None:
        self._down = True
        log.warning("duplicate %s skipped: %s", what, type(exc).__name__)
