"""Customer entries for the fuzzy duplicate check, grouped under their hashed blocking keys.

The build job (DynamoDB) and `leadgen build` (SQLite) sync the result into the duplicate store
after LATEST moved, as they do the email hashes. One entry per person: rows with the same
normalised mailbox are one person (the first customer id wins, as in the email table); rows
without a first and a last name are skipped (there is nothing to compare). An entry's `phone_n`
counts the different names giving its phone key: 1 is a personal number, more a switchboard.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from leadgen.duplicates.normalise import (
    Entry,
    Identity,
    block_hash,
    block_keys,
    identity_of,
    normalise_email,
)

# A block holding more customers than this is dropped: its key tells nothing (thousands of
# "J500" at one employer), and it bounds a DynamoDB item (400 KB) with room to spare.
MAX_BLOCK_ENTRIES = 1000


class Customers(Protocol):
    """The export's current customers as the build read them (leadgen.builder.reader.CrmTable):
    ids, emails and the identity columns present (first_name, last_name, company, ...)."""

    @property
    def ids(self) -> np.ndarray: ...
    @property
    def emails(self) -> Sequence[str | None] | None: ...
    @property
    def identity(self) -> Mapping[str, Sequence[str | None]]: ...
    def __len__(self) -> int: ...


@dataclass
class CustomerBlocks:
    """Hashed block key -> the customer entries under it, and counts for the build report."""

    blocks: dict[str, list[Entry]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def customer_blocks(table: Customers, hash_key: str) -> CustomerBlocks:
    """The blocks of the export's current customers; empty without name columns."""
    cols = table.identity
    if "first_name" not in cols or "last_name" not in cols:
        return CustomerBlocks(report={"entries": 0, "reason": "no first_name/last_name column"})
    people, skipped, merged = _people(table)
    names_per_phone = Counter(p for p, _ in {(w.phone, (w.first, w.last)) for _, w in people})
    plain: dict[str, list[Entry]] = defaultdict(list)
    for ref, who in people:
        entry = Entry(ref, "customer", who, max(1, names_per_phone.get(who.phone, 1)))
        for key in block_keys(who):
            plain[key].append(entry)
    sizes = [len(v) for v in plain.values()]
    blocks = {block_hash(k, hash_key): v for k, v in plain.items() if len(v) <= MAX_BLOCK_ENTRIES}
    report = {
        "entries": len(people),
        "blocks": len(blocks),
        "largest_block": max(sizes, default=0),
        "hot_blocks_dropped": len(plain) - len(blocks),
        "skipped_no_name": skipped,
        "merged_same_mailbox": merged,
        "shared_phones": sum(1 for p, n in names_per_phone.items() if p and n > 1),
    }
    return CustomerBlocks(blocks, report)


def _people(table: Customers) -> tuple[list[tuple[str, Identity]], int, int]:
    """(customer id, identity) per person, and how many rows were skipped and merged."""
    people: list[tuple[str, Identity]] = []
    mailboxes: set[str] = set()
    skipped = merged = 0
    for ref, email, who in _rows(table):
        if not (who.first and who.last):
            skipped += 1
            continue
        mailbox = normalise_email(email) if email else None
        if mailbox is not None:
            if mailbox in mailboxes:
                merged += 1
                continue
            mailboxes.add(mailbox)
        if who.company or who.domain or who.phone:  # else no blocking key: nothing to store
            people.append((ref, who))
    return people, skipped, merged


def _rows(table: Customers) -> Iterator[tuple[str, str | None, Identity]]:
    cols = table.identity
    n = len(table)

    def col(name: str) -> Sequence[str | None]:
        return cols.get(name) or [None] * n

    emails: Sequence[str | None] = table.emails or [None] * n
    columns = (col("first_name"), col("last_name"), col("company"), col("phone"), col("country"))
    for i, (first, last, company, phone, country) in enumerate(zip(*columns, strict=True)):
        who = identity_of(first, last, emails[i], company, phone, country)
        yield str(table.ids[i]), emails[i], who
