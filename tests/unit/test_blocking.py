"""Blocking keys a typo does not break, and what "similar" names are: a lead whose name lost both
sound keys to typos is still fetched by its name prefixes and found in a real SQLite store, and a
name that merely starts like another ("Green", "Greenhalgh") is not a spelling of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leadgen.duplicates.check import DuplicateCheck
from leadgen.duplicates.customer_entries import customer_blocks
from leadgen.duplicates.matching import name_level
from leadgen.duplicates.normalise import block_keys, identity_of
from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
from leadgen.duplicates.store import sync_customer_identities
from leadgen.serve.schemas import CleanLead, LeadIdentity
from tests.conftest import IdentityExport

KEY = "blocking-test-key"
PREFIX_KEYS = {"zq", "nq"}  # postcode x name prefix, the pair of name prefixes
# (first name, surname, postcode) of the export's customers: typos of the first two below
# change both their sound keys ("georgia" g620 -> "geogia" g200, "simmonds" s553 ->
# "simmovnds" s515).
CUSTOMERS = [
    ("Georgia", "Simmonds", "2100"),
    ("Gracie", "Crook", "4108"),
    ("Gregory", "Sims", "2100"),
    ("Grace", "Cook", "4108"),
    ("Mary", "Jones", "2100"),
    ("Peter", "Crook", "4801"),
]


@pytest.fixture
def store(tmp_path: Path) -> SqliteDuplicateStore:
    export = IdentityExport(
        np.array([f"c{i}" for i in range(len(CUSTOMERS))]),
        {
            "first_name": [c[0] for c in CUSTOMERS],
            "last_name": [c[1] for c in CUSTOMERS],
            "postcode": [c[2] for c in CUSTOMERS],
            "country": ["AU"] * len(CUSTOMERS),
        },
    )
    s = SqliteDuplicateStore(tmp_path / "dup.sqlite")
    sync_customer_identities(s, customer_blocks(export, KEY).blocks)
    return s


def _lookup(store: SqliteDuplicateStore, first: str, last: str, postcode: str) -> str | None:
    lead = LeadIdentity(first_name=first, last_name=last, postcode=postcode, country="AU")
    state = DuplicateCheck(store, KEY, 3600).lookup(CleanLead({}, None, "lead-1", lead))
    return state.hit.ref if state.hit is not None else None


@pytest.mark.parametrize(
    ("lead", "customer"),
    [
        (("Geogia", "Simmovnds", "2100"), "c0"),  # both names garbled, the same postcode
        (("Gracnie", "Crook", "4198"), "c1"),  # the first name garbled, a postcode digit wrong
    ],
)
def test_a_typo_that_changes_every_sound_key_still_finds_the_customer(
    store: SqliteDuplicateStore, lead: tuple[str, str, str], customer: str
) -> None:
    first, last, code = lead
    who = identity_of(first, last, country="AU", postcode=code, key=KEY)
    c = CUSTOMERS[int(customer[1:])]
    theirs = identity_of(c[0], c[1], country="AU", postcode=c[2], key=KEY)
    mine, its = set(block_keys(who)), set(block_keys(theirs))
    shared = {k.split("|")[0] for k in mine & its}
    assert shared and shared <= PREFIX_KEYS  # only a prefix key: every sound key differs
    assert _lookup(store, first, last, code) == customer


def test_prefix_keys_do_not_make_a_namesake_of_someone_else(store: SqliteDuplicateStore) -> None:
    """Fetched by "gr"-something in the postcode, compared, and not one of them."""
    assert _lookup(store, "Grant", "Simpson", "2100") is None
    assert _lookup(store, "Gracie", "Crookes", "4801") is None


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        (("Lily", "White"), ("Lily", "Whittlesis"), "first_only"),
        (("Abbey", "Green"), ("Abbey", "Greenberg"), "first_only"),
        (("Jorja", "Green"), ("Amber", "Greenhalgh"), "none"),
        (("Gemaley", "Meadows"), ("Gemaey", "Meadowts"), "similar"),  # an edit in each name
        (("Madison", "Cowell"), ("Madison", "Cowle"), "similar"),
    ],
)
def test_similar_names_are_spellings_not_shared_beginnings(
    a: tuple[str, str], b: tuple[str, str], level: str
) -> None:
    assert name_level(identity_of(*a), identity_of(*b)) == level
