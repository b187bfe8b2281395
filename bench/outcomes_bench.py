"""What happened to the leads we scored, on a simulated timeline, and what the score log costs.

Part 1, the scenario (on the generated CRM and on real public tables of bench/quality_real.py).
The tables have no time: a seeded random split simulates it. Rows are split into customers known
at T0 (50%), leads of period 1 (25%) and leads of period 2 (25%). Version A is built on the T0
customers and scores the period-1 leads (logged, as `leadgen serve` logs them). At T1 those leads
"convert": every positive one becomes a high-value customer, every other negative one an
ordinary customer, the rest nothing; the T1 export is the T0 customers plus the converted leads,
and version B is built on it (the challenger gate compares B with A on the period-1 leads). B
scores the period-2 leads; at T2 they convert the same way and version C is built. So A's realised
AUC is measured on period 1, B's on period 2 (leads B never saw), each next to its holdout AUC;
the gate's estimate of B on period 1 (out of fold for converted leads) can be compared with B's
clean figure on period 2. A candidate built at T1 on shuffled customer labels shows a refusal.

Part 2, the cost: /score_lead through the Lambda handler at 100k customers (generated CRM,
hashing embedder), the score log on (stdout, as the stack sets it) and off, in alternating
blocks in one process; and the log's bytes per scored lead (JSON line, gzipped as Firehose
writes it, parquet part).

    .venv/bin/python -m bench.outcomes_bench                    # ~25 min on 2 cores
    .venv/bin/python -m bench.outcomes_bench --tables Default --skip-cost
    .venv/bin/python -m bench.outcomes_bench --tables Caravan --skip-cost --update  # one row again
Prints and saves bench/OUTCOMES.md (+ OUTCOMES.json).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import machine, pct

OUT = Path(__file__).with_name("OUTCOMES.md")
REAL = ("Caravan", "Default", "Hdma")
GENERATED_ROWS = 8000
COST_ROWS = 100_000


# ---- the tables -----------------------------------------------------------------------------
def generated(rows: int, seed: int = 3) -> dict[str, Any]:
    import pyarrow.compute as pc

    from leadgen.synthetic.crm import generate_crm

    t = generate_crm(rows=rows, seed=seed).filter(pc.field("is_current"))
    spec = {"text": ["job_title", "bio"], "cat": ["industry", "country"],
            "num": ["company_size", "web_activity_score", "email_engagement_score"]}  # fmt: skip
    cols = {c: t.column(c).to_pylist() for c in (*spec["text"], *spec["cat"], *spec["num"])}
    return {"name": f"generated CRM ({len(t):,} rows)", "columns": cols, "spec": spec,
            "labels": np.array(t.column("is_high_value").to_pylist(), bool)}  # fmt: skip


def real(key: str) -> dict[str, Any]:
    from bench.quality_real import TABLES

    t = TABLES[key]()
    cols = {c: (v.tolist() if isinstance(v, np.ndarray) else v) for c, v in t.columns.items()}
    cols = {c: [None if isinstance(x, float) and math.isnan(x) else x for x in v]
            for c, v in cols.items()}  # fmt: skip
    return {"name": t.name, "columns": cols, "labels": t.labels,
            "spec": {"text": [], "cat": t.cat_cols, "num": t.num_cols}}  # fmt: skip


# ---- one scenario -----------------------------------------------------------------------------
def write_export(path: Path, table: dict[str, Any], rows: list[int], labels: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec = table["spec"]
    data: dict[str, Any] = {"customer_id": pa.array([str(r) for r in rows], pa.string()),
                            "is_high_value": pa.array([bool(labels[r]) for r in rows])}  # fmt: skip
    for c in (*spec["text"], *spec["cat"]):
        data[c] = pa.array([None if (v := table["columns"][c][r]) is None else str(v)
                            for r in rows], pa.string())  # fmt: skip
    for c in spec["num"]:
        data[c] = pa.array([table["columns"][c][r] for r in rows], pa.float64())
    pq.write_table(pa.table(data), path)


def build_version(root: Path, export: Path, table: dict[str, Any], art: str = "art") -> Any:
    from leadgen.builder.pipeline import build
    from leadgen.config import BuildConfig, ColumnSpec, EmbedderSettings

    spec = table["spec"]
    cfg = BuildConfig(
        input_path=str(export), artifacts_uri=str(root / art), score_log=str(root / "log"),
        maturity_days=0.0, embedder=EmbedderSettings(kind="hashing"), min_auc=0.0, min_lift=0.0,
        columns=ColumnSpec(tuple(spec["text"]), tuple(spec["cat"]), tuple(spec["num"])),
    )  # fmt: skip
    return build(cfg, progress=False, say=lambda _m: None)


def score_period(root: Path, table: dict[str, Any], rows: list[int]) -> dict[str, str]:
    """The period's leads scored by LATEST's version, logged; lead id -> grade."""
    from leadgen.config import ServiceConfig
    from leadgen.model.embedders import HashingEmbedder
    from leadgen.serve.assemble import assemble, closed, started
    from leadgen.serve.schemas import clean_lead

    cfg = ServiceConfig(artifacts_uri=str(root / "art"), cache_dir=root / "cache",
                        score_log=str(root / "log"))  # fmt: skip
    svc = started(assemble(cfg, "request", embedder=HashingEmbedder()))
    spec = svc.scorer().spec
    grades: dict[str, str] = {}
    for start in range(0, len(rows), 200):
        part = rows[start : start + 200]
        leads = [clean_lead({"lead_id": str(r), **{c: table["columns"][c][r]
                  for c in spec.all_cols}}, spec) for r in part]  # fmt: skip
        for r, answer in zip(part, svc.score_leads(leads), strict=True):
            grades[str(r)] = answer.grade or ""
    closed(svc)
    return grades


def converted(table: dict[str, Any], rows: list[int]) -> list[int]:
    """Every positive lead converts; every other negative one (by position) does too."""
    labels = table["labels"]
    return [r for i, r in enumerate(rows) if labels[r] or i % 2 == 0]


def report_of(root: Path, version: str) -> dict[str, Any]:
    """A version's build_report.json: published, or kept under refused/ by the gate."""
    path = root / "art" / version / "build_report.json"
    if not path.is_file():
        path = root / "art" / "refused" / version / "build_report.json"
    return dict(json.loads(path.read_text()))


