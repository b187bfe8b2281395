"""Bulk scoring benchmark: `score-file`'s rate beside the embedder's, and its memory vs file size.

    python -m bench.bulk_bench                     # 20k customers, 100k leads; memory at 100k, 1M
    python -m bench.bulk_bench --quick             # a few minutes, small sizes

1. Throughput, side by side in one run: the ONNX embedder alone on the DISTINCT texts of the lead
   file (each embedded once, one call) vs `score-file` on the same file with the same model
   (which embeds each distinct text once through its text cache, then searches, explains,
   validates, writes). Fresh child processes, alternating, `--repeats` times; medians and the
   ratio, wall and CPU seconds, and score-file's own split (time inside the embedder vs the rest).
2. Memory: peak RSS (`os.wait4` ru_maxrss of the child, what /usr/bin/time -v prints) of
   `score-file` at two file sizes, with the hashing embedder (the model is not what could grow
   with the file; a fast embedder makes the 1M run affordable on 2 shared cores).

Data: `leadgen data --style salesforce` (customers seed 0, leads seed 1): the CSV path, with its
own column names, "1,234" numbers and empty cells. Results: bench/BULK.md (+ WORKDIR/bulk.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import child_env, machine

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "BULK.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bulk_bench", description=__doc__)
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--leads", type=int, default=100_000, help="lead file of the throughput runs")
    p.add_argument("--memory-sizes", default="100000,1000000", help="lead files of the RSS runs")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "leadgen-bench-bulk"))
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--child", nargs=2, metavar=("TASK", "ARGS_JSON"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.customers, args.leads, args.memory_sizes, args.repeats = 3000, 5000, "5000,50000", 1
    return args


# ---- data and builds ---------------------------------------------------------------------------
def csv_file(work: Path, rows: int, seed: int) -> Path:
    path = work / f"sf-{rows}-seed{seed}.csv"
    if not path.exists():
        _leadgen("data", "--style", "salesforce", "--rows", str(rows), "--seed", str(seed),
                 "--out", str(path))  # fmt: skip
    return path


def artifacts(work: Path, customers: Path, embedder: str) -> Path:
    from leadgen.synthetic.export_styles import SALESFORCE

    out = work / f"artifacts-{customers.stem}-{embedder}"
    if not (out / "LATEST").exists():
        flags = [x for kv in SALESFORCE.build_flags.items() for x in kv]
        _leadgen("build", "--input", str(customers), "--out", str(out), *flags,
                 "--embedder", embedder, "--quiet")  # fmt: skip
    return out


def _leadgen(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "leadgen", *argv], cwd=ROOT, env=child_env(),
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip


# ---- child processes ---------------------------------------------------------------------------
def run_child(task: str, args: dict[str, Any]) -> dict[str, Any]:
    """One measured task in a fresh interpreter; its own peak RSS and CPU from wait4."""
    with tempfile.TemporaryDirectory(prefix="leadgen-bulk-") as tmp:
        result_file = Path(tmp) / "result.json"
        payload = json.dumps({**args, "result": str(result_file)})
        cmd = [sys.executable, "-m", "bench.bulk_bench", "--child", task, payload]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0 or not result_file.exists():
            raise RuntimeError(f"bulk bench child {task} failed:\n{err.decode()[-3000:]}")
        result: dict[str, Any] = json.loads(result_file.read_text())
    result["process_wall_seconds"] = round(time.perf_counter() - started, 2)
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    result["process_cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    return result


def child_main(task: str, args: dict[str, Any]) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `python -m leadgen` sets it
    result = task_embed(args) if task == "embed" else task_score(args)
    Path(args["result"]).write_text(json.dumps(result))


def _service(args: dict[str, Any]) -> Any:
    from leadgen.config import EmbedderSettings, ServiceConfig
    from leadgen.serve.assemble import assemble, started

    cache = Path(args["result"]).parent / "cache"
    cfg = ServiceConfig(
        args["artifacts"], cache_dir=cache, embedder=EmbedderSettings(kind=args["embedder"])
    )
    return started(assemble(cfg, "bulk"))


def task_embed(args: dict[str, Any]) -> dict[str, Any]:
    """The embedder alone: every distinct text of the file's text columns, embedded once."""
    from leadgen.stores.exports import open_export

    svc = _service(args)
    scorer, embedder = svc.scorer(), svc.lifecycle.embedder.inner
    texts: set[str] = set()
    rows = 0
    for batch in open_export(args["leads"]).batches(list(scorer.spec.text_cols)):
        rows += batch.num_rows
        for column in batch.columns:
            texts.update(t for v in column.to_pylist() if v and (t := str(v).strip()))
    distinct = sorted(texts)
    embedder.embed(["warm up"])
    cpu, wall = time.process_time(), time.perf_counter()
    embedder.embed(distinct)
    seconds = time.perf_counter() - wall
    return {"leads": rows, "texts": len(distinct), "seconds": round(seconds, 3),
            "cpu_seconds": round(time.process_time() - cpu, 3)}  # fmt: skip


def task_score(args: dict[str, Any]) -> dict[str, Any]:
    """score-file on the whole file (the model loaded first, as for the embedder alone)."""
    from leadgen.serve.bulk import score_file

    svc = _service(args)
    embedder = svc.lifecycle.embedder
    embedder.embed(["warm up"])
    embedder.seconds = 0.0
    out = str(Path(args["result"]).parent / "scored.parquet")
    cpu, wall = time.process_time(), time.perf_counter()
    summary = score_file(svc, args["leads"], out, progress=False)
    seconds = time.perf_counter() - wall
    return {
        "leads": summary.rows,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "embed_seconds": round(embedder.seconds, 3),
        "texts_embedded": embedder.misses,
        "outcomes": dict(summary.outcomes),
    }


