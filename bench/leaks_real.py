"""The leak checks on honest data: the 23 real public tables of bench/quality_real.py and the
generated CRM (plain, and as Salesforce / HubSpot export it), each column configured as the
quality bench configures it. What the thresholds of leadgen/builder/leaks.py are set against:
no honest column may be flagged. Beside them, each real table with one leaked column added (a
copy of the label written as a stage, "Closed - Converted" / "Open"), which must be. And the
build's check of the columns no feature configures (leadgen/builder/unconfigured_leaks.py), on
each real table written as the export it came from (every column of its source file, the ones
the quality bench leaves out beside the label too: an id, a weight, a log, dummies) with one
feature configured, so that every other column goes through it.

    .venv/bin/python -m bench.leaks_real            # ~3 min -> bench/LEAKS.md
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.quality_real import TABLES
from leadgen.builder.leaks import CEILING_LABEL_ROWS, LEAK_AUC, MAX_HOLDOUT_AUC, check_columns
from leadgen.builder.unconfigured_leaks import check_unconfigured, unconfigured
from leadgen.config import BuildConfig, ColumnSpec, KeyColumns, high_value_rule

OUT = Path(__file__).with_name("LEAKS.md")


def real_rows() -> list[dict[str, Any]]:
    rows = []
    for make in TABLES.values():
        t = make()
        spec = ColumnSpec(text_cols=(), cat_cols=tuple(t.cat_cols), num_cols=tuple(t.num_cols))
        rows.append(_row(t.name, t.columns, spec, t.labels))
        stage = ["Closed - Converted" if v else "Open" for v in t.labels]
        leaked = ColumnSpec((), (*t.cat_cols, "Status"), tuple(t.num_cols))
        rows.append(_row(f"{t.name} + Status", {**t.columns, "Status": stage}, leaked, t.labels))
        print(rows[-2]["table"], rows[-2]["top"], rows[-2]["flagged"], flush=True)
    return rows


def generated_rows() -> list[dict[str, Any]]:
    from leadgen.synthetic.crm import generate_crm

    table = generate_crm(rows=20_000, seed=0)
    cols = {c: table[c].to_pylist() for c in table.column_names}
    spec = ColumnSpec()
    data = {
        c: (np.array([np.nan if v is None else float(v) for v in cols[c]]) if c in spec.num_cols
            else cols[c])
        for c in spec.all_cols
    }  # fmt: skip
    current = np.array(cols.get("is_current", [True] * table.num_rows), dtype=bool)
    data = {c: (v[current] if isinstance(v, np.ndarray) else [x for x, k in zip(v, current,
            strict=True) if k]) for c, v in data.items()}  # fmt: skip
    labels = np.array(cols["is_high_value"], dtype=bool)[current]
    return [_row("generated CRM (20k)", data, spec, labels)]


def _row(
    name: str, columns: dict[str, Any], spec: ColumnSpec, labels: np.ndarray
) -> dict[str, Any]:
    t0 = time.perf_counter()
    check = check_columns(columns, spec, labels)
    seconds = time.perf_counter() - t0
    top = sorted(check.aucs.items(), key=lambda kv: -kv[1])[:3]
    return {
        "table": name,
        "n": len(labels),
        "cols": len(spec.all_cols),
        "top": ", ".join(f"{c} {a:.3f}" for c, a in top),
        "max": top[0][1] if top else float("nan"),
        "flagged": "; ".join(leak.describe() for leak in check.flagged) or "-",
        "seconds": seconds,
    }


def unconfigured_rows() -> list[dict[str, Any]]:
    """Each real table as an export with every column of its source file (the label's own
    column, the first the quality bench drops, becomes is_high_value) and one feature configured:
    every other column goes through the build's check of the unconfigured columns, read as
    `inspect` reads it."""
    import csv
    import tempfile

    out = []
    for t, rows, drop in _tables_with_sources():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "export.csv"
            names = ["customer_id", "is_high_value", *(c for c in rows[0] if c != drop[0])]
            with path.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(names)
                for i, (r, y) in enumerate(zip(rows, t.labels.tolist(), strict=True)):
                    writer.writerow([i, "true" if y else "false", *(r[c] for c in names[2:])])
            one = (
                ColumnSpec((), (), t.num_cols[:1])
                if t.num_cols
                else ColumnSpec((), t.cat_cols[:1], ())
            )
            cfg = BuildConfig(
                input_path=str(path),
                columns=one,
                high_value=high_value_rule("is_high_value", None, 0.9),
                keys=KeyColumns("customer_id"),
            )
            t0 = time.perf_counter()
            check = check_unconfigured(cfg, names, print)
            seconds = time.perf_counter() - t0
        out.append({
            "table": t.name,
            "columns": len(unconfigured(cfg, names)),
            "checked": len(check.aucs),
            "aucs": ", ".join(f"{c} {a:.3f}" for c, a in
                              sorted(check.aucs.items(), key=lambda kv: -kv[1])[:3]) or "-",
            "flagged": "; ".join(leak.describe() for leak in check.flagged) or "-",
            "seconds": seconds,
        })  # fmt: skip
        print(out[-1], flush=True)
    return out


def _tables_with_sources() -> list[tuple[Any, list[dict[str, str]], tuple[str, ...]]]:
    """Every real table with the source rows it was made from and the columns it dropped (the
    label's own first): bench/quality_real.make is wrapped while the tables are made."""
    import bench.quality_real as quality

    made: list[tuple[Any, list[dict[str, str]], tuple[str, ...]]] = []
    original = quality.make

    def keeping(
        name: str, rows: list[dict[str, str]], label: Any, drop: tuple[str, ...], cats: Any = ()
    ) -> Any:
        table = original(name, rows, label, drop, cats)
        made.append((table, rows, drop))
        return table

    quality.make = keeping  # type: ignore[assignment]  # the same signature
    try:
        for make in TABLES.values():
            make()
    finally:
        quality.make = original  # type: ignore[assignment]
    return made


def ceiling_rows(keys: list[str]) -> list[dict[str, Any]]:
    """The build holdout of the real tables that rank best, on bench/quality_real.py's five
    splits, built as it builds them (--allow-high-auc so every split reports its AUC)."""
    import json
    import tempfile

    from bench.quality_real import _cli, split

    out = []
    for key in keys:
        t = TABLES[key]()
        for seed in range(5):
            train, _ = split(t.labels, seed)
            with tempfile.TemporaryDirectory() as tmp:
                _write(t, train, Path(tmp) / "train.parquet")
                _cli("build", "--input", str(Path(tmp) / "train.parquet"), "--out",
                     str(Path(tmp) / "art"), "--text-cols", "", "--cat-cols", ",".join(t.cat_cols),
                     "--num-cols", ",".join(t.num_cols), "--high-value-col", "is_high_value",
                     "--embedder", "hashing", "--min-auc", "0", "--min-lift", "0",
                     "--allow-high-auc", "--quiet")  # fmt: skip
                report = json.loads(next(Path(tmp, "art").glob("*/build_report.json")).read_text())
            q = report["quality"]
            out.append({"table": t.name, "seed": seed, "auc": q["headline"]["auc"],
                        "rows": q["holdout_rows"], "pos": q["holdout_positives"]})  # fmt: skip
            print(out[-1], flush=True)
    return out


def _write(t: Any, train: np.ndarray, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = t.rows(train)
    data: dict[str, Any] = {
        "customer_id": np.arange(len(train), dtype=np.int64),
        "is_high_value": t.labels[train],
        **{c: pa.array(cols[c], type=pa.string()) for c in t.cat_cols},
        **{c: cols[c] for c in t.num_cols},
    }
    pq.write_table(pa.table(data), path)


def render(
    rows: list[dict[str, Any]], ceilings: list[dict[str, Any]], others: list[dict[str, Any]]
) -> str:
    honest = [r for r in rows if "+ Status" not in r["table"]]
    leaked = [r for r in rows if "+ Status" in r["table"]]
    clean = sum(r["flagged"] == "-" for r in honest)
    caught = sum("'Status'" in r["flagged"] for r in leaked)
    lines = [
        "# Leak checks on honest and leaked tables",
        "",
        "Command: `python -m bench.leaks_real`  ",
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')}; {platform.machine()}, "
        f"Python {platform.python_version()}.  ",
        f"Thresholds (leadgen/builder/leaks.py): single-column AUC >= {LEAK_AUC}; holdout AUC "
        f"ceiling {MAX_HOLDOUT_AUC}. Columns configured as bench/quality_real.py configures them.",
        "",
        f"**Honest tables with no column flagged: {clean} of {len(honest)}. Tables with an added "
        f"'Status' column (the label as a stage) caught: {caught} of {len(leaked)}.**",
        "",
        "| table | rows | columns | strongest single-column AUC (out of fold) | flagged | s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['table']} | {r['n']} | {r['cols']} | {r['top']} | {r['flagged']} "
            f"| {r['seconds']:.1f} |"
        )
    flagged = [o for o in others if o["flagged"] != "-"]
    lines += [
        "",
        "The columns no feature configures, as the build checks them "
        "(leadgen/builder/unconfigured_leaks.py: read as `inspect` reads them, the first 50,000 "
        "rows): each real table written as the CSV export it came from, every column of its "
        "source file beside the id and the label, with only its first column configured (the "
        "first numeric one, or the first categorical one), so that every other column is checked "
        "as the build checks an unconfigured one. "
        f"**Tables with an unconfigured column flagged: {len(flagged)} of {len(others)}.**",
        "",
        "| table | unconfigured columns | checked | strongest single-column AUC (out of fold) "
        "| flagged | s |",
        "|---|---|---|---|---|---|",
    ]
    for o in others:
        lines.append(
            f"| {o['table']} | {o['columns']} | {o['checked']} | {o['aucs']} | {o['flagged']} "
            f"| {o['seconds']:.1f} |"
        )
    lines += [
        "",
        f"The ceiling: the build holdout AUC (the figure the ceiling reads) of the real tables "
        f"that rank best, on bench/quality_real.py's five splits. A holdout of fewer than "
        f"{CEILING_LABEL_ROWS} of either label can rank an honest table perfectly by chance, so "
        "the ceiling waits for that many.",
        "",
        "| table | split | build holdout AUC | holdout rows | high-value in it | above the "
        "ceiling, refused |",
        "|---|---|---|---|---|---|",
    ]
    for c in ceilings:
        above = c["auc"] > MAX_HOLDOUT_AUC
        refused = above and min(c["pos"], c["rows"] - c["pos"]) >= CEILING_LABEL_ROWS
        lines.append(
            f"| {c['table']} | {c['seed']} | {c['auc']:.4f} | {c['rows']} | {c['pos']} "
            f"| {'yes' if above else 'no'}, {'yes' if refused else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--ceiling-tables", default="BreastCancer,Biopsy,College,Computers,Treatment")
    args = p.parse_args()
    rows = generated_rows() + real_rows()
    others = unconfigured_rows()
    text = render(rows, ceiling_rows(args.ceiling_tables.split(",")), others)
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
