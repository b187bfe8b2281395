"""Addresses and birth dates as identity fields: normalised so one place's spellings agree, then
kept as digests only, and compared the way Salesforce's matching rule uses them (names, then the
street with the city or postcode), with the rules that keep relatives, colleagues and namesakes
apart."""

from __future__ import annotations

import pytest

from leadgen.duplicates.address import (
    city_key,
    dob_key,
    near,
    overlap,
    parse_street,
    place_of,
    postcode_key,
    same,
    swap_neighbours,
    swapped,
)
from leadgen.duplicates.matching import best_match, compare, identity_agrees
from leadgen.duplicates.normalise import Entry, Identity, block_keys, identity_of

KEY = "k"


@pytest.mark.parametrize(
    ("raw", "number", "name"),
    [
        ("12 Stanley Street", "12", "stanley st"),
        ("12 stanley st.", "12", "stanley st"),
        ("Hauptstraße 12", "12", "haupt st"),
        ("Hauptstr. 12", "12", "haupt st"),
        ("Apt 4, 12 Main St", "12", "main st"),
        ("4/12 Main St", "12", "main st"),  # unit 4 of number 12
        ("12-14 North Main Street", "12", "n main st"),
        ("Unit 3, 88B Kings Road", "88b", "kings rd"),
        ("905 Macquoid Place", "905", "macquoid pl"),
        ("", "", ""),
    ],
)
def test_street_spellings_agree(raw: str, number: str, name: str) -> None:
    street = parse_street(raw)
    assert (street.number, street.name) == (number, name)


@pytest.mark.parametrize(
    ("raw", "country", "key"),
    [
        ("12345-6789", "us", "12345"),  # ZIP+4
        ("1234", "us", "01234"),  # a spreadsheet dropped the leading zero
        ("SW1A 1AA", "gb", "sw1a1aa"),
        ("D-10115", "de", "10115"),
        ("1310", "br", "00001310"),
        ("K1A 0B1", "ca", "k1a0b1"),
        ("1011 AB", "nl", "1011ab"),
    ],
)
def test_postcodes_in_their_country_form(raw: str, country: str, key: str) -> None:
    assert postcode_key(raw, country) == key


@pytest.mark.parametrize(
    ("raw", "country", "key"),
    [
        ("1956-02-15", "", "19560215"),
        ("1956-02-15T00:00:00", "", "19560215"),
        ("19560215", "", "19560215"),
        ("15/02/1956", "gb", "19560215"),
        ("02/15/1956", "us", "19560215"),
        ("02/03/1956", "us", "19560203"),  # month first in the US
        ("02/03/1956", "de", "19560302"),  # day first elsewhere
        ("15.02.1956", "de", "19560215"),
        ("1956-13-40", "", ""),
        ("not a date", "", ""),
    ],
)
def test_birth_dates(raw: str, country: str, key: str) -> None:
    assert dob_key(raw, country) == key


def test_city_spellings_agree() -> None:
    assert city_key("St. Kilda") == city_key("Saint Kilda") == city_key("ST KILDA") == "st kilda"


def test_digests_hold_no_clear_value_and_compare_as_promised() -> None:
    a = place_of("8 Stanley Street", "Winston Hills", "4223", "1915-11-11", "au", KEY)
    encoded = a.encode()
    for clear in ("stanley", "winston", "4223", "19151111", "1915"):
        assert clear not in encoded
    typo = place_of("8 Stanely Street", "Winston Hils", "4232", "1915-11-12", "au", KEY)
    assert not same(a.street, typo.street) and overlap(a.street, typo.street) >= 0.5
    assert overlap(a.city, typo.city) >= 0.7
    assert near(a.postcode, typo.postcode)  # a transposition: one edit
    assert near(a.dob, typo.dob) and not same(a.dob, typo.dob)  # one part of the date off
    other = place_of("40 Kitchener Road", "Dapto", "2530", "1982-04-02", "au", KEY)
    assert overlap(a.street, other.street) < 0.3 and not near(a.postcode, other.postcode)
    assert place_of("8 Stanley Street", key="other-key").street != a.street  # keyed


def _who(first: str, last: str, **kw: str) -> Identity:
    return identity_of(first, last, country="au", key=KEY, **kw)


HOME = {"street": "8 Stanley Street", "city": "Winston Hills", "postcode": "4223"}


def _dup(lead: Identity, customer: Identity) -> bool:
    m = best_match(lead, [Entry("c1", "customer", customer)])
    return m is not None and m.duplicate


def test_a_misspelt_person_at_their_address_is_a_duplicate() -> None:
    customer = _who("Michaela", "Neumann", **HOME)
    assert _dup(_who("Michaela", "Nuemann", **HOME), customer)  # typo
    assert _dup(_who("Neumann", "Michaela", **HOME), customer)  # swapped
    assert _dup(_who("Micheala", "Neuman", **{**HOME, "postcode": "4232"}), customer)
    assert _dup(_who("Michaela", "Neumann", postcode="4223"), customer)  # name + postcode


def test_one_name_needs_the_dwelling_or_the_birth_date() -> None:
    customer = _who("Michaela", "Neumann", **HOME, dob="1975-03-14")
    married = _who("Michaela", "Schultz", **HOME)  # a name changed, same home
    assert _dup(married, customer)
    same_town = _who("Michaela", "Schultz", city="Winston Hills", postcode="4223")
    assert not _dup(same_town, customer)  # a namesake in the same postcode
    relative = _who("Anna", "Neumann", **HOME, dob="2004-09-01")
    assert not _dup(relative, customer)  # one home, another birth date: another person


def test_colleagues_at_one_office_are_not_duplicates() -> None:
    office = {"company": "Acme Soft Ltd", **HOME}
    customer = _who("William", "Johnson", **office)
    assert not _dup(_who("Sarah", "Lee", **office), customer)
    # same surname at the same office: the shared org explains the shared address
    colleague = _who("Peter", "Johnson", **office)
    assert not identity_agrees(compare(colleague, Entry("c1", "customer", customer)))
    assert not _dup(colleague, customer)


def test_address_keys_fetch_a_person_whose_name_and_postcode_both_changed() -> None:
    customer = _who("Liam", "Kayvas", **HOME)
    lead = _who("Oscar", "Tschitrpig", street="8 Stanley St", city="Winston Hills", postcode="4322")
    assert set(block_keys(customer)) & set(block_keys(lead))  # the dwelling's key
    assert not _dup(lead, customer)  # fetched, compared, and still no name agrees


def test_a_similar_spelling_at_one_org_is_a_colleague_not_a_duplicate() -> None:
    """Generated colleagues the similar-name level took for one person (bench/FUZZY.md)."""
    customer = _who("Joseph", "Nakahara", company="Redwood Labs")
    assert not _dup(_who("Joseph", "Nakata", company="Redwood Labs Holdings (Pty) Ltd"), customer)
    elsewhere = _who("Joseph", "Nakahara", **HOME)
    assert _dup(_who("Joseph", "Nakahra", **HOME), elsewhere)  # a typo still is one person
    assert _dup(_who("Josef", "Nakahhara", **HOME), elsewhere)  # and without an org, similar


# Salesforce's standard contact/lead matching rule: first + last name, and then one of email,
# phone, company (with the title, which leads here do not carry), street + city, street + ZIP.
# The check reads it as weights (leadgen.duplicates.matching), a little looser: with the full
# name, the dwelling (house number and street), the postcode or the town is each enough
# (docs/duplicates.md), and so is the street without a house number (a smaller place than the
# postcode that is enough already). The name with nothing else is not.
PERSON = {
    "email": "m.neumann@acmesoft.com", "company": "Acme Soft", "phone": "+61 7 5550 1234",
    "street": "8 Stanley Street", "city": "Winston Hills", "postcode": "4223",
}  # fmt: skip
RULE = {
    "email": ({"email": "michaela@acmesoft.com"}, True),  # another mailbox at the same domain
    "phone": ({"phone": "07 5550 1234"}, True),
    "company": ({"company": "ACME SOFT LTD"}, True),
    "phone+company": ({"phone": "07 5550 1234", "company": "Acme Soft"}, True),
    "street+city": ({"street": "8 Stanley St", "city": "Winston Hills"}, True),
    "street+zip": ({"street": "8 Stanley St.", "postcode": "4223"}, True),
    "dwelling": ({"street": "8 Stanley Street"}, True),
    "zip": ({"postcode": "4223"}, True),
    "city": ({"city": "Winston Hills"}, True),
    "name-only": ({}, False),  # a name alone is what a namesake has
    "street-no-number": ({"street": "Stanley Street"}, True),  # the street, any number
    "other-company": ({"company": "Globex Bank"}, False),
}


@pytest.mark.parametrize("case", sorted(RULE))
def test_salesforces_rule_name_then_one_more_field(case: str) -> None:
    fields, duplicate = RULE[case]
    customer = _who("Michaela", "Neumann", **PERSON)
    for first, last in (("Michaela", "Neumann"), ("Neumann", "Michaela")):  # swapped names tried
        assert _dup(_who(first, last, **fields), customer) is duplicate, (first, fields)


def _levels(lead: Identity, customer: Identity) -> tuple[str, ...]:
    c = compare(lead, Entry("c1", "customer", customer))
    return (c.name, c.org, c.phone, c.street, c.locality, c.dob)


