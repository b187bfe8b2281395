"""Who a lead is, as the duplicate check sees it: the normalised email and its hash, and the
normalised identity (name, company, domain, phone, country) the fuzzy match compares.

Build (customers) and serving (leads) must agree to the byte, so both call this module. Only
hashes are stored as keys or logged: the email hash (an HMAC with LEADGEN_EMAIL_HASH_KEY, which
a dictionary of addresses cannot reverse) and the hashed blocking keys. The normalised identity
fields are what a comparison needs; they are stored (encrypted at rest) but never logged.
The word lists live in leadgen.duplicates.word_lists; the comparison in leadgen.duplicates.matching.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from leadgen.duplicates.address import NOWHERE, Place, digest, fold, place_of, postcode_key
from leadgen.duplicates.word_lists import (
    COMPANY_ABBREVIATIONS,
    COMPANY_STOPWORDS,
    COUNTRY_ALIASES,
    FREE_MAIL_LABELS,
    GENERATIONAL,
    GENERIC_DESCRIPTORS,
    HONORIFICS,
    LEGAL_FORMS,
    NICKNAME_GROUPS,
    OWN_NAMES,
    SECOND_LEVEL_SUFFIXES,
    SURNAME_PARTICLES,
)

# Providers that ignore dots in the local part (so "j.a.n.e@" is "jane@").
_DOTLESS = {"gmail.com", "googlemail.com"}
_ALIASES = {"googlemail.com": "gmail.com"}
# A "+tag" is dropped on every domain (Google Workspace, Microsoft 365, iCloud, Fastmail, most
# company mail servers deliver "jane+promo@" to "jane@"), except on these providers: they do not
# implement subaddressing with "+", so "jane+x@" there is a mailbox of its own or no mailbox at
# all, never jane's. docs/duplicates.md has the choice and its reason.
PLUS_IS_LITERAL: frozenset[str] = frozenset(
    {"gmx.de", "gmx.net", "gmx.com", "gmx.at", "gmx.ch", "web.de", "aol.com"}
)
# Characters an address never holds but a copy, a form or an export adds: whitespace anywhere
# (tabs, line breaks, no-break spaces) and formatting characters (Unicode category Cf: zero-width
# spaces and joiners, the byte-order mark, the soft hyphen, bidi marks).
_MAILTO = re.compile(r"^\s*mailto:", re.IGNORECASE)


def clean_email_text(email: str) -> str:
    """The address as typed, without what copies and exports add around and inside it:
    full-width forms mapped to ASCII (NFKC: "ｊａｎｅ＠ｘ．ｉｏ"), invisible and formatting
    characters and whitespace removed, a `mailto:` prefix and angle brackets ("Jane <j@x.io>")
    dropped, accents' combining marks dropped ("jose\u0301" is "jose"), lower-cased."""
    text = email if email.isascii() else _without_formatting(email)
    if "<" in text and ">" in text.rsplit("<", 1)[1]:
        text = text.rsplit("<", 1)[1].split(">", 1)[0]  # "Name <address>": the address
    text = "".join(text.split())  # whitespace anywhere: tabs, line breaks, no-break spaces
    return _MAILTO.sub("", text).strip("<>").lower()


def _without_formatting(text: str) -> str:
    """NFKC, then without Unicode Cf characters and combining marks (the slow path: only an
    address that is not plain ASCII can hold them)."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    )


def normalise_email(email: str) -> str | None:
    """Canonical form of an address, or None if it is not an address at all: cleaned
    (clean_email_text), a +tag dropped (but on PLUS_IS_LITERAL providers), gmail's dots dropped."""
    text = clean_email_text(email)
    if text.count("@") != 1:
        return None
    local, domain = text.split("@")
    domain = _ALIASES.get(domain.strip("."), domain.strip("."))
    if not local or not domain or "." not in domain:
        return None
    if domain not in PLUS_IS_LITERAL:
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
    emails: Iterable[str | None],
    ids: Iterable[object],
    key: str = "",
    customer: Iterable[bool] | None = None,
) -> list[tuple[str, str]]:
    """(hash, id) of the export's rows with a valid email, one per mailbox: a customer's id wins
    over a non-customer's (`customer`: which rows are customers; None: all), else the first."""
    seen: dict[str, str] = {}
    flags = customer if customer is not None else itertools.repeat(True)
    rows = list(zip(emails, ids, flags, strict=False))
    for email, cid, _ in sorted(rows, key=lambda r: not r[2]):  # stable: customers first
        if not email:
            continue
        h = email_hash(email, key)
        if h is not None and h not in seen:
            seen[h] = str(cid)
    return list(seen.items())


