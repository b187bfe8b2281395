"""The DynamoDB duplicate store against moto's server (real HTTP): one BatchGetItem per lookup,
one conditional write per record, the race for leads decided by the condition, and the build's
customer sync that never touches lead blocks."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from leadgen.duplicates.check import DuplicateCheck
from leadgen.duplicates.dynamo_store import DynamoDuplicateStore, dynamodb_client
from leadgen.duplicates.normalise import Entry, block_hash, email_hash, identity_of
from leadgen.duplicates.store import LeadKeys
from leadgen.serve.schemas import CleanLead, LeadIdentity
from tests.conftest import blocks_of, create_table, moto_client
from tests.faults import ThrottledDynamo

KEY = "dynamo-test-key"
WILLIAM = identity_of("William", "Johnson", "william.johnson@acmesoft.com", "Acme Soft, Inc.",
                      "+1 555 123 4567", "US")  # fmt: skip


@pytest.fixture
def tables(moto_env: str) -> Iterator[tuple[str, str]]:
    ddb = moto_client("dynamodb", moto_env)
    names = (create_table(ddb), create_table(ddb, "pk", "ident"))
    yield names
    for name in names:
        ddb.delete_table(TableName=name)


def counted_store(tables: tuple[str, str]) -> tuple[DynamoDuplicateStore, Counter[str]]:
    """A store on a real client whose calls are counted by botocore's own event hooks."""
    client = dynamodb_client("request")
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.dynamodb.*", count)
    return DynamoDuplicateStore(*tables, client=client), calls


def lead(first: str, last: str, email: str, company: str | None) -> CleanLead:
    return CleanLead({}, email, None, LeadIdentity(first, last, company, None, "US"))


def test_a_lookup_is_one_batch_get_and_a_record_one_transaction(tables: tuple[str, str]) -> None:
    store, calls = counted_store(tables)
    store.sync_customers([(email_hash("william.johnson@acmesoft.com", KEY) or "", "100")])
    store.sync_identities(blocks_of(KEY, Entry("100", "customer", WILLIAM)))
    check = DuplicateCheck(store, KEY, 3600)
    calls.clear()
    state = check.lookup(lead("Bill", "Johnson", "bill@gmail.com", "ACME SOFT"))
    assert state.hit is not None and (state.hit.how, state.hit.ref) == ("fuzzy", "100")
    assert calls == {"BatchGetItem": 1}
    calls.clear()
    new = check.lookup(lead("Kwame", "Mensah", "kwame@initech.io", "Initech"))
    assert check.record(new, "L1").hit is None
    assert calls == {"BatchGetItem": 1, "TransactWriteItems": 1}
    again = check.lookup(lead("Kwame", "Mensha", "km@gmail.com", "Initech Inc."))
    assert again.hit is not None and (again.hit.kind, again.hit.ref) == ("lead", "L1")
    exact = check.lookup(lead("Anyone", "Else", "KWAME@initech.io", None))
    assert exact.hit is not None and (exact.hit.how, exact.hit.ref) == ("email", "L1")


def test_the_second_of_two_racing_near_duplicates_loses_its_conditional_write(
    tables: tuple[str, str],
) -> None:
    """Both looked up before either wrote (two Lambda instances): the write of the second fails
    its condition, nothing of it is written, and its re-match makes it the first's duplicate."""
    store, _ = counted_store(tables)
    one, two = DuplicateCheck(store, KEY, 3600), DuplicateCheck(store, KEY, 3600)
    a = one.lookup(lead("Robert", "Nkosi", "robert@hooli.health", "Hooli Health"))
    b = two.lookup(lead("Bob", "Nkosi", "bob.nkosi@gmail.com", "HOOLI HEALTH LTD"))
    assert a.hit is None and b.hit is None
    assert one.record(a, "L-a").hit is None
    lost = two.record(b, "L-b")
    assert lost.hit is not None and (lost.hit.how, lost.hit.ref) == ("fuzzy", "L-a")
    assert store.lookup(LeadKeys(email_hash("bob.nkosi@gmail.com", KEY))).email is None
    refs = {e.ref for e in store.lookup(a.keys).entries}
    assert refs == {"L-a"}


def test_a_taken_email_inside_the_transaction_names_its_owner(tables: tuple[str, str]) -> None:
    store, calls = counted_store(tables)
    who = identity_of("Ann", "Lee", "ann@hooli.io", "Hooli", None, "US")
    keys = LeadKeys(email_hash("ann@hooli.io", KEY), (block_hash("o|hooli|a500", KEY),))
    assert store.record_lead(keys, "L1", who, 3600, {}).recorded
    calls.clear()
    taken = store.record_lead(LeadKeys(keys.email_hash, (block_hash("p|1", KEY),)), "L2", who,
                              3600, {})  # fmt: skip
    assert taken.email is not None and taken.email.ref == "L1"
    assert calls == {"TransactWriteItems": 1}  # the owner came with the cancellation


def test_customer_sync_writes_changed_blocks_only_and_never_touches_leads(
    tables: tuple[str, str], moto_server: str
) -> None:
    store, calls = counted_store(tables)
    blocks = blocks_of(KEY, Entry("100", "customer", WILLIAM))
    assert store.sync_identities(blocks)["written"] == len(blocks)
    calls.clear()
    assert store.sync_identities(blocks) == {"blocks": len(blocks), "written": 0, "removed": 0}
    assert "BatchWriteItem" not in calls  # nothing changed, nothing written
    check = DuplicateCheck(store, KEY, 3600)
    check.record(check.lookup(lead("Kwame", "Mensah", "k@initech.io", "Initech")), "L1")
    assert store.sync_identities({}) == {"blocks": 0, "written": 0, "removed": len(blocks)}
    items = moto_client("dynamodb", moto_server).scan(TableName=tables[1])["Items"]
    assert items and all(item["pk"]["S"].startswith("l#") for item in items)
    assert not any("kwame" in item["pk"]["S"] or "initech" in item["pk"]["S"] for item in items)


def test_an_expired_lead_is_no_duplicate_and_its_email_is_taken_again(
    tables: tuple[str, str],
) -> None:
    """DynamoDB's TTL deletes expired items days late: until then an expired lead must neither
    match (by email or fuzzily) nor block the next lead's conditional write."""
    store, _ = counted_store(tables)
    person = ("Kwame", "Mensah", "kwame@initech.io", "Initech")
    expired = DuplicateCheck(store, KEY, -60)  # recorded already a minute past its expiry
    assert expired.record(expired.lookup(lead(*person)), "L-old").hit is None
    check = DuplicateCheck(store, KEY, 3600)
    again = check.lookup(lead(*person))
    assert again.hit is None and again.possible is None
    assert check.record(again, "L-new") == again  # recorded, not skipped or matched
    third = check.lookup(lead(*person))
    assert third.hit is not None and (third.hit.how, third.hit.ref) == ("email", "L-new")


def test_a_lead_who_became_a_customer_is_a_customer_after_the_sync(
    tables: tuple[str, str], moto_server: str
) -> None:
    """The sync replaces the lead's email item whole: a customer, and no expiry left on it for
    TTL to delete the customer by."""
    store, _ = counted_store(tables)
    check = DuplicateCheck(store, KEY, 3600)
    state = check.lookup(lead("Ama", "Owusu", "ama@globex.io", "Globex"))
    check.record(state, "L-ama")
    h = email_hash("ama@globex.io", KEY)
    assert h is not None and store.lookup(LeadKeys(h)).email.kind == "lead"  # type: ignore[union-attr]
    assert store.sync_customers([(h, "777")]) == {"upserted": 1, "removed": 0}
    hit = store.lookup(LeadKeys(h)).email
    assert hit is not None and (hit.kind, hit.ref) == ("customer", "777")
    item = moto_client("dynamodb", moto_server).get_item(
        TableName=tables[0], Key={"email_hash": {"S": h}}
    )["Item"]
    assert "expires_at" not in item and item["kind"]["S"] == "customer"


def test_throttled_batch_writes_and_reads_are_retried_until_done(tables: tuple[str, str]) -> None:
    """BatchWriteItem and BatchGetItem answer "unprocessed" under throttling instead of failing:
    the sync writes every customer and block anyway, and a lookup still finds them."""
    throttled = ThrottledDynamo(dynamodb_client("batch"), times=3)
    store = DynamoDuplicateStore(*tables, client=throttled)
    pairs = [(email_hash(f"c{i}@acme.io", KEY) or "", str(i)) for i in range(60)]
    assert store.sync_customers(pairs) == {"upserted": 60, "removed": 0}
    blocks = blocks_of(KEY, Entry("100", "customer", WILLIAM))
    assert store.sync_identities(blocks)["written"] == len(blocks)
    assert throttled.throttled["batch_write_item"] == 3
    for h, ref in pairs[::7]:
        hit = store.lookup(LeadKeys(h)).email
        assert hit is not None and hit.ref == ref
    assert throttled.throttled["batch_get_item"] == 3
    state = DuplicateCheck(store, KEY, 3600).lookup(
        lead("Bill", "Johnson", "bill@gmail.com", "ACME SOFT")
    )
    assert state.hit is not None and state.hit.ref == "100"
    plain = DynamoDuplicateStore(*tables)
    assert {plain.lookup(LeadKeys(h)).email.ref for h, _ in pairs} == {r for _, r in pairs}  # type: ignore[union-attr]


