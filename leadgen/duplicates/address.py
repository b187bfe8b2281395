"""Where a person lives or works, and when they were born, as the duplicate check keeps it:
normalised, then hashed, never in clear.

Street, city, postcode and date of birth are optional identity fields (an export has them or
not). Each is normalised so that the spellings of one place agree: street types and their
abbreviations ("Street", "St.", "Str.", "-straße" are one), directions ("North" = "N"), the house
number apart from the street's name (and from an apartment or unit number), a city's "Saint" /
"St", a postcode in its country's form (US ZIP+4 cut to five digits, leading zeros an
export's number format lost put back, "SW1A 1AA" = "sw1a1aa", "D-10115" = "10115"), and a birth
date from ISO, compact or day-first/month-first (the country decides) writing.

Then every value becomes digests: keyed hashes (HMAC with the email hash key, truncated), so
neither a store nor a log ever holds an address or a birth date. What the comparison needs
survives the hashing:
* equality: the digest of the whole value (house number, postcode, date);
* one typo in a short code: the digests of its one-character deletions ("3173" and "3137" share
  "313" and "317"; one substitution, insertion, deletion or transposition shares at least one);
* similar names (a street or city with typos): the digests of the name's bigrams, compared by
  their Dice overlap (the share of bigrams both have), which behaves like a string similarity;
* a birth date with one wrong part: the digests of its (year, month), (year, day) and
  (month, day) pairs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final

from rapidfuzz.distance import OSA

from leadgen.duplicates.word_lists import (
    CITY_WORDS,
    DIRECTIONS,
    POSTCODE_DIGITS,
    STREET_SUFFIXES,
    STREET_TYPES,
    UNIT_WORDS,
)

DIGEST_HEX = 6  # 24 bits: a spurious equal digest between two values is one in 16 million
MAX_FIELD_CHARS = 60  # a longer street or city is cut: bounded entries (DynamoDB items)
_DOMAIN = b"leadgen-place\x00"
_TOKENS = re.compile(r"[a-z]+|\d+[a-z]?(?:[/-]\d+[a-z]?)?")
_ALNUM = re.compile(r"[^a-z0-9]")
_FOREIGN_PREFIX = re.compile(r"^[a-z]{1,2}-(?=\d)")  # "D-10115", "CH-8001", "NL-1011"


def fold(text: str) -> str:
    """ASCII-fold and lower-case, with the letters Unicode does not decompose spelled out
    ("Straße" -> "strasse", "Søren" -> "soren")."""
    import unicodedata

    text = text.translate(_SPELLED).lower()
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


_SPELLED = str.maketrans({"ß": "ss", "ẞ": "ss", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o",
                          "œ": "oe", "Œ": "oe", "đ": "d", "Đ": "d", "ł": "l", "Ł": "l",
                          "þ": "th", "Þ": "th"})  # fmt: skip


# ---- normalisers (plain values: used only to make digests) ----------------------------------
@dataclass(frozen=True, slots=True)
class Street:
    number: str  # "12", "12a" ("" when none)
    name: str  # "stanley st": the street's words, types and directions canonical


def parse_street(raw: str | None) -> Street:
    """House number and street name of a street line (or lines): "12 Stanley Street" and
    "12 stanley st." are one; "Hauptstraße 12" and "Hauptstr. 12" too; "Apt 4, 12 Main St" and
    "4/12 Main St" are number 12 (the apartment is not the building)."""
    if not raw:
        return Street("", "")
    number, words, skip_next = "", [], False
    for token in _TOKENS.findall(fold(raw)):
        if token[0].isdigit():
            if skip_next or number:
                skip_next = False
                continue
            number = _house_number(token)
            continue
        skip_next = token in UNIT_WORDS
        if not skip_next:
            words.extend(_street_words(token))
    if len(words) > 1:
        words[-1] = _mistyped_type(words[-1])
    return Street(number, " ".join(words)[:MAX_FIELD_CHARS])


# Street types long enough that one edit away is still the type ("dtreet", "pkace", "crescnet"):
# shorter ones ("road", "lane") are one edit from other words ("rod", "lake").
_LONG_TYPE: Final = 5
_LONG_TYPES: Final = tuple(t for t in STREET_TYPES if len(t) >= _LONG_TYPE)
_CANONICAL_TYPES: Final = frozenset(STREET_TYPES.values())


def _mistyped_type(word: str) -> str:
    """The last word of a street, a type with one typo, as that type; any other word as it is.
    Only the last word: a type ends the street's name, a word like it inside the name ("Grace
    Place") is the name."""
    if word in _CANONICAL_TYPES or word in STREET_TYPES or len(word) < _LONG_TYPE - 1:
        return word
    for t in _LONG_TYPES:
        if abs(len(t) - len(word)) <= 1 and OSA.distance(word, t, score_cutoff=1) <= 1:
            return STREET_TYPES[t]
    return word


