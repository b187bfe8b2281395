"""The score log: one record per scored lead, written by every path that scores, read by the build.

A build measures the versions that served against what happened to their leads (leadgen.builder.
outcomes, backtest, challenger); this module is the log's one schema, its writers and its one
reader. docs/outcomes.md has the decisions behind it.

A record (`ScoreRecord`, schema SCHEMA_VERSION) holds when, the version, the lead's own references
(its id as given, the keyed email hash the duplicate store keeps, the answer's lead_ref), the
scores as answered, the served version's feature columns as validated, and the lead's hashed
identity (leadgen.duplicates.hashed_identity). Never a raw email, a name or a phone number.

Where it goes (LEADGEN_SCORE_LOG):
- "stdout": one JSON line per record, marked with SCORE_LOG_MARKER (the Lambda: printing a line is
  all a request pays; in AWS a log subscription hands the marked lines to Kinesis Data Firehose,
  which writes them to S3 as gzipped JSON lines under FIREHOSE_LOG_FOLDER/YYYY/MM/DD/HH/). This
  path imports nothing beyond the standard library: the Lambda's serving path never loads pyarrow.
- a folder or s3://bucket/prefix: parquet parts `day=YYYY-MM-DD/part-<UTC>-<source>-<id>.parquet`,
  each written whole (temp file + rename locally, one PUT on S3), buffered and flushed off the
  request path by a background thread (`leadgen serve`) or every `max_records` (bulk runs).

`read_log` reads both shapes from one location (parquet parts, and Firehose objects whether they
hold extracted JSON lines or CloudWatch Logs envelopes); `erase` rewrites the objects holding a
person's records without them (the right to erasure: leadgen.forget).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from leadgen.errors import ConfigError
from leadgen.names import SCORE_LOG_MARKER
from leadgen.stores.blob import LocalStore, S3Store, Store, open_store

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STDOUT = "stdout"
SOURCES = ("api", "cli", "score-file", "bulk-job")
PART_SUFFIX = ".parquet"
# Parts of a bulk run are written every this many records: bounded memory, few files.
BULK_PART_RECORDS = 50_000
# `leadgen serve` writes what it buffered every this many seconds (and at a clean shutdown).
FLUSH_SECONDS = 5.0
# Records kept for another attempt while the folder or bucket cannot be written; beyond, the
# oldest are dropped and counted as lost.
MAX_PENDING = 200_000
READ_THREADS = 16

FailureHook = Callable[[int], None]  # records that will never be logged


@dataclass(frozen=True)
class ScoreRecord:
    """One scored lead as the log keeps it (JSON keys and parquet columns alike)."""

    scored_at: datetime  # UTC
    source: str  # one of SOURCES
    artifact_version: str
    lead_id: str | None
    email_hash: str | None  # HMAC of the normalised email with the service's hash key
    lead_ref: str | None
    p_high_value: float | None
    percentile: float | None
    grade: str | None
    graded_on: str | None
    headline: float | None  # the score the grade ranks (p_high_value, or contrast)
    features: dict[str, str | float | None] = field(default_factory=dict)
    who: dict[str, str] | None = None  # hashed identity fields

    def to_json(self) -> dict[str, Any]:
        return {
            "scored_at": iso_ms(self.scored_at),
            "source": self.source,
            "artifact_version": self.artifact_version,
            "lead_id": self.lead_id,
            "email_hash": self.email_hash,
            "lead_ref": self.lead_ref,
            "p_high_value": self.p_high_value,
            "percentile": self.percentile,
            "grade": self.grade,
            "graded_on": self.graded_on,
            "headline": self.headline,
            "features": self.features,
            "who": self.who,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScoreRecord:
        """A record from its JSON form or a parquet row (`features`/`who` as JSON text there);
        ValueError/KeyError/TypeError when it is not one."""
        features = _json_field(data.get("features")) or {}
        who = _json_field(data.get("who"))
        return cls(
            scored_at=_utc(data["scored_at"]),
            source=str(data["source"]),
            artifact_version=str(data["artifact_version"]),
            lead_id=_text(data.get("lead_id")),
            email_hash=_text(data.get("email_hash")),
            lead_ref=_text(data.get("lead_ref")),
            p_high_value=_number(data.get("p_high_value")),
            percentile=_number(data.get("percentile")),
            grade=_text(data.get("grade")),
            graded_on=_text(data.get("graded_on")),
            headline=_number(data.get("headline")),
            features=dict(features),
            who=dict(who) if who else None,
        )


def iso_ms(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _utc(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _json_field(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def json_line(record: ScoreRecord) -> str:
    """The stdout form: the marker (whose value is the schema version) first, then the record."""
    body = {SCORE_LOG_MARKER: SCHEMA_VERSION, **record.to_json()}
    return json.dumps(body, separators=(",", ":"), allow_nan=False)


# ---- writing ---------------------------------------------------------------------------------
class LogSink(Protocol):
    def write(self, records: Sequence[ScoreRecord]) -> None: ...

    def close(self) -> None: ...


class StdoutSink:
    """One JSON line per record on stdout, in one write: what the Lambda's log delivery picks up
    (a line printed before the handler returns reaches CloudWatch Logs even if the environment
    is reaped afterwards)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def write(self, records: Sequence[ScoreRecord]) -> None:
        stream = self._stream or sys.stdout
        stream.write("".join(json_line(r) + "\n" for r in records))
        stream.flush()

    def close(self) -> None:
        (self._stream or sys.stdout).flush()