def test_records_that_are_not_customers_and_hashed_places_round_trip(
    tables: tuple[str, str], moto_server: str
) -> None:
    """A non-customer's email item keeps its kind and stage; a customer block's entry keeps its
    address digests (never the address) and its stage; a lead recorded with an address is found
    by it; the stale sync removes a non-customer that left the export."""
    from leadgen.duplicates.dynamo_store import customer_block_item, decode_entry
    from leadgen.duplicates.normalise import CrmRecord

    store, _ = counted_store(tables)
    home = {"street": "8 Stanley Street", "city": "Winston Hills", "postcode": "4223"}
    ann = identity_of("Ann", "Neumann", None, None, None, "AU", key=KEY, **home)
    h = email_hash("ann@neumann.example", KEY) or ""
    records = {"200": CrmRecord("non_customer", "salesqualifiedlead")}
    assert store.sync_customers([(h, "200")], records) == {"upserted": 1, "removed": 0}
    hit = store.lookup(LeadKeys(h)).email
    assert hit is not None and (hit.kind, hit.ref, hit.stage) == (
        "non_customer", "200", "salesqualifiedlead",
    )  # fmt: skip
    entry = Entry("200", "non_customer", ann, stage="salesqualifiedlead")
    blocks = blocks_of(KEY, entry)
    store.sync_identities(blocks)
    items = moto_client("dynamodb", moto_server).scan(TableName=tables[1])["Items"]
    assert items and not any(b"stanley" in json.dumps(i).lower().encode() for i in items)
    assert decode_entry(customer_block_item("x", [entry])["e"]["S"]) == entry
    check = DuplicateCheck(store, KEY, 3600)
    typo = CleanLead({}, None, None, LeadIdentity("Ann", "Nuemann", None, None, "AU", **home))
    state = check.lookup(typo)
    assert state.hit is not None and (state.hit.kind, state.hit.stage) == (
        "non_customer", "salesqualifiedlead",
    )  # fmt: skip
    assert "street" in state.hit.matched_on
    assert store.sync_customers([]) == {"upserted": 0, "removed": 1}


def test_an_entry_written_before_places_and_stages_still_decodes() -> None:
    from leadgen.duplicates.dynamo_store import decode_entry

    old = "\x1f".join(["bill", "johnson", "acme soft", "", "51234567", "us", "1", "99", "l", "L-1"])
    entry = decode_entry(old)
    assert (entry.ref, entry.kind, entry.expires_at, entry.stage) == ("L-1", "lead", 99, "")
    assert entry.who.first == "bill" and not entry.who.place


def test_counts_and_a_transposed_postcode_go_through_dynamodb(tables: tuple[str, str]) -> None:
    """A customer block keeps each entry's counts (what the match weighs names by, the people one
    postcode swap away included) and an entry without them (a lead, an older build) still reads
    back without; counts of six numbers (an older build's) read back with no swaps; a lead whose
    postcode has two digits swapped fetches the customer's block by its lookup-only keys, in the
    one BatchGetItem."""
    from leadgen.duplicates.dynamo_store import customer_block_item, decode_entry
    from leadgen.duplicates.normalise import Counts

    store, calls = counted_store(tables)
    ann = identity_of("Ann", "Neumann", None, None, None, "AU", postcode="4223", key=KEY)
    counted = Entry("300", "customer", ann, counts=Counts(40, 1, 3, 20, 2000, 2000, 2))
    assert decode_entry(customer_block_item("x", [counted])["e"]["S"]) == counted
    plain = Entry("301", "customer", ann)
    assert decode_entry(customer_block_item("x", [plain])["e"]["S"]).counts is None
    older = replace(counted, counts=Counts(40, 1, 3, 20, 2000, 2000))
    assert decode_entry(customer_block_item("x", [older])["e"]["S"]) == older
    store.sync_identities(blocks_of(KEY, counted))
    check = DuplicateCheck(store, KEY, 3600)
    swapped = CleanLead({}, None, None, LeadIdentity("Zoe", "Neumann", None, None, "AU",
                                                      postcode="4232"))  # fmt: skip
    keys, _ = check.keys_of(swapped)
    calls.clear()
    found = {e.ref: e for e in store.lookup(keys).entries}
    assert calls == {"BatchGetItem": 1}
    assert found["300"].counts == counted.counts
    assert "300" not in {e.ref for e in store.lookup(LeadKeys(None, keys.blocks)).entries}