def scenario(table: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(table["labels"])).tolist()
    half, three = len(order) // 2, 3 * len(order) // 4
    t0, p1, p2 = order[:half], order[half:three], order[three:]
    labels = table["labels"]
    root = Path(tempfile.mkdtemp(prefix="leadgen-outcomes-bench-"))
    try:
        write_export(root / "t0.parquet", table, t0, labels)
        a = build_version(root, root / "t0.parquet", table).version
        score_period(root, table, p1)
        t1 = t0 + converted(table, p1)
        refusal = shuffled_candidate(root, table, t0, t1, seed)
        write_export(root / "t1.parquet", table, t1, labels)
        b, serving = published(root, root / "t1.parquet", table)
        score_period(root, table, p2)  # by B, or by A when the gate refused B
        write_export(root / "t2.parquet", table, t1 + converted(table, p2), labels)
        c, _ = published(root, root / "t2.parquet", table)
        return summarise(table, root, Timeline(a, b, serving, c), refusal)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def published(root: Path, export: Path, table: dict[str, Any]) -> tuple[str, str]:
    """(the version built, the version serving after it): the same when it was published; when
    the gate refused it, its report is under refused/ and LATEST's version serves on (the
    scenario goes on with it, as a team's would)."""
    from leadgen.errors import QualityGateError
    from leadgen.stores.artifacts import latest_version
    from leadgen.stores.blob import LocalStore

    try:
        version = str(build_version(root, export, table).version)
        return version, version
    except QualityGateError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        refused = sorted(p.name for p in (root / "art" / "refused").iterdir())
        return refused[-1], str(latest_version(LocalStore(root / "art")))


