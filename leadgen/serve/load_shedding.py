"""waitress, made to shed load instead of hanging: what `leadgen serve` listens with.

Plain waitress holds a connection for as long as its client keeps sending, so clients that send
a header byte every few seconds (slowloris) keep their slots forever, and once the connection
limit is reached it stops accepting: every new client, /health included, waits in the listen
backlog until it times out. A request with bare-LF line endings never ends its header (waitress
looks for CRLF CRLF) and waits for the idle timeout, and a Transfer-Encoding other than chunked
is answered 501. Here instead:

- a request must arrive whole within READ_DEADLINE seconds of its first byte, however steadily
  it trickles in (the idle timeout alone is reset by every byte);
- at the connection limit a new connection takes the slot of the connection idle or stalled the
  longest (a keep-alive connection between requests, or a request still being read after
  EVICT_AFTER seconds); when every connection is busy with a request, the new one is answered
  503 with Retry-After and closed, never left waiting;
- bare-LF line endings in a header, and any Transfer-Encoding but chunked, are answered 400 at
  once.
What it measured under those loads: bench/SERVER_PROBE.md (bench/server_probe.py).
"""

from __future__ import annotations

import json
import re
import socket
import time
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.utilities import BadRequest, ServerNotImplemented

READ_DEADLINE = 10.0  # seconds from a request's first byte to its last
EVICT_AFTER = 1.0  # idle or reading this long: a connection a newcomer may take the slot of
RETRY_AFTER = 1  # seconds, in the 503 of a saturated server
_BARE_LF = re.compile(rb"(?<!\r)\n")
_HEADER_END = b"\r\n\r\n"


def _overloaded_response() -> bytes:
    body = json.dumps(
        {"error": "unavailable", "reason": "too many connections; retry shortly", "field": None}
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Retry-After: {RETRY_AFTER}\r\nConnection: close\r\nContent-Length: {len(body)}\r\n"
        "Server: leadgen\r\n\r\n"
    )
    return head.encode() + body


OVERLOADED = _overloaded_response()


class StrictParser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's parser, refusing bare-LF headers and transfer codings other than chunked with
    400 instead of waiting for a CRLF that never comes, or answering 501."""

    completed: bool
    body_rcv: Any
    header_plus: bytes
    error: Any

    def received(self, data: bytes) -> int:
        in_header = self.body_rcv is None and not self.completed
        if in_header and _bare_lf_in_header(self.header_plus + data):
            self.parse_header(b"GET / HTTP/1.1\r\n")
            self.error = BadRequest("header lines must end with CRLF (a bare LF was sent)")
            self.completed = True
            return len(data)
        consumed: int = super().received(data)
        if isinstance(self.error, ServerNotImplemented):
            self.error = BadRequest("Transfer-Encoding other than chunked is not supported")
        return consumed


def _bare_lf_in_header(received: bytes) -> bool:
    end = received.find(_HEADER_END)
    header = received[: end if end >= 0 else len(received)].lstrip(b"\r\n")
    return _BARE_LF.search(header) is not None


class DeadlineChannel(HTTPChannel):  # type: ignore[misc]
    """A connection that knows when its current request's first byte arrived."""

    parser_class = StrictParser
    reading_since: float | None = None

    def received(self, data: bytes) -> bool:
        if self.reading_since is None:
            self.reading_since = time.time()
        done: bool = super().received(data)
        if self.request is None:  # nothing partly read: the next byte starts a new request
            self.reading_since = None
        return done

    def stalled_for(self, now: float) -> float | None:
        """Seconds this connection has held a slot without a request to run: idle between
        requests, or reading one; None while a request runs or a response is being sent."""
        if self.requests or self.total_outbufs_len or self.will_close:
            return None
        if self.reading_since is not None:
            return now - self.reading_since
        return now - float(self.last_activity)


class SheddingServer(TcpWSGIServer):  # type: ignore[misc]
    """waitress's TCP server with a read deadline per request and load shed at the limit."""

    channel_class = DeadlineChannel

    def __init__(
        self,
        application: Any,
        limit: int,
        read_deadline: float = READ_DEADLINE,
        **adjustments: Any,
    ) -> None:
        self.limit = limit
        self.read_deadline = read_deadline
        self.shed = 0  # connections answered 503 (saturated)
        self.evicted = 0  # idle or stalled connections closed for a newcomer
        # waitress's own limit would stop accepting (clients wait in the backlog): ours answers
        adj = Adjustments(connection_limit=1_000_000, **adjustments)
        super().__init__(application, adj=adj)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        for channel in list(self.active_channels.values()):
            since = channel.reading_since
            if since is not None and not channel.requests and now - since > self.read_deadline:
                channel.will_close = True

    def handle_accept(self) -> None:
        if len(self.active_channels) < self.limit or self._evict_one():
            super().handle_accept()
            return
        try:
            accepted = self.accept()
        except OSError:
            return
        if accepted is None:
            return
        conn = accepted[0]
        self.shed += 1
        _answer_and_close(conn, OVERLOADED)

    def _evict_one(self) -> bool:
        """Close the connection idle or stalled the longest (past EVICT_AFTER); False if none."""
        now = time.time()
        oldest: tuple[float, Any] | None = None
        for channel in self.active_channels.values():
            if channel.will_close:
                continue
            stalled = channel.stalled_for(now)
            if stalled is not None and stalled >= max(EVICT_AFTER, oldest[0] if oldest else 0):
                oldest = (stalled, channel)
        if oldest is None:
            return False
        oldest[1].handle_close()
        self.evicted += 1
        return True


def _answer_and_close(conn: socket.socket, response: bytes) -> None:
    """A short answer on a fresh socket (it fits the send buffer), then close. What the client
    already sent is read first: closing with unread data would reset the connection and lose
    the answer."""
    try:
        conn.setblocking(False)
        _drain(conn)
        conn.send(response)
        conn.shutdown(socket.SHUT_WR)
        _drain(conn)
    except OSError:
        pass
    finally:
        conn.close()


def _drain(conn: socket.socket) -> None:
    try:
        while conn.recv(65536):
            pass
    except OSError:  # nothing more to read now (EAGAIN), or the client is gone
        pass
