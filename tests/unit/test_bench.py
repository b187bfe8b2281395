"""Smoke test of the benchmark code on tiny sizes: the suite itself is minutes long and kept out
of `make test`, so this catches a broken runner/renderer before someone spends those minutes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.build_child import MemoEmbedder, RecordingEmbedder, make_crm
from bench.report import render
from leadgen.model.embedders import HashingEmbedder

REPO = Path(__file__).resolve().parents[2]


def test_pooled_crm_has_at_most_pool_distinct_texts() -> None:
    _, distinct_full = make_crm(300, 0, None)
    _, distinct_pooled = make_crm(300, 0, 40)
    # titles + bios of the pool CRM (40 current + 4 history rows): at most 2 x 44 distinct values
    assert distinct_pooled <= 88 < distinct_full


def test_memo_embedder_reuses_recorded_vectors(tmp_path: Path) -> None:
    texts = ["a b", "c d", "a b", "e"]
    rec = RecordingEmbedder(HashingEmbedder(16))
    vecs = rec.embed(texts)
    rec.embed(["e", "f g"])  # a second column: kept too
    assert rec.texts == ["a b", "c d", "e", "f g"]
    memo_path = tmp_path / "memo.npz"
    np.savez(
        memo_path,
        texts=np.array(rec.texts, dtype=str),
        vectors=rec.vectors,
        model_sha256=np.array("None"),  # the hashing embedder has no model hash
    )
    memo = MemoEmbedder(HashingEmbedder(16), memo_path)
    assert np.allclose(memo.embed(texts), vecs)
    assert memo.missing == 0
    memo.embed(["new text"])
    assert memo.missing == 1
    assert memo.identity == HashingEmbedder(16).identity
    np.savez(memo_path, texts=np.array(rec.texts, dtype=str), vectors=rec.vectors,
             model_sha256=np.array("another-model"))  # fmt: skip
    other = MemoEmbedder(HashingEmbedder(16), memo_path)
    assert np.allclose(other.embed(texts), vecs) and other.missing == 3


def _fake_results() -> dict[str, Any]:
    lat = {"p50": 5.0, "p99": 9.0, "n": 200}
    warm = {
        "score_lead_ms": lat,
        "batch10_per_lead_ms": lat,
        "batch100_per_lead_ms": lat,
        "rss_after_load_delta_bytes": 2**27,
        "rss_bytes": 2**28,
    }
    runs = [{"total_s": 1.0, "interpreter_s": 0.1, "init_s": 0.8, "first_call_s": 0.02}]
    ix = {
        "kind": "hnsw",
        "params": {},
        "size": 1000,
        "recall_at_k_leads": 0.97,
        "recall_at_k_build": 0.98,
        "ms_p50": 0.2,
        "ms_p99": 0.4,
        "exact_ms_p50": 20.0,
        "exact_ms_p99": 30.0,
    }
    size = {
        "rows": 1000,
        "build": {
            "rows": {"current_customers": 1000},
            "distinct_texts": 900,
            "embedded_from_memo": False,
            "steps_seconds": {"read": 0.1, "embed": 2.0, "fit": 0.2, "index": 0.5},
            "indices": {"all": {"kind": "hnsw"}, "high": {"kind": "flat"}},
            "peak_rss_bytes": 2**29,
            "artifact_bytes": 2**20,
        },
        "cold_ours": {"runs": runs, "median_s": 1.0},
        "cold_reference": {"runs": runs, "median_s": 6.0},
        "warm_ours": warm,
        "warm_reference": warm,
        "search": {
            "indices": {"all": ix, "high": ix},
            "k": 20,
            "dim": 416,
            "artifact_rss_delta_bytes": 2**20,
            "artifact_load_seconds": 0.1,
        },
    }
    return {
        "command": "python -m bench --quick",
        "started_at": "2026-01-01T00:00:00+00:00",
        "machine": {"nproc": 2, "ram_gb": 8, "cpu": "x", "python": "3.11", "platform": "linux",
                    "loadavg": [0, 0, 0]},
        "versions": {"numpy": "2"},
        "pool_rows": 20000,
        "sizes": {"1000": size},
        "embed": {"texts": 10, "tokens_mean": 20.0, "tokens_max": 30,
                  "single_text_ms_p50": {"fp32": 4.0, "int8": 1.7},
                  "lead_ms_p50": {"fp32": 6.8, "int8": 2.3},
                  "int8_vs_fp32_cosine": {"mean": 0.993, "min": 0.987},
                  "int8_batched_vs_alone_cosine_min": 0.982,
                  "rows": [{"setting": "int8, one text per run", "texts_per_s": 875.0}]},
    }  # fmt: skip


def test_render_states_targets() -> None:
    md = render(_fake_results())
    assert "## Targets" in md
    assert "| cold start <= 1.5 s (at 1,000, 100,000 not run) | 1.00 s | PASS |" in md
    assert "cold start >= 5x faster than reference" in md
    assert "| int8, one text per run | 875 |" in md and "One lead (title + bio" in md
    assert "ANN >= 50x faster than exact (at 1,000, 1,000,000 not run) | 100x | PASS" in md
    assert "build >= 250 rows/s at 1,000 (all texts generated) | 357 rows/s | PASS" in md
    assert "the machine was otherwise idle" in md


def test_fuzzy_bench_runs_on_a_tiny_crm_and_writes_its_table(tmp_path: Path) -> None:
    """In a process of its own: the bench's in-process moto (mock_aws) resets every moto backend
    of the process it runs in, which would empty moto's server under the other tests' feet."""
    out = tmp_path / "FUZZY.md"
    args = ["--rows", "1500", "--per-kind", "20", "--dynamo-rows", "150", "--generate-rows", "0",
            "--u-pairs", "2000", "--dynamo-per-kind", "3"]  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "bench.fuzzy_bench", *args, "--out", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=600,
    )
    text = out.read_text()
    for section in ("## Quality at the defaults", "## Latency per lead", "## Weights", "## Stores"):
        assert section in text
    assert "| nickname | 20 |" in text and "transact_write_items 1.00" in text


def test_bulk_bench_renders_the_pairs_and_the_memory_runs() -> None:
    from bench.bulk_bench import render as render_bulk

    machine = {"nproc": 2, "cpu": "x", "loadavg": [1.0, 1.0, 1.0]}
    embed = {"leads": 1000, "texts": 600, "seconds": 9.0, "cpu_seconds": 8.0}
    score = {"leads": 1000, "seconds": 10.0, "cpu_seconds": 9.0, "embed_seconds": 8.5,
             "texts_embedded": 600}  # fmt: skip
    memory = [{**score, "file_mb": 1.0, "peak_rss_mb": 200.0}]
    md = render_bulk(
        {
            "started": "2026-01-01T00:00:00+00:00",
            "args": {"customers": 500, "repeats": 1},
            "machine_before": machine,
            "machine_after": machine,
            "uptime_after": "up 1 day, load average: 1.00, 1.00, 1.00",
            "throughput": {"embed": [embed], "score": [score]},
            "memory": memory,
        }
    )
    assert "| **score-file / embedder alone** | | **90%** (wall) | **89%** (CPU) |" in md
    assert "| 1 | 9.0 (8.0) | 10.0 (9.0) | 90% | 89% |" in md
    assert "| 1,000 | 1 | 600 | 10.0 | 100 | 200 |" in md


def _fake_refresh() -> dict[str, Any]:
    lat = {"n": 30, "p50": 5.0, "p99": 9.0, "max": 9.5}
    new_env = {
        "loaded": True, "init_seconds": 2.0, "main_started_at": 100.5, "first_scored_at": 103.0,
        "spawned_at": 100.0, "peak_rss_bytes": 400 * 2**20, "rss_after_init_bytes": 380 * 2**20,
        "peak_tmp_bytes": 100 * 2**20, "killed": False,
    }  # fmt: skip
    build = {
        "artifact_bytes": 100 * 2**20, "bytes_per_customer": 524.3,
        "indices": {"all": {"kind": "hnsw", "params": {"storage": "float16", "M": 16,
                                                       "text_dims": 160, "efSearch": 64}}},
        "serving_path": {"auc_served": 0.801, "auc_exact": 0.803, "auc_delta": -0.002},
    }  # fmt: skip
    size = {
        "builds": {"compact": build,
                   "uncompressed": {**build, "serving_path": {"auc_served": 0.8}}},
        "search": {"compact": {"indices": {"all": {"recall_at_k_leads": 0.9647, "ms_p50": 0.6}}}},
        "refresh": {"compact": {
            "version_bytes": 100 * 2**20,
            "base": {"rss_after_init_bytes": 280 * 2**20},
            "new_environment": [new_env],
            "alias_shift": {"new_init_seconds": 2.0, "steady_ms": lat, "during_ms": lat},
            "in_process": {"killed": True, "rss_at_kill_bytes": 3100 * 2**20},
        }},
    }  # fmt: skip
    return {
        "command": "python -m bench.refresh_bench", "started_at": "2026-01-01T00:00:00+00:00",
        "machine": {"nproc": 2, "ram_gb": 8, "cpu": "x", "python": "3.11", "loadavg": [0, 0, 0]},
        "versions": {"numpy": "2"}, "limit_mb": 3008, "sizes": {"200000": size},
    }  # fmt: skip


def test_refresh_render_puts_compact_and_uncompressed_side_by_side() -> None:
    from bench.refresh_report import render as render_refresh

    md = render_refresh(_fake_refresh())
    assert "| 200,000 | compact | 100 | 524 | hnsw float16 M=16, text dims 160, ef 64 |" in md
    assert "0.9647" in md and "0.8010 / 0.8030 / -0.0020" in md
    assert "compact 0.8010 vs uncompressed 0.8000: delta +0.0010" in md
    # new environment: peak 400, loaded 380, base 280 -> one version 100 MB, (400-280)/100 = 1.2
    assert (
        "| new environment (AWS) | 400 | 380 | 280 | 100 | 1.05 | 1.20 | 100 | 1.00 | yes |" in md
    )
    assert "| in-process | killed at 3,100 |" in md


def test_warm_bench_renders_each_variant_with_its_rounds_and_hit_rate() -> None:
    from bench.warm_bench import _variants, render

    assert _variants("text cache=4096;no text cache=0") == [
        ("text cache", "4096"),
        ("no text cache", "0"),
    ]
    runs = [
        {"single_ms": [4.0, 5.0, 6.0], "rss_bytes": 300 * 2**20, "text_cache_hits": 3,
         "text_cache_misses": 1},
        {"single_ms": [5.0, 6.0, 7.0], "rss_bytes": 310 * 2**20, "text_cache_hits": 1,
         "text_cache_misses": 3},
    ]  # fmt: skip
    text = render({"cells": [{"art": "a1", "label": "text cache", "runs": runs}]}, "--x")
    row = next(line for line in text.splitlines() if line.startswith("| a1 "))
    assert "| text cache | 5.50 |" in row  # pooled median of the six calls
    assert "5.50 (5.0, 6.0)" in row and "| 50% |" in row and "| 310 |" in row


def test_dates_bench_renders_both_arms_and_the_gain_per_seed() -> None:
    from argparse import Namespace

    from bench.dates_bench import CANDIDATES, render

    def arm(auc: float) -> dict[str, Any]:
        figures = {"auc": auc, "lift@10%": 3.0, "lift@20%": 2.5}
        return {"scores": dict.fromkeys(CANDIDATES, figures), "chosen": "stack", "seconds": 1.0}

    runs = {0: {"without dates": arm(0.90), "with dates": arm(0.93)}}
    args = Namespace(rows=1000, seeds="0", embedder="hashing")
    text = render(args, runs, "load 1.0")
    assert "| 0 | with dates | 0.9300 |" in text and "| 0 | without dates | 0.9000 |" in text
    assert "+0.0300 (mean +0.0300)" in text
    assert "no real table" in text


def test_dedup_lookup_renders_the_median_of_the_rounds_and_the_ratio() -> None:
    from bench.dedup_lookup import render as render_lookup

    def run(p50: float, blocks: int) -> dict[str, Any]:
        one = {"p50": p50, "p99": 2 * p50, "blocks": blocks, "f1": 0.9, "blocking_recall": 0.95}
        return {s: one for s in ("a", "b", "c")}

    res = {
        "before": "abc", "before_sha": "0123456789ab", "cut": 0.8, "rounds": 3,
        "runs": {"before": [run(0.2, 10), run(0.1, 10), run(0.3, 10)],
                 "after": [run(0.25, 20), run(0.5, 20), run(0.2, 20)]},
    }  # fmt: skip
    md = render_lookup(res)
    row = next(line for line in md.splitlines() if line.startswith("| (b) names + postcode"))
    assert "| 10 -> 20 |" in row and "| 0.200 -> 0.250 (1.25x) |" in row
    assert "| 0.400 -> 0.500 |" in row  # p99: the median of the rounds' p99 too
    assert "--before abc --rounds 3 --cut 0.8" in md and "(0123456789)" in md
