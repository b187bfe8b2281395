"""The DynamoDB duplicate store: the same interface and semantics as the local SQLite store.

Item: {email_hash (partition key), kind: customer|lead, ref, expires_at (TTL, leads only),
sync_id (customers only)}. `record_lead` is a conditional PutItem (attribute_not_exists), so of
concurrent submissions of one person exactly one wins. `sync_customers` stamps every current
customer with this sync's id and then deletes customer items with another id: memory stays bounded
(no set of all hashes is held) and lead items are never touched.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any, Literal

from leadgen.stores.duplicates import DuplicateHit

WRITE_BATCH = 25


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


def dynamodb_client(profile: Literal["request", "batch"] = "batch") -> Any:
    import boto3
    from botocore.config import Config

    # botocore reads AWS_ENDPOINT_URL(_DYNAMODB) itself (moto in tests, LocalStack).
    return boto3.client("dynamodb", config=Config(**_CLIENT_PROFILES[profile]))


class DynamoDuplicateStore:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = dynamodb_client()
        return self._client

    def lookup(self, email_hash: str) -> DuplicateHit | None:
        resp = self.client.get_item(
            TableName=self.table_name,
            Key={"email_hash": {"S": email_hash}},
            ProjectionExpression="#k, #r, expires_at",
            ExpressionAttributeNames={"#k": "kind", "#r": "ref"},
        )
        item = resp.get("Item")
        if not item:
            return None
        expires = item.get("expires_at", {}).get("N")
        if expires is not None and int(expires) < time.time():
            return None  # TTL deletion lags by up to days: an expired lead is not a duplicate
        return DuplicateHit.stored(item["kind"]["S"], item["ref"]["S"])

    def record_lead(self, email_hash: str, ref: str, ttl_seconds: int) -> DuplicateHit | None:
        now = int(time.time())
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "email_hash": {"S": email_hash},
                    "kind": {"S": "lead"},
                    "ref": {"S": ref},
                    "expires_at": {"N": str(now + ttl_seconds)},
                },
                # absent, or an expired lead that TTL has not swept yet
                ConditionExpression="attribute_not_exists(email_hash) OR "
                "(#k = :lead AND expires_at < :now)",
                ExpressionAttributeNames={"#k": "kind"},
                ExpressionAttributeValues={":lead": {"S": "lead"}, ":now": {"N": str(now)}},
            )
            return None
        except self.client.exceptions.ConditionalCheckFailedException:
            hit = self.lookup(email_hash)
            return hit or DuplicateHit(kind="lead", ref="unknown")

    def sync_customers(self, pairs: Iterable[tuple[str, str]]) -> dict[str, int]:
        """Upsert current customers (batched, retried), then remove stale customer items."""
        sync_id = uuid.uuid4().hex
        upserted = 0
        batch: list[dict[str, Any]] = []
        for email_hash, ref in pairs:
            batch.append(
                {
                    "PutRequest": {
                        "Item": {
                            "email_hash": {"S": email_hash},
                            "kind": {"S": "customer"},
                            "ref": {"S": ref},
                            "sync_id": {"S": sync_id},
                        }
                    }
                }
            )
            if len(batch) == WRITE_BATCH:
                upserted += self._write(batch)
                batch = []
        if batch:
            upserted += self._write(batch)
        removed = 0
        stale: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table_name,
            ProjectionExpression="email_hash",
            FilterExpression="#k = :c AND sync_id <> :s",
            ExpressionAttributeNames={"#k": "kind"},
            ExpressionAttributeValues={":c": {"S": "customer"}, ":s": {"S": sync_id}},
        ):
            for item in page.get("Items", []):
                stale.append({"DeleteRequest": {"Key": {"email_hash": item["email_hash"]}}})
                if len(stale) == WRITE_BATCH:
                    removed += self._write(stale)
                    stale = []
        if stale:
            removed += self._write(stale)
        return {"upserted": upserted, "removed": removed}

    def _write(self, requests: list[dict[str, Any]]) -> int:
        """BatchWriteItem with exponential backoff on unprocessed items (throttling)."""
        pending = requests
        delay = 0.05
        for _ in range(12):
            resp = self.client.batch_write_item(RequestItems={self.table_name: pending})
            pending = resp.get("UnprocessedItems", {}).get(self.table_name, [])
            if not pending:
                return len(requests)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise RuntimeError(f"DynamoDB kept throttling: {len(pending)} writes unprocessed")
