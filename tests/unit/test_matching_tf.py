"""Names and postcodes weighed by the export's own counts: a rare surname in the lead's postcode
is the customer, a common one is not; the counts are built with the entries, survive the SQLite
store, and an entry without them (an older store) is weighed by the fixed weights."""

from __future__ import annotations

import itertools
import math
import sqlite3
import string
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from leadgen.duplicates.check import DuplicateCheck
from leadgen.duplicates.customer_entries import customer_blocks, name_counts
from leadgen.duplicates.matching import (
    NAME_WEIGHTS,
    MatchConfig,
    best_match,
    compare,
    locality_bits,
)
from leadgen.duplicates.normalise import Counts, Entry, identity_of, transposed_keys
from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
from leadgen.duplicates.store import LeadKeys, sync_customer_identities
from leadgen.serve.schemas import CleanLead, LeadIdentity
from tests.conftest import IdentityExport

KEY = "tf-test-key"
PEOPLE = 1500  # above matching.TF_MIN_PEOPLE: the counts are used
FIRSTS = ("James", "Mary", "John", "Linda", "David", "Susan", "Peter", "Karen", "Paul", "Ruth")


def _surname(i: int) -> str:
    """A distinct made-up surname per i ("Qab", "Qac", ...): one person each."""
    letters = string.ascii_lowercase
    a, b, c = i // 676 % 26, i // 26 % 26, i % 26
    return "Q" + letters[a] + letters[b] + letters[c]


def _export() -> IdentityExport:
    """PEOPLE customers, each in a postcode of their own: 100 Smiths, everyone else a surname of
    their own, among them customer 7, Zebulon Quarrington, in postcode 3007."""
    firsts = [FIRSTS[i % len(FIRSTS)] for i in range(PEOPLE)]
    lasts = ["Smith" if 100 <= i < 200 else _surname(i) for i in range(PEOPLE)]
    firsts[7], lasts[7] = "Zebulon", "Quarrington"
    identity: dict[str, list[str | None]] = {
        "first_name": list(firsts),
        "last_name": list(lasts),
        "postcode": [str(3000 + i) for i in range(PEOPLE)],
        "country": ["AU"] * PEOPLE,
    }
    return IdentityExport(np.array([str(i) for i in range(PEOPLE)]), identity)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteDuplicateStore:
    s = SqliteDuplicateStore(tmp_path_factory.mktemp("tf") / "dups.sqlite")
    sync_customer_identities(s, customer_blocks(_export(), KEY).blocks)
    return s


def _lead(first: str, last: str, postcode: str) -> CleanLead:
    return CleanLead({}, None, None, LeadIdentity(first, last, None, None, "AU", postcode=postcode))


def test_a_rare_surname_in_the_postcode_is_the_customer_a_common_one_is_not(
    store: SqliteDuplicateStore,
) -> None:
    """One name agreeing, the other another, nothing else but the postcode: the surname only
    one customer carries is a duplicate; "Smith" (100 customers) in a Smith's postcode is not."""
    check = DuplicateCheck(store, KEY, 3600)
    rare = check.lookup(_lead("Marcus", "Quarrington", "3007"))
    assert rare.hit is not None and rare.hit.ref == "7"
    assert "surname" in rare.hit.matched_on and "postcode" in rare.hit.matched_on
    common = check.lookup(_lead("Marcus", "Smith", "3103"))  # customer 103: Linda Smith
    assert common.hit is None
    assert check.lookup(_lead("Marcus", "Quarrington", "3008")).hit is None  # another postcode


def test_without_the_counts_the_fixed_weights_decide(store: SqliteDuplicateStore) -> None:
    """The same rare surname read from entries without counts (a store an older build wrote)
    or with term frequencies off: one name in the postcode is no duplicate, as before."""
    fixed = DuplicateCheck(store, KEY, 3600, MatchConfig(term_frequencies=False))
    assert fixed.lookup(_lead("Marcus", "Quarrington", "3007")).hit is None
    keys, lead = fixed.keys_of(_lead("Marcus", "Quarrington", "3007"))
    zeb = next(e for e in store.lookup(keys).entries if e.ref == "7")
    old = replace(zeb, counts=None)
    m = best_match(lead, [old])
    assert m is None or not m.duplicate
    assert MatchConfig().bits(compare(lead, old)) == MatchConfig(term_frequencies=False).bits(
        compare(lead, zeb)
    )
    assert NAME_WEIGHTS[compare(lead, old).name] < 0  # surname only: the fixed, negative weight


