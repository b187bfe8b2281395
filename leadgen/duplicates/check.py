"""The duplicate check of one request: lookup -> state -> record.

Before scoring, each lead is looked up once (one store round trip): by its email hash (exact)
and by the hashed blocking keys of its identity (fuzzy, leadgen.duplicates.normalise). A known
email is the known person it names; otherwise the candidates the keys fetched are compared
(leadgen.duplicates.matching): a match at or above the threshold is a fuzzy hit, one in the band
below it a "possible" duplicate that is still scored. The hit is who the lead is (`Found`: a
customer, a record of the export that is not one, or a lead scored before); what the service
does with it (answer a customer unscored, score the others with `known_as`) is its own rule.

After scoring, a lead that is nobody known is recorded with a conditional write: it is written
only if its email is still free and nobody recorded a lead in its blocks since the lookup.
Otherwise the lead is re-matched against what changed (a concurrent submission of the same
person, or an earlier lead of the same batch) and is that lead, or is recorded on the next
attempt.

The store is optional (none: nothing is checked) and fallible: after one failed call the rest of
the request skips it, since each failure can cost its timeouts and retries and a batch of 100
must not wait 100 times for them. Only hashes reach the store as keys; the log gets the shape of
an identity, never a name, company, phone, address or email.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from leadgen.duplicates.matching import Match, MatchConfig, best_match
from leadgen.duplicates.normalise import (
    EntryKind,
    Identity,
    block_hash,
    block_keys,
    email_hash,
    identity_of,
    transposed_keys,
)
from leadgen.duplicates.store import DuplicateHit, DuplicateStore, Known, LeadKeys, Recorded

log = logging.getLogger(__name__)
# Conditional writes a lead may lose to changing blocks before it is reported unrecorded.
RECORD_ATTEMPTS = 3
# Whether the store answered ("done"), could not be asked ("skipped") or had nothing to look up.
DuplicateCheckStatus = Literal["done", "skipped", "no_email"]


class Contact(Protocol):
    """Who a lead says it is, as typed (leadgen.serve.schemas.LeadIdentity)."""

    @property
    def first_name(self) -> str | None: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def company(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...
    @property
    def street(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...
    @property
    def postcode(self) -> str | None: ...
    @property
    def dob(self) -> str | None: ...


class Lead(Protocol):
    """What the check reads of a validated lead (leadgen.serve.schemas.CleanLead)."""

    @property
    def email(self) -> str | None: ...
    @property
    def who(self) -> Contact: ...


@dataclass(frozen=True)
class Found:
    """A known person the lead is (or may be), by email or by fuzzy match: a customer, a record
    of the export that is not a customer (with its stage), or a lead scored before."""

    kind: EntryKind
    ref: str
    how: Literal["email", "fuzzy"]
    confidence: float
    matched_on: tuple[str, ...]
    stage: str = ""

    @classmethod
    def by_email(cls, hit: DuplicateHit) -> Found:
        return cls(hit.kind, hit.ref, "email", 1.0, ("email",), hit.stage)

    @classmethod
    def by_match(cls, m: Match) -> Found:
        return cls(m.kind, m.ref, "fuzzy", m.confidence, m.matched_on, m.stage)


@dataclass(frozen=True)
class DuplicateState:
    """Where one lead stands: its keys, its identity (never logged), whether the store answered
    ("done"), could not be asked ("skipped") or had nothing to look up ("no_email"), the known
    person it is (`hit`) or may be (`possible`), and the lead-block versions it saw."""

    keys: LeadKeys
    who: Identity
    status: DuplicateCheckStatus
    hit: Found | None = None
    possible: Found | None = None
    seen: Mapping[str, int] = field(default_factory=dict)


class DuplicateCheck:
    """One request's check; create one per request (it remembers a store failure)."""

    def __init__(
        self,
        store: DuplicateStore | None,
        hash_key: str,
        lead_ttl_seconds: int,
        match: MatchConfig | None = None,
    ) -> None:
        self._store = store
        self._hash_key = hash_key
        self._ttl = lead_ttl_seconds
        self._match = match or MatchConfig()
        self._down = store is None

    def keys_of(self, lead: Lead) -> tuple[LeadKeys, Identity]:
        w = lead.who
        who = identity_of(
            w.first_name, w.last_name, lead.email, w.company, w.phone, w.country,
            street=w.street, city=w.city, postcode=w.postcode, dob=w.dob, key=self._hash_key,
        )  # fmt: skip
        email = email_hash(lead.email, self._hash_key) if lead.email else None
        blocks = tuple(block_hash(k, self._hash_key) for k in block_keys(who))
        near = transposed_keys(who, w.postcode, self._hash_key)
        also = tuple(block_hash(k, self._hash_key) for k in near)
        return LeadKeys(email, blocks, also), who

    def lookup(self, lead: Lead) -> DuplicateState:
        keys, who = self.keys_of(lead)
        if keys.email_hash is None and not keys.blocks:
            return DuplicateState(keys, who, "no_email")
        if self._store is None or self._down:
            return DuplicateState(keys, who, "skipped")
        try:
            known = self._store.lookup(keys)
        except Exception as exc:
            self._failed("lookup", exc)
            return DuplicateState(keys, who, "skipped")
        state = self._judge(DuplicateState(keys, who, "done", seen=known.versions), known)
        _log_check(state, len(known.entries))
        return state

    def _judge(self, state: DuplicateState, known: Known) -> DuplicateState:
        if known.email is not None:
            return replace(state, hit=Found.by_email(known.email), possible=None)
        m = best_match(state.who, known.entries, self._match) if known.entries else None
        if m is None:
            return state
        if m.duplicate:
            return replace(state, hit=Found.by_match(m), possible=None)
        if state.possible is None or m.confidence > state.possible.confidence:
            return replace(state, possible=Found.by_match(m))
        return state

    def record(self, state: DuplicateState, ref: str) -> DuplicateState:
        """Record a scored lead under `ref`; the state says whether another submission won."""
        if state.status != "done":
            return state
        if self._store is None or self._down:
            return replace(state, status="skipped")
        for _ in range(RECORD_ATTEMPTS):
            try:
                outcome = self._store.record_lead(state.keys, ref, state.who, self._ttl, state.seen)
            except Exception as exc:
                self._failed("record", exc)
                return replace(state, status="skipped")
            if outcome.recorded or _found_itself(outcome, ref):
                return state
            known = outcome.changed or Known(email=outcome.email)
            state = self._judge(replace(state, seen=known.versions), known)
            if state.hit is not None:
                return state
        log.warning("duplicate record skipped: the lead's blocks kept changing")
        return replace(state, status="skipped")

    def _failed(self, what: str, exc: Exception) -> None:
        self._down = True
        log.warning("duplicate %s skipped: %s", what, type(exc).__name__)


def _found_itself(outcome: Recorded, ref: str) -> bool:
    """The write that "failed" had landed: a timed-out attempt retried by the client finds the
    lead's own email or entry. It is recorded, not a duplicate of itself."""
    known = outcome.changed or Known(email=outcome.email)
    if known.email is not None and (known.email.kind, known.email.ref) == ("lead", ref):
        return True
    return any(e.kind == "lead" and e.ref == ref for e in known.entries)


def _log_check(state: DuplicateState, candidates: int) -> None:
    """One debug line per lead: what matched and how strongly, never who."""
    found = state.hit or state.possible
    log.debug(
        "duplicate check",
        extra={
            "dup_state": "duplicate" if state.hit else ("possible" if state.possible else "new"),
            "dup_kind": found.how if found else None,
            "dup_of": found.kind if found else None,
            "confidence": found.confidence if found else None,
            "matched_on": list(found.matched_on) if found else None,
            "identity_shape": state.who.shape(),
            "blocking_keys": len(state.keys.blocks),
            "candidates": candidates,
        },
    )
