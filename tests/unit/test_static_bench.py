"""bench/static_embedder.py's page, rendered from a result of the shape its run produces: the
two embedders side by side in every table, throughput from the embed step (the bench itself is
minutes long and outside `make test`)."""

from __future__ import annotations

from typing import Any

from bench.static_embedder import SHOWN, render


def _build(embed: float, auc: float) -> dict[str, Any]:
    steps = {s: 1.0 for s in SHOWN} | {"embed": embed}
    return {"wall": 30.0, "cpu": 40.0, "peak_rss_mb": 900, "steps": steps, "auc": auc}


def _warm(p50: float) -> dict[str, Any]:
    return {"single_ms": [p50 - 0.5, p50, p50 + 0.5], "rss_bytes": 300 * 2**20}


def test_the_page_puts_both_embedders_in_every_table() -> None:
    res = {
        "distill": {"wall": 97.0, "cpu": 80.0, "peak_rss_mb": 980},
        "calls": 3,
        "warmup": 3,
        "sizes": {"onnx": 23_700_000, "static": 15_600_000},
        "cold": {
            e: [{"import_s": 0.2, "load_s": load, "first_ms": 1.0}] * 3
            for e, load in (("onnx", 0.3), ("static", 0.1))
        },
        "builds": [
            {
                "rows": 20_000,
                "seed": 0,
                "distinct_texts": 10_000,
                "onnx": [_build(20.0, 0.93)],
                "static": [_build(0.5, 0.92)],
            },
        ],
        "warm": [
            {"embedder": "onnx", "cache": "0", "runs": [_warm(9.0), _warm(11.0)]},
            {"embedder": "static", "cache": "0", "runs": [_warm(2.0), _warm(2.0)]},
        ],
        "machine": {"nproc": 2, "cpu": "test", "loadavg": [1.0, 1.0, 1.0]},
        "date": "2026-12-07T00:00:00+00:00",
    }
    page = render(res, "python -m bench.static_embedder --sizes 20000")
    assert "| 20,000 | 0 | onnx | 0.9300 | 10,000 | 500 |" in page  # 10,000 texts in 20 s
    assert "| 20,000 | 0 | static | 0.9200 | 10,000 | 20,000 |" in page
    assert "20,000/seed 0: -0.0100 (not all within 0.005)" in page
    assert "| onnx | 0 | 10.00 |" in page and "| static | 0 | 2.00 |" in page
    assert "| static | 0.20 | 0.10 | 1.0 | 15.6 |" in page
    assert "97 s wall" in page and "980 MB" in page


def test_crm_sizes_carry_their_seeds() -> None:
    from bench.static_embedder import sizes

    assert sizes("20000x3,100000") == [(20_000, 0), (20_000, 1), (20_000, 2), (100_000, 0)]
