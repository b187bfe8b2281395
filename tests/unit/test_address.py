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
)
from leadgen.duplicates.matching import best_match, compare, identity_agrees
from leadgen.duplicates.normalise import Entry, block_keys, identity_of

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


def _who(first: str, last: str, **kw: str) -> object:
    return identity_of(first, last, country="au", key=KEY, **kw)


HOME = {"street": "8 Stanley Street", "city": "Winston Hills", "postcode": "4223"}


def _dup(lead: object, customer: object) -> bool:
    m = best_match(lead, [Entry("c1", "customer", customer)])  # type: ignore[arg-type]
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
    assert not identity_agrees(compare(colleague, Entry("c1", "customer", customer)))  # type: ignore[arg-type]
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