def test_blank_fields_never_match() -> None:
    """Blank on both sides is no agreement: two nameless records of one company stay apart, as
    do two records holding one name and nothing else; a field blank on one side is unknown,
    neither evidence for nor against."""
    nameless = _who("", "", company="Acme Soft")
    assert _levels(nameless, nameless)[0] == "none"
    assert not _dup(nameless, nameless)
    bare = _who("Michaela", "Neumann")
    assert _levels(bare, bare) == ("exact", "unknown", "unknown", "unknown", "unknown/unknown",
                                   "unknown")  # fmt: skip
    assert not _dup(bare, bare)
    phone_only = _who("Michaela", "Neumann", phone="07 5550 1234")
    customer = _who("Michaela", "Neumann", **PERSON)
    assert _levels(phone_only, customer) == ("exact", "unknown", "same", "unknown",
                                             "unknown/unknown", "unknown")  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "other", "level"),
    [
        ("8 Stanley Street", "8 Stanley St.", "dwelling"),
        ("8 Stanley Street", "9 Stanley Street", "street"),  # another single-digit house
        ("8 Stanley Street", "48 Stanley Street", "dwelling_near"),
        ("8 Stanley Street", "120 Stanley Street", "street"),
        ("8 Stanley Street", "8 Stanly Street", "dwelling"),  # a letter dropped
        ("8 Stanley Street", "8 Kitchener Road", "number"),  # the name replaced
        ("8 Stanley Street", "9 Kitchener Road", "different"),
        ("8 Stanley Street", "Kitchener Road", "different"),  # no number to share
        ("8 Ash Street", "8 Asb Street", "dwelling"),  # a short name one typo off
        ("8 Ash Street", "8 Oak Street", "number"),  # two letters off: another street's name
        ("8 Ash Street", "18 Oak Street", "different"),
        ("8 Stanley Street", "", "unknown"),
    ],
)
def test_street_levels(raw: str, other: str, level: str) -> None:
    a = _who("Michaela", "Neumann", street=raw)
    b = _who("Michaela", "Neumann", street=other)
    assert compare(a, Entry("c1", "customer", b)).street == level


TOWN = {"postcode": "4223", "city": "Winston Hills"}


@pytest.mark.parametrize(
    ("mine", "theirs", "level"),
    [
        (TOWN, {"postcode": "4223", "city": "WINSTON HILLS"}, "same/same"),
        (TOWN, {"postcode": "4232", "city": "Winston Hils"}, "near/similar"),
        ({"postcode": "4223"}, {"postcode": "2530"}, "different/unknown"),
        ({"city": "St. Kilda"}, {"city": "Saint Kilda"}, "unknown/same"),
        ({"postcode": "4223"}, {"city": "Winston Hills"}, "unknown/unknown"),
    ],
)  # fmt: skip
def test_locality_levels(mine: dict[str, str], theirs: dict[str, str], level: str) -> None:
    c = compare(
        _who("Michaela", "Neumann", **mine),
        Entry("c1", "customer", _who("Michaela", "Neumann", **theirs)),
    )
    assert c.locality == level


@pytest.mark.parametrize(
    ("a", "b", "is_swap"),
    [
        ("4380", "4830", True),  # two adjacent digits swapped
        ("4380", "4308", True),
        ("4380", "4381", False),  # a substitution: one edit, not a swap
        ("4380", "438", False),  # a deletion
        ("4380", "4380", False),  # the same code
        ("4380", "8034", False),  # another code
    ],
)
def test_a_swapped_postcode_is_read_from_the_digests(a: str, b: str, is_swap: bool) -> None:
    pa, pb = (place_of(postcode=x, country="au", key=KEY).postcode for x in (a, b))
    assert swapped(pa, pb) is is_swap and swapped(pb, pa) is is_swap
    assert near(pa, pb) or not is_swap  # a swap is one of the near codes


def test_the_build_finds_the_same_swaps_as_the_match() -> None:
    """swap_neighbours (what the build counts people one swap away by) finds, for every code,
    exactly the codes `swapped` accepts: the share a match weighs by is that of the codes it
    accepts."""
    raw = ["4380", "4830", "4308", "3480", "4381", "0252", "0525", "1234", "2134", "438", "9999"]
    codes = [place_of(postcode=c, country="au", key=KEY).postcode for c in raw]
    found = swap_neighbours(codes)
    for pc, c in zip(codes, raw, strict=True):
        expected = {o[0] for o in codes if swapped(pc, o)}
        assert found[pc[0]] == expected, c
    by_raw = dict(zip(raw, codes, strict=True))
    assert found[by_raw["4380"][0]] == {by_raw[c][0] for c in ("4830", "4308", "3480")}
    assert found[by_raw["9999"][0]] == set()
