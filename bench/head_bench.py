"""What the head fitted on every customer costs, side by side with the head it replaced.

The previous head is the code at `--baseline` (a git ref), unpacked with `git archive` into a
temporary folder. For each of `--sizes`, one generated CRM is built by both codes with the CLI
(`python -m leadgen build`, wall and CPU seconds of the child), then the warm latency of one lead
through the real Lambda handler (`lambda_src.handler.handler`, HTTP API v2 events) is measured in
fresh children, alternating old and new `--rounds` times so that the machine's load drifts over
both alike. Prints and saves bench/HEAD.md.

    .venv/bin/python -m bench.head_bench --sizes 20000,100000 --baseline b09a9a7
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import child_env

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("HEAD.md")


def _env(code: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return child_env({"LEADGEN_EMBEDDER": "hashing", **(extra or {})}, code=code, clean=True)


def unpack(ref: str, target: Path) -> Path:
    """The code at `ref` (leadgen/ and lambda_src/ only)."""
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "leadgen", "lambda_src"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def build(code: Path, crm: Path, out: Path) -> dict[str, float]:
    """`leadgen build` in a child (run from `code`: `-m` puts the working directory first on
    sys.path): wall seconds and the child's CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "leadgen", "build", "--input", str(crm), "--out", str(out),
         "--quiet"],
        env=_env(code), capture_output=True, text=True, check=False, cwd=str(code),
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"build with {code} failed: {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = json.loads(next(out.glob("*/build_report.json")).read_text())
    return {
        "wall": wall,
        "cpu": cpu,
        "auc": report["quality"]["headline"]["auc"],
        "headline": report["quality"]["headline"]["score"],
        **{f"step_{k}": v for k, v in report["steps_seconds"].items()},
    }


def warm(code: Path, artifacts: Path, calls: int, cache: Path) -> list[float]:
    """Milliseconds per /score_lead call through the handler, in a fresh child."""
    env = _env(code, {"ARTIFACTS_URI": str(artifacts), "LEADGEN_CACHE_DIR": str(cache)})
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(calls)],
        env=env, capture_output=True, text=True, check=False, cwd=str(code),
    )  # fmt: skip
    if proc.returncode != 0:
        errors = [line for line in proc.stdout.splitlines() if "ERROR" in line]
        raise RuntimeError(f"warm child with {code} failed: {proc.stderr[-1500:]} {errors[-2:]}")
    return [float(x) for x in json.loads(proc.stdout.strip().splitlines()[-1])]


def child(calls: int) -> None:
    """Runs with the measured code first on sys.path; prints the latencies as one JSON line."""
    from lambda_src.handler import handler
    from leadgen.serve.server import http_v2_event
    from leadgen.synthetic.crm import example_lead

    sys.path.append(str(REPO))  # after the measured code: only for the bench's own helpers
    from bench.serving_bench import _Context

    headers = {"Content-Type": "application/json"}
    events = [
        http_v2_event("POST", "/score_lead", headers, json.dumps(example_lead(i)).encode())
        for i in range(calls + 20)
    ]
    out = []
    for i, ev in enumerate(events):
        t = time.perf_counter()
        resp = handler(ev, _Context())
        if resp["statusCode"] != 200:
            raise RuntimeError(resp["body"])
        if i >= 20:
            out.append(1000 * (time.perf_counter() - t))
    print(json.dumps(out))


def run_size(rows: int, old: Path, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    from leadgen.synthetic.crm import generate_crm, write_crm

    crm = tmp / f"crm{rows}.parquet"
    write_crm(generate_crm(rows=rows, seed=1), crm)
    out: dict[str, Any] = {"rows": rows}
    for name, code in (("old", old), ("new", REPO)):
        out[f"build_{name}"] = build(code, crm, tmp / f"art-{name}-{rows}")
        print(name, rows, json.dumps(out[f"build_{name}"]), flush=True)
    lat: dict[str, list[float]] = {"old": [], "new": []}
    medians: dict[str, list[float]] = {"old": [], "new": []}
    for r in range(args.rounds):
        for name, code in (("old", old), ("new", REPO)):
            ms = warm(code, tmp / f"art-{name}-{rows}", args.calls, tmp / f"cache-{name}-{r}")
            lat[name] += ms
            medians[name].append(float(np.median(ms)))
    for name in ("old", "new"):
        out[f"p50_{name}"] = float(np.median(lat[name]))
        out[f"p99_{name}"] = float(np.percentile(lat[name], 99))
        out[f"round_p50s_{name}"] = [round(m, 3) for m in medians[name]]
    out["p50_delta"] = out["p50_new"] - out["p50_old"]
    deltas = [n - o for n, o in zip(medians["new"], medians["old"], strict=True)]
    out["round_delta_median"] = float(np.median(deltas))
    return out


def render(results: list[dict[str, Any]], args: argparse.Namespace, load: list[str]) -> str:
    lines = [
        "# The head fitted on every customer: serving and build cost",
        "",
        f"Command: `python -m bench.head_bench --sizes {args.sizes} --baseline {args.baseline} "
        f"--rounds {args.rounds} --calls {args.calls}`  ",
        f"Old = the code at `{args.baseline}` (logistic head on [text, z] stacked with contrast); "
        "new = this tree. Generated CRM (`generate_crm(seed=1)`), hashing embedder (so the text "
        "model does not drown the head's share), one `/score_lead` at a time through "
        "`lambda_src.handler.handler`, old and new children alternating each round.  ",
        f"Load average before / after: {load[0]} / {load[-1]} (2 shared cores: medians and "
        "differences measured side by side are what to read).",
        "",
        "| customers | old p50 / p99 ms | new p50 / p99 ms | p50 new - old (pooled; median "
        "of per-round differences) | old build wall / CPU s | new build wall / CPU s | "
        "new head steps s (holdout_quality, fit, head) | holdout AUC old -> new |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        o, n = r["build_old"], r["build_new"]
        lines.append(
            f"| {r['rows']:,} | {r['p50_old']:.2f} / {r['p99_old']:.2f} | "
            f"{r['p50_new']:.2f} / {r['p99_new']:.2f} | {r['p50_delta']:+.3f}; "
            f"{r['round_delta_median']:+.3f} | {o['wall']:.0f} / {o['cpu']:.0f} | "
            f"{n['wall']:.0f} / {n['cpu']:.0f} | {n['step_holdout_quality']:.0f}, "
            f"{n['step_fit']:.0f}, {n.get('step_head', 0):.0f} | {o['auc']} -> {n['auc']} |"
        )
    lines += ["", "Per-round p50s (ms):", ""]
    for r in results:
        lines.append(f"- {r['rows']:,}: old {r['round_p50s_old']}, new {r['round_p50s_new']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
        return
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", default="20000")
    p.add_argument("--baseline", default="b09a9a7", help="git ref of the previous head")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()
    load = [", ".join(f"{x:.1f}" for x in os.getloadavg())]
    results = []
    with tempfile.TemporaryDirectory(prefix="leadgen-head-") as tmp:
        old = unpack(args.baseline, Path(tmp) / "old")
        for rows in (int(s) for s in args.sizes.split(",")):
            results.append(run_size(rows, old, Path(tmp), args))
    load.append(", ".join(f"{x:.1f}" for x in os.getloadavg()))
    text = render(results, args, load)
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
