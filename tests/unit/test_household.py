"""The household rule of the fuzzy duplicate check (docs/duplicates.md): one name agreeing, or a
name blank on one side, at the customer's dwelling is the same household and a duplicate, unless
something contradicts the identity (an org on both sides, another birth date, another personal
phone); `LEADGEN_DUP_NAMES=strict` needs both names."""

from __future__ import annotations

import pytest

from leadgen.config import ConfigError, ServiceConfig
from leadgen.duplicates.address import parse_street
from leadgen.duplicates.matching import Match, MatchConfig, best_match
from leadgen.duplicates.normalise import Entry, Identity, identity_of

KEY = "k"
HOME = {"street": "8 Stanley Street", "city": "Winston Hills", "postcode": "4223"}
STRICT = MatchConfig(household=False)


def _who(first: str, last: str, **kw: str) -> Identity:
    return identity_of(first, last, country="au", key=KEY, **kw)


def _match(lead: Identity, customer: Identity, cfg: MatchConfig | None = None) -> Match | None:
    return best_match(lead, [Entry("c1", "customer", customer)], cfg)


def _dup(lead: Identity, customer: Identity, cfg: MatchConfig | None = None) -> bool:
    m = _match(lead, customer, cfg)
    return m is not None and m.duplicate


def test_one_name_at_the_customers_home_is_the_household() -> None:
    customer = _who("Michaela", "Neumann", **HOME)
    lead = _who("Anna", "Neumann", street="8 Stanley St", postcode="4223")
    m = _match(lead, customer)
    assert m is not None and m.duplicate and m.ref == "c1"
    assert m.matched_on[0] == "surname" and "street" in m.matched_on
    assert _dup(_who("Michaela", "Schultz", **HOME), customer)  # the first name, same home


def test_the_dwelling_needs_the_house_number_and_the_postcode_or_city() -> None:
    customer = _who("Michaela", "Neumann", **HOME)
    assert not _dup(_who("Anna", "Neumann", **{**HOME, "street": "10 Stanley Street"}), customer)
    elsewhere = {"street": "8 Stanley Street", "city": "Dubbo", "postcode": "2830"}
    assert not _dup(_who("Anna", "Neumann", **elsewhere), customer)  # another town's street


def test_a_dwelling_one_typo_off_corroborates_one_name() -> None:
    """The house number one edit off on the same street, or the street one edit off at the same
    number, in the same postcode or city: the household with a typo in its address."""
    home = {**HOME, "street": "34 Ash Street"}
    customer = _who("Michaela", "Neumann", **home)
    assert _dup(_who("Anna", "Neumann", **{**home, "street": "43 Ash Street"}), customer)
    assert _dup(_who("Anna", "Neumann", **{**home, "street": "4 Ash St"}), customer)
    assert _dup(_who("", "Neumann", **{**home, "street": "34 Asb Street"}), customer)
    assert not _dup(_who("Anna", "Neumann", **{**home, "street": "12 Ash Street"}), customer)
    assert not _dup(_who("Anna", "Neumann", **{**home, "street": "34 Oak Street"}), customer)
    elsewhere = {"street": "43 Ash Street", "city": "Dubbo", "postcode": "2830"}
    assert not _dup(_who("Anna", "Neumann", **elsewhere), customer)  # another town's street
    next_door = _who("Anna", "Neumann", **{**home, "street": "43 Ash Street"})
    assert not _dup(next_door, customer, STRICT)  # strict: both names, whatever the address


def test_the_household_vetoes_hold_one_typo_from_the_dwelling() -> None:
    near = {**HOME, "street": "43 Ash Street"}
    customer = _who("Michaela", "Neumann", dob="1975-03-14", **{**HOME, "street": "34 Ash Street"})
    assert not _dup(_who("Anna", "Neumann", dob="2004-09-01", **near), customer)
    office = _who("William", "Johnson", company="Acme Soft", **{**HOME, "street": "34 Ash Street"})
    assert not _dup(_who("Peter", "Johnson", company="Globex Bank", **near), office)


def test_a_name_blank_on_one_side_is_unknown_not_a_disagreement() -> None:
    customer = _who("Michaela", "Neumann", **HOME)
    assert _dup(_who("", "Neumann", **HOME), customer)
    assert _dup(_who("Michaela", "", **HOME), customer)
    assert _dup(_who("Michaela", "Neumann", **HOME), _who("", "Neumann", **HOME))
    assert not _dup(_who("", "", **HOME), customer)  # no name at all: nothing to agree


def test_a_colleague_at_the_same_office_address_with_another_company_is_not_a_duplicate() -> None:
    """Two firms in one building: one surname and one street address are no person."""
    customer = _who("William", "Johnson", company="Acme Soft", **HOME)
    colleague = _who("Peter", "Johnson", company="Globex Bank", **HOME)
    assert not _dup(colleague, customer)
    same_firm = _who("Peter", "Johnson", company="Acme Soft", **HOME)
    assert not _dup(same_firm, customer)  # the firm's own office explains the address
    by_domain = _who("Peter", "Johnson", email="peter@globex.com", **HOME)
    assert not _dup(by_domain, _who("William", "Johnson", email="wj@acmesoft.com", **HOME))


def test_another_birth_date_or_personal_phone_vetoes_the_household() -> None:
    customer = _who("Michaela", "Neumann", dob="1975-03-14", phone="+61 412 555 001", **HOME)
    assert not _dup(_who("Anna", "Neumann", dob="2004-09-01", **HOME), customer)
    assert not _dup(_who("Anna", "Neumann", phone="+61 498 777 314", **HOME), customer)
    assert _dup(_who("Anna", "Neumann", **HOME), customer)  # neither known: the household


def test_strict_needs_both_names() -> None:
    customer = _who("Michaela", "Neumann", **HOME)
    relative = _who("Anna", "Neumann", **HOME)
    m = _match(relative, customer, STRICT)
    assert m is not None and not m.duplicate  # still flagged as a possible one
    assert "surname" not in m.matched_on
    assert _dup(_who("Michaela", "Nuemann", **HOME), customer, STRICT)  # both names: a typo


def test_the_option_and_its_env_twin() -> None:
    assert ServiceConfig("a").dup_names == "household"
    assert ServiceConfig.from_env({"LEADGEN_DUP_NAMES": "Strict"}, "a").dup_names == "strict"
    with pytest.raises(ConfigError, match="LEADGEN_DUP_NAMES"):
        ServiceConfig.from_env({"LEADGEN_DUP_NAMES": "both"}, "a")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("10 Madigan Dtreet", "madigan st"),  # substitution
        ("23 Delprat Icrcuit", "delprat cct"),  # transposition
        ("3 Hannan Crescnt", "hannan cres"),  # deletion
        ("12 Grace Place", "grace pl"),  # a type-like word inside the name stays the name
        ("12 Gracr", "gracr"),  # one word is the street's name, not a type
    ],
)
def test_a_street_type_one_typo_off_is_that_type(raw: str, name: str) -> None:
    assert parse_street(raw).name == name