# ---- the identity of a person, for fuzzy matching -------------------------------------------
# Normalised fields are capped so that a stored entry has a bounded size (DynamoDB items).
MAX_NAME_CHARS = 40
MAX_COMPANY_CHARS = 80
MAX_DOMAIN_CHARS = 80
PHONE_KEY_DIGITS = 8
_NON_ALPHA = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r"\s+")
_EXTENSION = re.compile(r"(?:ext\.?|extension|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)
_SOUNDEX = {ch: code for letters, code in (("bfpv", "1"), ("cgjkqsxz", "2"), ("dt", "3"),
            ("l", "4"), ("mn", "5"), ("r", "6")) for ch in letters}  # fmt: skip


def _fold(text: str) -> str:
    """ASCII-fold and lower-case: "Chloé" -> "chloe", "Björn" -> "bjorn", "Strauß" -> "strauss"."""
    return fold(text)


def _name_tokens(raw: str | None) -> list[str]:
    if not raw:
        return []
    text = _fold(raw).replace("'", "").replace("-", "")
    return [t for t in _SPACES.split(_NON_ALPHA.sub(" ", text)) if t]


def normalise_first(raw: str | None) -> str:
    """ "Dr. Anna-Lena" -> "annalena"; "" when nothing is left."""
    tokens = _name_tokens(raw)
    while len(tokens) > 1 and tokens[0] in HONORIFICS:
        tokens = tokens[1:]
    return "".join(tokens)[:MAX_NAME_CHARS]


def normalise_last(raw: str | None) -> str:
    """ "de Vries" -> "devries", "O'Brien Jr." -> "obrien"; "" when nothing is left."""
    tokens = _name_tokens(raw)
    while len(tokens) > 1 and tokens[-1] in GENERATIONAL:
        tokens = tokens[:-1]
    return "".join(tokens)[:MAX_NAME_CHARS]


def _first_word(text: str) -> str | None:
    words = [w for w in text.split() if not set(_name_tokens(w)) <= GENERATIONAL]
    return words[0] if words else None


def split_full_name(raw: str | None) -> tuple[str | None, str | None]:
    """(first, last) of a full name as one column holds it (Pipedrive's "Person - Name",
    Dynamics' "fullname"): "Jane Q. Doe" -> ("Jane", "Doe"), "Doe, Jane" -> ("Jane", "Doe"),
    "Dr. Jan van der Berg Jr." -> ("Jan", "van der Berg"); a single word is a first name."""
    if not raw or not raw.strip():
        return None, None
    if raw.count(",") == 1:
        last, first = (p.strip() for p in raw.split(","))
        if set(_name_tokens(first)) <= GENERATIONAL:  # "John Smith, Jr."
            raw = last
        elif last:
            return _first_word(first), last
    words = raw.split()
    while len(words) > 1 and _name_tokens(words[0]) and _name_tokens(words[0])[0] in HONORIFICS:
        words = words[1:]
    while len(words) > 1 and _name_tokens(words[-1]) and _name_tokens(words[-1])[0] in GENERATIONAL:
        words = words[:-1]
    if len(words) == 1:
        return words[0], None
    start = len(words) - 1
    while start > 1 and fold(words[start - 1]) in SURNAME_PARTICLES:
        start -= 1
    return words[0], " ".join(words[start:])


@lru_cache(maxsize=1)
def _nickname_index() -> dict[str, tuple[str, ...]]:
    """form -> the canonical groups it belongs to, its primary group first."""
    index: dict[str, list[str]] = {}
    for canon, forms in NICKNAME_GROUPS.items():
        index.setdefault(canon, []).insert(0, canon)
        for form in forms:
            groups = index.setdefault(form, [])
            if canon not in groups:
                groups.append(canon)
    for own in OWN_NAMES:
        if own in index and index[own][0] != own:
            index[own].insert(0, own)
    return {form: tuple(groups) for form, groups in index.items()}


def first_groups(first: str) -> tuple[str, ...]:
    """Canonical groups of a normalised first name; a name outside the table is its own group."""
    return _nickname_index().get(first, (first,))


def sound(token: str) -> str:
    """Soundex of a normalised name token ("johnson" and "jonhson" -> "j525"): a typo that keeps
    the sound keeps the blocking key."""
    if not token:
        return ""
    out, last = token[0], _SOUNDEX.get(token[0], "")
    for ch in token[1:]:
        if ch in "hw":  # h and w do not separate two letters of the same code
            continue
        code = _SOUNDEX.get(ch, "")
        if code and code != last:
            out += code
        last = code
    return (out + "000")[:4]


@dataclass(frozen=True, slots=True)
class Company:
    tokens: str  # "acme soft": compared with token-set similarity
    key: str  # "acmesoft": blocking and equality

    @classmethod
    def of(cls, raw: str | None) -> Company | None:
        """Without legal form, case, accents, punctuation, "the"/"and"/"of" or trailing
        descriptors, abbreviations spelled out: "ACME-Soft, Inc." and "Acme Soft Intl" are both
        "acme soft" (key "acmesoft")."""
        if not raw:
            return None
        text = _fold(raw).replace("&", " and ").replace("+", " and ")
        text = re.sub(r"(?<=\w)[.'\u2019](?=\w)", "", text)  # "l.l.c" -> "llc", "int'l" -> "intl"
        text = re.sub(r"\((?:the|pty)\)", " ", text)
        tokens = [COMPANY_ABBREVIATIONS.get(t, t) for t in re.split(r"[^a-z0-9]+", text) if t]
        tokens = _glue_initials(tokens)
        kept = [t for t in tokens if t not in COMPANY_STOPWORDS] or tokens
        kept = _strip_tail(_strip_tail(_strip_tail(kept, LEGAL_FORMS), GENERIC_DESCRIPTORS),
                           LEGAL_FORMS)  # fmt: skip
        joined = " ".join(kept)[:MAX_COMPANY_CHARS].strip()
        return cls(tokens=joined, key=joined.replace(" ", "")) if joined else None


def _glue_initials(tokens: list[str]) -> list[str]:
    """Runs of single letters are one token: "s a de c v" -> "sa de cv", "I B M" -> "ibm"."""
    glued: list[str] = []
    run = False
    for t in tokens:
        single = len(t) == 1 and t.isalpha()
        if single and run:
            glued[-1] += t
        else:
            glued.append(t)
        run = single
    return glued


def _strip_tail(tokens: list[str], words: frozenset[str]) -> list[str]:
    kept = list(tokens)
    while len(kept) > 1 and kept[-1] in words:
        kept.pop()
    return kept


def email_domain(email: str | None) -> str:
    """The registrable company domain of an address ("a@mail.acme.co.uk" -> "acme.co.uk"), or ""
    for a free-mail provider or anything that is not an address: gmail says nothing of the
    employer."""
    text = clean_email_text(email) if email else ""
    if text.count("@") != 1:
        return ""
    parts = [p for p in text.rsplit("@", 1)[1].split(".") if p]
    if len(parts) < 2:
        return ""
    n = 3 if len(parts) >= 3 and ".".join(parts[-2:]) in SECOND_LEVEL_SUFFIXES else 2
    if parts[-n] in FREE_MAIL_LABELS:
        return ""
    return ".".join(parts[-n:])[:MAX_DOMAIN_CHARS]


def phone_key(raw: str | None) -> str:
    """The last 8 digits once an extension is dropped ("" below 8 digits): equal for
    "+1 (555) 123-4567", "555.123.4567" and "001 555 123 4567", and for national numbers written
    with or without the country code and trunk 0 ("+33 1 23 45 67 89" = "01 23 45 67 89")."""
    if not raw:
        return ""
    digits = re.sub(r"\D", "", _EXTENSION.sub("", raw))
    return digits[-PHONE_KEY_DIGITS:] if len(digits) >= PHONE_KEY_DIGITS else ""


def normalise_country(raw: str | None) -> str:
    """ISO 3166 alpha-2 for the names and codes CRMs use, else the folded text; "" if none."""
    if not raw:
        return ""
    text = _SPACES.sub(" ", _fold(raw).replace(".", "")).strip()
    return COUNTRY_ALIASES.get(text, text)[:MAX_NAME_CHARS]


@dataclass(frozen=True, slots=True)
class Identity:
    """Normalised identity fields of a lead or a customer. It holds names: never log it; log
    `shape()` (which fields are present) instead."""

    first: str  # "william": normalised, not canonicalised (exact vs nickname is evidence)
    last: str  # "johnson"
    company: str = ""  # company tokens "acme soft" ("" when unknown)
    domain: str = ""  # registrable company domain "acmesoft.com" ("" for free-mail)
    phone: str = ""  # phone key "51234567"
    country: str = ""  # "us"
    place: Place = NOWHERE  # street, city, postcode, birth date: digests only

    @property
    def company_key(self) -> str:
        return self.company.replace(" ", "")

    @property
    def domain_label(self) -> str:
        """The org part of the domain ("acmesoft"), comparable with a company key."""
        return re.sub(r"[^a-z0-9]", "", self.domain.split(".", 1)[0])

    def orgs(self) -> tuple[str, ...]:
        """The org keys: company key and domain label (usually the same string)."""
        return tuple(dict.fromkeys(o for o in (self.company_key, self.domain_label) if o))

    def sounds(self) -> tuple[str, ...]:
        """Sound keys of the canonical first name and of the surname, order-free: a swapped
        name has the same ones."""
        tokens = (first_groups(self.first)[0] if self.first else "", self.last)
        return tuple(dict.fromkeys(sound(t) for t in tokens if t))

    def prefixes(self) -> tuple[str, ...]:
        """The first PREFIX_LETTERS letters of the first name as given and of the surname,
        order-free: the part of a name a typo most often spares, where a sound key does not
        survive a letter inserted or swapped among its first consonants ("simmovnds" s515,
        "simmonds" s553; both "sim")."""
        return tuple(dict.fromkeys(t[:PREFIX_LETTERS] for t in (self.first, self.last) if t))

    def shape(self) -> str:
        """Which fields are present, safe to log: "name+company+domain+phone+address"."""
        p = self.place
        present = (("name", bool(self.first and self.last)), ("company", bool(self.company)),
                   ("domain", bool(self.domain)), ("phone", bool(self.phone)),
                   ("address", bool(p.street or p.city or p.postcode)),
                   ("dob", bool(p.dob)))  # fmt: skip
        return "+".join(name for name, ok in present if ok) or "none"

    def has_evidence(self) -> bool:
        """Something beyond a name to compare: without it a name alone is what a namesake has."""
        return bool(self.company or self.domain or self.phone or self.place)


def identity_of(
    first_name: str | None,
    last_name: str | None,
    email: str | None = None,
    company: str | None = None,
    phone: str | None = None,
    country: str | None = None,
    *,
    street: str | None = None,
    city: str | None = None,
    postcode: str | None = None,
    dob: str | None = None,
    key: str = "",
) -> Identity:
    """The normalised identity of a lead or of a customer row (build and serving alike). The
    address and birth date are hashed with `key` (the email hash key) right here."""
    comp = Company.of(company)
    where = normalise_country(country)
    return Identity(
        first=normalise_first(first_name),
        last=normalise_last(last_name),
        company=comp.tokens if comp else "",
        domain=email_domain(email),
        phone=phone_key(phone),
        country=where,
        place=place_of(street, city, postcode, dob, where, key),
    )


# Letters of a name in its prefix key: "sim" of "simmonds" (Identity.prefixes).
PREFIX_LETTERS = 3

# Blocking keys that name no person (a dwelling): a block holding more people than this is an
# office or an apartment block, not a household, and is dropped like a hot block.
DWELLING_KEYS = ("h|", "np|")


def block_keys(ident: Identity) -> tuple[str, ...]:
    """The cheap keys candidates are fetched by: org x name sound ("o|acmesoft|w450") for the
    company key and the domain label and the sounds of both name tokens, the phone key
    ("p|51234567"), and where an address or birth date is known: postcode x name sound, city x
    name sound, the dwelling (street + house number, house number + postcode), birth date x name
    sound, and the pair of name sounds; postcode x name prefix and the pair of name prefixes.

    Why compound keys: a company alone is a block as large as its presence in the CRM and a
    surname sound alone a few percent of it; org x sound holds the few people at one org whose
    first or last name sounds like the lead's, which is all a typo, a nickname or a swap hides.
    The address keys do the same for a place: a typo in the postcode keeps the city's key, a
    typo in both names keeps the dwelling's. A sound key and a prefix fail on different typos
    (a changed first letter; a letter inserted among the first consonants), so a name keeps
    one of them more often than either alone (bench/DEDUP_FEBRL.md: blocking recall). A person
    with nothing but a name has no key: a name alone is what a namesake has too."""
    sounds = ident.sounds()
    keys = [f"o|{org}|{s}" for org in ident.orgs() for s in sounds]
    if ident.phone:
        keys.append(f"p|{ident.phone}")
    p = ident.place
    for prefix, run in (("z", p.postcode), ("c", p.city), ("b", p.dob)):
        if run:
            keys.extend(f"{prefix}|{run[0]}|{s}" for s in sounds)
    if p.number and p.street:
        keys.append(f"h|{p.street[0]}|{p.number[0]}")
    if p.number and p.postcode:
        keys.append(f"np|{p.number[0]}|{p.postcode[0]}")
    if p and len(sounds) == 2:
        keys.append("n|" + "|".join(sorted(sounds)))
    prefixes = ident.prefixes()
    if p.postcode:
        keys.extend(f"zq|{p.postcode[0]}|{x}" for x in prefixes)
    if p and len(prefixes) == 2:
        keys.append("nq|" + "|".join(sorted(prefixes)))
    return tuple(keys)


def transposed_keys(ident: Identity, postcode: str | None, key: str = "") -> tuple[str, ...]:
    """Keys a lead is looked up by but never stored under: postcode x name sound for its postcode
    with two adjacent characters swapped ("3173" -> "1373", "3713", "3137"), the commonest typo in
    a code, which a hashed key cannot reach otherwise. Computed on the lead's side only, so the
    store holds no more keys; a substitution or a deletion would take dozens of variants."""
    code = postcode_key(postcode, ident.country)
    variants = {code[:i] + code[i + 1] + code[i] + code[i + 2 :] for i in range(len(code) - 1)}
    sounds = ident.sounds()
    return tuple(f"z|{digest('p', v, key)}|{s}" for v in sorted(variants - {code}) for s in sounds)


def block_hash(plain: str, key: str = "") -> str:
    """The stored form of a blocking key: 20 hex of an HMAC (sha256 without a key), so no name
    or company is ever a store key (keys show up in CloudTrail and in DynamoDB Contributor
    Insights). Domain-separated from the e-mail hashes made with the same key."""
    data = _BLOCK_DOMAIN + plain.encode()
    if key:
        return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()[:20]
    return hashlib.sha256(data).hexdigest()[:20]


_BLOCK_DOMAIN = b"leadgen-block\x00"
_FINGERPRINT_MESSAGE = b"leadgen hash key fingerprint"
UNKEYED = "unkeyed"


def key_fingerprint(key: str) -> str:
    """What the manifest records of the hash key: an HMAC of a fixed message, never the key.
    Equal fingerprints mean build and serving hash alike; "unkeyed" for plain sha256."""
    if not key:
        return UNKEYED
    return "hmac-sha256:" + hmac.new(key.encode(), _FINGERPRINT_MESSAGE, "sha256").hexdigest()[:16]


# Who a known person is: a customer of the CRM export, a record of it that is not a customer
# (an open lead, a prospect, a lost deal), or a lead scored before (recorded by the API).
EntryKind = Literal["customer", "non_customer", "lead"]
CRM_KINDS: frozenset[str] = frozenset({"customer", "non_customer"})  # written by the build


def entry_kind(stored: str) -> EntryKind:
    """A store's kind text as an EntryKind (anything unknown is a lead: never short-circuited)."""
    if stored == "customer":
        return "customer"
    return "non_customer" if stored == "non_customer" else "lead"


@dataclass(frozen=True, slots=True)
class CrmRecord:
    """What the export says of a known person: customer or not, and its stage or label text
    ("salesqualifiedlead", "Closed Lost"; "" when the export's rule has none)."""

    kind: EntryKind = "customer"
    stage: str = ""


@dataclass(frozen=True, slots=True)
class Counts:
    """How many of the export's people share this person's first name, surname, postcode and
    country, how many have a postcode one edit from theirs and how many one with two adjacent
    characters swapped, out of how many people: what the match weighs an agreement by (a rare
    surname agreeing is strong evidence, "smith" weak: leadgen.duplicates.matching). Counted by
    the build over the normalised values and digests; only the numbers are stored, never the
    values."""

    first: int
    last: int
    postcode: int
    near: int  # people whose postcode is one edit off (an upper bound: see name_counts)
    country: int
    people: int
    # people whose postcode is this one with two adjacent characters swapped; None: counts
    # written before it was counted (six numbers), read as before (one edit off, nothing finer)
    swapped: int | None = None

    def encode(self) -> str:
        numbers = (self.first, self.last, self.postcode, self.near, self.country, self.people)
        tail = () if self.swapped is None else (self.swapped,)
        return ".".join(str(n) for n in (*numbers, *tail))

    @classmethod
    def decode(cls, text: str) -> Counts | None:
        """None for "" (an entry written without counts) and for text this version cannot read
        (another version's layout, a damaged row): the fixed weights apply and the lookup goes
        on, as it would for a store written before counts, rather than failing every lead. Six
        numbers are counts written before `swapped` was counted."""
        parts = text.split(".") if text else []
        if len(parts) not in (6, 7) or not all(x.isdigit() for x in parts):
            return None
        first, last, postcode, near, country, people, *rest = (int(x) for x in parts)
        if people <= 0:
            return None
        return cls(first, last, postcode, near, country, people, rest[0] if rest else None)


@dataclass(frozen=True, slots=True)
class Entry:
    """A known person as a store keeps it: a reference and the normalised identity.

    `phone_n` is how many different people in the CRM give this phone key (1: a personal number;
    more: a switchboard or a shared line, weak evidence). `expires_at` is a lead entry's TTL;
    `stage` the export's stage text of a CRM record; `counts` how common its names and postcode
    are in the export (None for a lead entry or a store written before counts: fixed weights)."""

    ref: str  # customer id or lead reference
    kind: EntryKind
    who: Identity
    phone_n: int = 1
    expires_at: int | None = None
    stage: str = ""
    counts: Counts | None = None
