"""`leadgen forget EMAIL|ID`: remove a person from the score log and the duplicate stores.

The right to erasure, for what leadgen itself keeps of a person:
- the score log (leadgen.stores.score_log): every record of the person, found by the keyed hash
  of the email given, or by an id (the lead's own id or the lead_ref an answer gave); the
  person's other keys found on those records (the hashes, ids and refs they carry) are forgotten
  too, so a record kept under another key of the same person goes as well. Each object holding
  one is rewritten without it (whole, atomically); on S3 its earlier versions are deleted;
- the duplicate stores (leadgen.duplicates.erase): SQLite locally, the DynamoDB email and
  identity tables in AWS, by the same hashes and references.

What forget cannot reach is said in docs/outcomes.md: lines the Lambda printed stay in its log
group until that group's retention expires (which is why the stack keeps it short), and the CRM
export and the team's own lead files and scored copies are the team's to erase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leadgen.duplicates.erase import Person, erase_dynamo, erase_sqlite
from leadgen.duplicates.normalise import email_hash
from leadgen.errors import InputError
from leadgen.stores.score_log import ScoreRecord, erase, read_log


@dataclass
class Forgotten:
    """What was removed where (counts only: nothing of the person is printed)."""

    log: dict[str, int] = field(default_factory=dict)
    stores: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"score_log": self.log, "duplicate_stores": self.stores}


def person_of(who: str, hash_key: str) -> Person:
    """An email (anything with an @) by its keyed hash, else an id."""
    text = who.strip()
    if not text:
        raise InputError("forget: give an email or an id")
    if "@" in text:
        h = email_hash(text, hash_key)
        if h is None:
            raise InputError("forget: not an email address (give an email or an id)")
        return Person(email_hashes={h})
    return Person(refs={text})


def concerns(person: Person, record: ScoreRecord) -> bool:
    return (record.email_hash is not None and record.email_hash in person.email_hashes) or any(
        ref is not None and ref in person.refs for ref in (record.lead_id, record.lead_ref)
    )


def widen(person: Person, records: list[ScoreRecord]) -> Person:
    """The person's keys found on their records (one step: a record names its own keys)."""
    for r in records:
        if concerns(person, r):
            person.email_hashes.update(h for h in (r.email_hash,) if h)
            person.refs.update(ref for ref in (r.lead_id, r.lead_ref) if ref)
    return person


def forget(
    who: str,
    *,
    hash_key: str,
    score_log: str | None,
    sqlite_path: str | None = None,
    dynamo: Any = None,
) -> Forgotten:
    """Erase `who` from the log at `score_log` and the stores given (`dynamo`: a
    leadgen.duplicates.dynamo_store.DynamoDuplicateStore)."""
    person = person_of(who, hash_key)
    out = Forgotten()
    if score_log is not None:
        widen(person, read_log(score_log).records)
    # The stores first: they add the references their email items hold (a lead recorded under
    # the email), which the log's records of that lead are then found by.
    if sqlite_path is not None:
        out.stores["sqlite"] = erase_sqlite(sqlite_path, person)
    if dynamo is not None:
        out.stores["dynamodb"] = erase_dynamo(dynamo, person)
    if score_log is not None:
        out.log = erase(score_log, lambda r: concerns(person, r)).to_json()
    return out
