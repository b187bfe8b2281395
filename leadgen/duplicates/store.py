"""Duplicate stores: who is already known (customers, recently scored leads), as an interface.

Two stores keep it with the same semantics: SQLite on a laptop (leadgen.duplicates.sqlite_store)
and DynamoDB in AWS (leadgen.duplicates.dynamo_store). A lead is known by its email hash (exact)
and by its identity entries under hashed blocking keys (fuzzy, leadgen.duplicates.normalise);
`lookup` answers both in one round trip. `record_lead` is conditional: it writes the lead only if
its email is still free AND none of its lead blocks changed since the lookup; otherwise it says
what changed, and the caller re-matches. So of concurrent submissions of one person (exact or
near) exactly one is recorded as new. Only hashes are keys; entries hold the normalised identity
fields, never an email.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from leadgen.duplicates.normalise import CrmRecord, Entry, EntryKind, Identity, entry_kind

# Live lead entries one lead block holds at most: a block beyond it takes no new leads (they are
# still found through their other keys), which bounds a DynamoDB item and a lookup's cost.
LEAD_BLOCK_CAP = 200


@dataclass(frozen=True)
class DuplicateHit:
    kind: EntryKind
    ref: str  # the export's id, or the lead reference that was scored first
    stage: str = ""  # the export's stage text of a CRM record ("" when none)

    @classmethod
    def stored(cls, kind: str, ref: str, stage: str | None = None) -> DuplicateHit:
        """From a store's row: a customer, a non-customer, or else a lead entry."""
        return cls(kind=entry_kind(kind), ref=ref, stage=stage or "")


@dataclass(frozen=True)
class LeadKeys:
    """How a lead is looked up: its email hash (None without a usable email) and its hashed
    blocking keys (empty without name + org or phone)."""

    email_hash: str | None
    blocks: tuple[str, ...] = ()
    # Customer blocks read but never written or checked for changes (normalise.transposed_keys).
    lookup_only: tuple[str, ...] = ()


@dataclass(frozen=True)
class Known:
    """One lookup's answer: the email's owner, the live entries under the blocking keys, and how
    many lead entries each lead block held (what `record_lead` checks has not changed)."""

    email: DuplicateHit | None = None
    entries: tuple[Entry, ...] = ()
    versions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    """What `record_lead` found: nothing (the lead is recorded), the email taken meanwhile, or
    lead blocks changed since the lookup (`changed`: a fresh lookup; nothing was written)."""

    email: DuplicateHit | None = None
    changed: Known | None = None

    @property
    def recorded(self) -> bool:
        return self.email is None and self.changed is None


class DuplicateStore(Protocol):
    def lookup(self, keys: LeadKeys) -> Known: ...

    def record_lead(
        self, keys: LeadKeys, ref: str, who: Identity, ttl_seconds: int, seen: Mapping[str, int]
    ) -> Recorded:
        """Write the lead if its email is free and its blocks still hold `seen` lead entries."""
        ...

    def sync_customers(
        self, pairs: Iterable[tuple[str, str]], records: Mapping[str, CrmRecord] | None = None
    ) -> dict[str, int]:
        """Make the export's emails equal to `pairs` (hash, id), each a customer unless
        `records` (id -> record) says otherwise; never touch leads."""
        ...

    def sync_identities(self, blocks: Mapping[str, Sequence[Entry]]) -> dict[str, int]:
        """Make customer entries equal to `blocks` (hashed key -> entries); never touch leads."""
        ...


class LookupOnly:
    """A duplicate store seen read-only: lookups pass through (email and fuzzy), bulk rows are
    never recorded (a bulk file is not a stream of new leads to remember)."""

    def __init__(self, store: DuplicateStore) -> None:
        self.store = store

    def lookup(self, keys: LeadKeys) -> Known:
        return self.store.lookup(keys)

    def record_lead(
        self, keys: LeadKeys, ref: str, who: Identity, ttl_seconds: int, seen: Mapping[str, int]
    ) -> Recorded:
        return Recorded()

    def sync_customers(
        self, pairs: Iterable[tuple[str, str]], records: Mapping[str, CrmRecord] | None = None
    ) -> dict[str, int]:
        raise RuntimeError("a read-only duplicate store is never synced")

    def sync_identities(self, blocks: Mapping[str, Sequence[Entry]]) -> dict[str, int]:
        raise RuntimeError("a read-only duplicate store is never synced")


NO_EMAILS = "no valid customer emails in the export (no 'email' column?); store left as is"
NO_IDENTITIES = (
    "no customer with a name and a company, email domain, phone or address in the export (no "
    "first/last or full name column, or none of company, phone, street, city, postcode? map "
    "them with --first-name-col, --company-col, ... or leadgen inspect); fuzzy entries left "
    "as they are"
)


def sync_customer_hashes(
    store: DuplicateStore,
    pairs: list[tuple[str, str]],
    records: Mapping[str, CrmRecord] | None = None,
) -> dict[str, Any]:
    """Make the store's customers equal to `pairs`: {"status": "ok", "upserted", "removed"}.

    An export without a single valid email is not synced ({"status": "skipped", "reason"}):
    removing every customer because the email column went missing would turn every known
    customer into a new lead. The CLI's SQLite store and the build job's table both sync here."""
    if not pairs:
        return {"status": "skipped", "reason": NO_EMAILS}
    return {"status": "ok", **store.sync_customers(pairs, records)}


def sync_customer_identities(
    store: DuplicateStore, blocks: Mapping[str, Sequence[Entry]]
) -> dict[str, Any]:
    """The same policy for the fuzzy entries: an export with no identity columns leaves the
    store's customer entries as they are rather than emptying them."""
    if not blocks:
        return {"status": "skipped", "reason": NO_IDENTITIES}
    return {"status": "ok", **store.sync_identities(blocks)}
