"""Render the benchmark results (the JSON the runner saves) as bench/RESULTS.md.

Kept separate from the runner so the markdown can be re-rendered from a saved results.json
(`python -m bench.report RESULTS_JSON [OUT_MD]`) without re-running minutes of measurements.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Findings written after profiling (they explain numbers, so they live beside the renderer).
NOTES = """
**Since the previous run.** That run (same sizes, 2026-11-24 10:21) missed four targets: warm p50
13.6 ms / p99 23.8 ms at 1M, two searches 1.29 ms, cold start 1.78 s (4.3x the reference) at 100k,
and 230 rows/s for the 10k build. It ran under load 4-8 (other engineers' suites on the same two
cores), so part of the gain is a quiet machine; the code changes below were each measured side by
side, on this machine, in one process:
- int8 is the default model (`leadgen/embedders.py`, `leadgen/model_export.py`). At batch 1 fp32
  MiniLM is bound by reading its 90 MB of weights on every run: a 1-token run costs 2.9 ms on one
  thread, the int8 model 0.54 ms (onnxruntime directly). The table above: one lead's title + bio
  8.35 -> 3.94 ms, build throughput 404 -> 672 texts/s. Quality is unchanged:
  holdout AUC 0.9363 (fp32) vs 0.9362 (int8) on the same 20k CRM (`leadgen build --precision`).
- int8 embeds one text per run. Dynamic quantisation scales activations per batch, so a text's
  vector depended on its batch-mates (cosine down to 0.955 above); a customer embedded in a build
  batch would not match the same text scored as a lead. Alone, vectors are batch-independent
  (`tests/unit/test_embedders.py` checks it to 1e-5), and a pool of single-threaded runs on 2
  workers is faster than batching int8 anyway (672 vs 564 texts/s).
- A request's title and bio go to the embedder in one call, which runs them on the two workers at
  once: text embedding per lead 5.35 -> 3.13 ms p50.
- HNSW efSearch is tuned per build: the smallest of 24..256 whose build-time recall@20 reaches
  0.99. It settled at 48 at 100k and 1M (was fixed at 96).
- Cold start: no X-Ray SDK import when tracing is off (~0.25 s; on Lambda with tracing on it is
  paid, and only botocore is patched); checksums are verified on a second thread while the
  indices load (100k: 113 ms hash + 135 ms load -> 149 ms together); the int8 session is created
  in 53 ms vs 115 ms for fp32.
- `features.combine` writes into one float32 block instead of four (n, d) temporaries (one of
  them float64). It did not move the 1M build's peak (7,462 MB in a run just before the change,
  7,653 MB in this one; 9,949 MB in the previous, contended run): the peak is the index step,
  where the text matrix, the customer vectors and HNSW's own copy of them are resident together.
  The build now drops the text matrix before that step (committed after this run): the same 1M
  CRM built side by side with the hashing embedder peaked at 7,240 MB before and 6,573 MB after
  (`/usr/bin/time -v python -m leadgen build --embedder hashing`, outputs byte-identical).

**Where the time goes now.**
- Warm /score_lead at 100k (cProfile of 280 handler calls): ~3.0 ms embedding (ONNX runs on the
  worker pool; the wait shows as lock acquire), ~1.1 ms the two searches (HNSW `all` 0.55 ms and
  the flat 10k-row `high` 0.6 ms), 0.25 ms tokenising, ~1 ms the Powertools resolver, pydantic
  validation and the EMF metrics line. At 1M both indices are HNSW at efSearch 48.
- Cold start at 100k (~0.5 s of init after the interpreter): imports (numpy 0.1 s, boto3 0.2 s,
  faiss, onnxruntime, Powertools + pydantic), the ONNX session and tokenizer ~0.1 s, loading
  190 MB of artifacts ~0.15 s with the verification beside it. At 1M the median is 2.5 s:
  reading and hashing 1.9 GB; with provisioned concurrency that is outside request latency.

