"""`python -m bench`: run the suite and write bench/RESULTS.md (see bench/__init__.py).

Sizes run in order, each in child processes; after every stage the partial results are saved and
RESULTS.md is re-rendered, so a run cut short by the time budget still leaves what it measured.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import machine, onnx_model_dir, pct, run_child, versions
from bench.report import render

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--sizes", default="10000,100000,1000000", help="customers per run")
    p.add_argument("--quick", action="store_true", help="tiny sizes, few runs (a smoke run)")
    p.add_argument(
        "--pool-rows",
        type=int,
        default=20_000,
        help="above this many rows, text columns come from a pool CRM of this size",
    )
    p.add_argument("--cold-runs", type=int, default=5)
    p.add_argument("--warm-calls", type=int, default=200)
    p.add_argument("--embed-texts", type=int, default=2000)
    p.add_argument("--skip", default="", help="comma list of parts to skip: embed,reference,cold")
    p.add_argument(
        "--serving-only",
        action="store_true",
        help="reuse the builds recorded in WORKDIR/results.json; re-measure serving parts only",
    )
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "leadgen-bench"))
    p.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = p.parse_args(argv)  # fmt: skip
    if args.quick:
        args.sizes = "800,3000"
        args.pool_rows = 1500
        args.cold_runs = 2
        args.warm_calls = 30
        args.embed_texts = 200
    return args


def summarise(ms: list[float]) -> dict[str, float]:
    return {"p50": round(pct(ms, 50), 2), "p99": round(pct(ms, 99), 2), "n": len(ms)}


def run_size(
    rows: int, args: argparse.Namespace, model_dir: str, res: dict[str, Any], save: Any
) -> None:
    work = Path(args.workdir) / f"n{rows}"
    skip = set(args.skip.split(","))
    previous = res["sizes"].get(str(rows), {})
    if args.serving_only and previous.get("build"):
        entry: dict[str, Any] = {"rows": rows, "build": previous["build"]}
        if "cold" in skip:  # keep the cold starts measured before
            entry.update({k: v for k, v in previous.items() if k.startswith("cold_")})
        res["sizes"][str(rows)] = entry
        _serve(rows, args, model_dir, entry, work, skip, save)
        return
    if work.exists():
        shutil.rmtree(work)
    entry = {"rows": rows}
    res["sizes"][str(rows)] = entry
    pooled = rows > args.pool_rows
    memo = Path(args.workdir) / "pool_embeddings.npz"
    build_args: dict[str, Any] = {
        "rows": rows, "workdir": str(work), "model_dir": model_dir,
        "pool_rows": args.pool_rows if pooled else None,
    }  # fmt: skip
    if pooled and memo.exists():
        build_args["memo"] = str(memo)
    elif pooled:
        build_args["save_memo"] = str(memo)
    say(f"[{rows}] build (pooled texts: {pooled}, memo: {'memo' in build_args})")
    entry["build"] = run_child("build", build_args)
    save()
    _serve(rows, args, model_dir, entry, work, skip, save)


def _serve(
    rows: int,
    args: argparse.Namespace,
    model_dir: str,
    entry: dict[str, Any],
    work: Path,
    skip: set[str],
    save: Any,
) -> None:
    """Cold start, warm latency (ours and reference) and search on the size's built artifacts."""
    uri = entry["build"]["artifacts_uri"]
    env = {"ARTIFACTS_URI": uri, "LEADGEN_EMBEDDER": "onnx", "LEADGEN_MODEL_DIR": model_dir}
    ref_uri = ""
    if "reference" not in skip:
        from bench.serving_bench import make_reference_artifacts

        ref_uri = make_reference_artifacts(uri, work / "reference_artifacts")
    for which in ("ours", "reference"):
        if which == "reference" and "reference" in skip:
            continue
        wenv = dict(env, ARTIFACTS_URI=ref_uri) if which == "reference" else env
        say(f"[{rows}] cold start x{args.cold_runs} ({which})")
        runs = []
        for i in range(0 if "cold" in skip else args.cold_runs):
            cenv = dict(wenv, LEADGEN_CACHE_DIR=str(work / f"cache-{which}-{i}"))
            r = run_child("cold", {"which": which, "model_dir": model_dir}, cenv)
            runs.append(
                {
                    "total_s": round(r["first_scored_at"] - r["spawned_at"], 3),
                    "interpreter_s": round(r["main_started_at"] - r["spawned_at"], 3),
                    "init_s": round(r["init_seconds"], 3),
                    "first_call_s": round(r["first_call_seconds"], 3),
                }
            )
            shutil.rmtree(work / f"cache-{which}-{i}", ignore_errors=True)
        if runs:
            entry[f"cold_{which}"] = {
                "runs": runs,
                "median_s": round(statistics.median(x["total_s"] for x in runs), 3),
            }
            save()
        say(f"[{rows}] warm ({which})")
        calls = args.warm_calls
        w = run_child(
            "warm",
            {"which": which, "model_dir": model_dir, "calls": calls,
             "batches": [[10, max(5, calls // 10)], [100, max(2, calls // 100)]]},
            dict(wenv, LEADGEN_CACHE_DIR=str(work / f"cache-warm-{which}")),
        )  # fmt: skip
        entry[f"warm_{which}"] = {
            "score_lead_ms": summarise(w["single_ms"]),
            "batch10_per_lead_ms": summarise(w["batch10_per_lead_ms"]),
            "batch100_per_lead_ms": summarise(w["batch100_per_lead_ms"]),
            "rss_after_load_delta_bytes": w["rss_after_load_delta_bytes"],
            "rss_bytes": w["rss_bytes"],
        }
        save()
    say(f"[{rows}] search")
    entry["search"] = run_child(
        "search",
        {"artifacts_uri": uri, "model_dir": model_dir, "cache_dir": str(work / "cache-search"),
         "queries": 300 if not args.quick else 50},
    )  # fmt: skip
    save()
    shutil.rmtree(work / "reference_artifacts", ignore_errors=True)
    for cache in work.glob("cache-*"):
        shutil.rmtree(cache, ignore_errors=True)


def say(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    results_json = Path(args.workdir) / "results.json"
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    res: dict[str, Any] = {
        "command": command,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "pool_rows": args.pool_rows,
        "quick": args.quick,
        "sizes": {},
    }
    if args.serving_only and results_json.exists():
        res = json.loads(results_json.read_text())
        res["command"] += f"; then `{command}` (serving parts re-measured on the same builds)"

    def save() -> None:
        res["machine"]["loadavg_now"] = machine()["loadavg"]
        res["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        results_json.write_text(json.dumps(res, indent=1))
        Path(args.out).write_text(render(res))

    model_dir = onnx_model_dir()
    if "embed" not in args.skip.split(",") and not args.serving_only:
        say(f"embedding throughput on {args.embed_texts} distinct texts")
        res["embed"] = run_child(
            "embed",
            {"texts": args.embed_texts, "model_dir": model_dir, "fp32_dir": onnx_model_dir("fp32")},
        )
        save()
    for rows in sizes:
        try:
            run_size(rows, args, model_dir, res, save)
        except Exception as exc:  # keep what was measured; say what failed
            res["sizes"][str(rows)]["error"] = str(exc)[-2000:]
            say(f"[{rows}] FAILED: {exc}")
            save()
    save()
    print(render(res))
    say(f"wrote {args.out} (raw: {results_json})")


if __name__ == "__main__":
    main()