def test_the_counts_survive_the_sqlite_store(store: SqliteDuplicateStore) -> None:
    """What the build counted is what a lookup reads back: people, the surname's count (1 for
    Quarrington, 100 for Smith), the postcode's, the people one swap away (3013 and 3130 from
    Linda Smith's 3103)."""
    check = DuplicateCheck(store, KEY, 3600)
    found = {
        e.ref: e.counts
        for e in store.lookup(check.keys_of(_lead("Linda", "Smith", "3103"))[0]).entries
    }
    linda = found["103"]
    assert linda is not None
    assert linda == Counts(150, 100, 1, linda.near, PEOPLE, PEOPLE, 2)
    zeb = store.lookup(check.keys_of(_lead("Zebulon", "Quarrington", "3007"))[0]).entries
    assert [e.counts.last if e.counts else None for e in zeb if e.ref == "7"] == [1]


def test_a_near_postcode_counts_the_people_one_edit_off() -> None:
    """Codes one edit from 3007 among 3000..3009 (nine of them, one person each): nine people."""
    who = [identity_of("A", "B", country="AU", postcode=str(3000 + i), key=KEY) for i in range(10)]
    counts = name_counts(who)(who[7])
    assert (counts.postcode, counts.near, counts.people) == (1, 9, 10)


def test_a_transposed_postcode_still_fetches_the_customer(store: SqliteDuplicateStore) -> None:
    """ "3070" is customer 7's "3007" with two digits swapped: the lead's lookup-only keys fetch
    the customer's block, which its own keys would not."""
    check = DuplicateCheck(store, KEY, 3600)
    keys, who = check.keys_of(_lead("Marcus", "Quarrington", "3070"))
    assert len(keys.lookup_only) == 3 * len(who.sounds())  # 0370, 3700, 3007
    assert "7" not in {e.ref for e in store.lookup(LeadKeys(None, keys.blocks)).entries}
    assert "7" in {e.ref for e in store.lookup(keys).entries}
    assert transposed_keys(who, None, KEY) == ()


def test_a_small_export_keeps_the_fixed_weights(tmp_path: Path) -> None:
    """Under TF_MIN_PEOPLE people every name is one or two of them: no share to read."""
    small = _export()
    small.ids = small.ids[:50]
    small.identity = {k: v[:50] for k, v in small.identity.items()}
    entries = list(itertools.chain.from_iterable(customer_blocks(small, KEY).blocks.values()))
    assert entries and all(e.counts is not None and e.counts.people == 50 for e in entries)
    lead = identity_of("Marcus", "Quarrington", country="AU", postcode="3007", key=KEY)
    zeb = next(e for e in entries if e.ref == "7")
    c = compare(lead, zeb)
    assert MatchConfig().counted(c) is None
    assert MatchConfig().bits(c) == MatchConfig(term_frequencies=False).bits(c)


def _with_streets() -> list[Entry]:
    """The export with a street each: customer 7, Zebulon Quarrington, at 38 Bentham Street."""
    export = _export()
    export.identity["street"] = [f"{i % 90 + 1} Oak Street" for i in range(PEOPLE)]
    export.identity["street"][7] = "38 Bentham Street"
    blocks = customer_blocks(export, KEY).blocks
    return [e for e in itertools.chain.from_iterable(blocks.values()) if e.ref == "7"][:1]


@pytest.mark.parametrize(
    ("street", "duplicate"),
    [
        ("38 Engelbert Wing", True),  # the street's name replaced, the house number kept
        ("38 Bentham St", True),  # the dwelling
        ("39 Engelbert Wing", False),  # another number on another street: a relative nearby
    ],
)
def test_a_rare_surname_at_the_same_house_number_is_the_customer(
    street: str, duplicate: bool
) -> None:
    """One name agreeing in the postcode: the house number the same with the street's name
    another is not another street (a relative a few streets away rarely has the same number),
    so the rare surname decides; another number on another street keeps them apart."""
    zeb = _with_streets()
    lead = identity_of(
        "Gregory", "Quarrington", country="AU", street=street, postcode="3007", key=KEY
    )
    assert compare(lead, zeb[0]).name == "surname_only"
    m = best_match(lead, zeb)
    assert (m is not None and m.duplicate) is duplicate


