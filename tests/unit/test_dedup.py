"""Duplicates: normalisation rules, hashing, and one winner among concurrent submissions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from leadgen.model.identity import customer_hash_pairs, email_hash, normalise_email
from leadgen.stores.duplicates import SqliteDuplicateStore, sync_customer_hashes


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("  Jane.Doe+crm@Gmail.com ", "janedoe@gmail.com"),
        ("j.a.n.e.doe@googlemail.com", "janedoe@gmail.com"),
        ("jane+x@outlook.com", "jane@outlook.com"),
        ("jane.doe+x@acme.io", "jane.doe+x@acme.io"),  # company domains keep dots and tags
        ("Jane.Doe@ACME.io", "jane.doe@acme.io"),
        ("not-an-email", None),
        ("a@b", None),
    ],
)
def test_normalisation(raw: str, norm: str | None) -> None:
    assert normalise_email(raw) == norm


def test_hash_hides_the_email_and_can_be_keyed() -> None:
    h = email_hash("Jane.Doe@gmail.com")
    assert h == email_hash("janedoe+promo@GMAIL.com")
    assert h is not None and "jane" not in h and len(h) == 64
    assert email_hash("janedoe@gmail.com", key="secret") != h


def test_store_short_circuits_customers_and_records_leads(tmp_path: Path) -> None:
    store = SqliteDuplicateStore(tmp_path / "d.sqlite")
    pairs = customer_hash_pairs(["a@x.io", "A@X.io", None, "b@x.io"], [1, 2, 3, 4])
    assert pairs == [(email_hash("a@x.io"), "1"), (email_hash("b@x.io"), "4")]
    assert store.sync_customers(pairs) == {"upserted": 2, "removed": 0}
    hit = store.lookup(email_hash("A@x.io") or "")
    assert hit is not None and hit.kind == "customer" and hit.ref == "1"
    lead = email_hash("new@x.io") or ""
    assert store.record_lead(lead, "L1", 3600) is None
    again = store.record_lead(lead, "L2", 3600)
    assert again is not None and again.ref == "L1"
    # a later sync without customer b removes b, never the lead
    assert store.sync_customers(pairs[:1]) == {"upserted": 1, "removed": 1}
    assert store.lookup(email_hash("b@x.io") or "") is None
    assert store.lookup(lead) is not None


def test_expired_lead_is_not_a_duplicate(tmp_path: Path) -> None:
    store = SqliteDuplicateStore(tmp_path / "d.sqlite")
    h = email_hash("late@x.io") or ""
    assert store.record_lead(h, "old", -1) is None
    assert store.lookup(h) is None
    assert store.record_lead(h, "new", 3600) is None


def test_twenty_concurrent_submissions_give_one_non_duplicate(tmp_path: Path) -> None:
    store = SqliteDuplicateStore(tmp_path / "d.sqlite")
    h = email_hash("race@x.io") or ""
    results: list[object] = []
    barrier = threading.Barrier(20)

    def submit(i: int) -> None:
        barrier.wait()
        results.append(store.record_lead(h, f"L{i}", 3600))

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is None for r in results) == 1


def test_an_export_without_emails_leaves_the_customers_in_the_store(tmp_path: Path) -> None:
    store = SqliteDuplicateStore(tmp_path / "d.sqlite")
    pairs = customer_hash_pairs(["a@x.com", "b@y.com"], [1, 2])
    assert sync_customer_hashes(store, pairs) == {"status": "ok", "upserted": 2, "removed": 0}
    skipped = sync_customer_hashes(store, customer_hash_pairs([None, ""], [1, 2]))
    assert skipped["status"] == "skipped" and "no valid customer emails" in skipped["reason"]
    hit = store.lookup(email_hash("A@x.com"))
    assert hit is not None and hit.kind == "customer"
    assert sync_customer_hashes(store, pairs[:1]) == {"status": "ok", "upserted": 1, "removed": 1}
    assert store.lookup(email_hash("b@y.com")) is None