**Read with care.**
- Build-time recall (customers queried against an index that contains them) overstates recall
  for real leads: 0.991 vs 0.973 at 1M, 0.99 vs 0.98 at 100k. Leaving each
  query's own row out changes it by 0.0002 at 100k (tried), so the gap is that leads are new
  points, not the self-match; the 0.99 build target is what keeps leads above 0.97.
- The 1M build looks its text vectors up from the 100k run's embeddings of the same 20k-row pool
  (memo), so its embed rate is not a measurement; the 10k row, whose texts are all generated, is
  the embed-bound one.
- x86 EPYC here; the Lambda and CodeBuild images run on ARM (Graviton). The ratios should carry
  over; the absolute numbers need a measurement there.
"""

MB = 1024 * 1024


def _f(x: Any, nd: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _load_note(m: dict[str, Any]) -> str:
    """Say whether other work shared the cores: the 1-minute load beyond ~1 (this run) means
    contention, and every latency and throughput is then pessimistic."""
    loads = [m.get("loadavg") or [0.0], m.get("loadavg_now") or [0.0]]
    if max(float(x[0]) for x in loads) > 2.5:
        return (": other work shared the 2 cores during the run, so the numbers are pessimistic "
                "(CPU contention), the throughput ones most.")  # fmt: skip
    return ": the machine was otherwise idle (the load is the benchmark itself)."


def _rate(rows: int, seconds: float | None) -> str:
    if not seconds:
        return "-"
    return f"{rows / seconds:,.0f}"


def _targets(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, PASS/MISS/n.a.) for the issue's targets, at the sizes they name (or the
    largest measured size if that one was not run, labelled as such)."""
    sizes = {int(k): v for k, v in res["sizes"].items()}
    out: list[tuple[str, str, str]] = []
    if not sizes:
        return out

    def at(n: int) -> tuple[int, dict[str, Any]]:
        key = n if n in sizes else max(sizes)
        return key, sizes[key]

    def label(n: int, key: int) -> str:
        return "" if n == key else f" (at {key:,}, {n:,} not run)"

    key, s = at(1_000_000)
    w = s.get("warm_ours")
    if w:
        p50, p99 = w["score_lead_ms"]["p50"], w["score_lead_ms"]["p99"]
        out.append(("warm /score_lead p50 <= 8 ms" + label(1_000_000, key), f"{p50:.2f} ms",
                    "PASS" if p50 <= 8 else "MISS"))  # fmt: skip
        out.append(("warm /score_lead p99 <= 15 ms" + label(1_000_000, key), f"{p99:.2f} ms",
                    "PASS" if p99 <= 15 else "MISS"))  # fmt: skip
    srch = s.get("search")
    if srch:
        both = srch["indices"]["all"]["ms_p50"] + srch["indices"]["high"]["ms_p50"]
        out.append(("two searches <= 1 ms (p50 sum)" + label(1_000_000, key), f"{both:.3f} ms",
                    "PASS" if both <= 1 else "MISS"))  # fmt: skip
        a = srch["indices"]["all"]
        rec = a["recall_at_k_leads"]
        measured = f"{rec:.4f} (build-time sample: {_f(a['recall_at_k_build'], 4)})"
        name = f"ANN recall@{srch['k']} >= 0.95 (index `all`, {a['kind']})"
        verdict = "PASS" if rec >= 0.95 else "MISS"
        out.append((name + label(1_000_000, key), measured, verdict))
        speed = a["exact_ms_p50"] / a["ms_p50"] if a["ms_p50"] else 0.0
        out.append(("ANN >= 50x faster than exact" + label(1_000_000, key), f"{speed:.0f}x",
                    "PASS" if speed >= 50 else "MISS"))  # fmt: skip
    key, s = at(100_000)
    co, cr = s.get("cold_ours"), s.get("cold_reference")
    if co:
        m = co["median_s"]
        out.append(("cold start <= 1.5 s" + label(100_000, key), f"{m:.2f} s",
                    "PASS" if m <= 1.5 else "MISS"))  # fmt: skip
        if cr:
            ratio = cr["median_s"] / m
            out.append(("cold start >= 5x faster than reference" + label(100_000, key),
                        f"{ratio:.1f}x", "PASS" if ratio >= 5 else "MISS"))  # fmt: skip
    for n, s in sorted(sizes.items()):
        b = s.get("build")
        if not b:
            continue
        tot = sum(b["steps_seconds"].values())
        rate = b["rows"]["current_customers"] / tot
        pooled = n > int(res.get("pool_rows") or 0) or b.get("embedded_from_memo")
        mode = "pooled texts" if pooled else "all texts generated"
        out.append((f"build >= 250 rows/s at {n:,} ({mode})", f"{rate:,.0f} rows/s",
                    "PASS" if rate >= 250 else "MISS"))  # fmt: skip
    return out


