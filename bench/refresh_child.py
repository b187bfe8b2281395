"""Refresh tasks, each in a fresh child process under the parent's memory watchdog
(bench/refresh_bench.py): a new scoring environment's init (how AWS refreshes: a new function
version pinned to the new artifact version), the same with no artifact (the process's own base),
an old environment serving while another initialises, and the in-process refresh (the path we did
not choose for AWS; `leadgen serve` uses it) with latencies before, during and after it.

Memory is the process's resident set: VmRSS now, VmHWM its high-water mark (reset through
/proc/self/clear_refs before a phase, so a phase's peak is its own). /tmp is the bytes under the
cache directory, sampled every 10 ms by a thread.
"""

from __future__ import annotations

import io
import itertools
import os
import threading
import time
from contextlib import redirect_stdout, suppress
from pathlib import Path
from typing import Any

from bench.common import pct
from bench.serving_bench import _Context, lead_events


def _status(key: str) -> int:
    """A /proc/self/status memory field, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak() -> None:
    """Make VmHWM the current RSS, so the next phase's peak is its own (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


class TmpWatch:
    """Largest number of bytes seen under `root` (sampled every 10 ms on a thread)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _size(self) -> int:
        total = 0
        for dirpath, _, files in os.walk(self.root):
            for name in files:
                with suppress(OSError):  # a file removed between listing and stat
                    total += os.stat(os.path.join(dirpath, name)).st_size
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._size())
            self._stop.wait(0.01)

    def __enter__(self) -> TmpWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._size())


def _call(handler: Any, event: dict[str, Any]) -> tuple[float, str]:
    """(ms, artifact version) of one /score_lead through the handler; its stdout (EMF metrics,
    logs) is dropped."""
    import json

    with redirect_stdout(io.StringIO()):
        t = time.perf_counter()
        resp = handler(event, _Context())
        ms = 1000 * (time.perf_counter() - t)
    if resp.get("statusCode") != 200:
        raise RuntimeError(f"handler answered {resp.get('statusCode')}: {resp.get('body')}")
    return ms, str(json.loads(resp["body"])["artifact_version"])


def _summary(ms: list[float]) -> dict[str, Any]:
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50": round(pct(ms, 50), 2), "p99": round(pct(ms, 99), 2),
            "max": round(max(ms), 2)}  # fmt: skip


def task_env_init(args: dict[str, Any]) -> dict[str, Any]:
    """A new environment's init phase (imports, embedder, download, verification, load), as the
    Lambda runs it at import, then a few requests. With a pin to a missing version nothing is
    loaded: that run measures the process's base."""
    cache = Path(os.environ["LEADGEN_CACHE_DIR"])
    t0 = time.time()
    with TmpWatch(cache) as tmp:
        import lambda_src.handler as handler_module

        init_s = time.time() - t0
        hwm_init, rss_init = _status("VmHWM"), _status("VmRSS")
        lat: list[float] = []
        first_scored_at = None
        if handler_module.runtime.loaded:
            for ev in lead_events(int(args.get("requests", 30)), start=40_000):
                lat.append(_call(handler_module.handler, ev)[0])
                first_scored_at = first_scored_at or time.time()
    return {
        "loaded": handler_module.runtime.loaded,
        "init_seconds": round(init_s, 3),
        "main_started_at": t0,
        "first_scored_at": first_scored_at,
        "peak_rss_bytes": hwm_init,
        "rss_after_init_bytes": rss_init,
        "rss_after_requests_bytes": _status("VmRSS"),
        "peak_tmp_bytes": tmp.peak,
        "tmp_after_bytes": tmp._size(),
        "latency_ms": _summary(lat[5:]),
    }


def task_serve_loop(args: dict[str, Any]) -> dict[str, Any]:
    """An old environment answering requests back to back for `seconds`: (wall time, ms) of each,
    so the parent can split them by what else ran meanwhile."""
    import lambda_src.handler as handler_module

    events = lead_events(200, start=50_000)
    for ev in events[:10]:
        _call(handler_module.handler, ev)
    out: list[tuple[float, float]] = []
    end = time.time() + float(args["seconds"])
    i = 0
    while time.time() < end:
        ms, _ = _call(handler_module.handler, events[i % len(events)])
        out.append((time.time(), round(ms, 3)))
        i += 1
    return {"calls": out}


def task_inprocess_refresh(args: dict[str, Any]) -> dict[str, Any]:
    """One environment, unpinned: steady requests; then LATEST moves to a copy of the version
    under a new name and requests go on while it loads in the background; then after the swap.
    Peak memory and /tmp of the refresh phase, latency per phase."""
    import boto3

    import lambda_src.handler as handler_module

    cache = Path(os.environ["LEADGEN_CACHE_DIR"])
    # distinct leads for as long as the phases last (a large version loads for many requests)
    calls = (lead_events(1, start=60_000 + i)[0] for i in itertools.count())
    steady = [_call(handler_module.handler, next(calls))[0] for _ in range(int(args["steady"]))]
    rss_before = _status("VmRSS")
    reset_peak()
    s3 = boto3.client("s3")
    with TmpWatch(cache) as tmp:
        t0 = time.time()
        s3.put_object(Bucket=args["bucket"], Key=args["latest_key"], Body=args["new_pointer"])
        during: list[float] = []
        version = ""
        while version != args["new_version"] and time.time() - t0 < float(args["timeout"]):
            ms, version = _call(handler_module.handler, next(calls))
            during.append(ms)
        swap_s = time.time() - t0
    peak = _status("VmHWM")
    after = [_call(handler_module.handler, next(calls))[0] for _ in range(int(args["steady"]))]
    return {
        "swapped": version == args["new_version"],
        "swap_seconds": round(swap_s, 3),
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak,
        "rss_after_bytes": _status("VmRSS"),
        "peak_tmp_bytes": tmp.peak,
        "steady_ms": _summary(steady[10:]),
        "during_ms": _summary(during),
        "after_ms": _summary(after),
        "during_all_ms": [round(x, 3) for x in during],
    }


def split_by_window(
    calls: list[tuple[float, float]], start: float, end: float
) -> dict[str, dict[str, Any]]:
    """Latency summaries of the calls that ended outside and inside [start, end]."""
    inside = [ms for t, ms in calls if start <= t <= end]
    outside = [ms for t, ms in calls if t < start or t > end]
    return {"steady_ms": _summary(outside[10:]), "during_ms": _summary(inside)}


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None
