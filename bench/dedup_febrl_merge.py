"""What the duplicate check itself merges where namesakes share a postcode.

bench.dedup_febrl_relax draws a CRM-shaped population from the people Febrl's generator made (the
original records of datasets 1 to 4a, each a distinct person) and counts the namesakes a fixed
rule would merge. This module runs THE CHECK on it instead: the people not drawn as leads are the
export's customers, placed K to a postcode (`placed`), built into entries by the build's own code
(leadgen.duplicates.customer_entries, counts included) and synced into the real SQLite store;
each new person is a lead in one of those postcodes, looked up by the serving check
(DuplicateCheck.lookup). Every lead is someone else, so each `duplicate: true` is a false merge,
and each "possible" a new person flagged. Names and postcode only, as in Febrl's set (b):
nothing else could veto, the hardest case for a check that lets a rare surname decide.

    .venv/bin/python -m bench.dedup_febrl_merge      # prints the table (bench.dedup_febrl: page)
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench.dedup_febrl_relax import KEY, febrl_people
from leadgen.duplicates.check import DuplicateCheck
from leadgen.duplicates.customer_entries import customer_blocks
from leadgen.duplicates.matching import MatchConfig
from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
from leadgen.duplicates.store import sync_customer_identities
from leadgen.serve.schemas import CleanLead, LeadIdentity

TTL: Final = 86400
# Duplicate cuts compared (bench.dedup_febrl's cut table): the run at the lowest cut gives the
# share merged at each higher one, the confidence of the best candidate not depending on the cut.
CUTS: Final = (0.5, 0.7, 0.8, 0.9, 0.95)
LOWEST_CUT: Final = "the export's counts, every cut"
# New people looked up per K: near 1% merged, a cell's standard error is about 0.2 points
# (binomial), small enough to tell the cuts apart (with 500 it was 0.45).
LEADS: Final = 2000
CHECKS: Final[Mapping[str, MatchConfig]] = {
    "fixed weights": MatchConfig(term_frequencies=False),
    "the export's counts": MatchConfig(),
}
SWEEP: Final[Mapping[str, MatchConfig]] = {
    **CHECKS,
    LOWEST_CUT: MatchConfig(duplicate_threshold=min(CUTS), possible_threshold=min(CUTS)),
}


@dataclass
class ExportTable:
    """The customers as the build reads an export (customer_entries.Customers)."""

    ids: np.ndarray
    emails: list[str | None] | None
    identity: dict[str, list[str | None]]
    customer: np.ndarray | None = None
    stage: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.ids)


def _postcode(group: int) -> str:
    return f"{1000 + group:04d}"


def placed(people: Sequence[Mapping[str, str | None]], k: int) -> ExportTable:
    """The customers K to a postcode (the last one may hold fewer), names as Febrl drew them."""
    ids = np.array([f"c{i}" for i in range(len(people))])
    identity: dict[str, list[str | None]] = {
        "first_name": [p["given_name"] for p in people],
        "last_name": [p["surname"] for p in people],
        "postcode": [_postcode(i // k) for i in range(len(people))],
        "country": ["au"] * len(people),
    }
    return ExportTable(ids, None, identity)


def merge_rates(
    people: Sequence[Mapping[str, str | None]],
    ks: Iterable[int] = (10, 100, 1000),
    leads: int = LEADS,
    seed: int = 0,
    checks: Mapping[str, MatchConfig] = CHECKS,
) -> dict[str, dict[str, dict[str, float]]]:
    """check -> K -> {"duplicate": share of new people called `duplicate: true`, "possible":
    share flagged possible}, for `leads` new people each in a full postcode of K customers."""
    pool = list(people)
    random.Random(seed).shuffle(pool)
    new, known = pool[:leads], pool[leads:]
    out: dict[str, dict[str, dict[str, float]]] = {name: {} for name in checks}
    with tempfile.TemporaryDirectory() as tmp:
        for k in ks:
            store = SqliteDuplicateStore(Path(tmp) / f"k{k}.sqlite")
            sync_customer_identities(store, customer_blocks(placed(known, k), KEY).blocks)
            full = len(known) // k
            rng = random.Random(seed + k)
            codes = [_postcode(rng.randrange(full)) for _ in new]
            for name, cfg in checks.items():
                out[name][str(k)] = _rates(store, cfg, new, codes)
    return out


def _rates(
    store: SqliteDuplicateStore,
    cfg: MatchConfig,
    new: Sequence[Mapping[str, str | None]],
    codes: Sequence[str],
) -> dict[str, float]:
    check = DuplicateCheck(store, KEY, TTL, cfg)
    possible = 0
    hits: list[float] = []
    for i, (p, code) in enumerate(zip(new, codes, strict=True)):
        who = LeadIdentity(
            first_name=p["given_name"], last_name=p["surname"], postcode=code, country="au"
        )
        state = check.lookup(CleanLead({}, None, f"lead{i}", who))
        if state.hit is not None:
            hits.append(state.hit.confidence)
        possible += state.possible is not None
    out = {"duplicate": len(hits) / len(new), "possible": possible / len(new)}
    for cut in CUTS:
        if cut >= cfg.duplicate_threshold:
            out[f"duplicate_at_{cut}"] = sum(c >= cut for c in hits) / len(new)
    return out


def merge_table(rates: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list[list[Any]]:
    """Rows for a page: per check, per K, the share merged (and flagged possible)."""
    return [
        [name, *(f"{v['duplicate']:.1%} ({v['possible']:.1%})" for v in by_k.values())]
        for name, by_k in rates.items()
    ]


def main() -> int:
    people = febrl_people()
    rates = merge_rates(people)
    print(f"{len(people):,} people; duplicate (possible) per K customers in the postcode")
    for row in merge_table(rates):
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
