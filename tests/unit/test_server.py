"""The local server over real HTTP: the same resolver the Lambda uses, with 4xx for bad input."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadgen.builder.reader import read_crm
from leadgen.config import ColumnSpec, GradeBands, HighValueRule, ServiceConfig
from leadgen.duplicates.customer_entries import customer_blocks
from leadgen.duplicates.normalise import customer_hash_pairs
from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.api import create_app
from leadgen.serve.server import serve
from leadgen.serve.service import ScoringService
from tests.conftest import known_person, nickname_lead, serving


@pytest.fixture(scope="module")
def base_url(
    hashing_artifacts: Path, tiny_crm: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("srv")
    cfg = ServiceConfig(artifacts_uri=str(hashing_artifacts), cache_dir=tmp / "cache", max_batch=5)
    dups = SqliteDuplicateStore(tmp / "dups.sqlite")
    import pyarrow.parquet as pq

    rows = pq.read_table(tiny_crm, filters=[("is_current", "==", True)]).to_pylist()
    dups.sync_customers(
        customer_hash_pairs([r["email"] for r in rows], [r["customer_id"] for r in rows])
    )
    # what `leadgen build` syncs next: the customers' fuzzy-match entries
    crm = read_crm(str(tiny_crm), ColumnSpec(), HighValueRule())
    dups.sync_identities(customer_blocks(crm, "").blocks)
    svc = ScoringService(cfg, HashingEmbedder(), dups)
    assert svc.lifecycle.start()
    httpd = serve(
        create_app(lambda: svc), "127.0.0.1", 0, tick=svc.lifecycle.tick, channel_timeout=2
    )
    with serving(httpd) as port:
        yield f"http://127.0.0.1:{port}"


def call(url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(
        url,
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_health(base_url: str) -> None:
    status, body = call(base_url + "/health")
    assert status == 200 and body["status"] == "ok" and body["artifact_version"]
    assert body["embedder"]["kind"] == "hashing" and body["artifact_age_seconds"] >= 0


def test_score_lead_and_batch(base_url: str) -> None:
    lead = {
        "job_title": "Chief Technology Officer",
        "industry": "Software",
        "company_size": 2000,
        "web_activity_score": 0.9,
    }
    status, body = call(base_url + "/score_lead", lead)
    assert status == 200, body
    assert body["grade"] in {"A", "B", "C", "D"} and body["duplicate"] is False
    assert body["grade"] == GradeBands().grade(body["percentile"])  # the build's default bands
    assert len(body["neighbors"]["high"]) == 5
    status, batch = call(
        base_url + "/score_leads",
        {"leads": [lead, {"job_title": "Intern"}], "options": {"neighbors": 2}},
    )
    assert status == 200 and len(batch["results"]) == 2
    assert len(batch["results"][1]["neighbors"]["all"]) == 2


def test_known_customer_is_a_duplicate(base_url: str, tiny_crm: Path) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(tiny_crm, columns=["customer_id", "email", "is_current"]).to_pylist()
    row = next(r for r in table if r["is_current"] and r["email"].endswith("@gmail.com"))
    local, domain = row["email"].split("@")
    variant = local.replace(".", "").upper() + "+promo@" + domain
    status, body = call(base_url + "/score_lead", {"email": variant, "job_title": "x"})
    assert status == 200 and body["duplicate"] is True
    assert body["duplicate_of"] == "customer"


def test_a_customer_under_another_email_with_a_nickname_is_a_fuzzy_duplicate(
    base_url: str, tiny_crm: Path
) -> None:
    person = known_person(tiny_crm)
    status, body = call(base_url + "/score_lead", nickname_lead(person))
    assert status == 200 and body["duplicate"] is True and body["s_look"] is None
    assert body["customer_id"] == str(person["customer_id"])
    assert body["duplicate_match"]["kind"] == "fuzzy"
    assert "name:nickname" in body["duplicate_match"]["matched_on"]
    colleague = {**nickname_lead(person), "first_name": "Xiomara", "last_name": "Quellwater"}
    status, body = call(base_url + "/score_lead", colleague)
    assert status == 200 and body["duplicate"] is False and body["grade"] in {"A", "B", "C", "D"}
    # the colleague is now a recorded lead: the same colleague again is scored and known as it
    again = {**colleague, "email": "x.quellwater@gmail.com", "first_name": "XIOMARA"}
    second = call(base_url + "/score_lead", again)[1]
    assert second["duplicate"] is False and second["grade"] is not None
    assert second["known_as"]["of"] == "lead" and second["known_as"]["kind"] == "fuzzy"


def test_same_new_lead_twice(base_url: str) -> None:
    lead = {"email": "brand.new.person@example.org", "job_title": "Head of Data"}
    assert call(base_url + "/score_lead", lead)[1]["duplicate"] is False
    second = call(base_url + "/score_lead", lead)[1]
    assert second["duplicate"] is False and second["grade"] is not None  # re-scored
    assert second["known_as"]["of"] == "lead" and second["known_as"]["kind"] == "email"


@pytest.mark.parametrize(
    ("path", "payload", "status", "field"),
    [
        ("/score_lead", {"company_size": "huge"}, 422, "company_size"),
        ("/score_lead", {"email": 42}, 422, "email"),
        ("/score_lead", {"options": {"grade_bands": {"Z": 1}}}, 422, "options.grade_bands.Z"),
        ("/score_lead", {"options": {"colour": "red"}}, 422, "options.colour"),
        ("/score_leads", {"leads": []}, 422, "leads"),
        ("/score_leads", {"leads": [{}] * 6}, 422, "leads"),
    ],
)
def test_bad_input_is_4xx_with_field(
    base_url: str, path: str, payload: Any, status: int, field: str
) -> None:
    got, body = call(base_url + path, payload)
    assert got == status, body
    assert body["field"] == field and body["reason"]


def test_invalid_json_and_oversized_body(base_url: str) -> None:
    got, body = call(base_url + "/score_lead", raw=b"{nope")
    assert got == 400 and body["error"] == "invalid_json"
    got, body = call(base_url + "/score_lead", raw=json.dumps({"bio": "x" * 300_000}).encode())
    assert got == 413


# ---- the HTTP layer: what API Gateway would do in front of the handler -------------------------
def _port(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def raw_exchange(base_url: str, request: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the server closes or answers one response; b'' = no reply."""
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=timeout) as sock:
        sock.sendall(request)
        chunks: list[bytes] = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                data = b"".join(chunks)
                head, sep, rest = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if sep and length and len(rest) >= int(length.group(1)):
                    break
        except TimeoutError:
            pass
        return b"".join(chunks)


