"""Duplicates: normalisation rules, hashing, and one winner among concurrent submissions, exact
(one email) and fuzzy (one person under several emails), in the SQLite store."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from leadgen.duplicates import sqlite_store as dups
from leadgen.duplicates.check import DuplicateCheck
from leadgen.duplicates.normalise import (
    Entry,
    Identity,
    block_hash,
    block_keys,
    customer_hash_pairs,
    email_hash,
    identity_of,
    normalise_email,
)
from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
from leadgen.duplicates.store import LeadKeys, sync_customer_hashes, sync_customer_identities
from leadgen.serve.schemas import CleanLead, LeadIdentity
from tests.conftest import blocks_of

NOBODY = Identity("", "")


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("  Jane.Doe+crm@Gmail.com ", "janedoe@gmail.com"),
        ("j.a.n.e.doe@googlemail.com", "janedoe@gmail.com"),
        ("jane+x@outlook.com", "jane@outlook.com"),
        ("jane.doe+x@acme.io", "jane.doe@acme.io"),  # company domains keep dots, drop tags
        ("jane+x@gmx.de", "jane+x@gmx.de"),  # no subaddressing there: "+" is part of a name
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


def _email(store: SqliteDuplicateStore, address: str) -> object:
    return store.lookup(LeadKeys(email_hash(address))).email


def _record(store: SqliteDuplicateStore, address: str, ref: str, ttl: int = 3600) -> object:
    return store.record_lead(LeadKeys(email_hash(address)), ref, NOBODY, ttl, {})


def test_store_short_circuits_customers_and_records_leads(tmp_path: Path) -> None:
    store = SqliteDuplicateStore(tmp_path / "d.sqlite")
    pairs = customer_hash_pairs(["a@x.io", "A@X.io", None, "b@x.io"], [1, 2, 3, 4])
    assert pairs == [(email_hash("a@x.io"), "1"), (email_hash("b@x.io"), "4")]
    assert store.sync_customers(pairs) == {"upserted": 2, "removed": 0}
    hit = _email(store, "A@x.io")
    assert hit == dups.DuplicateHit("customer", "1")
    assert _record(store, "new@x.io", "L1").recorded  # type: ignore[attr-defined]
    again = _record(store, "new@x.io", "L2")
    assert again.email == dups.DuplicateHit("lead", "L1")  # type: ignore[attr-defined]
    # a later sync without customer b removes b, never the lead
    assert store.sync_customers(pairs[:1]) == {"upserted": 1, "removed": 1}
    assert _email(store, "b@x.io") is None
    assert _email(store, "new@x.io") is not None


def test_expired_lead_is_not_a_duplicate(tmp_path: Path) -> None:
    store = SqliteDuplicateStore(tmp_path / "d.sqlite")
    assert _record(store, "late@x.io", "old", -1).recorded  # type: ignore[attr-defined]
    assert _email(store, "late@x.io") is None
    assert _record(store, "late@x.io", "new").recorded  # type: ignore[attr-defined]


def test_twenty_concurrent_submissions_of_one_email_give_one_new_lead(tmp_path: Path) -> None:
    store = SqliteDuplicateStore(tmp_path / "d.sqlite")
    results: list[bool] = []
    barrier = threading.Barrier(20)

    def submit(i: int) -> None:
        barrier.wait()
        results.append(_record(store, "race@x.io", f"L{i}").recorded)  # type: ignore[attr-defined]

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1


def test_an_export_without_emails_leaves_the_customers_in_the_store(tmp_path: Path) -> None:
    store = SqliteDuplicateStore(tmp_path / "d.sqlite")
    pairs = customer_hash_pairs(["a@x.com", "b@y.com"], [1, 2])
    assert sync_customer_hashes(store, pairs) == {"status": "ok", "upserted": 2, "removed": 0}
    skipped = sync_customer_hashes(store, customer_hash_pairs([None, ""], [1, 2]))
    assert skipped["status"] == "skipped" and "no valid customer emails" in skipped["reason"]
    assert _email(store, "A@x.com") == dups.DuplicateHit("customer", "1")
    assert sync_customer_hashes(store, pairs[:1]) == {"status": "ok", "upserted": 1, "removed": 1}
    assert _email(store, "b@y.com") is None
    assert sync_customer_identities(store, {})["status"] == "skipped"


# ---- fuzzy entries ------------------------------------------------------------------------------
KEY = "test-key"
WILLIAM = identity_of("William", "Johnson", "william.johnson@acmesoft.com", "Acme Soft, Inc.",
                      "+1 555 123 4567", "US")  # fmt: skip


def _lead(first: str, last: str, email: str, company: str | None = None) -> CleanLead:
    return CleanLead({}, email, None, LeadIdentity(first, last, company, None, "US"))


@pytest.fixture
def store(tmp_path: Path) -> SqliteDuplicateStore:
    s = SqliteDuplicateStore(tmp_path / "d.sqlite")
    s.sync_identities(blocks_of(KEY, Entry("100", "customer", WILLIAM)))
    return s


def test_a_nickname_under_another_email_is_found_then_a_new_lead_is_recorded(
    store: SqliteDuplicateStore,
) -> None:
    check = DuplicateCheck(store, KEY, 3600)
    state = check.lookup(_lead("Bill", "Johnson", "bill@gmail.com", "ACME SOFT"))
    assert state.hit is not None and (state.hit.how, state.hit.ref) == ("fuzzy", "100")
    new = check.lookup(_lead("Kwame", "Mensah", "kwame@initech.io", "Initech"))
    assert new.status == "done" and new.hit is None and new.possible is None
    assert check.record(new, "L1").hit is None
    again = check.lookup(_lead("Kwame", "Mensha", "km@gmail.com", "Initech Inc."))
    assert again.hit is not None and (again.hit.kind, again.hit.ref) == ("lead", "L1")
    assert again.hit.matched_on == ("name:typo", "company", "country")


def test_customer_sync_replaces_customers_and_keeps_live_leads(store: SqliteDuplicateStore) -> None:
    check = DuplicateCheck(store, KEY, 3600)
    check.record(check.lookup(_lead("Kwame", "Mensah", "kwame@initech.io", "Initech")), "L1")
    assert store.sync_identities({}) == {"entries": 0, "blocks": 0}  # every customer gone
    assert check.lookup(_lead("Bill", "Johnson", "b@gmail.com", "Acme Soft")).hit is None
    assert check.lookup(_lead("Kwame", "Mensah", "k@gmail.com", "Initech")).hit is not None


def test_an_expired_lead_entry_is_not_a_duplicate(store: SqliteDuplicateStore) -> None:
    check = DuplicateCheck(store, KEY, -10)
    check.record(check.lookup(_lead("Kwame", "Mensah", "kwame@initech.io", "Initech")), "old")
    fresh = DuplicateCheck(store, KEY, 3600)
    assert fresh.lookup(_lead("Kwame", "Mensah", "k@gmail.com", "Initech")).hit is None


def test_a_record_after_the_blocks_changed_writes_nothing(store: SqliteDuplicateStore) -> None:
    who = identity_of("Kwame", "Mensah", "k@initech.io", "Initech", None, "US")
    keys = LeadKeys(
        email_hash("k@initech.io", KEY), tuple(block_hash(k, KEY) for k in block_keys(who))
    )
    seen = store.lookup(keys).versions
    other = LeadKeys(email_hash("k2@gmail.com", KEY), keys.blocks[:1])
    assert store.record_lead(other, "L-first", who, 3600, seen).recorded
    late = store.record_lead(keys, "L-late", who, 3600, seen)  # saw the block before L-first
    assert late.changed is not None and not late.recorded
    assert {e.ref for e in late.changed.entries} >= {"L-first"}
    assert store.lookup(keys).email is None  # the late lead's email was not written either


def test_a_full_lead_block_takes_no_more_leads(
    store: SqliteDuplicateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dups, "LEAD_BLOCK_CAP", 2)
    who = identity_of("Ann", "Lee", None, "Hooli", None, "US")
    keys = LeadKeys(None, (block_hash("o|hooli|l000", KEY),))
    for i in range(3):
        assert store.record_lead(keys, f"L{i}", who, 3600, store.lookup(keys).versions).recorded
    assert sorted(e.ref for e in store.lookup(keys).entries) == ["L0", "L1"]


def test_concurrent_near_duplicates_give_exactly_one_new_lead(tmp_path: Path) -> None:
    """24 submissions of one person (nicknames, a swap, case) under 24 emails at once: one is
    recorded as new, every other becomes its duplicate (the conditional write re-matches)."""
    store = SqliteDuplicateStore(tmp_path / "d.sqlite")
    variants = [
        ("Robert", "Nkosi"),
        ("Bob", "Nkosi"),
        ("Rob", "Nkosi"),
        ("Nkosi", "Robert"),
        ("Bobby", "Nkosi"),
        ("Robbie", "Nkosi"),
        ("ROBERT", "NKOSI"),
        ("Bob", "NKOSI"),
    ] * 3
    barrier = threading.Barrier(len(variants))
    answers: list[tuple[str, str | None]] = []

    def submit(i: int, first: str, last: str) -> None:
        check = DuplicateCheck(store, KEY, 3600)
        state = check.lookup(_lead(first, last, f"{first}{i}@gmail.com", "Hooli Health Ltd"))
        barrier.wait()
        if state.hit is None:
            state = check.record(state, f"L{i}")
        answers.append(("new", f"L{i}") if state.hit is None else ("dup", state.hit.ref))

    threads = [threading.Thread(target=submit, args=(i, *v)) for i, v in enumerate(variants)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [ref for what, ref in answers if what == "new"]
    assert len(winners) == 1
    assert all(ref == winners[0] for what, ref in answers if what == "dup")


def test_a_retried_record_that_had_landed_is_not_its_own_duplicate(
    store: SqliteDuplicateStore,
) -> None:
    """A client retry of a write that timed out but landed finds the lead's own entry."""
    check = DuplicateCheck(store, KEY, 3600)
    state = check.lookup(_lead("Kwame", "Mensah", "kwame@initech.io", "Initech"))
    assert check.record(state, "L1").hit is None
    retried = check.record(state, "L1")  # the same request again, with the same stale view
    assert retried.hit is None and retried.status == "done"
    other = check.record(state, "L2")  # a different lead with that view is a duplicate
    assert other.hit is not None and other.hit.ref == "L1"


