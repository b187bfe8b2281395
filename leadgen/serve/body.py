"""Reading a request body before anything trusts it: media type, encoding, size, JSON limits.

Every front end hands the client's bytes to this module first (the API resolver through
`check_event` and `parse_json`, `leadgen score` through `parse_json`), so a hostile or careless
body is refused here with a 4xx and its reason instead of surfacing as an exception deeper in:
a non-UTF-8 body (400), JSON nested deeper than `MAX_DEPTH` (400), NaN/Infinity, which are not
JSON (400), a body over `MAX_BODY_BYTES` (413), a media type other than JSON (415; media types
compare case-insensitively, RFC 9110). An integer too long to be a count (> `MAX_INT_DIGITS`
digits) is read as a float, so a 400-digit `company_size` is "not a finite number" on its field
(422) rather than an overflow.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32  # a batch request is 5 levels deep; extra fields get the rest
MAX_INT_DIGITS = 20
JSON_MEDIA_TYPES = frozenset({"application/json"})


class BodyError(Exception):
    """A body refused before validation: HTTP status, error code and reason for the client."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason


def media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """('type/subtype', {param: value}) of a Content-Type header, type and names lower-cased."""
    if not header:
        return "", {}
    kind, *params = header.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        name, _, value = param.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), parsed


def check_media_type(header: str | None) -> None:
    """JSON in UTF-8, or no Content-Type at all (read as JSON, like the resolver does)."""
    kind, params = media_type(header)
    if not kind:
        return
    if kind not in JSON_MEDIA_TYPES and not kind.endswith("+json"):
        raise BodyError(415, "unsupported_media_type", f"{kind} is not accepted: send JSON")
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise BodyError(415, "unsupported_media_type", f"charset {charset} is not accepted: UTF-8")


def check_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An HTTP API (v2) event whose body was checked: the returned copy carries the body as UTF-8
    text (base64 decoded) and a lower-cased JSON Content-Type, which is what the resolver then
    reads. BodyError for anything the resolver could not read."""
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    raw = _raw_body(event)
    method = str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()
    if raw or method == "POST":
        check_media_type(headers.get("content-type"))
        kind, _ = media_type(headers.get("content-type"))
        if kind:
            headers["content-type"] = "application/json"
    if len(raw) > MAX_BODY_BYTES:
        raise BodyError(
            413, "payload_too_large", f"body is {len(raw)} bytes; at most {MAX_BODY_BYTES}"
        )
    text = decode_utf8(raw) if raw else None
    return {**event, "headers": headers, "body": text, "isBase64Encoded": False}


def decode_utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(
            400, "invalid_json", f"the body is not UTF-8 text (byte {exc.start})"
        ) from None


def _raw_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if not body:
        return b""
    if not event.get("isBase64Encoded"):
        return str(body).encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(str(body), validate=True)
    except (binascii.Error, ValueError):
        raise BodyError(400, "invalid_json", "the body is not valid base64") from None


def parse_json(text: str) -> Any:
    """Strict JSON with the limits above; BodyError (400) for anything else."""
    try:
        value = json.loads(text, parse_int=_int, parse_constant=_no_constant)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError as exc:
        raise BodyError(400, "invalid_json", f"the body is not valid JSON ({exc.msg})") from None
    if _depth(value) > MAX_DEPTH:
        raise _too_deep()
    return value


def _int(text: str) -> int | float:
    digits = len(text.lstrip("-"))
    return int(text) if digits <= MAX_INT_DIGITS else float(text)


def _no_constant(name: str) -> Any:
    raise BodyError(400, "invalid_json", f"the body is not valid JSON ({name} is not a number)")


def _too_deep() -> BodyError:
    return BodyError(400, "invalid_body", f"JSON nested deeper than {MAX_DEPTH} levels")


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (the value may be ~1000 levels deep)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest
