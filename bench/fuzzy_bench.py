"""Fuzzy duplicate matching, measured: quality, added latency, store sizes, calls.

On a generated CRM and its labelled re-entries (leadgen.synthetic.reentries): precision and recall
per kind at the default thresholds through the serving check (SQLite store, exactly as `leadgen
serve` runs it), false-positive rates on colleagues and namesakes, precision on realistic
streams, the added latency per lead (email-only check vs email + fuzzy, side by side), the u and
m behind the matcher's weights, store and item sizes, and DynamoDB calls per lead (moto).

    nice -n 10 .venv/bin/python -m bench.fuzzy_bench --rows 100000 --per-kind 3000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import md_table
from bench.dedup_febrl_merge import CUTS
from leadgen.builder.reader import read_crm
from leadgen.config import ColumnSpec, HighValueRule
from leadgen.duplicates.check import DuplicateCheck, DuplicateState
from leadgen.duplicates.customer_entries import customer_blocks
from leadgen.duplicates.dynamo_store import customer_block_item
from leadgen.duplicates.matching import MatchConfig, compare
from leadgen.duplicates.normalise import Entry, customer_hash_pairs, email_hash
from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
from leadgen.duplicates.store import LeadKeys
from leadgen.serve.schemas import CleanLead, LeadIdentity
from leadgen.synthetic.crm import CrmTruth, generate_crm_with_truth, write_crm
from leadgen.synthetic.reentries import DUP_KINDS, NEG_KINDS, generate_reentries

OUT = Path(__file__).with_name("FUZZY.md")
KEY = "bench-hash-key"  # the build and the check hash with the same key, as in AWS
TTL = 90 * 86400


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.fuzzy_bench", description=__doc__)
    p.add_argument("--rows", type=int, default=100_000, help="current customers")
    p.add_argument("--per-kind", type=int, default=3000, help="labelled leads per kind")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dynamo-rows", type=int, default=1000, help="CRM size of the moto run")
    p.add_argument("--dynamo-per-kind", type=int, default=40, help="leads per kind on moto")
    p.add_argument("--u-pairs", type=int, default=U_PAIRS, help="random customer pairs for u")
    p.add_argument(
        "--generate-rows", type=int, default=1_000_000, help="time generating a CRM this big"
    )
    p.add_argument("--out", default=str(OUT))
    return p.parse_args(argv)


@dataclass
class World:
    """A generated CRM synced into a SQLite store, with its labelled leads."""

    truth: CrmTruth
    store: SqliteDuplicateStore
    entries: list[Entry]
    blocks: dict[str, list[Entry]]
    build: dict[str, Any]
    leads: list[dict[str, Any]]
    true_ids: dict[str, set[str]]
    seconds: dict[str, float] = field(default_factory=dict)


def make_world(rows: int, per_kind: int, seed: int, tmp: Path) -> World:
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    table, truth = generate_crm_with_truth(rows, seed)
    seconds["generate"] = time.perf_counter() - t0
    write_crm(table, tmp / "crm.parquet")
    crm = read_crm(str(tmp / "crm.parquet"), ColumnSpec(), HighValueRule())
    t0 = time.perf_counter()
    built = customer_blocks(crm, KEY)
    seconds["blocks"] = time.perf_counter() - t0
    store = SqliteDuplicateStore(tmp / "dups.sqlite")
    t0 = time.perf_counter()
    store.sync_customers(customer_hash_pairs(crm.emails or [], crm.ids.tolist(), KEY))
    store.sync_identities(built.blocks)
    seconds["sync_sqlite"] = time.perf_counter() - t0
    leads_t, pairs_t = generate_reentries(truth, per_kind, seed)
    true_ids: dict[str, set[str]] = defaultdict(set)
    for pair in pairs_t.to_pylist():
        if pair["is_duplicate"]:
            true_ids[pair["lead_id"]].add(str(pair["customer_id"]))
    entries = list({e.ref: e for b in built.blocks.values() for e in b}.values())
    seconds["sqlite_mb"] = (tmp / "dups.sqlite").stat().st_size / 1e6
    return World(truth, store, entries, built.blocks, built.report, leads_t.to_pylist(),
                 true_ids, seconds)  # fmt: skip


def clean(lead: dict[str, Any]) -> CleanLead:
    who = LeadIdentity(lead["first_name"], lead["last_name"], lead["company"] or None,
                       lead["phone"] or None, lead["country"])  # fmt: skip
    return CleanLead({}, lead["email"], lead["lead_id"], who)


def outcome(state: DuplicateState, true_ids: set[str]) -> str:
    if state.hit is not None:
        if not true_ids:
            return "false_duplicate"
        return "found" if state.hit.ref in true_ids else "wrong_id"
    if state.possible is not None:
        return "possible_right" if state.possible.ref in true_ids else "possible_other"
    return "none"


def evaluate(
    w: World, match: MatchConfig
) -> tuple[dict[str, Counter[str]], dict[str, list[float]]]:
    """Every labelled lead through the serving check (not recorded, so leads never match each
    other); times the full check and the email-only lookup it replaces, side by side."""
    check = DuplicateCheck(w.store, KEY, TTL, match)
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    times: dict[str, list[float]] = defaultdict(list)
    for lead in w.leads:
        c = clean(lead)
        t0 = time.perf_counter()
        state = check.lookup(c)
        t1 = time.perf_counter()
        w.store.lookup(LeadKeys(email_hash(lead["email"], KEY)))
        t2 = time.perf_counter()
        times["email_plus_fuzzy"].append((t1 - t0) * 1e3)
        times["email_only"].append((t2 - t1) * 1e3)
        per_kind[lead["kind"]][outcome(state, w.true_ids.get(lead["lead_id"], set()))] += 1
        per_kind[lead["kind"]]["n"] += 1
    return per_kind, times


def cut_sweep(w: World, cuts: Sequence[float] = CUTS) -> dict[str, dict[str, float]]:
    """Per duplicate cut (bench.dedup_febrl's cut table reads them from FUZZY.json): each
    negative kind's false-duplicate rate, the mean recall of the duplicate kinds and the
    labelled precision. One pass at the lowest cut gives them all: the best candidate's
    confidence does not depend on the cut, and a lead under the lowest cut is no duplicate at
    any."""
    check = DuplicateCheck(w.store, KEY, TTL, MatchConfig(min(cuts), min(cuts)))
    per_cut: dict[float, dict[str, Counter[str]]] = {c: defaultdict(Counter) for c in cuts}
    for lead in w.leads:
        state = check.lookup(clean(lead))
        true_ids = w.true_ids.get(lead["lead_id"], set())
        for cut, per_kind in per_cut.items():
            hit = state.hit if state.hit is not None and state.hit.confidence >= cut else None
            per_kind[lead["kind"]][outcome(DuplicateState(state.keys, state.who, state.status,
                                                          hit), true_ids)] += 1  # fmt: skip
            per_kind[lead["kind"]]["n"] += 1
    return {str(cut): _cut_row(per_kind) for cut, per_kind in per_cut.items()}


def _cut_row(per_kind: dict[str, Counter[str]]) -> dict[str, float]:
    row = {f"{k}_fp": rate(per_kind[k], "false_duplicate") for k in NEG_KINDS}
    row["recall"] = statistics.mean(rate(per_kind[k], "found") for k in DUP_KINDS)
    row["precision"] = labelled_precision(per_kind)
    return row


def record_times(w: World, n: int) -> list[float]:
    """Recording new leads (the conditional write after scoring), ms each. It writes the "new"
    kind into the store as leads, so it runs after every measurement that looks them up."""
    check = DuplicateCheck(w.store, KEY, TTL)
    out = []
    for lead in [x for x in w.leads if x["kind"] == "new"][:n]:
        state = check.lookup(clean({**lead, "lead_id": "rec-" + lead["lead_id"]}))
        t0 = time.perf_counter()
        check.record(state, "rec-" + lead["lead_id"])
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def rate(c: Counter[str], *keys: str) -> float:
    return sum(c[k] for k in keys) / max(1, c["n"])


def stream_precision(per_kind: dict[str, Counter[str]], mix: dict[str, float]) -> float:
    """Precision of "duplicate: true" on a stream mixing the kinds in these shares (the duplicate
    share spread evenly over the duplicate kinds)."""
    dup_share = mix.get("duplicates", 0.0) / len(DUP_KINDS)
    tp = sum(dup_share * rate(per_kind[k], "found") for k in DUP_KINDS)
    fp = sum(dup_share * rate(per_kind[k], "wrong_id") for k in DUP_KINDS)
    fp += sum(share * rate(per_kind[k], "false_duplicate") for k, share in mix.items()
              if k in NEG_KINDS)  # fmt: skip
    return tp / (tp + fp) if tp + fp else float("nan")


U_PAIRS = 200_000


def u_and_m(w: World, pairs: int = U_PAIRS) -> dict[tuple[str, str], tuple[float, float]]:
    """(u, m) per comparison level: u over random pairs of customers, m over the labelled
    duplicate pairs (lead vs its true customer)."""
    rnd = random.Random(0)
    by_ref = {e.ref: e for e in w.entries}
    u: Counter[tuple[str, str]] = Counter()
    for _ in range(pairs):
        a, b = rnd.choice(w.entries), rnd.choice(w.entries)
        if a.ref != b.ref:
            _count_levels(u, compare(a.who, b))
    m: Counter[tuple[str, str]] = Counter()
    check = DuplicateCheck(None, KEY, TTL)
    for lead in w.leads:
        for ref in w.true_ids.get(lead["lead_id"], ()):
            if ref in by_ref:
                _count_levels(m, compare(check.keys_of(clean(lead))[1], by_ref[ref]))
    nu, nm = sum(u.values()) / 4, sum(m.values()) / 4
    return {k: (u[k] / nu, m[k] / nm) for k in sorted(set(u) | set(m))}


def _count_levels(counter: Counter[tuple[str, str]], c: Any) -> None:
    for comp in ("name", "org", "phone", "country"):
        counter[(comp, getattr(c, comp))] += 1


def name_collision(w: World) -> float:
    """P(two random customers share a normalised full name)."""
    counts = Counter((e.who.first, e.who.last) for e in w.entries)
    n = len(w.entries)
    return sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))


def item_sizes(blocks: dict[str, list[Entry]]) -> dict[str, float]:
    sizes = sorted(
        sum(len(k) + len(v.get("S", "").encode()) for k, v in customer_block_item(h, e).items())
        for h, e in blocks.items()
    )
    return {"items": len(sizes), "p50": pct(sizes, 50), "p99": pct(sizes, 99), "max": sizes[-1],
            "over_4kb": sum(1 for s in sizes if s > 4096)}  # fmt: skip


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))])


def dynamo_calls(rows: int, per_kind: int, seed: int) -> dict[str, dict[str, float]]:
    """DynamoDB requests per lead (lookup + record) on moto, email-only vs email + fuzzy."""
    import boto3
    from moto import mock_aws

    from leadgen.duplicates.dynamo_store import DynamoDuplicateStore

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        w = make_world(rows, per_kind, seed, Path(tmp))
        raw = boto3.client("dynamodb")
        for name, key in (("dups", "email_hash"), ("ident", "pk")):
            raw.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])  # fmt: skip
        client = Counting(raw)
        full = DynamoDuplicateStore("dups", "ident", client=client)
        full.sync_identities(w.blocks)
        out = {}
        for label, store in (("email only", DynamoDuplicateStore("dups", None, client=client)),
                             ("email + fuzzy", full)):  # fmt: skip
            client.calls.clear()
            check = DuplicateCheck(store, KEY, TTL)
            for lead in w.leads:
                state = check.record(check.lookup(clean(lead)), label + lead["lead_id"])
                del state
            out[label] = {op: n / len(w.leads) for op, n in sorted(client.calls.items())}
        return out


class Counting:
    """A boto3 client that counts its calls per operation."""

    def __init__(self, client: Any) -> None:
        self._client, self.calls = client, Counter[str]()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name in ("get_paginator", "exceptions"):
            return attr

        def counted(*a: Any, **k: Any) -> Any:
            self.calls[name] += 1
            return attr(*a, **k)

        return counted


def quality_rows(per_kind: dict[str, Counter[str]]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for kind in (*DUP_KINDS, *NEG_KINDS):
        c = per_kind[kind]
        if kind in DUP_KINDS:
            rows.append([kind, c["n"], f"{rate(c, 'found'):.3f}", f"{rate(c, 'wrong_id'):.4f}",
                         f"{rate(c, 'possible_right', 'possible_other'):.3f}"])  # fmt: skip
        else:
            rows.append([kind, c["n"], "-", f"{rate(c, 'false_duplicate'):.4f} (FP)",
                         f"{rate(c, 'possible_right', 'possible_other'):.3f}"])  # fmt: skip
    return rows


def labelled_precision(per_kind: dict[str, Counter[str]]) -> float:
    tp = sum(per_kind[k]["found"] for k in DUP_KINDS)
    fp = sum(per_kind[k]["wrong_id"] for k in DUP_KINDS)
    fp += sum(per_kind[k]["false_duplicate"] for k in NEG_KINDS)
    return tp / max(1, tp + fp)


def render(args: argparse.Namespace, r: dict[str, Any]) -> str:
    w: World = r["world"]
    per_kind, times = r["per_kind"], r["times"]
    added = statistics.median(times["email_plus_fuzzy"]) - statistics.median(times["email_only"])
    lines = [
        "# Fuzzy duplicates: measured",
        "",
        f"Command: `nice -n 10 .venv/bin/python -m bench.fuzzy_bench --rows {args.rows} "
        f"--per-kind {args.per_kind} --seed {args.seed} --dynamo-rows {args.dynamo_rows} "
        f"--dynamo-per-kind {args.dynamo_per_kind} "
        f"--generate-rows {args.generate_rows}`  ",
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')}; machine load (uptime): "
        f"{r['uptime']}; 2 shared cores: timings are medians measured side by side in one run.",
        "",
        f"CRM: {args.rows:,} current customers -> {w.build['entries']:,} entries in "
        f"{w.build['blocks']:,} blocks (largest {w.build['largest_block']}, "
        f"{w.build['hot_blocks_dropped']} dropped as hot); two random customers share a "
        f"normalised full name with probability {r['collision']:.2e}. Every labelled lead "
        "comes under a new mailbox: the exact check never fires, these are the fuzzy "
        "matcher's numbers alone.",
        "",
        f"## Quality at the defaults (duplicate >= {r['match'].duplicate_threshold}, possible "
        f">= {r['match'].possible_threshold})",
        "",
        *md_table(
            [
                "kind",
                "leads",
                "recall (right customer id)",
                "wrong id / false duplicate",
                "possible (scored, flagged)",
            ],
            quality_rows(per_kind),
        ),
        "",
        f"Precision on this labelled set (6 duplicate kinds : 3 negative kinds, equal counts): "
        f"**{labelled_precision(per_kind):.4f}**.",
        "",
        *md_table(
            ["stream", "precision of duplicate: true"],
            [[f"{name}", f"{stream_precision(per_kind, mix):.4f}"] for name, mix in STREAMS],
        ),
        "",
        *_cut_lines(r["cuts"]),
        *_latency_lines(times, added, r["record"]),
        *_weights_lines(r["um"], r["match"], args.u_pairs),
        *_store_lines(w, r["sizes"], r["dynamo"]),
        f"Generating a CRM of {args.generate_rows:,} current customers (with the company and "
        f"phone columns and the enlarged name vocabularies): {r['generate']:.1f} s.",
    ]
    return "\n".join(lines) + "\n"


STREAMS: list[tuple[str, dict[str, float]]] = [
    ("10% re-entries, 90% new leads", {"duplicates": 0.1, "new": 0.9}),
    ("10% re-entries, 10% colleagues, 5% namesakes, 75% new",
     {"duplicates": 0.1, "colleague": 0.1, "namesake": 0.05, "new": 0.75}),
]  # fmt: skip


def _cut_lines(cuts: dict[str, dict[str, float]]) -> list[str]:
    rows = [[cut, f"{v['recall']:.3f}", *(f"{v[f'{k}_fp']:.4f}" for k in NEG_KINDS),
             f"{v['precision']:.4f}"] for cut, v in cuts.items()]  # fmt: skip
    return [
        "## At other duplicate cuts",
        "",
        "The same leads, `duplicate: true` at each cut (the possible band below it aside): mean "
        "recall of the duplicate kinds, the negative kinds' false-duplicate rates, the labelled "
        "set's precision. bench/DEDUP_FEBRL.md sets them beside Febrl's F1 and false merges.",
        "",
        *md_table(["cut", "recall (mean)", *(f"{k} FP" for k in NEG_KINDS), "precision"], rows),
        "",
    ]


def _latency_lines(times: dict[str, list[float]], added: float, record: list[float]) -> list[str]:
    rows = [[name, f"{pct(v, 50):.3f}", f"{pct(v, 99):.3f}"] for name, v in times.items()]
    rows.append(["record a new lead (conditional write)", f"{pct(record, 50):.3f}",
                 f"{pct(record, 99):.3f}"])  # fmt: skip
    return [
        "## Latency per lead (SQLite store, in process)",
        "",
        *md_table(["path", "p50 ms", "p99 ms"], rows),
        "",
        f"Added by the fuzzy step, p50: **{added:.3f} ms** (median of the full check minus "
        "median of the email-only lookup; normalise, blocking keys, one SELECT, compare).",
        "",
    ]


def _weights_lines(
    um: dict[tuple[str, str], tuple[float, float]], match: MatchConfig, pairs: int
) -> list[str]:
    rows = []
    floor = 1.0 / pairs  # a level never seen in the random pairs: u below one in `pairs`
    for (comp, level), (u, m) in um.items():
        implied = f"{math.log2(m / max(u, floor)):+.1f}" if m else "-"
        shown = f"{u:.2e}" if u else f"< {floor:.0e}"
        rows.append([comp, level, shown, f"{m:.3f}", (">= " if not u and m else "") + implied,
                     f"{match.weights[comp][level]:+.1f}"])  # fmt: skip
    return [
        "## Weights: measured u and m next to the fixed ones",
        "",
        "u: share of random customer pairs at the level; m: share of labelled duplicate pairs. "
        "The fixed weights deliberately differ where independence fails (see "
        "leadgen/duplicates/matching.py): nickname and typo capped under exact, surname-only made "
        "the colleague signature, a shared number a switchboard. Prior "
        f"{match.prior:+.1f} bits. Names, postcode and country are weighed by the export's own "
        "counts instead where no org is known on both sides (docs/duplicates.md); wherever an org "
        "is shared the fixed weights below decide.",
        "",
        *md_table(["comparison", "level", "u", "m", "log2(m/u)", "weight"], rows),
        "",
    ]


def _store_lines(w: World, sizes: dict[str, float], dynamo: dict[str, Any]) -> list[str]:
    calls = [[label, ", ".join(f"{op} {n:.2f}" for op, n in ops.items())]
             for label, ops in dynamo.items()]  # fmt: skip
    return [
        "## Stores",
        "",
        f"SQLite (customers' emails + entries): {w.seconds['sqlite_mb']:.1f} MB, synced in "
        f"{w.seconds['sync_sqlite']:.1f} s; blocks built in {w.seconds['blocks']:.1f} s; CRM "
        f"generated in {w.seconds['generate']:.1f} s.",
        "",
        f"DynamoDB customer block items: {sizes['items']:,}, bytes p50 {sizes['p50']:.0f}, p99 "
        f"{sizes['p99']:.0f}, max {sizes['max']:.0f}; over 4 KB (1 RRU instead of 0.5 per "
        f"eventually consistent read): {sizes['over_4kb']}.",
        "",
        "DynamoDB requests per lead (lookup + record of every labelled lead, moto):",
        "",
        *md_table(["store", "requests per lead"], calls),
        "",
    ]


def generation_seconds(rows: int) -> float:
    """Wall time of generating a CRM of `rows` current customers (names, company, phone...)."""
    if rows <= 0:
        return float("nan")
    t0 = time.perf_counter()
    generate_crm_with_truth(rows, 0)
    return time.perf_counter() - t0


def timed(label: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    print(f"[{label}] {time.perf_counter() - t0:.1f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    match = MatchConfig()
    with tempfile.TemporaryDirectory() as tmp:
        w = timed("world", lambda: make_world(args.rows, args.per_kind, args.seed, Path(tmp)))
        per_kind, times = timed("evaluate", lambda: evaluate(w, match))
        result = {
            "world": w, "per_kind": per_kind, "times": times, "match": match,
            "cuts": timed("cuts", lambda: cut_sweep(w)),
            "record": timed("record", lambda: record_times(w, 2000)),
            "um": timed("u/m", lambda: u_and_m(w, args.u_pairs)), "collision": name_collision(w),
            "sizes": item_sizes(w.blocks),
            "dynamo": timed("dynamo", lambda: dynamo_calls(
                args.dynamo_rows, args.dynamo_per_kind, args.seed)),
            "generate": timed("generate", lambda: generation_seconds(args.generate_rows)),
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        }  # fmt: skip
        text = render(args, result)
    print(text)
    Path(args.out).write_text(text)
    by_cut = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cuts": result["cuts"]}
    Path(args.out).with_suffix(".json").write_text(json.dumps(by_cut, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