# ---- the run -----------------------------------------------------------------------------------
def throughput(args: argparse.Namespace, work: Path, customers: Path) -> dict[str, Any]:
    leads = csv_file(work, args.leads, seed=1)
    onnx = artifacts(work, customers, "onnx")
    common = {"leads": str(leads), "artifacts": str(onnx), "embedder": "onnx"}
    embeds, scores = [], []
    for i in range(args.repeats):
        print(f"throughput run {i + 1}/{args.repeats}: embedder alone, then score-file", flush=True)
        embeds.append(run_child("embed", common))
        scores.append(run_child("score", common))
    return {"embed": embeds, "score": scores}


def memory(args: argparse.Namespace, work: Path, customers: Path) -> list[dict[str, Any]]:
    hashing = artifacts(work, customers, "hashing")
    runs = []
    for size in (int(s) for s in args.memory_sizes.split(",")):
        leads = csv_file(work, size, seed=2)
        print(f"memory run: {size:,} leads (hashing embedder)", flush=True)
        runs.append(run_child("score", {"leads": str(leads), "artifacts": str(hashing),
                                        "embedder": "hashing"}))  # fmt: skip
        runs[-1]["file_mb"] = round(leads.stat().st_size / 2**20, 1)
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(args.child[0], json.loads(args.child[1]))
        return 0
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    before = machine()
    customers = csv_file(work, args.customers, seed=0)
    results = {
        "started": started.isoformat(timespec="seconds"),
        "args": {k: v for k, v in vars(args).items() if k not in ("child",)},
        "machine_before": before,
        "throughput": throughput(args, work, customers),
        "memory": memory(args, work, customers),
        "machine_after": machine(),
        "uptime_after": _uptime(),
    }
    (work / "bulk.json").write_text(json.dumps(results, indent=2))
    Path(args.out).write_text(render(results))
    print(render(results))
    if args.quick:
        shutil.rmtree(work / "cache", ignore_errors=True)
    return 0


def _uptime() -> str:
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return "-"


# ---- report ------------------------------------------------------------------------------------
def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def render(res: dict[str, Any]) -> str:
    a, t = res["args"], res["throughput"]
    leads = t["score"][0]["leads"]
    e_s, s_s = _median(t["embed"], "seconds"), _median(t["score"], "seconds")
    e_cpu, s_cpu = _median(t["embed"], "cpu_seconds"), _median(t["score"], "cpu_seconds")
    inside = _median(t["score"], "embed_seconds")
    texts = t["embed"][0]["texts"]
    lines = [
        "# Bulk scoring benchmark (`python -m bench.bulk_bench`)",
        "",
        f"Run {res['started']}: {a['customers']:,} customers (Salesforce-like CSV, ONNX int8 "
        f"MiniLM), a {leads:,}-lead CSV with {texts:,} distinct texts. Medians of "
        f"{a['repeats']} alternating runs, each in a fresh process, model loaded before timing.",
        f"Machine: {res['machine_before']['nproc']} cores ({res['machine_before']['cpu']}), "
        f"load average before {res['machine_before']['loadavg']}, after "
        f"{res['machine_after']['loadavg']} (`uptime`: {res['uptime_after']}). Shared cores: "
        "the wall-clock figures move with the load; the ratios are side by side in one run.",
        "",
        "## Throughput: score-file beside the embedder alone",
        "",
        "| | seconds | leads/s | CPU seconds |",
        "| --- | ---: | ---: | ---: |",
        f"| embedder alone (each distinct text once) | {e_s:.1f} | {leads / e_s:,.0f} | "
        f"{e_cpu:.1f} |",
        f"| score-file (read, validate, embed, search, explain, write) | {s_s:.1f} | "
        f"{leads / s_s:,.0f} | {s_cpu:.1f} |",
        f"| **score-file / embedder alone** | | **{e_s / s_s:.0%}** (wall) | "
        f"**{e_cpu / s_cpu:.0%}** (CPU) |",
        "",
        f"Inside score-file: {inside:.1f} s in the embedder ({t['score'][0]['texts_embedded']:,} "
        f"texts embedded), {s_s - inside:.1f} s everything else "
        f"({(s_s - inside) / leads * 1000:.2f} ms per lead).",
        "",
        "Each pair, run back to back (embedder alone first):",
        "",
        "| pair | embedder alone s (CPU s) | score-file s (CPU s) | ratio wall | ratio CPU |",
        "| ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {i + 1} | {e['seconds']:.1f} ({e['cpu_seconds']:.1f}) | {s['seconds']:.1f} "
            f"({s['cpu_seconds']:.1f}) | {e['seconds'] / s['seconds']:.0%} | "
            f"{e['cpu_seconds'] / s['cpu_seconds']:.0%} |"
            for i, (e, s) in enumerate(zip(t["embed"], t["score"], strict=True))
        ),
        "",
        "## Memory: peak RSS against file size (hashing embedder)",
        "",
        "| leads | CSV MB | distinct texts | seconds | leads/s | peak RSS MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in res["memory"]:
        lines.append(
            f"| {run['leads']:,} | {run['file_mb']:,.0f} | {run['texts_embedded']:,} | "
            f"{run['seconds']:.1f} | {run['leads'] / run['seconds']:,.0f} | "
            f"{run['peak_rss_mb']:,.0f} |"
        )
    lines += [
        "",
        "Memory is batches (`--batch-rows`) plus the text cache, whose size is capped "
        "(`leadgen.serve.assemble.BULK_TEXT_CACHE` texts, one float32 row each): once a file "
        "has that many distinct texts, a longer file needs no more.",
    ]
    lines += ["", "Raw figures: WORKDIR/bulk.json.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
