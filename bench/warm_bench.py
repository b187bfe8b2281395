"""`python -m bench.warm_bench`: warm /score_lead latency through the Lambda handler on built
artifact folders, variants of the serving settings side by side. Writes bench/WARM.md.

    python -m bench.warm_bench --rounds 3 --calls 300 --warmup 300 \\
        --artifacts /tmp/leadgen-bench-r/refresh-n1000000-compact/artifacts \\
        --variants "text cache=4096;no text cache=0"

Each round runs every (artifacts, variant) pair once, in a fresh child process and alternating,
so drift in the machine's load spreads over all of them (2 shared cores: read medians and the
per-round spread, not one figure). A child is `bench.serving_bench.task_warm`: the handler
imported as Lambda's init does, `--warmup` calls (a warm environment has served leads before),
then `--calls` other generated leads one by one (`example_lead`: job titles from a fixed list,
so titles repeat as in a real lead stream; the text cache's hit rate is reported beside the
latency).
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import machine, onnx_model_dir, pct, run_child, versions

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.warm_bench", description=__doc__)
    p.add_argument("--artifacts", required=True, help="comma-separated artifact folders or URIs")
    p.add_argument(
        "--variants",
        default="text cache=4096;no text cache=0",
        help="'label=LEADGEN_TEXT_CACHE' pairs separated by ';'",
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--warmup", type=int, default=300, help="calls before the measured ones")
    p.add_argument("--out", default=str(HERE / "WARM.md"))
    return p.parse_args(argv)


def _variants(spec: str) -> list[tuple[str, str]]:
    out = []
    for part in spec.split(";"):
        label, _, value = part.partition("=")
        if not value.strip().isdigit():
            raise SystemExit(f"--variants: {part!r} is not 'label=<text cache size>'")
        out.append((label.strip(), value.strip()))
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    model_dir = onnx_model_dir()
    arts = [a for a in args.artifacts.split(",") if a]
    variants = _variants(args.variants)
    cells: dict[str, dict[str, Any]] = {}
    for r in range(args.rounds):
        for art in arts:
            for label, size in variants:
                env = {
                    "ARTIFACTS_URI": art,
                    "LEADGEN_EMBEDDER": "onnx",
                    "LEADGEN_MODEL_DIR": model_dir,
                    "REFRESH_SECONDS": "300",
                    "LEADGEN_TEXT_CACHE": size,
                }
                res = run_child(
                    "warm",
                    {
                        "which": "ours",
                        "calls": args.calls,
                        "warmup": args.warmup,
                        "batches": [],
                        "model_dir": model_dir,
                    },
                    extra_env=env,
                )
                cell = cells.setdefault(f"{art}|{label}", {"art": art, "label": label, "runs": []})
                cell["runs"].append(res)
                print(f"round {r + 1} {label} {art}: p50 {pct(res['single_ms'], 50):.2f} ms",
                      flush=True)  # fmt: skip
    return {"cells": list(cells.values())}


def _row(cell: dict[str, Any]) -> str:
    runs = cell["runs"]
    pooled = [x for r in runs for x in r["single_ms"]]
    rounds = [round(pct(r["single_ms"], 50), 2) for r in runs]
    hits = sum(r.get("text_cache_hits", 0) for r in runs)
    misses = sum(r.get("text_cache_misses", 0) for r in runs)
    rate = f"{hits / (hits + misses):.0%}" if hits + misses else "-"
    return (
        f"| {cell['art']} | {cell['label']} | {pct(pooled, 50):.2f} | {pct(pooled, 90):.2f} | "
        f"{pct(pooled, 99):.2f} | {statistics.median(rounds):.2f} ({', '.join(map(str, rounds))}) "
        f"| {rate} | {max(r['rss_bytes'] for r in runs) / 2**20:,.0f} |"
    )


def render(res: dict[str, Any], argv: str) -> str:
    m = machine()
    lines = [
        "# Warm /score_lead through the handler, side by side",
        "",
        f"Command: `python -m bench.warm_bench {argv}`  ",
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')}; {m['nproc']} cores, "
        f"{m['cpu']}; load average after: {m['loadavg']}.  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        "",
        "| artifacts | variant | p50 ms (pooled) | p90 | p99 | p50 per round: median (rounds) "
        "| text cache hits | RSS MB |",
        "|---|---|---|---|---|---|---|---|",
        *(_row(c) for c in res["cells"]),
        "",
        __doc__.split("\n\n", 2)[2].strip() if __doc__ else "",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import sys

    args = parse_args(argv)
    res = run(args)
    raw = " ".join(argv if argv is not None else sys.argv[1:])
    text = render(res, raw)
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(res["cells"], indent=1))
    print(text)


if __name__ == "__main__":
    main()