def render(res: dict[str, Any]) -> str:
    m, v = res["machine"], res["versions"]
    lines = [
        "# leadgen benchmark results",
        "",
        f"Command: `{res['command']}`  ",
        f"Date: {res['started_at']} (last update {res.get('updated_at', '-')})  ",
        f"Machine: {m['nproc']} cores, {m['ram_gb']} GB RAM, {m['cpu']}, Python {m['python']}, "
        f"{m['platform']}  ",
        f"Load average at start {m['loadavg']}, at last update {m.get('loadavg_now', '-')}"
        + _load_note(m)
        + "  ",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        "",
    ]
    if res.get("quick"):
        lines += ["**Quick (smoke) run: tiny sizes, not the benchmark.**", ""]
    tg = _targets(res)
    if tg:
        lines += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in tg]
        lines.append("")
    sizes = {int(k): val for k, val in res["sizes"].items()}
    lines += _build_table(sizes, res)
    lines += _serving_table(sizes)
    lines += _search_table(sizes)
    lines += _embed_table(res.get("embed"))
    errors = [(n, s["error"]) for n, s in sorted(sizes.items()) if s.get("error")]
    if errors:
        lines += ["## Failures", ""]
        lines += [f"- {n:,}: `{e.strip().splitlines()[-1][:300]}`" for n, e in errors]
        lines.append("")
    lines += [
        "## How it is measured",
        "",
        "- Build: `leadgen.builder.build` in a fresh child process on a generated CRM "
        "(`generate_crm(rows)`: rows current customers + 10% SCD2 history rows); rows/s = current "
        "customers / step seconds (from `report.steps_seconds`); featurise = read + fit (tabular "
        "transform and the logistic head); peak memory = ru_maxrss of that child. The embedder "
        "embeds each DISTINCT text once; above "
        f"{res.get('pool_rows', 0):,} rows the `job_title`/`bio` columns come from a pool CRM of "
        f"{res.get('pool_rows', 0):,} rows (row j takes pool row j mod pool size), so the number "
        "of distinct texts stays ~that of the pool: the table says how many were embedded. Where "
        "'memo' is marked, the pool's vectors were embedded by the previous size's run (same "
        "pool, same ONNX model) and looked up, so that size's embed rate is not a measurement.",
        "- Cold start: a fresh `python` process that imports `lambda_src.handler` (config, ONNX "
        "session, artifact fetch + checksum verification + load at import, as in the Lambda init "
        "phase) and calls `handler()` with an HTTP API v2 `POST /score_lead` event; measured from "
        "the parent's spawn to the first 200 response; median of the runs, each with an empty "
        "LEADGEN_CACHE_DIR. Reference: the same artifacts re-indexed as exact IndexFlatIP, served "
        "by the same resolver (`create_app` + `ScoringService`) with SentenceTransformer on torch "
        "(HF_HUB_OFFLINE=1) as the embedder: import torch + sentence-transformers + model load + "
        "flat indices + first score.",
        "- Warm: per-call latency of `handler(event, ctx)` in one process after 10 warm-up calls "
        "(distinct generated leads, no duplicate table, Powertools tracing off, log level WARNING, "
        "metrics flushed per call); batches through `/score_leads`, reported per lead.",
        "- Search: the loaded artifact's indices, queried with 300 real lead vectors "
        "(`example_lead` seeds, embedded + featurised by the model) at batch 1 against an exact "
        "IndexFlatIP over the same vectors; recall@k = overlap of the top-k sets. 'build-time' "
        "recall is the one recorded in the manifest (customer vectors as queries).",
        "- Artifacts: bytes of the version directory; RSS delta = resident memory added by "
        "fetching + loading the version (embedder already loaded) in the search child, and by "
        "importing the handler (embedder + artifacts) in the warm child.",
        "",
    ]
    if NOTES.strip():
        lines += ["## Findings", "", NOTES.strip(), ""]
    return "\n".join(lines) + "\n"