@pytest.mark.parametrize(
    "stored", ["1.2.3", "1.2.3.4.5.6.7.8", "a.b.c.d.e.f", "1.2.-3.4.5.6", "1.1.1.1.1.0"]
)
def test_counts_this_version_cannot_read_leave_the_fixed_weights(
    tmp_path: Path, stored: str
) -> None:
    """A counts field from another version's layout or a damaged row: the entry is still read,
    without counts, so the lookup answers with the fixed weights instead of failing."""
    s = SqliteDuplicateStore(tmp_path / "dups.sqlite")
    sync_customer_identities(s, customer_blocks(_export(), KEY).blocks)
    with closing(sqlite3.connect(tmp_path / "dups.sqlite")) as conn:
        conn.execute("UPDATE ident_entry SET counts = ?", (stored,))
        conn.commit()
    check = DuplicateCheck(s, KEY, 3600)
    keys, _ = check.keys_of(_lead("Zebulon", "Quarrington", "3007"))
    zeb = [e for e in s.lookup(keys).entries if e.ref == "7"]
    assert len(zeb) == 1 and zeb[0].counts is None
    assert check.lookup(_lead("Zebulon", "Quarrington", "3007")).hit is not None  # both names
    assert check.lookup(_lead("Marcus", "Quarrington", "3007")).hit is None  # fixed weights


def test_another_postcode_weighs_against_a_fairly_rare_full_name() -> None:
    """Two people named alike (5 and 4 of 1,500 carry the names) in postcodes neither equal nor
    one edit apart are two people: the postcode's three levels share one person's records
    (0.9 + 0.05 + 0.05), so another postcode weighs log2(0.05 / everyone else's share), not the
    fixed table's -3 bits. In the same postcode the same names are the customer."""
    counts = Counts(5, 4, 1, 9, PEOPLE, PEOPLE)
    customer = identity_of("Ottoline", "Quorn", country="AU", postcode="3007", key=KEY)
    entry = Entry("c", "customer", customer, counts=counts)
    moved = identity_of("Ottoline", "Quorn", country="AU", postcode="5230", key=KEY)
    c = compare(moved, entry)
    assert c.locality == "different/unknown"
    elsewhere = (PEOPLE - 1 - 9) / PEOPLE
    assert MatchConfig().bits(c) - MatchConfig().bits(replace(c, locality="unknown/unknown")) == (
        pytest.approx(math.log2(0.05 / elsewhere))
    )
    m = best_match(moved, [entry])
    assert m is not None and not m.duplicate  # flagged possible, and scored
    here = best_match(identity_of("Ottoline", "Quorn", country="AU", postcode="3007", key=KEY),
                      [entry])  # fmt: skip
    assert here is not None and here.duplicate


def test_a_swapped_postcode_weighs_by_the_few_people_one_swap_away() -> None:
    """3007 is one edit from 3000..3009 (nine people) and from 3017, 3107...; one swap away
    only 3070 and 0307 are, the people the build counts for it. A lead whose code is the
    customer's with two digits swapped is weighed by those few (and a tenth of the m of one
    edit); a lead one substitution off by the many (and the rest of the m)."""
    who = [identity_of("A", "B", country="AU", postcode=str(code), key=KEY)
           for code in (*range(3000, 3010), 3017, 3070, 3107)]  # fmt: skip
    counts = name_counts(who)(who[7])
    assert (counts.postcode, counts.swapped) == (1, 1)  # 3070 (0307 holds nobody)
    customer = Entry("7", "customer", who[7], counts=replace(counts, people=PEOPLE))
    lead = {code: identity_of("A", "B", country="AU", postcode=code, key=KEY)
            for code in ("3070", "3008", "4500")}  # fmt: skip
    swap, sub, far = (compare(lead[c], customer) for c in ("3070", "3008", "4500"))
    assert swap.locality == sub.locality == "near/unknown" and far.locality == "different/unknown"
    assert swap.postcode_swapped and not sub.postcode_swapped
    fixed, k = MatchConfig().weights["locality"], customer.counts
    assert k is not None
    assert locality_bits(swap, fixed, k) == pytest.approx(math.log2(0.005 / (1 / PEOPLE)))
    near_share = k.near / PEOPLE
    assert locality_bits(sub, fixed, k) == pytest.approx(math.log2(0.045 / near_share))
    assert locality_bits(swap, fixed, k) > locality_bits(sub, fixed, k)
    # counts written before swaps were counted: one edit off, as it was
    old = Counts.decode(".".join(k.encode().split(".")[:6]))
    assert old is not None and old.swapped is None
    assert locality_bits(swap, fixed, old) == locality_bits(sub, fixed, old)