class PartsSink:
    """Parquet parts under a folder or an s3:// prefix. `write` only buffers (no I/O on the
    request path) unless the buffer reached `max_records` with no flusher thread (bulk runs);
    with `flush_seconds` a daemon thread writes the buffer that often. `close` stops it and
    writes what is left. A part that cannot be written is kept for the next attempt, up to
    MAX_PENDING records; what is dropped (or still unwritten at close) goes to `on_failure`."""

    def __init__(
        self,
        where: str,
        source: str,
        *,
        flush_seconds: float | None = None,
        max_records: int = BULK_PART_RECORDS,
        on_failure: FailureHook | None = None,
        store: Store | None = None,
    ) -> None:
        self.store = store or open_store(where)
        self.source = source
        self.max_records = max_records
        self.on_failure = on_failure
        self.written = 0
        self._buffer: list[ScoreRecord] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if flush_seconds:
            self._thread = threading.Thread(
                target=self._loop, args=(flush_seconds,), name="leadgen-score-log", daemon=True
            )
            self._thread.start()

    def write(self, records: Sequence[ScoreRecord]) -> None:
        with self._lock:
            self._buffer.extend(records)
            full = len(self._buffer) >= self.max_records
        if full and self._thread is None:
            self.flush()

    def flush(self) -> int:
        """Write the buffer as parts (one per day); returns how many records were written."""
        with self._flushing:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                write_parts(self.store, batch, self.source)
            except Exception as exc:
                self._keep(batch, exc)
                return 0
            self.written += len(batch)
            return len(batch)

    def _keep(self, batch: list[ScoreRecord], exc: Exception) -> None:
        log.warning("score log: %d records not written yet (%s)", len(batch), type(exc).__name__)
        with self._lock:
            self._buffer = batch + self._buffer
            lost = max(0, len(self._buffer) - MAX_PENDING)
            del self._buffer[:lost]
        self._lost(lost)

    def _lost(self, n: int) -> None:
        if n and self.on_failure is not None:
            self.on_failure(n)

    def _loop(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
        with self._lock:
            left, self._buffer = len(self._buffer), []
        self._lost(left)


def open_sink(
    where: str, source: str, *, background: bool = False, on_failure: FailureHook | None = None
) -> LogSink:
    """The sink a location names: "stdout", else parquet parts under a folder or s3:// prefix
    (`background`: flushed by a thread every FLUSH_SECONDS, for a long-running server)."""
    if source not in SOURCES:
        raise ConfigError(f"score log source must be one of {', '.join(SOURCES)}, got {source!r}")
    if where == STDOUT:
        return StdoutSink()
    seconds = FLUSH_SECONDS if background else None
    return PartsSink(where, source, flush_seconds=seconds, on_failure=on_failure)


def part_key(day: str, source: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%f")
    return f"day={day}/part-{stamp}-{source}-{uuid.uuid4().hex[:8]}{PART_SUFFIX}"


def write_parts(store: Store, records: Sequence[ScoreRecord], source: str) -> list[str]:
    """One parquet part per UTC day of `records`, each written whole; returns their keys."""
    by_day: dict[str, list[ScoreRecord]] = {}
    for r in records:
        by_day.setdefault(r.scored_at.astimezone(UTC).strftime("%Y-%m-%d"), []).append(r)
    keys = []
    for day, rows in sorted(by_day.items()):
        key = part_key(day, source)
        store.write_bytes(key, parquet_bytes(rows))
        keys.append(key)
    return keys


def parquet_bytes(records: Sequence[ScoreRecord]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [r.to_json() for r in records]
    strings = ("source", "artifact_version", "lead_id", "email_hash", "lead_ref", "grade")
    table = pa.table(
        {
            "scored_at": pa.array([r.scored_at for r in records], pa.timestamp("ms", tz="UTC")),
            **{c: pa.array([row[c] for row in rows], pa.string()) for c in strings},
            **{
                c: pa.array([row[c] for row in rows], pa.float64())
                for c in ("p_high_value", "percentile", "headline")
            },
            "graded_on": pa.array([row["graded_on"] for row in rows], pa.string()),
            "features": pa.array([json.dumps(row["features"]) for row in rows], pa.string()),
            "who": pa.array([_json_or_none(row["who"]) for row in rows], pa.string()),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


# ---- reading ---------------------------------------------------------------------------------
@dataclass
class LogRead:
    """The records of a log location and what was read to get them."""

    records: list[ScoreRecord] = field(default_factory=list)
    parts: int = 0  # parquet parts
    delivered: int = 0  # other objects (Firehose deliveries)
    skipped: int = 0  # JSON values or lines that are not score records

    def counts(self) -> dict[str, int]:
        return {
            "records": len(self.records),
            "parquet_parts": self.parts,
            "delivered_objects": self.delivered,
            "skipped_values": self.skipped,
        }


def read_log(where: str, store: Store | None = None) -> LogRead:
    """Every record under a log location (folder or s3:// prefix), oldest first. Objects are
    read READ_THREADS at a time: a year of Firehose deliveries is some 100,000 small objects,
    and one GET after another would take a build most of an hour."""
    store = store or open_store(where)
    keys = log_keys(store)
    out = LogRead()
    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="leadgen-log-read") as pool:
        decoded = pool.map(lambda k: decode_object(k, store.read_bytes(k)), keys)
        for key, (records, skipped) in zip(keys, decoded, strict=True):
            out.records.extend(records)
            out.skipped += skipped
            if key.endswith(PART_SUFFIX):
                out.parts += 1
            else:
                out.delivered += 1
    out.records.sort(key=lambda r: r.scored_at)
    return out


def log_keys(store: Store) -> list[str]:
    """The object keys under the store's root, relative to it, sorted; hidden names (a local
    atomic write's `.tmp-*`) are not objects yet."""
    if isinstance(store, LocalStore):
        if not store.root.is_dir():
            return []
        keys = (p.relative_to(store.root).as_posix() for p in store.root.rglob("*") if p.is_file())
        return sorted(k for k in keys if not any(s.startswith(".") for s in k.split("/")))
    if isinstance(store, S3Store):
        base = f"{store.prefix}/" if store.prefix else ""
        pages = store.client.get_paginator("list_objects_v2").paginate(
            Bucket=store.bucket, Prefix=base
        )
        return sorted(o["Key"][len(base) :] for p in pages for o in p.get("Contents", []))
    raise ConfigError(f"{store.uri}: the score log lives in a folder or an s3:// prefix")


def decode_object(key: str, data: bytes) -> tuple[list[ScoreRecord], int]:
    """(records, values skipped) of one object: a parquet part, or a delivery of JSON lines or
    of CloudWatch Logs envelopes ({"logEvents": [{"message": ...}]}), gzipped or not."""
    if key.endswith(PART_SUFFIX):
        import pyarrow.parquet as pq

        rows = pq.read_table(io.BytesIO(data)).to_pylist()
        return [ScoreRecord.from_json(row) for row in rows], 0
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    records: list[ScoreRecord] = []
    skipped = 0
    for value in _json_values(data.decode("utf-8", errors="replace")):
        for message in _messages(value):
            record = _record_of(message)
            if record is None:
                skipped += 1
            else:
                records.append(record)
    return records, skipped


def _json_values(text: str) -> Iterator[Any]:
    """Every JSON value of a text holding them one after another (lines, or envelopes written
    back to back); an undecodable stretch is skipped to the next line."""
    decoder = json.JSONDecoder()
    pos, end = 0, len(text)
    while pos < end:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            return
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError:
            newline = text.find("\n", pos)
            pos = end if newline < 0 else newline + 1
            yield None
            continue
        yield value


def _messages(value: Any) -> list[Any]:
    """The candidate records a JSON value holds: a CloudWatch Logs envelope's messages, a
    Firehose error record's raw data (what failed processing keeps), or the value itself."""
    if isinstance(value, dict) and isinstance(value.get("logEvents"), list):
        return [e.get("message") for e in value["logEvents"] if isinstance(e, dict)]
    if isinstance(value, dict) and isinstance(value.get("rawData"), str):
        try:
            raw = base64.b64decode(value["rawData"])
        except ValueError:
            return [None]
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8", errors="replace")
        return [m for v in _json_values(text) for m in _messages(v)]
    return [value]


def _record_of(message: Any) -> ScoreRecord | None:
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError:
            return None
    if not isinstance(message, dict) or SCORE_LOG_MARKER not in message:
        return None
    try:
        return ScoreRecord.from_json(message)
    except (KeyError, TypeError, ValueError):
        return None


# ---- erasing ---------------------------------------------------------------------------------
@dataclass
class Erased:
    records: int = 0
    objects_rewritten: int = 0
    objects_deleted: int = 0
    old_versions_deleted: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def erase(where: str, doomed: Callable[[ScoreRecord], bool], store: Store | None = None) -> Erased:
    """Rewrite every object holding a record `doomed` says to remove, without those records
    (deleted when nothing is left). Each object is replaced whole (atomic rename, one PUT); on a
    versioned bucket the replaced object's earlier versions are deleted too, so no copy of the
    record stays recoverable. Running it again finds nothing more to do."""
    store = store or open_store(where)
    out = Erased()
    for key in log_keys(store):
        records, _ = decode_object(key, store.read_bytes(key))
        keep = [r for r in records if not doomed(r)]
        if len(keep) == len(records):
            continue
        out.records += len(records) - len(keep)
        if keep:
            store.write_bytes(key, _encoded_like(key, keep))
            out.objects_rewritten += 1
        else:
            _delete(store, key)
            out.objects_deleted += 1
        out.old_versions_deleted += _drop_old_versions(store, key)
    return out


def _encoded_like(key: str, records: Sequence[ScoreRecord]) -> bytes:
    """A parquet part stays a part; a delivery becomes gzipped JSON lines (what Firehose writes
    once it has extracted the messages)."""
    if key.endswith(PART_SUFFIX):
        return parquet_bytes(records)
    return gzip.compress("".join(json_line(r) + "\n" for r in records).encode())


def _delete(store: Store, key: str) -> None:
    if isinstance(store, LocalStore):
        (store.root / key).unlink(missing_ok=True)
    elif isinstance(store, S3Store):
        store.client.delete_object(Bucket=store.bucket, Key=_s3_key(store, key))


def _s3_key(store: S3Store, key: str) -> str:
    return f"{store.prefix}/{key}" if store.prefix else key


def _drop_old_versions(store: Store, key: str) -> int:
    """Delete every earlier version of `key` and its delete markers: a versioned bucket keeps
    a replaced or deleted object's data otherwise. The current version (a rewrite) stays."""
    if not isinstance(store, S3Store):
        return 0
    full = _s3_key(store, key)
    pages = store.client.get_paginator("list_object_versions").paginate(
        Bucket=store.bucket, Prefix=full
    )
    doomed = []
    for page in pages:
        versions = [v for v in page.get("Versions", []) if not v.get("IsLatest")]
        for v in [*versions, *page.get("DeleteMarkers", [])]:
            if v["Key"] == full and v.get("VersionId") not in (None, "null"):
                doomed.append({"Key": full, "VersionId": v["VersionId"]})
    for start in range(0, len(doomed), 1000):
        store.client.delete_objects(
            Bucket=store.bucket, Delete={"Objects": doomed[start : start + 1000]}
        )
    return len(doomed)
