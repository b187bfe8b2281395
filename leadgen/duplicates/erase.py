"""Erasing one person from the duplicate stores (the right to erasure; leadgen.forget drives it).

A person is known to the stores by email hashes (the duplicate table's keys) and references
(a lead's ref, a customer's id): the email items, and the identity entries (fuzzy matching) filed
under those references in every block they sit in. `erase_*` first widens the references with
the owners of the person's email items (forgetting by email also finds the lead recorded under
it), then deletes: the email items holding one of the hashes or references, every lead entry
and customer entry of those references with its block links (DynamoDB: the lead attribute, or
the customer block rewritten without the entry). Lead blocks keep their version counter (`n`)
so a concurrent record still sees a changed block.

A customer erased here comes back with the next build's sync while the CRM export still holds
them: the export is the source of truth for customers, and must be erased at the source.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadgen.duplicates.dynamo_store import (
    CUSTOMER,
    LEAD,
    DynamoDuplicateStore,
    customer_block_item,
    decode_entry,
    lead_attribute,
)

_RS = "\x1e"


@dataclass
class Person:
    """What the stores may hold of one person: email hashes and references."""

    email_hashes: set[str] = field(default_factory=set)
    refs: set[str] = field(default_factory=set)


def _marks(values: Iterable[str]) -> str:
    return ",".join("?" for _ in values)


def erase_sqlite(path: str | Path, person: Person) -> dict[str, int]:
    """Erase the person from the SQLite store at `path` in one transaction."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    # Deleted rows are overwritten, not just unlinked, and the WAL is emptied after the commit:
    # otherwise the person's bytes stay in free pages and in the log file.
    conn.execute("PRAGMA secure_delete = ON")
    try:
        conn.execute("BEGIN IMMEDIATE")
        hashes = sorted(person.email_hashes)
        if hashes:
            owners = conn.execute(
                f"SELECT ref FROM dup WHERE email_hash IN ({_marks(hashes)})", hashes
            )
            person.refs.update(str(r) for (r,) in owners)
        refs = sorted(person.refs)
        out = {"email_items": 0, "identity_entries": 0, "block_links": 0}
        if hashes or refs:
            out["email_items"] = conn.execute(
                f"DELETE FROM dup WHERE email_hash IN ({_marks(hashes)}) "
                f"OR ref IN ({_marks(refs)})",
                [*hashes, *refs],
            ).rowcount
        if refs:
            where = f"ref IN ({_marks(refs)})"
            out["block_links"] = conn.execute(
                f"DELETE FROM ident_block WHERE {where}", refs
            ).rowcount
            out["identity_entries"] = conn.execute(
                f"DELETE FROM ident_entry WHERE {where}", refs
            ).rowcount
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return out
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def erase_dynamo(store: DynamoDuplicateStore, person: Person) -> dict[str, int]:
    """Erase the person from the DynamoDB tables (scans: a rare, administrative operation)."""
    client = store.client
    for h in sorted(person.email_hashes):
        item = client.get_item(
            TableName=store.table_name, Key={"email_hash": {"S": h}}, ConsistentRead=True
        ).get("Item")
        if item and "ref" in item:
            person.refs.add(item["ref"]["S"])
    out = {"email_items": _erase_email_items(store, person)}
    out["identity_entries"] = _erase_identity(store, person) if store.identity_table else 0
    return out


def _erase_email_items(store: DynamoDuplicateStore, person: Person) -> int:
    doomed = set(person.email_hashes)
    names = {"#r": "ref"}
    for item in _scan(store, store.table_name, ProjectionExpression="email_hash, #r",
                      ExpressionAttributeNames=names):  # fmt: skip
        if item.get("ref", {}).get("S") in person.refs:
            doomed.add(item["email_hash"]["S"])
    for h in sorted(doomed):
        store.client.delete_item(TableName=store.table_name, Key={"email_hash": {"S": h}})
    return len(doomed)


def _erase_identity(store: DynamoDuplicateStore, person: Person) -> int:
    table = store.identity_table or ""
    attributes = {lead_attribute(ref): ref for ref in person.refs}
    erased = 0
    for item in _scan(store, table):
        pk = item["pk"]["S"]
        if pk.startswith(LEAD):
            gone = sorted(a for a in item if a in attributes)
            if gone:
                _remove_attributes(store, table, pk, gone)
                erased += len(gone)
        elif pk.startswith(CUSTOMER):
            erased += _rewrite_customer_block(store, table, pk, item, person.refs)
    return erased


def _scan(store: DynamoDuplicateStore, table: str, **kwargs: Any) -> Iterable[dict[str, Any]]:
    pages = store.client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True,
                                                          **kwargs)  # fmt: skip
    for page in pages:
        yield from page.get("Items", [])


def _remove_attributes(store: DynamoDuplicateStore, table: str, pk: str, names: list[str]) -> None:
    aliases = {f"#a{i}": name for i, name in enumerate(names)}
    store.client.update_item(
        TableName=table,
        Key={"pk": {"S": pk}},
        UpdateExpression="REMOVE " + ", ".join(aliases),
        ExpressionAttributeNames=aliases,
    )


def _rewrite_customer_block(
    store: DynamoDuplicateStore, table: str, pk: str, item: dict[str, Any], refs: set[str]
) -> int:
    entries = [decode_entry(t) for t in item.get("e", {}).get("S", "").split(_RS) if t]
    kept = [e for e in entries if e.ref not in refs]
    if len(kept) == len(entries):
        return 0
    if kept:
        new = customer_block_item(pk[len(CUSTOMER) :], kept)
        store.client.put_item(TableName=table, Item=new)
    else:
        store.client.delete_item(TableName=table, Key={"pk": {"S": pk}})
    return len(entries) - len(kept)