def _status(reply: bytes) -> int:
    assert reply, "no reply"
    return int(reply.split(b" ", 2)[1])


LEAD_BYTES = json.dumps({"job_title": "CTO", "industry": "Software"}).encode()


@pytest.mark.parametrize("length", [b"abc", b"-1", b"5, 5"])
def test_a_bad_content_length_gets_a_400_reply(base_url: str, length: bytes) -> None:
    request = (
        b"POST /score_lead HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + length + b"\r\n\r\n{}"
    )
    assert _status(raw_exchange(base_url, request)) == 400


def test_two_content_lengths_are_refused(base_url: str) -> None:
    request = (
        b"POST /score_lead HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert _status(raw_exchange(base_url, request)) == 400


def test_a_chunked_body_is_read(base_url: str) -> None:
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part) for part in (LEAD_BYTES[:10], LEAD_BYTES[10:])
    )
    request = (
        b"POST /score_lead HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    reply = raw_exchange(base_url, request)
    assert _status(reply) == 200, reply[:300]
    assert b'"grade"' in reply


def test_a_short_body_holds_no_thread(base_url: str) -> None:
    """A client that promises 100 bytes and sends 2 must not stop the others being answered."""
    stalled = []
    for _ in range(8):  # more than the server has worker threads
        sock = socket.create_connection(("127.0.0.1", _port(base_url)), timeout=10)
        sock.sendall(
            b"POST /score_lead HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{}"
        )
        stalled.append(sock)
    try:
        status, body = call(base_url + "/health")
        assert status == 200 and body["status"] == "ok"
        # ...and the stalled connections are closed by the server (its timeout here: 2 s).
        t0 = time.monotonic()
        for sock in stalled:
            sock.settimeout(15)
            assert sock.recv(1024) == b""  # EOF, not our own timeout
        assert time.monotonic() - t0 < 15
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "TRACE", "OPTIONS"])
def test_an_undeclared_method_is_a_json_405(base_url: str, method: str) -> None:
    req = urllib.request.Request(base_url + "/score_lead", method=method)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 405
    assert err.value.headers["Allow"] == "POST"
    assert err.value.headers["Content-Type"] == "application/json"
    assert json.loads(err.value.read())["error"] == "method_not_allowed"


def test_the_server_header_names_no_python_version(base_url: str) -> None:
    with urllib.request.urlopen(base_url + "/health", timeout=10) as resp:
        server = resp.headers.get("Server", "")
    assert "python" not in server.lower() and not re.search(r"\d+\.\d+", server), server


def test_an_email_in_the_url_is_never_logged(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for url in (
        "/health?email=query.person@example.com",
        "/score_lead?email=query.person@example.com",
        "/query.person@example.com",
    ):
        try:
            urllib.request.urlopen(base_url + url, timeout=10).read()
        except urllib.error.HTTPError as err:
            err.read()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "query.person" not in logged