def _house_number(token: str) -> str:
    """ "4/12" (unit 4 of number 12) -> "12"; "12-14" (a range) -> "12"; "12a" stays."""
    if "/" in token:
        return token.rsplit("/", 1)[1]
    return token.split("-", 1)[0]


def _street_words(token: str) -> list[str]:
    """A word of a street name, canonical: types and directions in their short form, and a
    compound type split off its name ("hauptstrasse" -> "haupt st")."""
    if token in STREET_TYPES:
        return [STREET_TYPES[token]]
    if token in DIRECTIONS:
        return [DIRECTIONS[token]]
    for suffix, canonical in STREET_SUFFIXES.items():
        if token.endswith(suffix) and len(token) > len(suffix) + 2:
            return [token[: -len(suffix)], canonical]
    return [token]


def city_key(raw: str | None) -> str:
    """ "St. Kilda" = "Saint Kilda" = "st kilda"; "" when nothing is left."""
    if not raw:
        return ""
    words = [CITY_WORDS.get(w, w) for w in re.findall(r"[a-z0-9]+", fold(raw))]
    return " ".join(words)[:MAX_FIELD_CHARS]


def postcode_key(raw: str | None, country: str = "") -> str:
    """A postcode in its country's form: letters and digits only, lower-case, a foreign prefix
    dropped ("D-10115"), US ZIP+4 cut to the ZIP, and leading zeros restored where a
    spreadsheet read the code as a number ("1234" in the US is "01234")."""
    if not raw:
        return ""
    text = _FOREIGN_PREFIX.sub("", fold(raw).strip())
    if country == "us":
        text = text.split("-", 1)[0]
    code = _ALNUM.sub("", text)[:12]
    digits = POSTCODE_DIGITS.get(country)
    if digits and code.isdigit() and len(code) < digits:
        code = code.zfill(digits)
    return code


_DATE_FORMS = (
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:[ t].*)?$"),  # ISO, with a time
    re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"),  # 19560215
    re.compile(r"^(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})$"),
)
_PARTS_FIRST = re.compile(r"^(?P<a>\d{1,2})[./-](?P<b>\d{1,2})[./-](?P<y>\d{4})(?:\s.*)?$")
MONTH_FIRST = frozenset({"us", "ph", "fm", "pw"})  # where 02/03/1990 is February 3rd


def dob_key(raw: str | None, country: str = "") -> str:
    """A birth date as YYYYMMDD, or "" when it is not a valid date. "15/02/1956" is day-first
    unless the country writes month-first (US); a first part above 12 decides either way."""
    if not raw:
        return ""
    text = raw.strip().lower()
    for form in _DATE_FORMS:
        m = form.match(text)
        if m:
            return _valid(m["y"], m["m"], m["d"])
    m = _PARTS_FIRST.match(text)
    if not m:
        return ""
    a, b = int(m["a"]), int(m["b"])
    month_first = (country in MONTH_FIRST and a <= 12) or b > 12
    month, day = (a, b) if month_first else (b, a)
    return _valid(m["y"], str(month), str(day))


def _valid(year: str, month: str, day: str) -> str:
    try:
        when = date(int(year), int(month), int(day))
    except ValueError:
        return ""
    return when.strftime("%Y%m%d") if 1900 <= when.year <= 2100 else ""


# ---- digests ----------------------------------------------------------------------------------
def digest(field: str, value: str, key: str = "") -> str:
    """DIGEST_HEX hex of an HMAC of `value` (sha256 without a key), domain-separated per field
    and from the email and block hashes made with the same key."""
    data = _DOMAIN + field.encode() + b"\x00" + value.encode()
    if key:
        return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()[:DIGEST_HEX]
    return hashlib.sha256(data).hexdigest()[:DIGEST_HEX]


def _deletions(value: str) -> list[str]:
    """The value without one of its characters, each: two values one edit apart share one."""
    return sorted({value[:i] + value[i + 1 :] for i in range(len(value))} - {""})


def _bigrams(value: str) -> list[str]:
    padded = f"#{value.replace(' ', '')}#"
    return sorted({padded[i : i + 2] for i in range(len(padded) - 1)})


