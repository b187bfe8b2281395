"""What happened to the leads we scored: logged leads matched against the export a build reads.

Every build reads the score log (leadgen.stores.score_log) and looks each logged lead up among the
export's current customers, by three rules in turn:

1. id: the lead's own id (the request's `lead_id`, the lead file's id column) is a customer id;
2. email: its keyed email hash is a customer's (the duplicate store's hash of the same key);
3. fuzzy: its hashed identity is a customer's by the duplicate check's matching
   (leadgen.duplicates.hashed_identity: names agree, duplicate-grade confidence, one-to-one).

A lead scored at least `maturity_days` before the build is matured: found, it became a customer
(and high-value when that customer is); not found, it did not (yet). A younger one is "too
recent" and left out. A lead scored several times by one version counts once (its first
scoring); scored by two versions, once for each. The counts per rule are in the build report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np

from leadgen.builder.reader import CrmTable
from leadgen.duplicates.hashed_identity import HashedCustomers, from_json
from leadgen.duplicates.normalise import Entry, customer_hash_pairs

RULES = ("id", "email", "fuzzy")


@dataclass(frozen=True)
class Outcome:
    """One matured scoring: the logged record, how it was matched and what became of it."""

    record: Any  # leadgen.stores.score_log.ScoreRecord
    matched_by: str | None  # one of RULES, None: not found
    row: int | None  # the customer's row in the export
    high_value: bool = False  # that customer is high-value

    @property
    def converted(self) -> bool:
        return self.row is not None


@dataclass
class Outcomes:
    """The matured scorings with their outcomes, and the counts the report shows."""

    as_of: datetime
    maturity_days: float
    matured: list[Outcome] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    log: dict[str, Any] = field(default_factory=dict)  # what was read (score_log.LogRead)

    @property
    def converted(self) -> np.ndarray:
        return np.array([o.converted for o in self.matured], dtype=bool)

    @property
    def high_value(self) -> np.ndarray:
        return np.array([o.high_value for o in self.matured], dtype=bool)

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "maturity_days": self.maturity_days,
            "rules": list(RULES),
            "counts": self.counts,
            "log": self.log,
        }


def lead_key(record: Any) -> tuple[str, str]:
    """Who a record is about, for counting a lead once: its id, else its email hash, else its
    reference; a record with none of them is a lead of its own."""
    for kind in ("lead_id", "email_hash", "lead_ref"):
        value = getattr(record, kind)
        if value:
            return kind, str(value)
    return "record", str(id(record))


def first_scorings(records: Iterable[Any]) -> list[Any]:
    """The first record of each (version, lead): a lead scored again by the same version (a
    retried request, a file scored twice) is one scoring."""
    seen: set[tuple[str, tuple[str, str]]] = set()
    out = []
    for r in sorted(records, key=lambda r: r.scored_at):
        key = (r.artifact_version, lead_key(r))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


class CustomerIndex:
    """The export's current customers by id, keyed email hash and hashed identity: built on the
    first look-up, so a build whose log holds no matured lead does not pay for it (a second
    pass over every customer's identity)."""

    def __init__(self, table: CrmTable, entries: Iterable[Entry], hash_key: str) -> None:
        self._table, self._entries, self._hash_key = table, entries, hash_key

    @cached_property
    def by_id(self) -> dict[str, int]:
        ids = [str(i) for i in self._table.ids.tolist()]
        return {cid: row for row, cid in reversed(list(enumerate(ids)))}

    @cached_property
    def by_email(self) -> dict[str, int]:
        table, ids = self._table, [str(i) for i in self._table.ids.tolist()]
        pairs = customer_hash_pairs(table.emails, ids, self._hash_key) if table.emails else []
        return {h: self.by_id[cid] for h, cid in pairs}

    @cached_property
    def people(self) -> HashedCustomers:
        return HashedCustomers(self._entries, self._hash_key)

    def find(self, record: Any) -> tuple[str | None, int | None]:
        if record.lead_id is not None and record.lead_id in self.by_id:
            return "id", self.by_id[record.lead_id]
        if record.email_hash is not None and record.email_hash in self.by_email:
            return "email", self.by_email[record.email_hash]
        if record.who:
            ref = self.people.match(from_json(record.who))
            if ref is not None and ref in self.by_id:
                return "fuzzy", self.by_id[ref]
        return None, None


def lead_outcomes(
    records: Sequence[Any],
    table: CrmTable,
    customers: CustomerIndex,
    as_of: datetime,
    maturity_days: float,
) -> Outcomes:
    """Match every matured first scoring against the export (see the module doc)."""
    out = Outcomes(as_of, maturity_days)
    scorings = first_scorings(records)
    cutoff = as_of - timedelta(days=maturity_days)
    counts: Counter[str] = Counter(records=len(records), scorings=len(scorings))
    for r in scorings:
        if r.scored_at > cutoff:
            counts["too_recent"] += 1
            continue
        rule, row = customers.find(r)
        counts[f"matched_{rule}" if rule else "not_matched"] += 1
        high = row is not None and bool(table.labels[row])
        out.matured.append(Outcome(r, rule, row, high))
    counts["matured"] = len(out.matured)
    counts["matured_leads"] = len({lead_key(o.record) for o in out.matured})
    keys = ("records", "scorings", "too_recent", "matured", "matured_leads", "not_matched")
    out.counts = {k: int(counts[k]) for k in (*keys, *(f"matched_{r}" for r in RULES))}
    return out