def shuffled_candidate(
    root: Path, table: dict[str, Any], t0: list[int], t1: list[int], seed: int
) -> dict[str, Any]:
    """A candidate at T1 whose T0 customers' labels are shuffled (the converted leads keep
    theirs: they are the outcomes): what does the gate say?"""
    from leadgen.errors import QualityGateError

    labels = table["labels"].copy()
    shuffled = labels[t0].copy()
    random.Random(seed).shuffle(shuffled)  # type: ignore[arg-type]
    labels[t0] = shuffled
    write_export(root / "shuffled.parquet", table, t1, labels)
    shutil.copytree(root / "art", root / "art-shuffled")  # its own LATEST: A's, untouched
    try:
        build_version(root, root / "shuffled.parquet", table, "art-shuffled")
    except QualityGateError as exc:
        return {"refused": True, "reason": str(exc).split(" (LATEST")[0]}
    return {"refused": False, "reason": "published"}


@dataclass(frozen=True)
class Timeline:
    a: str  # built at T0, serves period 1
    b: str  # built at T1 (published, or refused by the gate)
    period2: str  # the version that served period 2: B, or A when B was refused
    c: str  # built at T2


def summarise(
    table: dict[str, Any], root: Path, t: Timeline, refusal: dict[str, Any]
) -> dict[str, Any]:
    """Each period's realised figures come from the next build's report (published or refused:
    both measure the logged leads)."""
    rb, rc = report_of(root, t.b), report_of(root, t.c)

    def realised(report: dict[str, Any], version: str) -> dict[str, Any]:
        found = [v for v in report["outcomes"]["backtest"]["versions"] if v["version"] == version]
        return found[0] if found else {}

    return {
        "table": table["name"],
        "rows": len(table["labels"]),
        "positive_rate": round(float(np.mean(table["labels"])), 4),
        "A": {"holdout_auc": report_of(root, t.a)["quality"]["headline"]["auc"],
              "realised": realised(rb, t.a)},
        "B": {"holdout_auc": report_of(root, t.period2)["quality"]["headline"]["auc"],
              "realised": realised(rc, t.period2),
              "served_period_2": "B" if t.period2 == t.b else "A (B refused)"},
        "gate_B_vs_A": rb["challenger"],
        "gate_C_vs_B": rc["challenger"],
        "shuffled": refusal,
        "counts_T1": rb["outcomes"]["counts"],
    }  # fmt: skip