def _build_table(sizes: dict[int, dict[str, Any]], res: dict[str, Any]) -> list[str]:
    lines = ["## Build", "",
             "| customers | distinct texts embedded | featurise rows/s | embed rows/s (texts/s) "
             "| index rows/s | holdout+calibrate s | total s | total rows/s | peak RSS MB "
             "| artifacts MB | index all / high |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for n, s in sorted(sizes.items()):
        b = s.get("build")
        if not b:
            continue
        st = b["steps_seconds"]
        rows = b["rows"]["current_customers"]
        feat = st.get("read", 0) + st.get("fit", 0)
        emb = st.get("embed", 0)
        memo = " (memo)" if b.get("embedded_from_memo") else ""
        tps = f"{b['distinct_texts'] / emb:,.0f}" if emb and not memo else "-"
        idx = b["indices"]
        lines.append(
            f"| {n:,} | {b['distinct_texts']:,}{memo} | {_rate(rows, feat)} | "
            f"{_rate(rows, emb)} ({tps}) | {_rate(rows, st.get('index'))} | "
            f"{st.get('holdout_quality', 0) + st.get('calibrate', 0):.1f} | "
            f"{sum(st.values()):.1f} | {_rate(rows, sum(st.values()))} | "
            f"{b['peak_rss_bytes'] / MB:,.0f} | {b['artifact_bytes'] / MB:,.1f} | "
            f"{idx['all']['kind']} / {idx['high']['kind']} |"
        )
    lines += ["", "Step seconds per size: " + "; ".join(
        f"{n:,}: " + ", ".join(f"{k} {val:.1f}" for k, val in s["build"]["steps_seconds"].items())
        for n, s in sorted(sizes.items()) if s.get("build")), ""]  # fmt: skip
    return lines


def _serving_table(sizes: dict[int, dict[str, Any]]) -> list[str]:
    lines = ["## Serving (ours = ONNX + HNSW/flat through the Lambda handler; ref = torch + flat)",
             "",
             "| customers | cold ours s | cold ref s | ref/ours | /score_lead p50 ms ours / ref "
             "| p99 ms ours / ref | p50 ours/ref | batch 10 per lead ms ours / ref "
             "| batch 100 per lead ms ours / ref | handler RSS after load MB ours / ref |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for n, s in sorted(sizes.items()):
        co, cr = s.get("cold_ours"), s.get("cold_reference")
        wo, wr = s.get("warm_ours"), s.get("warm_reference")
        if not co and not wo:
            continue

        def g(w: dict[str, Any] | None, key: str, q: str) -> Any:
            return w[key][q] if w else None

        ratio = f"{cr['median_s'] / co['median_s']:.1f}x" if co and cr else "-"
        p50r = (
            f"{g(wo, 'score_lead_ms', 'p50') / g(wr, 'score_lead_ms', 'p50'):.2f}"
            if wo and wr else "-"
        )  # fmt: skip
        rss_o = f"{wo['rss_after_load_delta_bytes'] / MB:,.0f}" if wo else "-"
        rss_r = f"{wr['rss_after_load_delta_bytes'] / MB:,.0f}" if wr else "-"
        lines.append(
            f"| {n:,} | {_f(co and co['median_s'])} | {_f(cr and cr['median_s'])} | {ratio} | "
            f"{_f(g(wo, 'score_lead_ms', 'p50'))} / {_f(g(wr, 'score_lead_ms', 'p50'))} | "
            f"{_f(g(wo, 'score_lead_ms', 'p99'))} / {_f(g(wr, 'score_lead_ms', 'p99'))} | {p50r} | "
            f"{_f(g(wo, 'batch10_per_lead_ms', 'p50'))} / {_f(g(wr, 'batch10_per_lead_ms', 'p50'))}"
            f" | {_f(g(wo, 'batch100_per_lead_ms', 'p50'))} / "
            f"{_f(g(wr, 'batch100_per_lead_ms', 'p50'))} | {rss_o} / {rss_r} |"
        )
    lines.append("")
    cold = [
        f"{n:,} {which}: " + ", ".join(
            f"{r['total_s']:.2f}s (interp {r['interpreter_s']:.2f} + init {r['init_s']:.2f} + "
            f"first {r['first_call_s']:.3f})" for r in s[f"cold_{which}"]["runs"])
        for n, s in sorted(sizes.items()) for which in ("ours", "reference")
        if s.get(f"cold_{which}")
    ]  # fmt: skip
    if cold:
        lines += ["Cold-start runs:", ""] + [f"- {c}" for c in cold] + [""]
    return lines


def _search_table(sizes: dict[int, dict[str, Any]]) -> list[str]:
    lines = ["## Search (batch 1, k = 20) and artifacts", "",
             "| customers | index | size | d | recall@k leads (build) | ANN p50 / p99 ms "
             "| exact p50 / p99 ms | exact/ANN | artifact RSS delta MB | load s |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for n, s in sorted(sizes.items()):
        sr = s.get("search")
        if not sr:
            continue
        for name, ix in sr["indices"].items():
            speed = ix["exact_ms_p50"] / ix["ms_p50"] if ix["ms_p50"] else 0
            lines.append(
                f"| {n:,} | {name} ({ix['kind']}) | {ix['size']:,} | {sr['dim']} | "
                f"{ix['recall_at_k_leads']:.4f} ({_f(ix['recall_at_k_build'], 4)}) | "
                f"{ix['ms_p50']:.3f} / {ix['ms_p99']:.3f} | "
                f"{ix['exact_ms_p50']:.3f} / {ix['exact_ms_p99']:.3f} | {speed:.0f}x | "
                f"{sr['artifact_rss_delta_bytes'] / MB:,.0f} | {sr['artifact_load_seconds']:.2f} |"
            )
    lines.append("")
    return lines


def _embed_table(e: dict[str, Any] | None) -> list[str]:
    if not e:
        return []
    if "single_text_ms_p50" not in e:  # results of the fp32-only table of earlier runs
        return []
    lines = [f"## ONNX embedding: fp32 vs int8 ({e['texts']:,} distinct CRM titles and bios, "
             f"{e['tokens_mean']} tokens on average, max {e['tokens_max']})", "",
             "| setting | texts/s |", "|---|---|"]  # fmt: skip
    lines += [f"| {r['setting']} | {r['texts_per_s']:,.0f} |" for r in e["rows"]]
    s, lead = e["single_text_ms_p50"], e["lead_ms_p50"]
    cos = e["int8_vs_fp32_cosine"]
    lines += [
        "",
        f"One text, p50: fp32 {s['fp32']} ms, int8 {s['int8']} ms. One lead (title + bio, as "
        f"served), p50: fp32 {lead['fp32']} ms, int8 {lead['int8']} ms.",
        f"int8 vs fp32 cosine: mean {cos['mean']}, min {cos['min']}. int8 batched vs the same "
        f"text alone: cosine down to {e['int8_batched_vs_alone_cosine_min']} (dynamic activation "
        "scales are per batch), which is why int8 embeds one text per run.",
        "",
    ]
    return lines


def main() -> None:
    raw = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent / "RESULTS.md"
    out.write_text(render(raw))


if __name__ == "__main__":
    main()
