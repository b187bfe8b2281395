"""The DynamoDB duplicate store: the same interface and semantics as the local SQLite store.

Two tables (docs/duplicates.md has the layout, sizes and costs):
* the duplicate table, one item per email hash: {email_hash (key), kind: customer|non_customer|
  lead, ref, expires_at (TTL, leads only), sync_id and stage (the export's records only)};
* the identity table (optional: without it there is no fuzzy check), pk = "c#<h>" for a block
  of the export's records (entries `e`, digest `d`; written only by the build job) or "l#<h>"
  for a lead block (one attribute per lead entry, count `n`, `expires_at`; written only by
  scoring).

A lookup is ONE BatchGetItem over both tables (the email item plus a customer and a lead item per
blocking key). A record is one conditional PutItem when only the email is written, else ONE
TransactWriteItems: the email Put (if absent) and an Update per lead block conditioned on the
count seen at lookup, so a lead is only written if nobody recorded a lead in its blocks since.
`sync_customers` stamps every current customer with this sync's id and then deletes customer items
with another id; `sync_identities` writes only the customer blocks whose digest changed and
deletes the ones gone. Lead items are never touched by a sync.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from leadgen.duplicates.address import Place
from leadgen.duplicates.normalise import Counts, CrmRecord, Entry, Identity, entry_kind
from leadgen.duplicates.store import LEAD_BLOCK_CAP, DuplicateHit, Known, LeadKeys, Recorded

WRITE_BATCH = 25
CUSTOMER, LEAD = "c#", "l#"
_FS, _RS = "\x1f", "\x1e"  # unit and record separators: never in a normalised field


# Retry and timeout profiles. Inside a scoring request an unreachable table must cost about a
# second (the answer then says "duplicate_check": "skipped"), not outlast API Gateway's 30 s; the
# build job's sync can wait out throttling with adaptive retries.
_CLIENT_PROFILES: dict[str, dict[str, Any]] = {
    "request": {
        "retries": {"max_attempts": 2, "mode": "standard"},
        "connect_timeout": 1,
        "read_timeout": 1,
    },
    "batch": {
        "retries": {"max_attempts": 8, "mode": "adaptive"},
        "connect_timeout": 2,
        "read_timeout": 5,
    },
}


# botocore logs request parameters and response bodies at DEBUG; the identity entries in them
# hold normalised names and companies, which must not reach a log at any level.
_QUIET_BOTOCORE = ("botocore.endpoint", "botocore.parsers")


def _quiet_botocore() -> None:
    for name in _QUIET_BOTOCORE:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def dynamodb_client(profile: Literal["request", "batch"] = "batch") -> Any:
    import boto3
    from botocore.config import Config

    # botocore reads AWS_ENDPOINT_URL(_DYNAMODB) itself (moto in tests, LocalStack).
    return boto3.client("dynamodb", config=Config(**_CLIENT_PROFILES[profile]))


def configured_store(
    dup_table: str | None, identity_table: str | None, profile: Literal["request", "batch"]
) -> DynamoDuplicateStore | None:
    """The duplicate tables a runtime is configured with, as one store (None without
    DUP_TABLE_NAME). Its client is made here, so its setup stays out of the first request; the
    scoring Lambda asks for the request profile (short timeouts, one retry)."""
    if not dup_table:
        return None
    return DynamoDuplicateStore(dup_table, identity_table, client=dynamodb_client(profile))


class DynamoDuplicateStore:
    def __init__(
        self, table_name: str, identity_table: str | None = None, client: Any = None
    ) -> None:
        self.table_name = table_name
        self.identity_table = identity_table
        self._client = client
        _quiet_botocore()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = dynamodb_client()
        return self._client

    # ---- serving -----------------------------------------------------------------------------
    def lookup(self, keys: LeadKeys, consistent: bool = False) -> Known:
        """One BatchGetItem for the email item and the blocks' customer and lead items."""
        request = self._lookup_request(keys, consistent)
        if not request:
            return Known()
        got = self._batch_get(request)
        now = time.time()
        email = None
        for item in got.get(self.table_name, []):
            email = _email_hit(item, now)
        entries: dict[tuple[str, str], Entry] = {}
        versions = dict.fromkeys(self._blocks(keys), 0)
        for item in got.get(self.identity_table or "", []):
            pk = item["pk"]["S"]
            if pk.startswith(LEAD):
                versions[pk[len(LEAD) :]] = int(item.get("n", {}).get("N", "0"))
            for entry in _item_entries(item, now):
                entries[(entry.kind, entry.ref)] = entry
        return Known(email=email, entries=tuple(entries.values()), versions=versions)

    def _blocks(self, keys: LeadKeys) -> tuple[str, ...]:
        return keys.blocks if self.identity_table else ()

    def _lookup_request(self, keys: LeadKeys, consistent: bool) -> dict[str, Any]:
        request: dict[str, Any] = {}
        if keys.email_hash is not None:
            request[self.table_name] = {
                "Keys": [{"email_hash": {"S": keys.email_hash}}],
                "ProjectionExpression": "#k, #r, expires_at, stage",
                "ExpressionAttributeNames": {"#k": "kind", "#r": "ref"},
                "ConsistentRead": consistent,
            }
        blocks = self._blocks(keys)
        if blocks:
            also = [h for h in keys.lookup_only if h not in blocks]
            request[self.identity_table or ""] = {
                "Keys": [{"pk": {"S": fam + h}} for h in blocks for fam in (CUSTOMER, LEAD)]
                + [{"pk": {"S": CUSTOMER + h}} for h in also],
                "ConsistentRead": consistent,
            }
        return request

    def _batch_get(self, request: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """BatchGetItem, retrying unprocessed keys (throttling) a few times."""
        out: dict[str, list[dict[str, Any]]] = {}
        for attempt in range(5):
            resp = self.client.batch_get_item(RequestItems=request)
            for table, items in resp.get("Responses", {}).items():
                out.setdefault(table, []).extend(items)
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                return out
            time.sleep(0.02 * 2**attempt)
        raise RuntimeError("DynamoDB kept keys of a lookup unprocessed (throttled)")

    def record_lead(
        self, keys: LeadKeys, ref: str, who: Identity, ttl_seconds: int, seen: Mapping[str, int]
    ) -> Recorded:
        now = int(time.time())
        expires = now + ttl_seconds
        blocks = [h for h in self._blocks(keys) if seen.get(h, 0) < LEAD_BLOCK_CAP]
        if not blocks:
            if keys.email_hash is None:
                return Recorded()
            return self._put_email(keys.email_hash, ref, expires, now)
        items = [self._block_update(h, ref, who, expires, seen.get(h, 0)) for h in blocks]
        if keys.email_hash is not None:
            put = self._email_put(keys.email_hash, ref, expires, now)
            items.insert(0, {"Put": {**put, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}})
        try:
            # The token makes the client's own retry of a timed-out attempt a no-op in DynamoDB.
            self.client.transact_write_items(
                TransactItems=items, ClientRequestToken=uuid.uuid4().hex
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            first = reasons[0] if reasons else {}
            if keys.email_hash is not None and first.get("Code") == "ConditionalCheckFailed":
                return Recorded(email=self._email_owner(first.get("Item"), keys))
            return Recorded(changed=self.lookup(keys, consistent=True))
        return Recorded()

    def _email_put(self, email_hash: str, ref: str, expires: int, now: int) -> dict[str, Any]:
        return {
            "TableName": self.table_name,
            "Item": {
                "email_hash": {"S": email_hash},
                "kind": {"S": "lead"},
                "ref": {"S": ref},
                "expires_at": {"N": str(expires)},
            },
            # absent, or an expired lead that TTL has not swept yet
            "ConditionExpression": "attribute_not_exists(email_hash) OR "
            "(#k = :lead AND expires_at < :now)",
            "ExpressionAttributeNames": {"#k": "kind"},
            "ExpressionAttributeValues": {":lead": {"S": "lead"}, ":now": {"N": str(now)}},
        }

    def _put_email(self, email_hash: str, ref: str, expires: int, now: int) -> Recorded:
        try:
            self.client.put_item(
                **self._email_put(email_hash, ref, expires, now),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            keys = LeadKeys(email_hash)
            return Recorded(email=self._email_owner(exc.response.get("Item"), keys))
        return Recorded()

    def _email_owner(self, item: dict[str, Any] | None, keys: LeadKeys) -> DuplicateHit:
        """Who holds the email: from the failed condition's old item, else read back."""
        hit = _email_hit(item, time.time()) if item else None
        if hit is None:
            hit = self.lookup(LeadKeys(keys.email_hash), consistent=True).email
        return hit or DuplicateHit(kind="lead", ref="unknown")

    def _block_update(
        self, h: str, ref: str, who: Identity, expires: int, seen: int
    ) -> dict[str, Any]:
        """Add the lead's entry to a lead block, if the block still holds `seen` leads."""
        values: dict[str, Any] = {
            ":e": {"S": encode_entry(Entry(ref, "lead", who, 1, expires))},
            ":x": {"N": str(expires)},
            ":one": {"N": "1"},
        }
        if seen:
            values[":n"] = {"N": str(seen)}
        return {
            "Update": {
                "TableName": self.identity_table,
                "Key": {"pk": {"S": LEAD + h}},
                "UpdateExpression": "SET #r = :e, expires_at = :x ADD n :one",
                "ConditionExpression": "n = :n" if seen else "attribute_not_exists(n)",
                "ExpressionAttributeNames": {"#r": lead_attribute(ref)},
                "ExpressionAttributeValues": values,
            }
        }

    # ---- the build job's syncs ---------------------------------------------------------------
    def sync_customers(
        self, pairs: Iterable[tuple[str, str]], records: Mapping[str, CrmRecord] | None = None
    ) -> dict[str, int]:
        """Upsert the export's records (batched, retried), then remove stale ones."""
        sync_id = uuid.uuid4().hex
        puts = _customer_puts(pairs, sync_id, records or {})
        upserted = self._write_all(self.table_name, puts)
        stale = (
            {"DeleteRequest": {"Key": {"email_hash": item["email_hash"]}}}
            for item in self._scan(
                self.table_name,
                ProjectionExpression="email_hash",
                FilterExpression="#k IN (:c, :n) AND sync_id <> :s",
                ExpressionAttributeNames={"#k": "kind"},
                ExpressionAttributeValues={
                    ":c": {"S": "customer"},
                    ":n": {"S": "non_customer"},
                    ":s": {"S": sync_id},
                },
            )
        )
        removed = self._write_all(self.table_name, stale)
        return {"upserted": upserted, "removed": removed}

    def sync_identities(self, blocks: Mapping[str, Sequence[Entry]]) -> dict[str, int]:
        """Write the customer blocks that are new or changed (by digest), delete the ones gone;
        a daily build over a mostly unchanged CRM rewrites little."""
        table = self.identity_table
        if table is None:
            raise ValueError("no identity table configured")
        stored = {
            item["pk"]["S"][len(CUSTOMER) :]: item.get("d", {}).get("S", "")
            for item in self._scan(
                table,
                ProjectionExpression="pk, d",
                FilterExpression="begins_with(pk, :c)",
                ExpressionAttributeValues={":c": {"S": CUSTOMER}},
            )
        }
        puts = (
            {"PutRequest": {"Item": item}}
            for h, entries in blocks.items()
            if stored.get(h) != (item := customer_block_item(h, entries))["d"]["S"]
        )
        written = self._write_all(table, puts)
        gone = [h for h in stored if h not in blocks]
        deletes = ({"DeleteRequest": {"Key": {"pk": {"S": CUSTOMER + h}}}} for h in gone)
        removed = self._write_all(table, deletes)
        return {"blocks": len(blocks), "written": written, "removed": removed}

    def _scan(self, table: str, **kwargs: Any) -> Iterable[dict[str, Any]]:
        for page in self.client.get_paginator("scan").paginate(TableName=table, **kwargs):
            yield from page.get("Items", [])

    def _write_all(self, table: str, requests: Iterable[dict[str, Any]]) -> int:
        """BatchWriteItem in batches of 25; returns how many requests were written."""
        done = 0
        batch: list[dict[str, Any]] = []
        for request in requests:
            batch.append(request)
            if len(batch) == WRITE_BATCH:
                done += self._write(table, batch)
                batch = []
        return done + (self._write(table, batch) if batch else 0)

    def _write(self, table: str, requests: list[dict[str, Any]]) -> int:
        """BatchWriteItem with exponential backoff on unprocessed items (throttling)."""
        pending = requests
        delay = 0.05
        for _ in range(12):
            resp = self.client.batch_write_item(RequestItems={table: pending})
            pending = resp.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                return len(requests)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise RuntimeError(f"DynamoDB kept throttling: {len(pending)} writes unprocessed")


def _customer_puts(
    pairs: Iterable[tuple[str, str]], sync_id: str, records: Mapping[str, CrmRecord]
) -> Iterable[dict[str, Any]]:
    plain = CrmRecord()
    for email_hash, ref in pairs:
        record = records.get(ref, plain)
        item = {
            "email_hash": {"S": email_hash},
            "kind": {"S": record.kind},
            "ref": {"S": ref},
            "sync_id": {"S": sync_id},
        }
        if record.stage:
            item["stage"] = {"S": record.stage}
        yield {"PutRequest": {"Item": item}}


def _email_hit(item: Mapping[str, Any], now: float) -> DuplicateHit | None:
    if "kind" not in item or "ref" not in item:
        return None
    expires = item.get("expires_at", {}).get("N")
    if expires is not None and int(expires) < now:
        return None  # TTL deletion lags by up to days: an expired lead is not a duplicate
    stage = item.get("stage", {}).get("S")
    return DuplicateHit.stored(item["kind"]["S"], item["ref"]["S"], stage)


def lead_attribute(ref: str) -> str:
    """The attribute of a lead's entry in a lead block: bounded, whatever the lead id is."""
    return "r" + hashlib.sha256(ref.encode()).hexdigest()[:16]


_KIND_CHARS = {"customer": "C", "non_customer": "N", "lead": "L"}
_CHAR_KINDS = {"C": "customer", "N": "non_customer", "L": "lead", "c": "customer", "l": "lead"}


def encode_entry(e: Entry) -> str:
    """One entry as text: the identity fields, phone_n, expiry, kind, place digests, stage, the
    name and postcode counts when known (the kind then marked "+"), and the ref last (a lead id
    may contain anything; it is split off last). Entries written before counts (an upper-case
    kind alone), and before places and stages (a lower-case kind, the ref right after it),
    still decode."""
    w = e.who
    expires = str(e.expires_at or "")
    kind = _KIND_CHARS[e.kind]
    tail = (e.stage, e.ref) if e.counts is None else (e.stage, e.counts.encode(), e.ref)
    if e.counts is not None:
        kind += _COUNTED
    fields = (w.first, w.last, w.company, w.domain, w.phone, w.country, str(e.phone_n), expires,
              kind, w.place.encode(), *tail)  # fmt: skip
    return _FS.join(fields)


_COUNTED = "+"  # the kind's mark of an entry that carries counts


def decode_entry(text: str) -> Entry:
    first, last, company, domain, phone, country, phone_n, exp, kind, rest = text.split(_FS, 9)
    counts = ""
    if kind in ("c", "l"):
        place, stage, ref = "", "", rest
    elif kind.endswith(_COUNTED):
        place, stage, counts, ref = rest.split(_FS, 3)
        kind = kind[: -len(_COUNTED)]
    else:
        place, stage, ref = rest.split(_FS, 2)
    who = Identity(first, last, company, domain, phone, country, Place.decode(place))
    expires = int(exp) if exp else None
    kinds = entry_kind(_CHAR_KINDS.get(kind, "lead"))
    return Entry(ref, kinds, who, int(phone_n), expires, stage, Counts.decode(counts))


def customer_block_item(h: str, entries: Sequence[Entry]) -> dict[str, Any]:
    """A customer block: its entries (sorted by ref, so the digest ignores row order) and the
    digest a later sync compares to skip unchanged blocks."""
    payload = _RS.join(encode_entry(e) for e in sorted(entries, key=lambda e: e.ref))
    digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return {"pk": {"S": CUSTOMER + h}, "e": {"S": payload}, "d": {"S": digest}}


def _item_entries(item: Mapping[str, Any], now: float) -> list[Entry]:
    """The live entries of a block item (customer: `e`; lead: its r* attributes)."""
    if item["pk"]["S"].startswith(CUSTOMER):
        payload = item.get("e", {}).get("S", "")
        return [decode_entry(t) for t in payload.split(_RS) if t]
    leads = (decode_entry(v["S"]) for k, v in item.items() if k.startswith("r") and "S" in v)
    return [e for e in leads if e.expires_at is None or e.expires_at >= now]
