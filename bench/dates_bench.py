"""Dates as features, measured: holdout AUC and lift with and without the date columns.

On the generated CRM (leadgen.synthetic.crm), whose export carries the record's creation date
(no bearing on value) and its last activity (recency reveals part of each person's unexplained
value), each seed is built twice, side by side on the same texts: the default layout, and the
default layout plus `--date-cols created_date,last_activity_date` (days before the export's
snapshot). The figures are the build's own holdout (stratified, scored like leads by what the
other customers would publish): the headline p_high_value and the candidates behind it.

None of the 23 real public tables of bench/quality_real.py holds a calendar date (Wage and
Males have a `year`, a number), so there is no real table to repeat it on; the page says so.

    nice -n 10 .venv/bin/python -m bench.dates_bench --rows 20000 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadgen.builder.pipeline import build
from leadgen.config import BuildConfig, ColumnSpec, EmbedderSettings
from leadgen.model.embedders import Embedder, make_embedder
from leadgen.model.text_cache import CachedEmbedder
from leadgen.synthetic.crm import (
    DATE_COLS,
    DEFAULT_CAT_COLS,
    DEFAULT_NUM_COLS,
    DEFAULT_TEXT_COLS,
    generate_crm,
    write_crm,
)

OUT = Path(__file__).with_name("DATES.md")
ARMS = {
    "without dates": ColumnSpec(DEFAULT_TEXT_COLS, DEFAULT_CAT_COLS, DEFAULT_NUM_COLS),
    "with dates": ColumnSpec.with_dates(
        DEFAULT_TEXT_COLS, DEFAULT_CAT_COLS, DEFAULT_NUM_COLS, DATE_COLS
    ),
}
CANDIDATES = ("knn", "logistic_regression", "gradient_boosting", "p_high_value")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.dates_bench", description=__doc__)
    p.add_argument("--rows", type=int, default=20_000, help="current customers per build")
    p.add_argument("--seeds", default="0,1,2", help="generator seeds, one CRM each")
    p.add_argument("--embedder", choices=("onnx", "hashing"), default="onnx")
    p.add_argument("--out", default=str(OUT))
    return p.parse_args(argv)


def run_seed(seed: int, rows: int, embedder: Embedder, work: Path) -> dict[str, Any]:
    """Both arms on one generated CRM; the texts embedded once (a cache large enough for all)."""
    path = work / f"crm-{seed}.parquet"
    write_crm(generate_crm(rows=rows, seed=seed), path)
    out: dict[str, Any] = {}
    for arm, spec in ARMS.items():
        cfg = BuildConfig(
            input_path=str(path),
            artifacts_uri=str(work / f"art-{seed}-{arm.replace(' ', '-')}"),
            columns=spec,
            seed=seed,
        )
        started = time.perf_counter()
        result = build(cfg, embedder, progress=False, say=lambda _m: None)
        quality = result.report["quality"]
        out[arm] = {
            "scores": {c: quality["scores"][c] for c in CANDIDATES if c in quality["scores"]},
            "chosen": quality["head"].get("chosen"),
            "seconds": round(time.perf_counter() - started, 1),
        }
    return out


def render(args: argparse.Namespace, runs: dict[int, dict[str, Any]], uptime: str) -> str:
    seeds = sorted(runs)
    lines = [
        "# Dates as features: holdout AUC with and without the date columns",
        "",
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')}. Command: `python -m "
        f"bench.dates_bench --rows {args.rows} --seeds {args.seeds} --embedder {args.embedder}`"
        f" (bench/dates_bench.py). Load: {uptime}.",
        "",
        f"The generated CRM, {args.rows:,} current customers per seed, built twice on the same "
        "texts: the default layout, and the default layout plus `--date-cols "
        "created_date,last_activity_date` (days before the export's snapshot, 2025-06-30). "
        "Holdout: the build's own stratified holdout, scored like leads.",
        "",
        "| seed | arm | p_high_value AUC | lift@10% | lift@20% | kNN AUC | logistic AUC | "
        "boosting AUC | head | build s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for seed in seeds:
        for arm, r in runs[seed].items():
            s = r["scores"]
            lines.append(
                f"| {seed} | {arm} | {s['p_high_value']['auc']:.4f} | "
                f"{s['p_high_value']['lift@10%']:.2f} | {s['p_high_value']['lift@20%']:.2f} | "
                f"{s['knn']['auc']:.4f} | {s['logistic_regression']['auc']:.4f} | "
                f"{s['gradient_boosting']['auc']:.4f} | {r['chosen']} | {r['seconds']} |"
            )
    lines += ["", *_summary(runs, seeds), "", *_notes()]
    return "\n".join(lines) + "\n"


def _summary(runs: dict[int, dict[str, Any]], seeds: list[int]) -> list[str]:
    def auc(seed: int, arm: str, name: str = "p_high_value") -> float:
        return float(runs[seed][arm]["scores"][name]["auc"])

    gains = [auc(s, "with dates") - auc(s, "without dates") for s in seeds]
    knn = [auc(s, "with dates", "knn") - auc(s, "without dates", "knn") for s in seeds]
    mean = statistics.fmean(gains)
    return [
        f"p_high_value AUC with dates minus without, per seed: "
        f"{', '.join(f'{g:+.4f}' for g in gains)} (mean {mean:+.4f}); kNN contrast: "
        f"{', '.join(f'{g:+.4f}' for g in knn)}.",
    ]


def _notes() -> list[str]:
    return [
        "What the generator puts in the dates (leadgen/synthetic/crm.py): the record's creation "
        "date is uniform over six years and unrelated to value; the days since the last "
        "activity are log-normal, shorter for people whose unexplained value (the latent's "
        "noise term) is high, and 4% have none (missing). So the gain measures how much of that "
        "noise term a recency feature recovers, on top of what the other columns explain.",
        "",
        "Real tables: none of the 23 public tables of bench/QUALITY_REAL.md has a calendar date "
        "column (checked with leadgen.model.dates over their values; Wage and Males have a "
        "`year`, a number), so there is no real table to compare on.",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = EmbedderSettings(kind=args.embedder)
    embedder = CachedEmbedder(make_embedder(settings), 1_000_000)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {seed: run_seed(seed, args.rows, embedder, Path(tmp)) for seed in seeds}
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    text = render(args, runs, uptime)
    print(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
