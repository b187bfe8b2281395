"""`leadgen serve`: the API on 127.0.0.1, no AWS, served by waitress.

Each HTTP request becomes an API Gateway HTTP API (payload v2) event and is resolved by the same
app the Lambda uses (leadgen.serve.api), so what works here works behind API Gateway.

Why waitress rather than the standard library's http.server: what API Gateway does in front of
the Lambda is HTTP hygiene, and http.server does none of it (a listen backlog of 5, so most of 200
simultaneous clients were dropped; no reply to `Content-Length: abc`; a thread held forever by a
short body or a client that stops sending; 501 HTML pages for other methods; chunked bodies
ignored; two Content-Length headers accepted; its Python version in the Server header). waitress
is a pure-Python, dependency-free, long-maintained WSGI server (the Pylons project's) that does
exactly that part: it parses and buffers the whole request on its event loop before a worker
thread sees it (slow or stalled clients hold no thread, and idle connections are closed after
`channel_timeout`), listens with a large backlog, answers malformed requests (bad or repeated
Content-Length, malformed chunking) with 400 itself, decodes chunked bodies, caps the body size
and names no version. An ASGI server would add an event loop the resolver does not use. The
resolver call stays the same; one request resolves at a time (Powertools keeps the current event
on the resolver), like one Lambda execution environment.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from leadgen.names import ROUTES

log = logging.getLogger(__name__)
# Bodies above this are refused by waitress itself (413, plain text), as API Gateway refuses
# payloads over 10 MB itself; up to it the API answers (413 above MAX_BODY_BYTES, in JSON).
MAX_READ = 10 * 1024 * 1024
BACKLOG = 1024
CONNECTION_LIMIT = 256
CHANNEL_TIMEOUT = 30  # seconds a connection may stay silent (API Gateway's timeout is 30 s)
THREADS = 4
_STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_DECLARED_PATHS = frozenset(path for _, path in ROUTES)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def http_v2_event(
    method: str, path: str, headers: dict[str, str], body: bytes | None
) -> dict[str, Any]:
    """A minimal but faithful HTTP API v2 event (what API Gateway sends the Lambda): a body that
    is not UTF-8 text arrives base64-encoded, as API Gateway sends binary bodies."""
    split = urlsplit(path)
    now = time.time()
    is_text = True
    text = ""
    if body:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            is_text = False
            text = base64.b64encode(body).decode()
    query = dict(parse_qsl(split.query))
    return {
        "version": "2.0",
        "routeKey": f"{method} {split.path}",
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "local",
            "apiId": "local",
            "domainName": "localhost",
            "http": {
                "method": method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": f"{method} {split.path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text if body else None,
        "isBase64Encoded": not is_text,
    }


class _LocalContext:
    function_name = "leadgen-local"
    memory_limit_in_mb = 0
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:leadgen-local"
    aws_request_id = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def wsgi_app(app: APIGatewayHttpResolver, tick: Callable[[], None] | None = None) -> WsgiApp:
    """The resolver as a WSGI application. `tick` runs once per request before it is resolved
    (the model lifecycle's refresh), under the same lock."""
    lock = threading.Lock()  # the resolver keeps per-request state: one request at a time

    def application(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        t0 = time.perf_counter()
        method = str(environ["REQUEST_METHOD"])
        target = str(environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/")
        body = _read_body(environ)
        event = http_v2_event(method, target, _headers(environ), body)
        with lock:
            if tick is not None:
                tick()
            resp = app.resolve(event, _LocalContext())  # type: ignore[arg-type]
        status = int(resp.get("statusCode", 500))
        raw = resp.get("body") or ""
        data = base64.b64decode(raw) if resp.get("isBase64Encoded") else raw.encode()
        headers = [(str(k), str(v)) for k, v in (resp.get("headers") or {}).items()]
        headers.append(("Content-Length", str(len(data))))
        start_response(f"{status} {_STATUS_TEXT.get(status, 'Error')}", headers)
        _access_log(method, event["rawPath"], status, time.perf_counter() - t0)
        return [data]

    return application


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """waitress hands over the whole (de-chunked, size-capped) body, EOF-terminated; other WSGI
    servers (the benchmark's baseline) only promise CONTENT_LENGTH bytes."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        return stream.read() or None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return stream.read(length) if length > 0 else None


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    out = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k[:5] == "HTTP_"}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            out[key.replace("_", "-").lower()] = str(environ[key])
    return out


def _access_log(method: str, path: str, status: int, seconds: float) -> None:
    """One line per request. Neither the query string nor an undeclared path is logged: a client
    may put an email in either."""
    shown = path if path in _DECLARED_PATHS else "(undeclared path)"
    log.info("%s %s %d %.1f ms", method, shown, status, seconds * 1000)


class LocalServer:
    """A waitress server bound to host:port; `serve_forever` blocks, `shutdown` stops it from
    another thread."""

    def __init__(self, server: Any) -> None:
        self._server = server

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def serve_forever(self) -> None:
        self._server.run()

    def shutdown(self) -> None:
        from waitress import wasyncore

        self._server.task_dispatcher.shutdown()
        wasyncore.close_all(self._server._map)

    server_close = shutdown


def serve(
    app: APIGatewayHttpResolver,
    host: str = "127.0.0.1",
    port: int = 8000,
    tick: Callable[[], None] | None = None,
    channel_timeout: int = CHANNEL_TIMEOUT,
    threads: int = THREADS,
) -> LocalServer:
    """Bind (OSError if the address is taken) and return the server, not yet serving."""
    from waitress import create_server

    if not 0 <= port <= 65535:  # waitress would wrap it around instead
        raise ValueError(f"port must be in 0..65535, got {port}")
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" under load
    server = create_server(
        wsgi_app(app, tick),
        host=host,
        port=port,
        ident="leadgen",
        threads=threads,
        backlog=BACKLOG,
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=channel_timeout,
        cleanup_interval=max(1, min(30, channel_timeout)),
        max_request_body_size=MAX_READ,
        expose_tracebacks=False,
        clear_untrusted_proxy_headers=True,
    )
    return LocalServer(server)
