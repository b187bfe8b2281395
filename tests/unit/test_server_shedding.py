"""`leadgen serve` sheds load instead of hanging, over real sockets: a request trickled a byte at a
time is cut at its read deadline, a newcomer at the connection limit takes the slot of an idle or
stalled connection (so /health answers), a server whose every connection is busy answers 503
with Retry-After at once, and bare-LF headers or a Transfer-Encoding other than chunked get a
400 at once. Small limits and deadlines keep it quick; bench/server_probe.py runs the full-size
probes (260 slow clients, 300 keep-alive clients).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadgen.config import ServiceConfig
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.api import create_app
from leadgen.serve.server import serve
from leadgen.serve.service import ScoringService
from tests.conftest import serving

LIMIT = 6
DEADLINE = 2.0
HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(scope="module")
def service(hashing_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> ScoringService:
    tmp = tmp_path_factory.mktemp("shed")
    cfg = ServiceConfig(artifacts_uri=str(hashing_artifacts), cache_dir=tmp / "cache")
    svc = ScoringService(cfg, HashingEmbedder(), None)
    assert svc.lifecycle.start()
    return svc


def _server(svc: ScoringService, tick: Any = None) -> Any:
    return serve(
        create_app(lambda: svc),
        "127.0.0.1",
        0,
        tick=tick or svc.lifecycle.tick,
        channel_timeout=30,
        connection_limit=LIMIT,
        read_deadline=DEADLINE,
    )


@pytest.fixture(scope="module")
def port(service: ScoringService) -> Iterator[int]:
    with serving(_server(service)) as p:
        yield p


def connect(port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def exchange(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send `request`, read until the server closes or a whole response arrived."""
    with connect(port, timeout) as sock:
        sock.sendall(request)
        return _response(sock)


def _response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data
        if not chunk:
            return data
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep and b"content-length:" in head.lower():
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(body) >= length:
                return data


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.") else 0


def test_a_request_trickled_a_byte_at_a_time_is_cut_at_its_deadline(port: int) -> None:
    sock = connect(port)
    t0 = time.monotonic()
    closed_after = None
    try:
        for byte in b"GET /health HTTP/1.1\r\nHost: " + b"x" * 200:
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # the server closed it
                closed_after = time.monotonic() - t0
                break
            time.sleep(0.3)  # well inside the idle timeout: every byte would reset it
            if time.monotonic() - t0 > 4 * DEADLINE + 2:
                break
    finally:
        sock.close()
    assert closed_after is not None and closed_after < 2 * DEADLINE + 2, closed_after


def test_health_answers_while_slow_clients_hold_every_slot(port: int) -> None:
    slow = [connect(port) for _ in range(LIMIT + 4)]
    try:
        for sock in slow:
            sock.sendall(b"GET /he")  # a request started, never finished
        time.sleep(1.5)  # past the eviction age of a stalled read
        t0 = time.monotonic()
        reply = exchange(port, HEALTH + b"")
        assert status(reply) == 200 and time.monotonic() - t0 < 3, reply[:200]
    finally:
        for sock in slow:
            sock.close()


def test_an_idle_keep_alive_connection_gives_its_slot_to_a_newcomer(port: int) -> None:
    idle = [connect(port) for _ in range(LIMIT)]
    try:
        for sock in idle:
            sock.sendall(HEALTH)
            assert status(_response(sock)) == 200
        time.sleep(1.5)
        assert status(exchange(port, HEALTH)) == 200
    finally:
        for sock in idle:
            sock.close()


def test_a_saturated_server_answers_503_with_retry_after(service: ScoringService) -> None:
    release = threading.Event()

    def held_tick() -> None:  # every request waits here until the test lets them go
        release.wait(30)

    with serving(_server(service, held_tick)) as p:
        busy = [connect(p) for _ in range(LIMIT)]
        try:
            for sock in busy:
                sock.sendall(HEALTH)
            time.sleep(1.5)  # all read, all in service (or queued for a thread)
            t0 = time.monotonic()
            reply = exchange(p, HEALTH)
            took = time.monotonic() - t0
            assert status(reply) == 503 and took < 3, reply[:300]
            assert b"\r\nRetry-After: 1\r\n" in reply and b'"error": "unavailable"' in reply
        finally:
            release.set()
            answers = [status(_response(sock)) for sock in busy]
            for sock in busy:
                sock.close()
        assert answers == [200] * LIMIT  # the busy ones were served, not dropped


def test_bare_lf_line_endings_are_answered_400_at_once(port: int) -> None:
    t0 = time.monotonic()
    reply = exchange(port, b"GET /health HTTP/1.1\nHost: x\n\n")
    assert status(reply) == 400 and time.monotonic() - t0 < 3, reply[:200]


@pytest.mark.parametrize("coding", [b"gzip, chunked", b"gzip", b"identity"])
def test_a_transfer_encoding_other_than_chunked_is_a_400(port: int, coding: bytes) -> None:
    request = (
        b"POST /score_lead HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: " + coding + b"\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    )
    reply = exchange(port, request)
    assert status(reply) == 400 and b"Transfer-Encoding" in reply, reply[:300]