def test_the_check_logs_the_shape_of_a_match_never_who(
    store: SqliteDuplicateStore, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    check = DuplicateCheck(store, KEY, 3600)
    # On the module's logger itself: an earlier test may have given "leadgen" a level or a
    # handler that does not propagate (Powertools in the Lambda tests).
    logger = logging.getLogger("leadgen.duplicates.check")
    logger.addHandler(caplog.handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        who = LeadIdentity("Bill", "Johnson", "ACME SOFT", "555 123 4567", "US")
        lead = CleanLead({}, "bill.johnson@gmail.com", None, who)
        assert check.lookup(lead).hit is not None
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(level)
    (record,) = {id(r): r for r in caplog.records if r.getMessage() == "duplicate check"}.values()
    assert record.__dict__["matched_on"] == ["name:nickname", "company", "phone", "country"]
    assert record.__dict__["identity_shape"] == "name+company+phone"
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records).lower()
    for needle in ("bill", "johnson", "acme", "gmail", "1234567", "@"):
        assert needle not in text, needle


def test_a_store_file_of_an_older_version_gains_the_new_columns(tmp_path: Path) -> None:
    """A duplicates.sqlite written before places and stages: opened, its leads kept, and the
    export's records synced with their kind and stage."""
    import sqlite3

    from leadgen.duplicates.normalise import CrmRecord

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE dup (email_hash TEXT PRIMARY KEY, kind TEXT NOT NULL, ref TEXT NOT NULL,"
            " expires_at INTEGER);"
            "CREATE TABLE ident_entry (kind TEXT NOT NULL, ref TEXT NOT NULL, first TEXT NOT NULL,"
            " last TEXT NOT NULL, company TEXT NOT NULL, domain TEXT NOT NULL, phone TEXT NOT NULL,"
            " country TEXT NOT NULL, phone_n INTEGER NOT NULL, expires_at INTEGER,"
            " PRIMARY KEY (kind, ref)) WITHOUT ROWID;"
            "CREATE TABLE ident_block (key TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL,"
            " PRIMARY KEY (key, kind, ref)) WITHOUT ROWID;"
        )
        conn.execute("INSERT INTO dup VALUES (?, 'lead', 'L-old', 4102444800)",
                     (email_hash("old@x.io"),))  # fmt: skip
    store = SqliteDuplicateStore(path)
    assert _email(store, "old@x.io") == dups.DuplicateHit("lead", "L-old")
    pairs = customer_hash_pairs(["sql@x.io"], [9])
    store.sync_customers(pairs, {"9": CrmRecord("non_customer", "salesqualifiedlead")})
    assert _email(store, "sql@x.io") == dups.DuplicateHit("non_customer", "9", "salesqualifiedlead")