# ---- part 2: the cost -------------------------------------------------------------------------
def cost(rows: int, calls: int, block: int) -> dict[str, Any]:
    """p50/p99 of /score_lead through the handler at `rows` customers, log on vs off."""
    from leadgen.synthetic.crm import generate_crm, write_crm

    root = Path(tempfile.mkdtemp(prefix="leadgen-outcomes-cost-"))
    try:
        write_crm(generate_crm(rows=rows, seed=9), root / "crm.parquet")
        from leadgen.builder.pipeline import build
        from leadgen.config import BuildConfig, EmbedderSettings

        build(BuildConfig(input_path=str(root / "crm.parquet"), artifacts_uri=str(root / "art"),
                          embedder=EmbedderSettings(kind="hashing")),
              progress=False, say=lambda _m: None)  # fmt: skip
        return handler_latency(root, calls, block)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def handler_latency(root: Path, calls: int, block: int) -> dict[str, Any]:
    import importlib

    from leadgen.serve.server import http_v2_event
    from leadgen.synthetic.crm import example_lead

    os.environ.update({"ARTIFACTS_URI": str(root / "art"), "LEADGEN_EMBEDDER": "hashing",
                       "LEADGEN_SCORE_LOG": "stdout", "LEADGEN_CACHE_DIR": str(root / "cache"),
                       "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR",
                       "POWERTOOLS_METRICS_NAMESPACE": "LeadgenBench"})  # fmt: skip
    handler = importlib.import_module("lambda_src.handler")
    logger = handler.runtime.service.score_log
    lead = example_lead()
    times: dict[str, list[float]] = {"on": [], "off": []}
    lines = root / "stdout.log"  # Lambda's stdout is a pipe to its runtime; here, a file
    with lines.open("w", buffering=1) as sink, _stdout(sink):
        for i in range(calls * 2 // block + 2):
            mode = "on" if i % 2 == 0 else "off"
            handler.runtime.service.score_log = logger if mode == "on" else None
            for _ in range(block):
                body = json.dumps({**lead, "email": f"lead{random.random()}@example.com"})
                event = http_v2_event("POST", "/score_lead", {"content-type": "application/json"},
                                      body.encode())  # fmt: skip
                t = time.perf_counter()
                handler.handler(event, _Context())
                if i >= 2:  # the first two blocks warm up
                    times[mode].append((time.perf_counter() - t) * 1000)
    return {mode: {"p50": pct(v, 50), "p99": pct(v, 99), "n": len(v)} for mode, v in
            times.items()} | {"bytes": log_bytes(lines)}  # fmt: skip


class _stdout:
    def __init__(self, stream: Any) -> None:
        self.stream, self.saved = stream, sys.stdout

    def __enter__(self) -> None:
        sys.stdout = self.stream

    def __exit__(self, *exc: object) -> None:
        sys.stdout = self.saved


class _Context:
    function_name = "leadgen-bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:leadgen-bench"
    memory_limit_in_mb = 2048
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def log_bytes(stdout_file: Path) -> dict[str, float]:
    """Bytes per scored lead: the printed JSON line, gzipped JSON lines (Firehose's objects),
    and a parquet part of the same records."""
    from leadgen.stores.score_log import decode_object, parquet_bytes

    text = stdout_file.read_text()
    marked = [x for x in text.splitlines() if x.startswith('{"score_log":')]
    records, _ = decode_object("lines", "\n".join(marked).encode())
    n = max(len(records), 1)
    return {
        "records": len(records),
        "json_line": round(sum(len(x) + 1 for x in marked) / n, 1),
        "gzip_json_lines": round(len(gzip.compress("\n".join(marked).encode())) / n, 1),
        "parquet": round(len(parquet_bytes(records)) / n, 1),
    }


# ---- the page ---------------------------------------------------------------------------------
def _f(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def grade_cells(realised: dict[str, Any]) -> str:
    rows = realised.get("grades") or []
    return " / ".join(f"{g['grade']} {_f(g['high_value_rate'], 2)} (n={g['leads']})" for g in rows)


def render(results: list[dict[str, Any]], costs: dict[str, Any] | None, command: str) -> str:
    lines = ["# What happened to the leads we scored: a simulated timeline, and the log's cost", "",
             f"`{command}`; {machine()['nproc']} cores; hashing embedder. The tables have no "
             "time: a seeded random split simulates it (module doc of bench/outcomes_bench.py): "
             "customers at T0 (50%), leads of period 1 and 2 (25% each); at each next build every "
             "positive lead and every other negative one has become a customer.", "",
             "## Realised AUC next to the holdout AUC, per version", "",
             "| table | version | holdout AUC | realised AUC (its period's leads) | positives | "
             "realised high-value rate per grade |", "|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        for name, period in (("A", "period 1"), ("B", "period 2")):
            v = r[name]
            rank = v["realised"].get("ranking", {})
            auc = _f(rank.get("auc"))
            name = v.get("served_period_2", name)
            lines.append(f"| {r['table']} | {name} | {_f(v['holdout_auc'])} | {auc} ({period}) | "
                         f"{v['realised'].get('high_value', '-')} | "
                         f"{grade_cells(v['realised'])} |")  # fmt: skip
    lines += ["", "## The challenger gate", "",
              "| table | B vs A at T1 (B's estimate: out of fold for converted leads) | realised "
              "AUC of the version serving period 2 | C vs that version at T2 | candidate on "
              "shuffled labels at T1 |", "|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        g1, g2 = r["gate_B_vs_A"], r["gate_C_vs_B"]
        lines.append(f"| {r['table']} | {g1['status']}: {_f(g1['candidate'].get('auc'))} vs "
                     f"{_f(g1['serving'].get('auc'))} (diff 95% {g1.get('difference_ci95')}) | "
                     f"{_f(r['B']['realised'].get('ranking', {}).get('auc'))} | {g2['status']}: "
                     f"{_f(g2['candidate'].get('auc'))} vs {_f(g2['serving'].get('auc'))} | "
                     f"{'refused' if r['shuffled']['refused'] else 'published'} |")  # fmt: skip
    lines += ["", "Reading it: a refused candidate leaves LATEST serving, so the next period is "
              "scored by the version before (the row says which; its realised figures then count "
              "the leads of both periods). The shuffled candidate has its "
              "T0 customers' labels shuffled but keeps the converted period-1 leads' outcomes "
              "(they are what happened): where those leads alone teach the head most of what "
              "ranks, it can stay within the allowed drop and be published; the gate judges "
              "realised ranking, not how a version was built. The functional test "
              "(tests/functional/test_outcomes_aws.py) shuffles every label."]  # fmt: skip
    if costs:
        lines += cost_lines(costs)
    return "\n".join(lines) + "\n"


def cost_lines(c: dict[str, Any]) -> list[str]:
    on, off, b = c["on"], c["off"], c["bytes"]
    return ["", f"## The cost at {COST_ROWS:,} customers", "",
            "| /score_lead through the handler | p50 ms | p99 ms | calls |", "|---|---|---|---|",
            f"| score log off | {off['p50']:.3f} | {off['p99']:.3f} | {off['n']} |",
            f"| score log on (stdout) | {on['p50']:.3f} | {on['p99']:.3f} | {on['n']} |",
            f"| added | {on['p50'] - off['p50']:+.3f} | {on['p99'] - off['p99']:+.3f} | |", "",
            f"Bytes per scored lead: {b['json_line']} as the printed JSON line, "
            f"{b['gzip_json_lines']} gzipped as Firehose writes it, {b['parquet']} in a parquet "
            f"part ({b['records']} records)."]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tables", default=",".join(("generated", *REAL)))
    p.add_argument("--skip-cost", action="store_true")
    p.add_argument("--calls", type=int, default=2000, help="per mode, for the cost")
    p.add_argument(
        "--update",
        action="store_true",
        help="replace these tables' rows in OUTCOMES.json, keep the rest",
    )
    p.add_argument("--out", type=Path, default=OUT, help="the page; its .json beside it")
    args = p.parse_args()
    kept = json.loads(args.out.with_suffix(".json").read_text()) if args.update else {}
    ran = ("python -m bench.outcomes_bench " + " ".join(sys.argv[1:])).strip()
    command = f"{kept['command']}`, then `{ran}" if kept.get("command") else ran
    results: list[dict[str, Any]] = list(kept.get("results", []))
    costs = kept.get("cost")
    for key in (k for k in args.tables.split(",") if k):
        got = scenario(generated(GENERATED_ROWS) if key == "generated" else real(key))
        at = [i for i, r in enumerate(results) if r["table"] == got["table"]]
        if at:
            results[at[0]] = got
        else:
            results.append(got)
        print(json.dumps(got)[:400], file=sys.stderr, flush=True)
        save(args.out, results, costs, command)
    if not args.skip_cost:
        costs = cost(COST_ROWS, args.calls, 100)
    print(save(args.out, results, costs, command))


def save(
    page_path: Path, results: list[dict[str, Any]], costs: dict[str, Any] | None, command: str
) -> str:
    """The JSON, then the page, after every scenario: a long run stopped part-way keeps what it
    measured."""
    out = {"command": command, "results": results, "cost": costs}
    page_path.with_suffix(".json").write_text(json.dumps(out, indent=1))
    page = render(results, costs, command)
    page_path.write_text(page)
    return page


if __name__ == "__main__":
    main()
