"""The looser rules bench/dedup_febrl_relax.py measures (what closing the rest of the Febrl gap
would take): each accepts the reading it names, and none what contradicts the identity."""

from __future__ import annotations

from bench.dedup_febrl_relax import RELAXATIONS, relaxed_link
from leadgen.duplicates.matching import Comparison


def _c(name: str, locality: str, street: str = "different", org: str = "unknown") -> Comparison:
    return Comparison(name, org, "unknown", "same", street, locality)  # type: ignore[arg-type]


def test_each_relaxation_is_the_reading_it_names() -> None:
    r1, r2, r3, r4 = (rule for _, rule in RELAXATIONS.values())
    assert r1(_c("surname_only", "same/unknown")) and not r1(_c("surname_only", "near/same"))
    assert not r1(_c("surname_only", "same/same", org="different"))  # another employer
    assert r2(_c("exact", "near/unknown")) and not r2(_c("surname_only", "near/unknown"))
    assert r3(_c("first_only", "near/unknown")) and not r3(_c("none", "near/unknown"))
    assert r4(_c("none", "same/same", street="dwelling")) and not r4(_c("none", "same/same"))


def test_a_relaxed_link_is_the_best_candidate_the_rule_accepts() -> None:
    scored = [(3.0, "c1", _c("none", "same/same")), (1.0, "c2", _c("surname_only", "same/same"))]
    r1 = RELAXATIONS["R1"][1]
    assert relaxed_link(None, scored, r1) == "c2"
    assert relaxed_link("c9", scored, r1) == "c9"  # the check's own duplicate stands
    assert relaxed_link(None, scored[:1], r1) is None
