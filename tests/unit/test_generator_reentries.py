"""The generated CRM's identity columns and its labelled re-entries (what bench/fuzzy_bench.py
measures the matcher on): realistic names, company spellings that really are the company,
duplicates that never share a mailbox with their customer, and labels that say what they are."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow.compute as pc
import pytest

from leadgen.duplicates.normalise import Company, identity_of, normalise_email, phone_key
from leadgen.synthetic import contacts as ct
from leadgen.synthetic.crm import generate_crm, generate_crm_with_truth
from leadgen.synthetic.names import FIRST_NAMES, surnames
from leadgen.synthetic.reentries import DUP_KINDS, NEG_KINDS, generate_reentries, one_letter_typo


def test_the_vocabulary_is_large_enough_for_rare_name_collisions() -> None:
    assert len(FIRST_NAMES) >= 300 and len(set(FIRST_NAMES)) == len(FIRST_NAMES)
    assert len(surnames()) >= 3000 and len({s.lower() for s in surnames()}) == len(surnames())
    current = generate_crm(20_000, seed=3).filter(pc.field("is_current"))
    names = Counter(zip(current["first_name"].to_pylist(), current["last_name"].to_pylist(),
                        strict=True))  # fmt: skip
    n = current.num_rows
    same_name = sum(c * (c - 1) for c in names.values()) / (n * (n - 1))
    assert same_name < 2e-5  # the 119 x 120 vocabulary: about 2.6e-4
    assert Counter(current["last_name"].to_pylist()).most_common(1)[0][1] < 0.03 * n


def test_every_company_spelling_normalises_to_the_company() -> None:
    rng = np.random.default_rng(0)
    universe = ct.companies()
    for cid in range(0, len(universe.base), 13):
        for country in range(len(ct.LEGAL_FORMS)):
            key = Company.of(ct.render_company(cid, country))
            assert key is not None
            if not universe.descriptor[cid].startswith("&"):  # "& Partners" is part of a name
                assert key.key == universe.domain_label[cid]  # company and work domain agree
            for _ in range(3):
                variant = Company.of(ct.render_company(cid, country, rng.random(8)))
                assert variant is not None and variant.key == key.key


def test_every_phone_format_of_a_number_has_one_key() -> None:
    rng = np.random.default_rng(1)
    for country in range(len(ct.LEGAL_FORMS)):
        national = ct.national_numbers(rng, np.array([country]))[0]
        keys = {phone_key(ct.format_phone(country, national, s)) for s in range(ct.N_PHONE_STYLES)}
        assert len(keys) == 1 and "" not in keys


def test_typos_are_one_edit() -> None:
    from rapidfuzz.distance import OSA

    rng = np.random.default_rng(2)
    for word in ("Johnson", "Nkosi", "Lee", "Fernández"):
        for _ in range(20):
            typo = one_letter_typo(word, rng)
            assert typo != word and OSA.distance(typo, word) == 1


@pytest.fixture(scope="module")
def world() -> tuple[object, object, object]:
    table, truth = generate_crm_with_truth(5000, 1)
    leads, pairs = generate_reentries(truth, 60, 1)
    return table, truth, (leads, pairs)


def test_reentries_come_under_new_mailboxes_with_consistent_labels(world: tuple) -> None:
    _, truth, (leads, pairs) = world
    assert leads.num_rows == 60 * len(DUP_KINDS + NEG_KINDS)
    assert pairs.schema.names == ["lead_id", "customer_id", "kind", "is_duplicate"]
    known = {normalise_email(e) for e in truth.email}
    by_id = {r["lead_id"]: r for r in leads.to_pylist()}
    assert not {normalise_email(r["email"]) for r in by_id.values()} & known
    row_of = {int(c): i for i, c in enumerate(truth.customer_id)}
    for pair in pairs.to_pylist():
        lead = by_id[pair["lead_id"]]
        assert pair["is_duplicate"] == (pair["kind"] in DUP_KINDS) == (lead["kind"] in DUP_KINDS)
        if pair["kind"] == "colleague":  # same company, another person
            row = row_of[pair["customer_id"]]
            assert identity_of("a", "b", None, lead["company"]).company_key == identity_of(
                "a", "b", None, truth.contacts.company[row]).company_key  # fmt: skip
        if pair["kind"] == "new":
            assert pair["customer_id"] is None


def test_reentries_are_deterministic(world: tuple) -> None:
    _, truth, (leads, pairs) = world
    again = generate_reentries(truth, 60, 1)
    assert again[0].equals(leads) and again[1].equals(pairs)
    assert not generate_reentries(truth, 60, 2)[0].equals(leads)
