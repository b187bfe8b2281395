"""Who a lead is, as the duplicate check sees it: the normalised email and its hash.

Build (customers) and serving (leads) must agree to the byte, so both call this module. Only the
hash is ever stored, logged or compared; with a key (LEADGEN_EMAIL_HASH_KEY) it is an HMAC, which a
dictionary of addresses cannot reverse.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

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


def email_hash(email: str, key: str = "") -> str | None:
    """sha256 of the normalised email; an HMAC with `key` when one is configured."""
    norm = normalise_email(email)
    if norm is None:
        return None
    if key:
        return hmac.new(key.encode(), norm.encode(), hashlib.sha256).hexdigest()
    return hashlib.sha256(norm.encode()).hexdigest()


def customer_hash_pairs(
    emails: Iterable[str | None], ids: Iterable[object], key: str = ""
) -> list[tuple[str, str]]:
    """(hash, customer id) of current customers with a valid email; first id wins per person."""
    seen: dict[str, str] = {}
    for email, cid in zip(emails, ids, strict=True):
        if not email:
            continue
        h = email_hash(email, key)
        if h is not None and h not in seen:
            seen[h] = str(cid)
    return list(seen.items())
