"""`leadgen serve`: the API on 127.0.0.1, no AWS.

Each HTTP request becomes an API Gateway HTTP API (payload v2) event and is resolved by the same
app the Lambda uses (leadgen.serve.api), so what works here works behind API Gateway.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

log = logging.getLogger(__name__)
MAX_READ = 1024 * 1024


def http_v2_event(
    method: str, path: str, headers: dict[str, str], body: bytes | None
) -> dict[str, Any]:
    """A minimal but faithful HTTP API v2 event (what API Gateway sends the Lambda)."""
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


def make_handler(
    app: APIGatewayHttpResolver, tick: Callable[[], None] | None = None
) -> type[BaseHTTPRequestHandler]:
    """`tick` runs once per request before it is resolved (the model lifecycle's refresh)."""
    lock = threading.Lock()  # the resolver keeps per-request state: one request at a time

    class Handler(BaseHTTPRequestHandler):
        server_version = "leadgen"

        def _dispatch(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_READ:
                self._send(413, {"error": "payload_too_large", "reason": f"at most {MAX_READ}"})
                return
            body = self.rfile.read(length) if length else None
            event = http_v2_event(method, self.path, dict(self.headers.items()), body)
            with lock:
                if tick is not None:
                    tick()
                resp = app.resolve(event, _LocalContext())  # type: ignore[arg-type]
            status = int(resp.get("statusCode", 500))
            raw = resp.get("body") or ""
            data = base64.b64decode(raw) if resp.get("isBase64Encoded") else raw.encode()
            self.send_response(status)
            for k, v in (resp.get("headers") or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return Handler


def serve(
    app: APIGatewayHttpResolver,
    host: str = "127.0.0.1",
    port: int = 8000,
    tick: Callable[[], None] | None = None,
) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(app, tick))