@dataclass(frozen=True, slots=True)
class Place:
    """A person's hashed address and birth date; () where the export has no such field. Each
    tuple starts with the digest of the whole value, then its comparison digests (deletions,
    bigrams or date parts, see the module doc)."""

    number: tuple[str, ...] = ()
    street: tuple[str, ...] = ()
    city: tuple[str, ...] = ()
    postcode: tuple[str, ...] = ()
    dob: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.number or self.street or self.city or self.postcode or self.dob)

    def encode(self) -> str:
        """Compact text for a store: the five digest runs, fixed-width digests, ';'-separated."""
        if not self:
            return ""
        return ";".join("".join(d) for d in self._fields())

    @classmethod
    def decode(cls, text: str) -> Place:
        if not text:
            return cls()
        runs = text.split(";")
        if len(runs) != 5:
            raise ValueError("not an encoded place")
        return cls(
            *(tuple(r[i : i + DIGEST_HEX] for i in range(0, len(r), DIGEST_HEX)) for r in runs)
        )

    def _fields(self) -> tuple[tuple[str, ...], ...]:
        return (self.number, self.street, self.city, self.postcode, self.dob)


NOWHERE = Place()  # no address and no birth date known


def place_of(
    street: str | None = None,
    city: str | None = None,
    postcode: str | None = None,
    dob: str | None = None,
    country: str = "",
    key: str = "",
) -> Place:
    """The hashed place of one person (build and serving alike): `country` is the normalised
    ISO-2 code the postcode and date forms depend on."""
    if not (street or city or postcode or dob):
        return NOWHERE
    st = parse_street(street)
    town = city_key(city)
    code = postcode_key(postcode, country)
    born = dob_key(dob, country)

    def run(field: str, whole: str, parts: list[str]) -> tuple[str, ...]:
        if not whole:
            return ()
        return tuple(
            dict.fromkeys([digest(field, whole, key), *(digest(field, p, key) for p in parts)])
        )

    return Place(
        number=run("n", st.number, _deletions(st.number)),
        street=run("s", st.name, [f"~{g}" for g in _bigrams(st.name)]),
        city=run("c", town, [f"~{g}" for g in _bigrams(town)]),
        postcode=run("p", code, _deletions(code)),
        dob=run("d", born, [born[:6] + "..", born[:4] + ".." + born[6:], ".." + born[4:]])
        if born
        else (),
    )


def overlap(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """Dice overlap of the comparison digests (after the whole value's): 1.0 for the same
    bigrams, 0.0 for none in common."""
    x, y = set(a[1:]), set(b[1:])
    return 2 * len(x & y) / (len(x) + len(y)) if x and y else 0.0


def same(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """The whole values are equal (both present)."""
    return bool(a and b) and a[0] == b[0]


# A substitution changes at most two of a name's bigrams for two others, an insertion or a
# deletion three; a transposition six, as two substitutions do.
ONE_TYPO_BIGRAMS: Final = 4


def one_typo(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two names (street, city) one substitution, insertion or deletion apart, read from their
    bigram digests: at most ONE_TYPO_BIGRAMS bigrams in one and not the other. Catches the
    short names whose Dice `overlap` one typo already pulls under a similarity cut."""
    x, y = set(a[1:]), set(b[1:])
    return bool(x and y) and len(x ^ y) <= ONE_TYPO_BIGRAMS


# Deletion digests two codes with two adjacent characters swapped have in common (a
# substitution, an insertion or a deletion shares one).
SWAP_SHARED_DELETIONS: Final = 2


def swapped(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two codes with two adjacent characters swapped ("4380" / "4830"): another value with
    SWAP_SHARED_DELETIONS deletion digests in common. Read from the digests alone, so it needs
    no more stored than `near`; a few codes of repeated digits also share two ("0252" /
    "0525"), and `swap_neighbours` (the build's counts) applies the same test, so the share a
    match weighs by is that of the codes it accepts."""
    if not (a and b) or a[0] == b[0]:
        return False
    return len(set(a[1:]) & set(b[1:])) >= SWAP_SHARED_DELETIONS


def swap_neighbours(codes: Iterable[tuple[str, ...]]) -> dict[str, set[str]]:
    """Per code (its whole digest), the codes `swapped` from it, found through the codes that
    share a deletion digest with it: each code meets only its one-edit neighbours, not all.
    Exactly `swapped`, digest collisions included: codes are told apart by all their digests."""
    runs = {pc for pc in codes if pc}
    by_part: dict[str, set[tuple[str, ...]]] = {}
    for pc in runs:
        for d in pc[1:]:
            by_part.setdefault(d, set()).add(pc)
    out: dict[str, set[str]] = {}
    for pc in runs:
        shared = Counter(other for d in pc[1:] for other in by_part[d])
        found = {o[0] for o, n in shared.items() if n >= SWAP_SHARED_DELETIONS and o[0] != pc[0]}
        out.setdefault(pc[0], set()).update(found)
    return out


def near(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """One edit apart (codes) or one date part apart: a comparison digest in common, the whole
    value included (a deletion of the longer equals the shorter)."""
    return bool(a and b) and bool(set(a) & set(b))
