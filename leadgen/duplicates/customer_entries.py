"""The export's people for the duplicate check: their entries under hashed blocking keys, what
each one is (customer or not, its stage), and the duplicates the export itself holds.

The build job (DynamoDB) and `leadgen build` (SQLite) sync the result into the duplicate store
after LATEST moved, as they do the email hashes. One entry per person: rows with the same
normalised mailbox are one person (a customer's id wins over a non-customer's, else the first);
rows without a name are skipped (there is nothing to compare). An entry's `phone_n` counts the
different names giving its phone key: 1 is a personal number, more a switchboard; its `counts`
how many people share its first name, surname and postcode (`name_counts`), what the match
weighs their agreement by.

Every row of the export is a known person; which of them are customers is the build's rule
(leadgen.config.CustomerRule): only a customer is answered without a score.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from leadgen.config import IDENTITY_FIELDS
from leadgen.duplicates.address import swap_neighbours
from leadgen.duplicates.matching import MatchConfig, best_match
from leadgen.duplicates.normalise import (
    DWELLING_KEYS,
    Counts,
    CrmRecord,
    Entry,
    Identity,
    block_hash,
    block_keys,
    identity_of,
    normalise_email,
)

# A block holding more people than this is dropped: its key tells nothing (thousands of "J500"
# at one employer), and it bounds a DynamoDB item (400 KB) with room to spare.
MAX_BLOCK_ENTRIES = 1000
# A dwelling key (street + number, number + postcode) holding more people than this is an
# office or an apartment block: no evidence of one person, dropped the same way.
MAX_DWELLING_ENTRIES = 50
# The export's own duplicates are looked for within blocks of at most this many people (every
# pair of a block is compared); the few larger blocks are left out of that count. Larger exports
# are scanned for them on a fixed sample of people, so the build's cost stays bounded (about
# a quarter of a second per thousand people on the generated CRM).
MAX_SCANNED_BLOCK = 200
MAX_SCANNED_PEOPLE = 50_000
EXAMPLES = 5


class Customers(Protocol):
    """The export's current rows as the build read them (leadgen.builder.reader.CrmTable): ids,
    emails, the identity fields present (first_name, last_name, company, ..., by field) and
    which rows are customers with their stage text (None: every row, no stage)."""

    @property
    def ids(self) -> np.ndarray: ...
    @property
    def emails(self) -> Sequence[str | None] | None: ...
    @property
    def identity(self) -> Mapping[str, Sequence[str | None]]: ...
    @property
    def customer(self) -> np.ndarray | None: ...
    @property
    def stage(self) -> Sequence[str | None] | None: ...
    def __len__(self) -> int: ...


@dataclass
class CustomerBlocks:
    """Hashed block key -> the entries under it, each known person's record (customer or not,
    stage) by id where it is not a plain customer, and counts for the build report."""

    blocks: dict[str, list[Entry]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    records: dict[str, CrmRecord] = field(default_factory=dict)


Note = Callable[[str], None]
NOTE_EVERY = 100_000  # rows between two progress notes of a large export


def _silent(_message: str) -> None:
    """No progress: benches and tests."""


def customer_blocks(table: Customers, hash_key: str, note: Note = _silent) -> CustomerBlocks:
    """The blocks of the export's people; empty without name columns. `note` hears the rows
    read, every NOTE_EVERY of a large export (a million customers take a minute)."""
    records = crm_records(table)
    cols = table.identity
    if "first_name" not in cols or "last_name" not in cols:
        report = {"entries": 0, "reason": "no first and last name (or full name) column"}
        return CustomerBlocks(report=report, records=records)
    people, skipped, merged = _people(table, hash_key, records, note)
    names_per_phone = Counter(p for p, _ in {(w.phone, (w.first, w.last)) for _, w, _ in people})
    counts = name_counts([who for _, who, _ in people])
    plain: dict[str, list[Entry]] = defaultdict(list)
    for ref, who, rec in people:
        phone_n = max(1, names_per_phone.get(who.phone, 1))
        entry = Entry(ref, rec.kind, who, phone_n, stage=rec.stage, counts=counts(who))
        for key in block_keys(who):
            plain[key].append(entry)
    sizes = [len(v) for v in plain.values()]
    kept = {k: v for k, v in plain.items() if len(v) <= _cap(k)}
    report = {
        "entries": len(people),
        "customers": sum(1 for _, _, r in people if r.kind == "customer"),
        "blocks": len(kept),
        "largest_block": max(sizes, default=0),
        "hot_blocks_dropped": len(plain) - len(kept),
        "skipped_no_name": skipped,
        "merged_same_mailbox": merged,
        "shared_phones": sum(1 for p, n in names_per_phone.items() if p and n > 1),
        "fields": sorted(f for f in table.identity if f != "full_name"),
    }
    blocks = {block_hash(k, hash_key): v for k, v in kept.items()}
    return CustomerBlocks(blocks, report, records)


def name_counts(people: Sequence[Identity]) -> Callable[[Identity], Counts]:
    """Each person's Counts: how many of `people` carry their first name, their surname, their
    postcode and their country, and how many a postcode one edit off (the stored entries'
    people: those with a name and something to block on). The match reads a value's share of
    the export (count / people) as its u, the chance that a new person agrees on it by
    coincidence; counting here, at build time, makes that share this CRM's own (how dense
    namesakes and postcodes are in it) rather than a constant.

    One edit off is counted on the postcode's deletion digests (address.place_of): a postcode
    one edit from another shares one of them (a transposition two, so it is counted twice: an
    upper bound, which only makes a near postcode weigh less). The people one swap away (two
    adjacent characters exchanged) are counted apart as well: at most three codes hold them
    where a dozen or more are one edit away, so a swapped code is far better evidence."""
    first = Counter(w.first for w in people if w.first)
    last = Counter(w.last for w in people if w.last)
    country = Counter(w.country for w in people if w.country)
    code = Counter(w.place.postcode[0] for w in people if w.place.postcode)
    parts = Counter(d for w in people for d in w.place.postcode[1:])
    swaps = {c: sum(code[o] for o in ns)
             for c, ns in swap_neighbours(w.place.postcode for w in people).items()}  # fmt: skip

    def of(w: Identity) -> Counts:
        pc = w.place.postcode
        same = code[pc[0]] if pc else 0
        near = sum(parts[d] - same for d in pc[1:])
        return Counts(first[w.first], last[w.last], same, near, country[w.country], len(people),
                      swaps[pc[0]] if pc else 0)  # fmt: skip

    return of


def _cap(plain_key: str) -> int:
    return MAX_DWELLING_ENTRIES if plain_key.startswith(DWELLING_KEYS) else MAX_BLOCK_ENTRIES


def crm_records(table: Customers) -> dict[str, CrmRecord]:
    """id -> record, for the rows that are not plain customers (a non-customer, or a stage)."""
    if table.customer is None and table.stage is None:
        return {}
    out: dict[str, CrmRecord] = {}
    for i, ref in enumerate(table.ids.tolist()):
        customer = True if table.customer is None else bool(table.customer[i])
        stage = (table.stage[i] if table.stage is not None else None) or ""
        if stage or not customer:
            out[str(ref)] = CrmRecord("customer" if customer else "non_customer", stage)
    return out


def _people(
    table: Customers, hash_key: str, records: Mapping[str, CrmRecord], note: Note
) -> tuple[list[tuple[str, Identity, CrmRecord]], int, int]:
    """(id, identity, record) per person, customers first, and how many rows were skipped (no
    name) and merged (a mailbox seen before)."""
    people: list[tuple[str, Identity, CrmRecord]] = []
    mailboxes: set[str] = set()
    skipped = merged = 0
    plain = CrmRecord()
    rows = sorted(
        _rows(table, hash_key, note), key=lambda r: records.get(r[0], plain).kind != "customer"
    )
    for ref, email, who in rows:
        if not (who.first or who.last):
            skipped += 1
            continue
        mailbox = normalise_email(email) if email else None
        if mailbox is not None:
            if mailbox in mailboxes:
                merged += 1
                continue
            mailboxes.add(mailbox)
        if who.has_evidence():  # else no blocking key: nothing to store
            people.append((ref, who, records.get(ref, plain)))
    return people, skipped, merged


# The identity fields of a row, in identity_of's order (a full name is split by the reader).
_ROW_FIELDS = tuple(f for f in IDENTITY_FIELDS if f != "full_name")


def _rows(
    table: Customers, hash_key: str, note: Note
) -> Iterator[tuple[str, str | None, Identity]]:
    cols = table.identity
    n = len(table)

    def col(name: str) -> Sequence[str | None]:
        return cols.get(name) or [None] * n

    emails: Sequence[str | None] = table.emails or [None] * n
    columns = [col(f) for f in _ROW_FIELDS]
    for i, row in enumerate(zip(*columns, strict=True)):
        first, last, company, phone, country, street, city, postcode, dob = row
        who = identity_of(
            first, last, emails[i], company, phone, country,
            street=street, city=city, postcode=postcode, dob=dob, key=hash_key,
        )  # fmt: skip
        yield str(table.ids[i]), emails[i], who
        if (i + 1) % NOTE_EVERY == 0 or (i + 1 == n and n > NOTE_EVERY):
            note(f"{i + 1:,} of {n:,} customers' identities read")


# ---- the export's own duplicates -------------------------------------------------------------
def export_duplicates(
    table: Customers, blocks: CustomerBlocks, match: MatchConfig | None = None
) -> dict[str, Any]:
    """How many rows of the export look like the same person: by mailbox (exact: the rows
    merged into one entry) and by the fuzzy check among the entries (each entry matched against
    the others of its blocks, as a lead would be), with a few example id pairs of each. For the
    build report: a CRM holding one person twice splits its history between two ids."""
    exact = _same_mailbox_pairs(table)
    fuzzy, scanned, people = _fuzzy_pairs(blocks.blocks, match or MatchConfig())
    return {
        "same_email": {"pairs": len(exact), "examples": [list(p) for p in exact[:EXAMPLES]]},
        "fuzzy": {
            "pairs": len(fuzzy),
            "examples": [list(p) for p in fuzzy[:EXAMPLES]],
            "people_scanned": scanned,
            "people": people,  # a sample when fewer were scanned: pairs among it only
        },
        "people_involved": len({r for pair in (*exact, *fuzzy) for r in pair}),
        "blocks_scanned_max_size": MAX_SCANNED_BLOCK,
    }


def _same_mailbox_pairs(table: Customers) -> list[tuple[str, str]]:
    first: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for email, ref in zip(table.emails or [], table.ids.tolist(), strict=False):
        mailbox = normalise_email(email) if email else None
        if mailbox is None:
            continue
        if mailbox in first:
            pairs.append((first[mailbox], str(ref)))
        else:
            first[mailbox] = str(ref)
    return pairs


def _fuzzy_pairs(
    blocks: Mapping[str, Sequence[Entry]], match: MatchConfig
) -> tuple[list[tuple[str, str]], int, int]:
    """Unordered id pairs the fuzzy check calls one person, in a stable order; how many people
    were matched against their block neighbours, of how many."""
    me = {e.ref: e for entries in blocks.values() for e in entries}
    chosen = set(me)
    if len(me) > MAX_SCANNED_PEOPLE:
        chosen = set(random.Random(0).sample(sorted(me), MAX_SCANNED_PEOPLE))
    neighbours: dict[str, dict[str, Entry]] = defaultdict(dict)
    for entries in blocks.values():
        if len(entries) > MAX_SCANNED_BLOCK:
            continue
        for e in entries:
            if e.ref in chosen:
                neighbours[e.ref].update((o.ref, o) for o in entries if o.ref != e.ref)
    pairs: set[tuple[str, str]] = set()
    for ref, others in neighbours.items():
        m = best_match(me[ref].who, others.values(), match)
        if m is not None and m.duplicate:
            a, b = sorted((ref, m.ref))
            pairs.add((a, b))
    return sorted(pairs), len(chosen), len(me)
