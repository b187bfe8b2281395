"""Fault injection for tests, outside production code: an artifact store that fails on cue.

`FaultyStore` wraps a real store (local or S3) and breaks one step of the publish protocol:
"upload" raises while the version is being uploaded, "verify" flips one byte of an uploaded file
at the same size (so only the sha256 check can see it). The quality gate needs no injection: a
build with `min_auc` above what it reaches is refused for real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leadgen.errors import LeadgenError
from leadgen.model.bundle import MANIFEST


def flip_byte(data: bytes) -> bytes:
    """The same bytes with one bit changed in the middle: same size, different sha256."""
    out = bytearray(data)
    out[len(out) // 2] ^= 0x01
    return bytes(out)


def corrupt_file(path: Path) -> None:
    path.write_bytes(flip_byte(path.read_bytes()))


class FaultyStore:
    def __init__(self, inner: Any, fail_at: str, victim: str = "ids_all.npy") -> None:
        if fail_at not in ("upload", "verify"):
            raise ValueError(f"unknown fault {fail_at!r}")
        self.inner = inner
        self.fail_at = fail_at
        self.victim = victim

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upload_file(self, local: Path, key: str) -> None:
        if self.fail_at == "upload" and key.endswith(MANIFEST):
            raise LeadgenError("injected failure during upload")
        self.inner.upload_file(local, key)
        if self.fail_at == "verify" and key.endswith("/" + self.victim):
            self.inner.write_bytes(key, flip_byte(self.inner.read_bytes(key)))


class ThrottledDynamo:
    """A real DynamoDB client (moto's) that answers the way a throttled table does: the first
    `times` BatchWriteItem calls write only their first request and hand the rest back as
    UnprocessedItems; the first `times` BatchGetItem calls read nothing and hand every key back
    as UnprocessedKeys. Everything else goes straight to the real client."""

    def __init__(self, inner: Any, times: int) -> None:
        self.inner = inner
        self.times = times
        self.throttled = {"batch_write_item": 0, "batch_get_item": 0}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _throttle(self, call: str) -> bool:
        if self.throttled[call] >= self.times:
            return False
        self.throttled[call] += 1
        return True

    def batch_write_item(self, RequestItems: dict[str, list[Any]], **kw: Any) -> Any:
        ((table, requests),) = RequestItems.items()
        if len(requests) < 2 or not self._throttle("batch_write_item"):
            return self.inner.batch_write_item(RequestItems=RequestItems, **kw)
        resp = self.inner.batch_write_item(RequestItems={table: requests[:1]}, **kw)
        return {**resp, "UnprocessedItems": {table: requests[1:]}}

    def batch_get_item(self, RequestItems: dict[str, Any], **kw: Any) -> Any:
        if not self._throttle("batch_get_item"):
            return self.inner.batch_get_item(RequestItems=RequestItems, **kw)
        return {"Responses": {}, "UnprocessedKeys": RequestItems}


class FailingWrites:
    """A real DynamoDB client whose writes fail (an outage between a lookup and the record, or
    a table that became read-only): PutItem and TransactWriteItems raise what botocore raises
    for a server error; reads go to the real client."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _fail(self, operation: str) -> Any:
        from botocore.exceptions import ClientError

        self.failed += 1
        error = {"Error": {"Code": "InternalServerError", "Message": "injected write failure"}}
        raise ClientError(error, operation)  # type: ignore[arg-type]

    def put_item(self, **_: Any) -> Any:
        return self._fail("PutItem")

    def transact_write_items(self, **_: Any) -> Any:
        return self._fail("TransactWriteItems")
