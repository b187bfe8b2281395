"""The score log's storage: one schema, its writers and its one reader (leadgen.stores.score_log).

Records written as parquet parts (local, atomically, partitioned by day) and as the JSON lines
the Lambda prints come back identical through `read_log`, whatever shape Firehose delivered
them in (extracted JSON lines, CloudWatch Logs envelopes as moto writes them, error records);
the buffered sink writes nothing on the request path and loses nothing on a clean close, and
counts what it cannot write; `erase` rewrites objects without a person's records.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadgen.names import SCORE_LOG_MARKER
from leadgen.stores.blob import LocalStore
from leadgen.stores.score_log import (
    PartsSink,
    ScoreRecord,
    StdoutSink,
    decode_object,
    erase,
    json_line,
    read_log,
    write_parts,
)

T0 = datetime(2025, 3, 1, 23, 59, 59, 500000, tzinfo=UTC)


def record(i: int, when: datetime = T0, **changes: Any) -> ScoreRecord:
    base = ScoreRecord(
        scored_at=when,
        source="api",
        artifact_version="20250301T000000000Z-abcdef",
        lead_id=f"lead-{i}",
        email_hash=f"{i:064x}",
        lead_ref=f"lead-{i}",
        p_high_value=0.25 + i / 1000,
        percentile=50.0 + i / 10,
        grade="B",
        graded_on="p_high_value",
        headline=0.25 + i / 1000,
        features={"industry": "Finance", "company_size": 800.0 + i, "bio": "Ünïcode\nline"},
        who={"f": "a" * 16, "l": "b" * 16},
    )
    return ScoreRecord(**{**base.__dict__, **changes})


def test_parts_are_partitioned_by_utc_day_and_read_back_identically(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    records = [record(1), record(2, T0 + timedelta(seconds=1)), record(3, lead_id=None, who=None)]
    keys = write_parts(store, records, "score-file")
    assert [k.split("/")[0] for k in keys] == ["day=2025-03-01", "day=2025-03-02"]
    assert all(k.split("/")[1].startswith("part-") and k.endswith(".parquet") for k in keys)
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no temp file left
    got = read_log(str(tmp_path))
    assert got.records == sorted(records, key=lambda r: r.scored_at)
    assert got.counts() == {
        "records": 3,
        "parquet_parts": 2,
        "delivered_objects": 0,
        "skipped_values": 0,
    }


def test_a_half_written_part_is_not_read(tmp_path: Path) -> None:
    """A temp file of an atomic write (a process killed mid-write) is not an object yet."""
    write_parts(LocalStore(tmp_path), [record(1)], "api")
    (tmp_path / "day=2025-03-01" / ".tmp-abc").write_bytes(b"PAR1 half")
    assert len(read_log(str(tmp_path)).records) == 1


def test_a_stdout_line_is_marked_json_and_decodes_back() -> None:
    out = io.StringIO()
    StdoutSink(out).write([record(1), record(2)])
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(json.loads(x)[SCORE_LOG_MARKER] == 1 for x in lines)
    assert decode_object("delivery", out.getvalue().encode()) == ([record(1), record(2)], 0)


def _envelope(messages: list[str]) -> bytes:
    """What a CloudWatch Logs subscription sends (and what moto's Firehose writes as is)."""
    events = [{"id": str(i), "timestamp": 1, "message": m} for i, m in enumerate(messages)]
    body = {"messageType": "DATA_MESSAGE", "logGroup": "/aws/lambda/f", "logEvents": events}
    return gzip.compress(json.dumps(body).encode())


def test_every_delivery_shape_reads_the_same_records() -> None:
    lines = [json_line(record(1)), json_line(record(2))]
    noise = ['{"level":"INFO","message":"init done"}', "START RequestId: 1 Version: $LATEST"]
    extracted = gzip.compress(("\n".join(lines) + "\n").encode())  # Firehose's processors on
    moto = _envelope([lines[0], *noise]) + _envelope([lines[1]])  # envelopes back to back
    failed = json.dumps({"errorCode": "X", "rawData": base64.b64encode(_envelope(lines)).decode()})
    for data, skipped in ((extracted, 0), (moto, 2), (failed.encode(), 0)):
        assert decode_object("score-log/firehose/2025/03/01/23/x", data) == (
            [record(1), record(2)],
            skipped,
        )


def test_a_broken_line_costs_that_line_only() -> None:
    data = (json_line(record(1)) + '\n{"score_log": 1, "broken\n' + json_line(record(2))).encode()
    records, skipped = decode_object("delivery", data)
    assert records == [record(1), record(2)] and skipped == 1


class Flaky(LocalStore):
    """A folder that refuses writes while `down` is set."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.down = threading.Event()
        self.writes = 0

    def write_bytes(self, key: str, data: bytes) -> None:
        if self.down.is_set():
            raise OSError("disk full")
        self.writes += 1
        super().write_bytes(key, data)


def test_the_buffered_sink_writes_off_the_request_path_and_flushes_on_close(
    tmp_path: Path,
) -> None:
    store = Flaky(tmp_path)
    sink = PartsSink(str(tmp_path), "api", flush_seconds=3600, store=store)
    sink.write([record(i) for i in range(5)])
    assert store.writes == 0  # nothing written while answering
    sink.close()
    assert store.writes == 1 and len(read_log(str(tmp_path)).records) == 5


def test_what_the_sink_cannot_write_is_kept_then_counted_lost(tmp_path: Path) -> None:
    store = Flaky(tmp_path)
    lost: list[int] = []
    sink = PartsSink(str(tmp_path), "score-file", max_records=2, on_failure=lost.append,
                     store=store)  # fmt: skip
    store.down.set()
    sink.write([record(1), record(2)])  # a full buffer flushes inline (bulk): it fails, is kept
    assert lost == [] and store.writes == 0
    store.down.clear()
    sink.write([record(3)])
    sink.close()
    assert [r.lead_id for r in read_log(str(tmp_path)).records] == ["lead-1", "lead-2", "lead-3"]
    store.down.set()
    sink = PartsSink(str(tmp_path), "score-file", on_failure=lost.append, store=store)
    sink.write([record(4)])
    sink.close()  # still down at the end: counted, never raised
    assert lost == [1]


def test_erase_rewrites_parts_and_deliveries_without_the_person(tmp_path: Path) -> None:
    write_parts(LocalStore(tmp_path), [record(1), record(2)], "api")
    delivery = tmp_path / "firehose" / "2025" / "03" / "01" / "23" / "stream-1"
    delivery.parent.mkdir(parents=True)
    delivery.write_bytes(_envelope([json_line(record(2)), json_line(record(3))]))
    alone = tmp_path / "firehose" / "2025" / "03" / "01" / "23" / "stream-2"
    alone.write_bytes(_envelope([json_line(record(2))]))

    done = erase(str(tmp_path), lambda r: r.lead_id == "lead-2")
    assert done.to_json() == {
        "records": 3,
        "objects_rewritten": 2,
        "objects_deleted": 1,
        "old_versions_deleted": 0,
    }
    assert not alone.exists()
    assert sorted(r.lead_id or "" for r in read_log(str(tmp_path)).records) == ["lead-1", "lead-3"]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            assert b"lead-2" not in text and f"{2:064x}".encode() not in text, path
    assert erase(str(tmp_path), lambda r: r.lead_id == "lead-2").records == 0


@pytest.mark.parametrize("source", ["elsewhere", ""])
def test_an_unknown_source_is_a_config_error(tmp_path: Path, source: str) -> None:
    from leadgen.errors import ConfigError
    from leadgen.stores.score_log import open_sink

    with pytest.raises(ConfigError, match="source"):
        open_sink(str(tmp_path), source)
