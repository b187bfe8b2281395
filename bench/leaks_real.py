"""The leak checks on honest data: the 23 real public tables of bench/quality_real.py and the
generated CRM (plain, and as Salesforce / HubSpot export it), each column configured as the
quality bench configures it. What the thresholds of leadgen/builder/leaks.py are set against:
no honest column may be flagged. Beside them, each real table with one leaked column added (a
copy of the label written as a stage, "Closed - Converted" / "Open"), which must be.

    .venv/bin/python -m bench.leaks_real            # ~1 min -> bench/LEAKS.md
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
from leadgen.builder.leaks import LEAK_AUC, MAX_HOLDOUT_AUC, check_columns
from leadgen.config import ColumnSpec

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


def render(rows: list[dict[str, Any]]) -> str:
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
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()
    rows = generated_rows() + real_rows()
    text = render(rows)
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
