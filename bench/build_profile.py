"""Where a build's time goes now: `leadgen build` of a generated CRM under cProfile.

    .venv/bin/python -m bench.build_profile --rows 100000

The CRM is the one bench.build_speed builds at that size (text columns from a 20k-row pool
above 20k rows), built in this process with the ONNX int8 embedder, the build's own step times
(build_report.json) beside the profile. cProfile follows the main thread: the fits that
`leadgen/builder/workers.py` runs on worker threads count as the waiting caller's cumulative
time, and the profile's own overhead inflates per-call Python (identity normalisation) more
than time spent inside FAISS, LightGBM or BLAS. Read the shares, not the seconds. Prints the
tables and saves them as bench/BUILD_PROFILE.md.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.build_speed import make_input
from bench.common import ROOT, md_table, onnx_model_dir

OUT = ROOT / "bench" / "BUILD_PROFILE.md"
OWN_CODE = ("/leadgen/",)


def profile_build(rows: int, work: Path) -> tuple[pstats.Stats, dict[str, float], float]:
    """One profiled build of the generated CRM: its stats, the report's step times, wall s."""
    from leadgen.cli import main

    crm = work / f"crm{rows}.parquet"
    make_input(rows, crm)
    os.environ.update({"LEADGEN_EMBEDDER": "onnx", "LEADGEN_MODEL_DIR": onnx_model_dir()})
    out = work / "artifacts"
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    code = prof.runcall(main, ["build", "--input", str(crm), "--out", str(out), "--quiet"])
    wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"the profiled build failed with exit code {code}")
    report = json.loads(next(out.glob("*/build_report.json")).read_text())
    return pstats.Stats(prof), report["steps_seconds"], wall


def _label(func: tuple[str, int, str]) -> str:
    path, line, name = func
    for marker in (*OWN_CODE, "/site-packages/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"`{path}:{line} {name}`"


def top_rows(stats: pstats.Stats, total: float, n: int, *, own: bool) -> list[list[str]]:
    """The n functions with the most cumulative time (own: the project's code only) or, with
    own False, the most time in their own body (any code)."""
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for func, (_cc, calls, tottime, cumtime, _callers) in entries.items():
        if own and not any(m in func[0] for m in OWN_CODE):
            continue
        rows.append((cumtime if own else tottime, calls, func))
    rows.sort(key=lambda r: r[0], reverse=True)
    return [
        [_label(func), f"{calls:,}", f"{secs:.1f}", f"{secs / total:.0%}"]
        for secs, calls, func in rows[:n]
    ]


def render(
    args: argparse.Namespace, stats: pstats.Stats, steps: dict[str, float], wall: float
) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    ordered = sorted(steps.items(), key=lambda kv: kv[1], reverse=True)
    step_rows = [[s, f"{v:.1f}", f"{v / wall:.0%}"] for s, v in ordered if v >= 0.05]
    own = top_rows(stats, wall, args.top, own=True)
    body = top_rows(stats, wall, args.top, own=False)
    how = __doc__.split("\n\n", 2)[2].split("Prints")[0].strip().replace("\n", " ")
    lines = [
        "# Where a build's time goes: a profile",
        "",
        f"Command: `.venv/bin/python -m bench.build_profile --rows {args.rows}`  ",
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')}; load average after the run: "
        f"{load} (2 shared cores). Generated CRM of {args.rows:,} customers (pooled texts, as "
        "bench/BUILD_SPEED.md), ONNX int8, one build under cProfile: "
        f"{wall:.0f} s with the profiler's overhead.",
        "",
        how,
        "",
        "## The build's steps (build_report.json, under the profiler)",
        "",
        *md_table(["step", "s", "share of the wall time"], step_rows),
        "",
        f"## The project's functions by cumulative time (top {args.top})",
        "",
        *md_table(["function", "calls", "cumulative s", "share"], own),
        "",
        f"## Any code by time in its own body (top {args.top})",
        "",
        *md_table(["function", "calls", "own s", "share"], body),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.build_profile", description=__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="leadgen-build-profile-") as tmp:
        stats, steps, wall = profile_build(args.rows, Path(tmp))
    text = render(args, stats, steps, wall)
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
