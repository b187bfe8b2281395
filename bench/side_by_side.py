"""Serving speed of two or more commits, measured side by side in one run.

`python -m bench.side_by_side --revs 86f706b,1f57fe9,HEAD --rows 100000`

Each revision is exported from git (`git archive`) into a work folder and runs its own code only:
its own `leadgen data` generates the CRM (the base revision's generator for every revision, so all
of them index the same customers), its own `leadgen build` publishes its artifacts with the
default embedder (ONNX int8 MiniLM), and its own `bench.child` measures the Lambda handler: a cold
start (a fresh interpreter: imports, artifact load, first /score_lead, minus the spawn) and warm
/score_lead latency. The revisions alternate within each round, so a burst of load on the shared
machine hits all of them alike; the table gives medians over rounds and each revision's ratio to
the first. Results: bench/SIDE_BY_SIDE.md (and the raw JSON beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, child_env, machine

OUT = ROOT / "bench" / "SIDE_BY_SIDE.md"


def export(rev: str, dest: Path) -> str:
    """The revision's tree in `dest`; its full commit id."""
    sha = subprocess.run(
        ["git", "rev-parse", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = dest.with_suffix(".tar")
    subprocess.run(["git", "archive", "-o", str(archive), sha], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()
    return sha


def _env(tree: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return child_env(extra, code=tree)  # this revision's code only


def leadgen(tree: Path, *args: str) -> None:
    """Run the revision's own CLI; its output goes to the work folder's log."""
    with (tree / "bench-cli.log").open("ab") as log:
        subprocess.run(
            [sys.executable, "-m", "leadgen", *args],
            cwd=tree,
            env=_env(tree),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )


def child(tree: Path, task: str, args: dict[str, Any], artifacts: Path) -> dict[str, Any]:
    """One measured child of the revision (its own bench.child), serving `artifacts`."""
    extra = {
        "ARTIFACTS_URI": str(artifacts),
        "LEADGEN_CACHE_DIR": str(artifacts.parent / "lambda-tmp"),
        "REFRESH_SECONDS": "300",
    }
    env = _env(tree, extra)
    for name in ("DUP_TABLE_NAME", "IDENTITY_TABLE_NAME", "LEADGEN_ARTIFACT_PIN"):
        env.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="leadgen-sbs-") as tmp:
        out = Path(tmp) / "result.json"
        spawned = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "bench.child", task, json.dumps(args), str(out)],
            cwd=tree,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            tail = proc.stderr.decode(errors="replace")[-2000:]
            raise RuntimeError(f"{tree.name} {task} failed (rc={proc.returncode}):\n{tail}")
        result: dict[str, Any] = json.loads(out.read_text())
    result["spawned_at"] = spawned
    return result


def prepare(revs: list[str], work: Path, rows: int) -> dict[str, dict[str, Any]]:
    """Export every revision, generate the CRM once (first revision), build with each."""
    trees: dict[str, dict[str, Any]] = {}
    crm = work / "crm.parquet"
    for i, rev in enumerate(revs):
        tree = work / f"rev{i}"
        sha = export(rev, tree)
        if i == 0:
            leadgen(tree, "data", "--rows", str(rows), "--out", str(crm))
        t0 = time.perf_counter()
        leadgen(tree, "build", "--input", str(crm), "--out", str(tree / "artifacts"))
        trees[rev] = {"tree": tree, "sha": sha, "build_seconds": time.perf_counter() - t0}
        print(f"{rev} ({sha[:7]}): built in {trees[rev]['build_seconds']:.0f} s", flush=True)
    return trees


def measure(trees: dict[str, dict[str, Any]], rounds: int, calls: int) -> dict[str, Any]:
    """Alternating rounds: per revision, a cold start and a warm run per round."""
    got: dict[str, dict[str, list[float]]] = {r: {"cold": [], "warm_p50": []} for r in trees}
    for rnd in range(rounds):
        for rev, info in trees.items():
            art = info["tree"] / "artifacts"
            cold = child(info["tree"], "cold", {"which": "ours"}, art)
            got[rev]["cold"].append(cold["first_scored_at"] - cold["spawned_at"])
            warm = child(
                info["tree"], "warm", {"which": "ours", "calls": calls, "batches": []}, art
            )
            got[rev]["warm_p50"].append(statistics.median(warm["single_ms"]))
            print(
                f"round {rnd + 1}/{rounds} {rev}: cold {got[rev]['cold'][-1]:.2f} s, "
                f"warm p50 {got[rev]['warm_p50'][-1]:.2f} ms",
                flush=True,
            )
    return got


def render(result: dict[str, Any]) -> str:
    revs = list(result["revs"])
    base = result["measured"][revs[0]]
    lines = [
        "# Serving speed side by side (`python -m bench.side_by_side`)",
        "",
        f"Run {result['started']}: {result['rows']:,} customers, the default embedder (ONNX int8 "
        f"MiniLM), {result['rounds']} alternating rounds of a cold start and {result['calls']} "
        "warm /score_lead calls through each revision's own Lambda handler and bench child.",
        f"Machine: {result['machine']['nproc']} cores, load average before "
        f"{result['machine']['loadavg']}, after {result['load_after']}. Shared cores: compare "
        "the ratios (each round runs every revision back to back), not the absolute figures.",
        "",
        "| revision | commit | build s | cold start s (median) | vs first | warm p50 ms (median) "
        "| vs first |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rev in revs:
        m, info = result["measured"][rev], result["revs"][rev]
        cold, warm = statistics.median(m["cold"]), statistics.median(m["warm_p50"])
        lines.append(
            f"| {rev} | {info['sha'][:7]} | {info['build_seconds']:.0f} | {cold:.2f} | "
            f"{cold / statistics.median(base['cold']):.0%} | {warm:.2f} | "
            f"{warm / statistics.median(base['warm_p50']):.0%} |"
        )
    lines += ["", "Per round (cold s / warm p50 ms):", ""]
    for rev in revs:
        m = result["measured"][rev]
        pairs = ", ".join(
            f"{c:.2f} / {w:.2f}" for c, w in zip(m["cold"], m["warm_p50"], strict=True)
        )
        lines.append(f"- {rev}: {pairs}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--revs", default="86f706b,1f57fe9,HEAD", help="commits, the first is the base")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "leadgen-side-by-side"))
    p.add_argument("--out", default=str(OUT))
    a = p.parse_args(argv)
    work = Path(a.work)
    if work.exists():
        raise SystemExit(f"{work} exists: remove it or pass --work")
    work.mkdir(parents=True)
    revs = [r.strip() for r in a.revs.split(",") if r.strip()]
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    before = machine()
    trees = prepare(revs, work, a.rows)
    measured = measure(trees, a.rounds, a.calls)
    result = {
        "started": started,
        "rows": a.rows,
        "rounds": a.rounds,
        "calls": a.calls,
        "machine": before,
        "load_after": list(os.getloadavg()),
        "revs": {r: {k: v for k, v in t.items() if k != "tree"} for r, t in trees.items()},
        "measured": measured,
    }
    out = Path(a.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    out.write_text(render(result))
    print(out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
