"""200 simultaneous clients against `leadgen serve`, waitress side by side with the stdlib server.

`python -m bench.server_bench [--clients 200] [--rounds 5] [--artifacts DIR]` builds a small
hashing-embedder version (or uses DIR), then per round starts each server in its own process,
releases N client threads at once (each one POST /score_lead, 60 s timeout) and counts the
answers. The baseline is the standard library's
ThreadingHTTPServer (listen backlog 5) in front of the same WSGI bridge and resolver. Rounds
alternate the two servers so machine load hits both alike; the table reports medians. Writes
bench/server_results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import ROOT, child_env, machine, pct

RESULTS = ROOT / "bench" / "server_results.md"
LEAD = {
    "industry": "Finance",
    "company_size": 800,
    "country": "US",
    "job_title": "Portfolio Manager",
    "bio": "Runs systematic trading strategies.",
    "web_activity_score": 0.8,
    "email_engagement_score": 0.7,
}
SERVERS = ("waitress", "stdlib")


def serve_child(kind: str, artifacts: str, port: int) -> None:
    """The server process: the scoring service + resolver behind `kind`'s HTTP server."""
    from leadgen.config import ServiceConfig
    from leadgen.model.embedders import HashingEmbedder
    from leadgen.serve.api import create_app
    from leadgen.serve.server import serve, wsgi_app
    from leadgen.serve.service import ScoringService

    cfg = ServiceConfig(artifacts_uri=artifacts, cache_dir=Path(tempfile.mkdtemp()))
    svc = ScoringService(cfg, HashingEmbedder(), None)
    assert svc.lifecycle.start()
    app = create_app(lambda: svc)
    if kind == "waitress":
        serve(app, "127.0.0.1", port, tick=svc.lifecycle.tick).serve_forever()
        return
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Threading(ThreadingMixIn, WSGIServer):  # http.server's defaults: backlog 5
        daemon_threads = True

    make_server(
        "127.0.0.1", port, wsgi_app(app, svc.lifecycle.tick), Threading, Quiet
    ).serve_forever()


def one_round(kind: str, artifacts: str, clients: int) -> dict[str, Any]:
    from tests.conftest import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.server_bench", "--child", kind, artifacts, str(port)],
        env=child_env(),
        cwd=ROOT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(url)
        return _fire(url, clients)
    finally:
        proc.terminate()
        proc.wait(30)


def _wait(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=5).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


def _fire(url: str, clients: int) -> dict[str, Any]:
    barrier = threading.Barrier(clients)
    outcome: list[tuple[str, float]] = [("not run", 0.0)] * clients
    body = json.dumps(LEAD).encode()

    def client(i: int) -> None:
        req = urllib.request.Request(
            url + "/score_lead", body, {"Content-Type": "application/json"}
        )
        barrier.wait(60)
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()
                outcome[i] = (str(resp.status), time.perf_counter() - t0)
        except urllib.error.HTTPError as err:
            outcome[i] = (str(err.code), time.perf_counter() - t0)
        except OSError as exc:
            outcome[i] = (type(exc).__name__, time.perf_counter() - t0)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    wall = time.perf_counter() - t0
    answered = [s for s, _ in outcome if s == "200"]
    latencies = [sec * 1000 for s, sec in outcome if s == "200"]
    failures: dict[str, int] = {}
    for s, _ in outcome:
        if s != "200":
            failures[s] = failures.get(s, 0) + 1
    return {
        "answered": len(answered),
        "failures": failures,
        "p50_ms": pct(latencies, 50) if latencies else None,
        "p99_ms": pct(latencies, 99) if latencies else None,
        "wall_s": wall,
    }


def build_artifacts(out: Path) -> str:
    from leadgen.builder.pipeline import build
    from leadgen.config import BuildConfig, EmbedderSettings
    from leadgen.synthetic.crm import generate_crm, write_crm

    crm = out / "crm.parquet"
    write_crm(generate_crm(rows=3000, seed=7), crm)
    cfg = BuildConfig(
        input_path=str(crm),
        artifacts_uri=str(out / "art"),
        embedder=EmbedderSettings(kind="hashing"),
    )
    build(cfg, progress=False, say=lambda _m: None)
    return str(out / "art")


def render(rounds: dict[str, list[dict[str, Any]]], clients: int, load: list[Any]) -> str:
    lines = [
        "# Local server under simultaneous clients",
        "",
        f"Written by `bench/server_bench.py`: {clients} client threads released at once, each one "
        "`POST /score_lead` (hashing-embedder version, 3,000 customers), 60 s client timeout; "
        f"{len(rounds[SERVERS[0]])} rounds per server, alternated, medians below. stdlib = the "
        "standard library's ThreadingHTTPServer (listen backlog 5), what `leadgen serve` ran "
        "before; waitress = `leadgen serve` now (leadgen/serve/server.py). Both resolve through "
        "the same WSGI bridge and resolver, one request at a time. Latencies are over the answered "
        "requests only (a refused connection has none); they are queueing behind one resolver "
        "at a time on a loaded machine, not scoring cost (bench/RESULTS.md has that).",
        "",
        f"Machine: {machine()['nproc']} cores shared with other engineers' jobs; load average "
        f"before -> after: {load[0]} -> {load[1]}.",
        "",
        "| server | answered (median of rounds) | min answered | p50 ms | p99 ms | wall s | "
        "failures (all rounds) |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in SERVERS:
        rs = rounds[kind]
        failures: dict[str, int] = {}
        for r in rs:
            for k, v in r["failures"].items():
                failures[k] = failures.get(k, 0) + v
        lines.append(
            f"| {kind} | {statistics.median(r['answered'] for r in rs):.0f} / {clients} | "
            f"{min(r['answered'] for r in rs)} | {_med(rs, 'p50_ms')} | {_med(rs, 'p99_ms')} | "
            f"{_med(rs, 'wall_s')} | {json.dumps(failures) if failures else '-'} |"
        )
    lines += ["", "Command: `python -m bench.server_bench --clients 200 --rounds 5`", ""]
    return "\n".join(lines)


def _med(rounds: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in rounds if r[key] is not None]
    return f"{statistics.median(values):.1f}" if values else "-"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.server_bench", description=__doc__)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--artifacts", help="an existing artifact folder (hashing embedder)")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--child", nargs=3, metavar=("KIND", "DIR", "PORT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        serve_child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    load_before = machine()["loadavg"]
    with tempfile.TemporaryDirectory(prefix="leadgen-server-bench-") as tmp:
        artifacts = args.artifacts or build_artifacts(Path(tmp))
        rounds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in SERVERS}
        for i in range(args.rounds):
            for kind in SERVERS if i % 2 == 0 else reversed(SERVERS):
                result = one_round(kind, artifacts, args.clients)
                rounds[kind].append(result)
                print(f"round {i + 1} {kind}: {result}", flush=True)
    text = render(rounds, args.clients, [load_before, machine()["loadavg"]])
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    raise SystemExit(main())
