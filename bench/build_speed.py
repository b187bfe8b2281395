"""Build speed, before and after, side by side: where a build's time goes (fitting vs embedding).

    .venv/bin/python -m bench.build_speed --sizes 20000,100000 --before i24

Each size's generated CRM is written once (bench.build_child.make_crm; above 20k rows the text
columns come from a 20k-row pool, as bench/REFRESH.md builds them; at 20k every text is the
generator's own) and built by each revision's own `leadgen build` (ONNX int8 MiniLM, the default
embedder) in a child process of its own: `--before` exported from git, and this tree. The
revisions alternate within each round, so a burst of load on the shared machine hits both
alike. Per build: wall time, peak RSS (os.wait4: the child's own ru_maxrss; the inputs are
prepared in another child, see `prepare`), the report's step
times and holdout AUC, and fitting (holdout_quality + fit + head) against the embed step.
Prints the table and saves it as bench/BUILD_SPEED.md (raw JSON beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, child_env
from bench.side_by_side import export

OUT = ROOT / "bench" / "BUILD_SPEED.md"
POOL_ROWS = 20_000
FIT_STEPS = ("holdout_quality", "fit", "head")
KEPT = "## Where the time went"
SHOWN = ("embed", "holdout_quality", "fit", "index", "head")


def make_input(rows: int, path: Path) -> int:
    """The generated CRM at `path`; returns the distinct texts the build embeds."""
    from bench.build_child import make_crm
    from leadgen.synthetic.crm import write_crm

    table, distinct = make_crm(rows, 0, POOL_ROWS if rows > POOL_ROWS else None)
    write_crm(table, path)
    return distinct


def build(tree: Path, crm: Path, out: Path, model_dir: str) -> dict[str, Any]:
    """One `leadgen build` of the revision in `tree`: wall, peak RSS, steps, holdout AUC."""
    env = child_env(
        {"LEADGEN_EMBEDDER": "onnx", "LEADGEN_MODEL_DIR": model_dir}, code=tree, clean=True
    )
    cmd = [sys.executable, "-m", "leadgen", "build", "--input", str(crm), "--out", str(out)]
    t0 = time.perf_counter()
    with (out.parent / f"{out.name}.log").open("wb") as log:
        proc = subprocess.Popen([*cmd, "--quiet"], cwd=tree, env=env, stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise RuntimeError(f"build with {tree} failed ({status}); see {out}.log")
    report = json.loads(next(out.glob("*/build_report.json")).read_text())
    steps = report["steps_seconds"]
    return {
        "wall": round(wall, 1),
        "cpu": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": usage.ru_maxrss // 1024,
        "steps": steps,
        "fitting": round(sum(steps.get(s, 0.0) for s in FIT_STEPS), 1),
        "auc": report["quality"]["headline"]["auc"],
        "headline": report["quality"]["headline"]["score"],
    }


def prepare(rows: int, crm: Path) -> tuple[int, str]:
    """The CRM written and the ONNX model exported (once) in a child of their own, returning
    the distinct texts and the model's directory. A build's peak RSS is its child's rusage, and
    Linux carries into it the RSS its process had when forked, the bench's own: so the bench
    never holds torch or a million-row table itself."""
    code = (
        "import json; from pathlib import Path; from bench.build_speed import make_input; "
        "from bench.common import onnx_model_dir; "
        f"print(json.dumps([make_input({rows}, Path({str(crm)!r})), onnx_model_dir()]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=child_env(), capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"preparing the {rows:,}-row CRM failed:\n{proc.stderr[-2000:]}")
    distinct, model_dir = json.loads(proc.stdout.strip().splitlines()[-1])
    return int(distinct), str(model_dir)


def run(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    trees = {"before": work / "before", "after": ROOT}
    sha = export(args.before, trees["before"])
    results = []
    for rows in (int(s) for s in args.sizes.split(",")):
        crm = work / f"crm{rows}.parquet"
        distinct, model_dir = prepare(rows, crm)
        entry: dict[str, Any] = {"rows": rows, "distinct_texts": distinct}
        entry["before_sha"] = sha
        for r in range(args.rounds):
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for name in order:
                res = build(trees[name], crm, work / f"art-{name}-{rows}-{r}", model_dir)
                entry.setdefault(name, []).append(res)
                print(rows, name, json.dumps(res), flush=True)
        results.append(entry)
    return results


def _median(runs: list[dict[str, Any]], key: str, step: bool = False) -> float:
    return statistics.median(float(r["steps"].get(key, 0.0) if step else r[key]) for r in runs)


def render(results: list[dict[str, Any]], args: argparse.Namespace, load: list[str]) -> str:
    lines = [
        "# Build speed: fitting against embedding, before and after",
        "",
        f"Command: `.venv/bin/python -m bench.build_speed --sizes {args.sizes} "
        f"--before {args.before} --rounds {args.rounds}`  ",
        f"Before = `{args.before}` ({results[0]['before_sha'][:10] if results else '-'}), after = "
        "this tree; each revision's own `leadgen build --quiet`, ONNX int8 MiniLM, generated CRM "
        f"(text columns from a {POOL_ROWS:,}-row pool above {POOL_ROWS:,} rows), alternating.  ",
        f"Load average before / after the run: {load[0]} / {load[-1]} (2 cores shared with other "
        "jobs: read the ratios measured side by side, not the absolute seconds). Medians over "
        "the rounds.",
        "",
        "| customers (distinct texts) | code | wall s | CPU s | peak RSS MB | "
        + " | ".join(f"{s} s" for s in SHOWN)
        + " | fitting s (holdout_quality + fit + head) | fitting / embed | holdout AUC |",
        "|---|---|---|---|---|" + "---|" * len(SHOWN) + "---|---|---|",
    ]
    for e in results:
        for name in ("before", "after"):
            runs = e[name]
            embed = _median(runs, "embed", step=True)
            fitting = _median(runs, "fitting")
            lines.append(
                f"| {e['rows']:,} ({e['distinct_texts']:,}) | {name} | "
                f"{_median(runs, 'wall'):.0f} | {_median(runs, 'cpu'):.0f} | "
                f"{_median(runs, 'peak_rss_mb'):.0f} | "
                + " | ".join(f"{_median(runs, s, step=True):.1f}" for s in SHOWN)
                + f" | {fitting:.1f} | {fitting / max(embed, 1e-9):.1f}x | "
                f"{', '.join(str(r['auc']) for r in runs)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.build_speed", description=__doc__)
    p.add_argument("--sizes", default="20000,100000")
    p.add_argument("--before", default="main", help="git revision to compare with")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    load = [", ".join(f"{x:.1f}" for x in os.getloadavg())]
    with tempfile.TemporaryDirectory(prefix="leadgen-build-speed-") as tmp:
        results = run(args, Path(tmp))
    load.append(", ".join(f"{x:.1f}" for x in os.getloadavg()))
    text = render(results, args, load)
    print(text)
    out = Path(args.out)
    # the page's hand-written sections (the profile) follow the table and survive a re-run
    kept = out.read_text().partition(KEPT)[2] if out.exists() else ""
    out.write_text(text + (f"\n{KEPT}{kept}" if kept else ""))
    Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
