"""A person's identity as the score log may keep it: every field a keyed hash, never the text.

The build matches logged leads to the customers of a later export (leadgen.builder.outcomes); one
of its rules is a fuzzy identity match, for a lead that converted under another email and id.
The log must not hold a name or a phone number, so it keeps the normalised identity fields
(leadgen.duplicates.normalise) as HMACs with the service's hash key, and the build hashes its
customers' fields the same way. `best_match` (leadgen.duplicates.matching) then compares them as
it compares identities: a hash equals a hash exactly when the normalised fields are equal.

What hashing costs the match: only equality survives. The first name is hashed in its canonical
nickname group ("bill" and "william" hash alike: a nickname counts as the same name), the company
by its key, the email domain and the phone key as they are; a one-letter typo and a merely
similar company name no longer match (both need the text). The decision rules are the duplicate
check's own: names must agree, the confidence must reach the duplicate threshold, and two
customers about as likely share it (one-to-one).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from leadgen.duplicates.matching import MatchConfig, best_match
from leadgen.duplicates.normalise import Entry, Identity, first_groups

HASH_HEX = 16  # 64 bits: enough to keep distinct people apart in one CRM
_DOMAIN = b"leadgen-identity\x00"
# JSON keys of a hashed identity in a score record (short: it is written once per lead).
FIELDS = {"f": "first", "l": "last", "c": "company", "d": "domain", "p": "phone", "k": "country"}


def _h(kind: str, value: str, key: str) -> str:
    if not value:
        return ""
    data = _DOMAIN + kind.encode() + b"\x00" + value.encode()
    if key:
        return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()[:HASH_HEX]
    return hashlib.sha256(data).hexdigest()[:HASH_HEX]


def hashed(who: Identity, key: str) -> Identity:
    """The identity with every field replaced by its keyed hash ("" stays ""). Names share one
    hash kind, so a first name equal to a last name still shows (a swapped entry)."""
    first = first_groups(who.first)[0] if who.first else ""
    return Identity(
        first=_h("name", first, key),
        last=_h("name", who.last, key),
        company=_h("org", who.company_key, key),
        domain=_h("domain", who.domain, key),
        phone=_h("phone", who.phone, key),
        country=_h("country", who.country, key),
    )


def to_json(who: Identity) -> dict[str, str] | None:
    """The fields that are set, under FIELDS' short keys; None without a name to compare."""
    if not (who.first and who.last):
        return None
    return {k: getattr(who, f) for k, f in FIELDS.items() if getattr(who, f)}


def from_json(data: Mapping[str, str]) -> Identity:
    """The identity to_json wrote (addresses and birth dates are not logged: no place)."""
    v = {f: str(data.get(k, "")) for k, f in FIELDS.items()}
    return Identity(
        first=v["first"], last=v["last"], company=v["company"], domain=v["domain"],
        phone=v["phone"], country=v["country"],
    )  # fmt: skip


class HashedCustomers:
    """A later export's customers by hashed identity, for looking logged leads up: candidates
    share an organisation, an email domain or a phone hash with the lead (what the duplicate
    check's blocking keys require too)."""

    def __init__(self, entries: Iterable[Entry], key: str, config: MatchConfig | None = None):
        self.config = config or MatchConfig()
        self._by: dict[str, list[Entry]] = {}
        for e in entries:
            h = Entry(e.ref, e.kind, hashed(e.who, key), e.phone_n)
            for token in _tokens(h.who):
                self._by.setdefault(token, []).append(h)

    def match(self, lead: Identity) -> str | None:
        """The customer reference the lead is (a duplicate-grade match), else None."""
        candidates = [e for t in _tokens(lead) for e in self._by.get(t, [])]
        if not candidates:
            return None
        found = best_match(lead, candidates, self.config)
        return found.ref if found is not None and found.duplicate else None


def _tokens(who: Identity) -> list[str]:
    out = [f"o{o}" for o in (who.company, who.domain) if o]
    if who.phone:
        out.append(f"p{who.phone}")
    return out
