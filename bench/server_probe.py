"""Hostile-client probes against `leadgen serve`: does it shed load, or hang?

`python -m bench.server_probe [--artifacts DIR] [--slow 260] [--keepalive 300]` builds a small
hashing-embedder version (or uses DIR), starts the server in its own process with its real
settings (leadgen.serve.server.serve: connection limit, read deadline) and runs, in turn:

- slow clients: `--slow` connections each send one header byte every 10 s for 40 s, while
  /health is asked once a second (10 s client timeout);
- keep-alive clients: `--keepalive` clients each POST /score_lead in a loop on one persistent
  connection for 30 s (10 s timeout; a closed connection is reopened and counted);
- a request with bare-LF line endings, and one with `Transfer-Encoding: gzip, chunked`.

It prints the table and writes bench/SERVER_PROBE.md. Timings are noisy on a shared machine: the
page records what happened (answers, their status, the slowest), not a speed claim.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, child_env, machine, pct
from bench.server_bench import LEAD, _wait, build_artifacts

RESULTS = ROOT / "bench" / "SERVER_PROBE.md"
SLOW_SECONDS = 40.0
KEEPALIVE_SECONDS = 30.0
CLIENT_TIMEOUT = 10.0


def _start(artifacts: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.server_bench", "--child", "waitress", artifacts, str(port)],
        env=child_env(),
        cwd=ROOT,
    )


def _health(port: int) -> tuple[str, float]:
    t0 = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
        conn.request("GET", "/health")
        status = str(conn.getresponse().status)
        conn.close()
    except OSError as exc:
        status = type(exc).__name__
    return status, time.perf_counter() - t0


def slow_clients(port: int, n: int) -> dict[str, Any]:
    """n connections trickling a header byte every 10 s; /health asked every second."""
    header = b"GET /health HTTP/1.1\r\nHost: probe\r\nX-Slow: " + b"x" * 64
    socks: list[socket.socket | None] = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            socks.append(None)
    opened_at = time.monotonic()
    closed_at: dict[int, float] = {}
    polls: list[tuple[str, float]] = []
    stop = threading.Event()

    def trickle() -> None:
        """A byte to every open connection every 10 s; in between, watch for the server
        closing them (EOF or reset), to time it to the second."""
        watch = selectors.DefaultSelector()
        for i, sock in enumerate(socks):
            if sock is not None:
                watch.register(sock, selectors.EVENT_READ, i)
        step = 0
        next_byte = time.monotonic()
        while not stop.is_set():
            if time.monotonic() >= next_byte and step < len(header):
                for key in list(watch.get_map().values()):
                    try:
                        key.fileobj.sendall(header[step : step + 1])  # type: ignore[union-attr]
                    except OSError:
                        _closed(watch, key, closed_at, opened_at)
                step, next_byte = step + 1, time.monotonic() + 10
            for key, _ in watch.select(timeout=0.5):
                _closed(watch, key, closed_at, opened_at)

    feeder = threading.Thread(target=trickle, daemon=True)
    feeder.start()
    while time.monotonic() - opened_at < SLOW_SECONDS:
        polls.append(_health(port))
        time.sleep(max(0.0, 1.0 - polls[-1][1]))
    stop.set()
    feeder.join(15)
    closed = _closed_by_server(socks, closed_at, opened_at)
    for s in socks:
        if s is not None:
            s.close()
    ok = [sec for status, sec in polls if status == "200"]
    return {
        "connections": n,
        "opened": sum(s is not None for s in socks),
        "closed_by_server": len(closed),
        "closed_median_s": round(statistics.median(closed), 1) if closed else None,
        "health_polls": len(polls),
        "health_200": len(ok),
        "health_other": _counts(s for s, _ in polls if s != "200"),
        "health_max_s": round(max(sec for _, sec in polls), 2) if polls else None,
    }


def _closed(
    watch: selectors.BaseSelector, key: Any, closed_at: dict[int, float], opened_at: float
) -> None:
    """Readable means closed here (the slow clients' requests are never complete, so the
    server has nothing else to say): record when, stop watching it."""
    closed_at[key.data] = time.monotonic() - opened_at
    watch.unregister(key.fileobj)


def _closed_by_server(
    socks: list[socket.socket | None], closed_at: dict[int, float], opened_at: float
) -> list[float]:
    """When each connection was found closed: on a failed send, or now on reading EOF."""
    for i, s in enumerate(socks):
        if s is None or i in closed_at:
            continue
        s.setblocking(False)
        try:
            s.recv(65536)  # EOF, or the server's last words before closing
            closed_at[i] = time.monotonic() - opened_at
        except BlockingIOError:
            pass  # still open: nothing to read
        except OSError:
            closed_at[i] = time.monotonic() - opened_at
    return sorted(closed_at.values())


def keepalive_clients(port: int, n: int) -> dict[str, Any]:
    """n clients, each POSTing in a loop on one persistent connection (reopened if closed)."""
    body = json.dumps(LEAD)
    results: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    reopened = [0] * n
    barrier = threading.Barrier(n)
    deadline = [0.0]

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
        barrier.wait(60)
        while time.monotonic() < deadline[0]:
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/score_lead", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                status = str(resp.status)
                if resp.status == 503:
                    time.sleep(float(resp.getheader("Retry-After") or 1))
                if resp.will_close:
                    conn.close()
            except TimeoutError:
                status = "timeout"
                conn.close()
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                reopened[i] += 1
            results[i].append((status, time.perf_counter() - t0))
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    deadline[0] = time.monotonic() + KEEPALIVE_SECONDS + 60  # reset once all are started
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + KEEPALIVE_SECONDS
    for t in threads:
        t.join(KEEPALIVE_SECONDS + 60)
    flat = [r for rs in results for r in rs]
    ok = [sec * 1000 for status, sec in flat if status == "200"]
    return {
        "clients": n,
        "requests": len(flat),
        "answered_200": len(ok),
        "answered_503": sum(status == "503" for status, _ in flat),
        "timeouts": sum(status == "timeout" for status, _ in flat),
        "other": _counts(s for s, _ in flat if s not in ("200", "503", "timeout")),
        "clients_never_answered": sum(not any(s == "200" for s, _ in rs) for rs in results),
        "p50_ms": round(pct(ok, 50), 1) if ok else None,
        "p99_ms": round(pct(ok, 99), 1) if ok else None,
    }


def raw_request(port: int, request: bytes) -> dict[str, Any]:
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(request)
        try:
            reply = s.recv(65536)
        except OSError as exc:
            reply = type(exc).__name__.encode()
    status = reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/") else "no answer"
    return {"status": status, "seconds": round(time.perf_counter() - t0, 2)}


def _counts(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def run(artifacts: str, slow: int, keepalive: int) -> dict[str, Any]:
    from tests.conftest import free_port

    port = free_port()
    proc = _start(artifacts, port)
    try:
        _wait(f"http://127.0.0.1:{port}")
        found: dict[str, Any] = {"slow": slow_clients(port, slow)}
        time.sleep(12)  # past the read deadline: the slow connections are gone
        found["keepalive"] = keepalive_clients(port, keepalive)
        found["bare_lf"] = raw_request(port, b"GET /health HTTP/1.1\nHost: probe\n\n")
        found["gzip_chunked"] = raw_request(
            port,
            b"POST /score_lead HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        )
        return found
    finally:
        proc.terminate()
        proc.wait(30)


def render(found: dict[str, Any], load: tuple[Any, Any]) -> str:
    s, k = found["slow"], found["keepalive"]
    lines = [
        "# `leadgen serve` under hostile clients",
        "",
        "Written by `bench/server_probe.py` against `leadgen serve`'s own settings "
        "(leadgen/serve/server.py, leadgen/serve/load_shedding.py), hashing-embedder version "
        "of 3,000 generated customers. Counts are what happened in this run; timings are on a "
        f"2-core machine shared with other jobs ({machine()['nproc']} cores; load average "
        f"before -> after: {load[0]} -> {load[1]}).",
        "",
        "| probe | what happened |",
        "|---|---|",
        f"| {s['connections']} slow clients, one header byte every 10 s, for "
        f"{SLOW_SECONDS:.0f} s | {s['opened']} connected; {s['closed_by_server']} closed by the "
        f"server (median {s['closed_median_s']} s after opening); /health asked "
        f"{s['health_polls']} times: {s['health_200']} answered 200, others "
        f"{json.dumps(s['health_other']) if s['health_other'] else 'none'}, slowest "
        f"{s['health_max_s']} s |",
        f"| {k['clients']} keep-alive clients, POST /score_lead in a loop for "
        f"{KEEPALIVE_SECONDS:.0f} s | {k['requests']} requests: {k['answered_200']} answered "
        f"200 (p50 {k['p50_ms']} ms, p99 {k['p99_ms']} ms), {k['answered_503']} answered 503 "
        f"with Retry-After, {k['timeouts']} time-outs ({CLIENT_TIMEOUT:.0f} s), other "
        f"{json.dumps(k['other']) if k['other'] else 'none'} (a connection closed for a "
        f"newcomer, reopened by the client); clients never answered: "
        f"{k['clients_never_answered']} |",
        f"| bare-LF request line and headers | {found['bare_lf']['status']} after "
        f"{found['bare_lf']['seconds']} s |",
        f"| `Transfer-Encoding: gzip, chunked` | {found['gzip_chunked']['status']} after "
        f"{found['gzip_chunked']['seconds']} s |",
        "",
        "Command: `python -m bench.server_probe --slow 260 --keepalive 300`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--artifacts")
    p.add_argument("--slow", type=int, default=260)
    p.add_argument("--keepalive", type=int, default=300)
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = args.artifacts or build_artifacts(Path(tmp))
        before = os.getloadavg()[0]
        found = run(artifacts, args.slow, args.keepalive)
        page = render(found, (round(before, 2), round(os.getloadavg()[0], 2)))
    print(page)
    Path(args.out).write_text(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
