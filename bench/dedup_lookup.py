"""The duplicate check's lookup, before and after, side by side on Febrl 4.

    .venv/bin/python -m bench.dedup_lookup --before d51e4fd      # -> bench/DEDUP_LOOKUP.md

What more blocking keys cost where they are paid: each revision (`--before` exported from git,
and this tree) builds Febrl's 5,000 originals into the real SQLite store with its own build code
and looks up the 5,000 corrupted copies through its own serving check
(bench.dedup_febrl.run_project), for each field set, in a child process of its own; the
revisions alternate within each round, so a burst of load on the shared machine hits both
alike. Per set: the customer blocks, the lookup's median and p99 (the median of the rounds'),
and F1 at one duplicate cut for both (`--cut`), so that the two check the same thing. The
revision compared must have bench.dedup_febrl.run_project (all since the Febrl bench).
Prints the table and saves it as bench/DEDUP_LOOKUP.md (raw JSON beside it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, child_env
from bench.side_by_side import export

OUT = ROOT / "bench" / "DEDUP_LOOKUP.md"
SETS = ("a", "b", "c")
LABELS = {
    "a": "(a) names + street + city + postcode",
    "b": "(b) names + postcode",
    "c": "(c) (a) + date of birth",
}
# Run inside the revision's tree: its own bench.dedup_febrl, build code and check.
CHILD = """
import json, sys, tempfile
from pathlib import Path
from bench.dedup_febrl import FIELDS, load_febrl, run_project
from leadgen.duplicates.matching import MatchConfig
data, cfg, out = load_febrl(), MatchConfig(duplicate_threshold=float(sys.argv[1])), {}
with tempfile.TemporaryDirectory() as tmp:
    for s, fields in FIELDS.items():
        r = run_project(data, fields, Path(tmp), cfg)
        out[s] = {"p50": r["lookup_ms_p50"], "p99": r["lookup_ms_p99"], "blocks": r["blocks"],
                  "f1": r["duplicate"]["f1"], "blocking_recall": r["blocking_recall"]}
print(json.dumps(out))
"""


def measure(tree: Path, cut: float) -> dict[str, Any]:
    """One child in `tree`: every field set's store built and every lead looked up."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(cut)],
        cwd=tree,
        env=child_env(code=tree, clean=True),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the lookup run in {tree} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(before: str, rounds: int, cut: float, work: Path) -> dict[str, Any]:
    trees = {"before": work / "before", "after": ROOT}
    sha = export(before, trees["before"])
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for r in range(rounds):
        for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
            runs[name].append(measure(trees[name], cut))
            print(r, name, json.dumps(runs[name][-1]), flush=True)
    return {"before": before, "before_sha": sha, "cut": cut, "rounds": rounds, "runs": runs}


def _median(runs: list[dict[str, Any]], s: str, key: str) -> float:
    return float(statistics.median(r[s][key] for r in runs))


def render(res: dict[str, Any]) -> str:
    b, a = res["runs"]["before"], res["runs"]["after"]
    rows = []
    for s in SETS:
        p50 = (_median(b, s, "p50"), _median(a, s, "p50"))
        rows.append(
            f"| {LABELS[s]} | {b[0][s]['blocks']:,} -> {a[0][s]['blocks']:,} "
            f"| {b[0][s]['blocking_recall']:.4f} -> {a[0][s]['blocking_recall']:.4f} "
            f"| {p50[0]:.3f} -> {p50[1]:.3f} ({p50[1] / p50[0]:.2f}x) "
            f"| {_median(b, s, 'p99'):.3f} -> {_median(a, s, 'p99'):.3f} "
            f"| {b[0][s]['f1']:.4f} -> {a[0][s]['f1']:.4f} |"
        )
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return "\n".join(
        [
            "# The duplicate check's lookup, before and after, side by side (Febrl 4)",
            "",
            f"Command: `python -m bench.dedup_lookup --before {res['before']} --rounds "
            f"{res['rounds']} --cut {res['cut']}`  ",
            f"Before = `{res['before']}` ({res['before_sha'][:10]}), after = this tree. "
            f"Date: {datetime.now(UTC).isoformat(timespec='seconds')}; machine load after the "
            f"run (uptime): {load}; 2 shared cores.",
            "",
            "Each revision builds Febrl's 5,000 originals into the SQLite store with its own code "
            "and looks up the 5,000 corrupted copies through its own serving check, in a child "
            "process; the revisions alternate within each round. Lookup times: per run the "
            "median and p99 over the 5,000 leads, then the median over the rounds. F1 at "
            f"`duplicate: true` with the cut at {res['cut']} for both.",
            "",
            "| fields | customer blocks | blocking recall | lookup p50 ms | lookup p99 ms | F1 |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dedup_lookup", description=__doc__)
    p.add_argument("--before", default="main", help="git revision to compare with")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--cut", type=float, default=0.8, help="the duplicate cut of both")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="leadgen-dedup-lookup-") as tmp:
        res = run(args.before, args.rounds, args.cut, Path(tmp))
    page = render(res)
    print(page)
    Path(args.out).write_text(page)
    Path(args.out).with_suffix(".json").write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
