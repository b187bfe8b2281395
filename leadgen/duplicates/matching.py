"""Fuzzy duplicate matching: a lead against the candidates its blocking keys fetched.

Fellegi-Sunter with four comparisons, each reduced to a few levels:

    name     exact | nickname | typo (one edit) | swapped | surname only | first only | none
    org      same domain | same company | similar company | different | unknown
    phone    same | same but shared (a switchboard) | different | unknown
    country  same | different | unknown

Each level weighs log2(m/u) bits: m = how often the level is seen when lead and candidate are one
person, u = when they are two people. The evidence adds up and becomes one confidence,

    confidence = 1 / (1 + 2^-(prior + w_name + w_org + w_phone + w_country)),

and `matched_on` lists the comparisons that counted for the match. rapidfuzz does the string
work (OSA distance for one-edit typos, token-set ratio for similar company names); nicknames are
a table (leadgen.duplicates.word_lists). The weights are fixed here and reviewed with the u and m
that bench/fuzzy_bench.py measures on generated data (bench/FUZZY.md); they are not refitted
silently on every build.

Two rules independence cannot give (both in `best_match`):
* "duplicate" needs the names to agree (exact, nickname, typo, swapped): org and phone are
  correlated for colleagues (one domain, one switchboard), which independence ignores;
* one-to-one: different people matching about equally well (two John Smiths at one company)
  share the odds, so neither is a duplicate on its own; the lead is then a "possible" one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from leadgen.duplicates.normalise import Entry, EntryKind, Identity, first_groups

NameLevel = Literal["exact", "nickname", "typo", "swapped", "surname_only", "first_only", "none"]
OrgLevel = Literal["domain", "company", "company_similar", "different", "unknown"]
PhoneLevel = Literal["same", "same_shared", "different", "unknown"]
CountryLevel = Literal["same", "different", "unknown"]

TYPO_MIN_LEN: Final = 3  # "Li" -> "Lu" is another name, not a typo
SHARED_PHONE: Final = 2  # a number given by two different people is not a personal number
SIMILAR_COMPANY: Final = 90.0  # rapidfuzz token_set_ratio from which two names are "similar"
RIVAL_BITS: Final = 6.0  # candidates this close to the best share its odds (one-to-one rule)
NAMES_AGREE: Final[frozenset[str]] = frozenset({"exact", "nickname", "typo", "swapped"})

# Weights in bits per level. Where independence fails they are set on purpose ("rule"):
# a nickname or a typo is capped under an exact name; surname-only is the colleague or relative
# signature and must outweigh a shared company and phone; a similar company name is often
# another company ("Acme Soft" vs "Acme Soft Partners"); a shared number is a switchboard.
NAME_WEIGHTS: Final[Mapping[str, float]] = {
    "exact": 11.5, "nickname": 10.5, "typo": 9.5, "swapped": 10.5, "surname_only": -8.0,
    "first_only": -4.0, "none": -14.0,
}  # fmt: skip
ORG_WEIGHTS: Final[Mapping[str, float]] = {
    "domain": 12.5, "company": 10.0, "company_similar": 4.0, "different": -4.5, "unknown": 0.0,
}  # fmt: skip
PHONE_WEIGHTS: Final[Mapping[str, float]] = {
    "same": 12.0, "same_shared": 2.0, "different": -2.0, "unknown": 0.0,
}  # fmt: skip
COUNTRY_WEIGHTS: Final[Mapping[str, float]] = {"same": 2.5, "different": -4.5, "unknown": 0.0}
# The odds, before any evidence, that a lead is one given candidate its keys fetched.
PRIOR_BITS: Final = -14.5


@dataclass(frozen=True)
class MatchConfig:
    """The two thresholds (ServiceConfig sets them) and the weights (fixed, see above)."""

    duplicate_threshold: float = 0.95  # duplicate: true, the lead is not scored
    possible_threshold: float = 0.60  # the "possible duplicate" band below it: scored, flagged
    prior: float = PRIOR_BITS
    weights: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {
            "name": NAME_WEIGHTS,
            "org": ORG_WEIGHTS,
            "phone": PHONE_WEIGHTS,
            "country": COUNTRY_WEIGHTS,
        }
    )

    def bits(self, c: Comparison) -> float:
        w = self.weights
        return (self.prior + w["name"][c.name] + w["org"][c.org] + w["phone"][c.phone]
                + w["country"][c.country])  # fmt: skip


@dataclass(frozen=True, slots=True)
class Comparison:
    name: NameLevel
    org: OrgLevel
    phone: PhoneLevel
    country: CountryLevel


def _typo(a: str, b: str) -> bool:
    """One edit apart: a substitution, insertion, deletion or adjacent transposition."""
    if min(len(a), len(b)) < TYPO_MIN_LEN or abs(len(a) - len(b)) > 1:
        return False
    return OSA.distance(a, b, score_cutoff=1) <= 1


def _first_equal(a: str, b: str) -> int:
    """2 = the same name, 1 = nickname-equal, 0 = different."""
    if a == b:
        return 2
    return 1 if set(first_groups(a)) & set(first_groups(b)) else 0


def name_level(lead: Identity, cand: Identity) -> NameLevel:
    lf, ll, cf, cl = lead.first, lead.last, cand.first, cand.last
    if not (lf and ll and cf and cl):
        return "none"
    first = _first_equal(lf, cf)
    if first and ll == cl:
        return "exact" if first == 2 else "nickname"
    if (first and _typo(ll, cl)) or (ll == cl and _typo(lf, cf)):
        return "typo"
    if (ll == cf and _first_equal(lf, cl)) or (lf == cl and _first_equal(ll, cf)):
        return "swapped"  # on either side: the customer may be the one entered "Smith John"
    if ll == cl or _typo(ll, cl):
        return "surname_only"
    return "first_only" if first else "none"


def org_level(lead: Identity, cand: Identity) -> OrgLevel:
    if lead.domain and lead.domain == cand.domain:
        return "domain"
    mine, theirs = set(lead.orgs()), set(cand.orgs())
    if not mine or not theirs:
        return "unknown"
    if mine & theirs:
        return "company"
    if (
        lead.company
        and cand.company
        and fuzz.token_set_ratio(lead.company, cand.company, score_cutoff=SIMILAR_COMPANY)
    ):
        return "company_similar"
    return "different"


def phone_level(lead: Identity, cand: Entry) -> PhoneLevel:
    if not lead.phone or not cand.who.phone:
        return "unknown"
    if lead.phone == cand.who.phone:
        return "same_shared" if cand.phone_n >= SHARED_PHONE else "same"
    # The lead's own number where the CRM holds a switchboard says nothing.
    return "different" if cand.phone_n < SHARED_PHONE else "unknown"


def country_level(lead: Identity, cand: Identity) -> CountryLevel:
    if not lead.country or not cand.country:
        return "unknown"
    return "same" if lead.country == cand.country else "different"


def compare(lead: Identity, cand: Entry) -> Comparison:
    return Comparison(
        name_level(lead, cand.who),
        org_level(lead, cand.who),
        phone_level(lead, cand),
        country_level(lead, cand.who),
    )


_EVIDENCE: Final[Mapping[tuple[str, str], str]] = {
    ("name", "exact"): "name", ("name", "nickname"): "name:nickname",
    ("name", "typo"): "name:typo", ("name", "swapped"): "name:swapped",
    ("org", "domain"): "email_domain", ("org", "company"): "company",
    ("org", "company_similar"): "company:similar", ("phone", "same"): "phone",
    ("phone", "same_shared"): "phone:shared", ("country", "same"): "country",
}  # fmt: skip


def matched_on(c: Comparison, cfg: MatchConfig) -> list[str]:
    """The comparisons that counted for the match: ["name:nickname", "company", "country"]."""
    levels = (("name", c.name), ("org", c.org), ("phone", c.phone), ("country", c.country))
    return [_EVIDENCE[(comp, lv)] for comp, lv in levels if cfg.weights[comp][lv] > 0]


@dataclass(frozen=True, slots=True)
class Match:
    """The best candidate, at or above the possible band."""

    ref: str
    kind: EntryKind
    confidence: float
    matched_on: tuple[str, ...]
    duplicate: bool  # above the duplicate threshold (and the names agree); else "possible"
    candidates: int  # how many were compared: loggable, unlike what they were


@dataclass(frozen=True, slots=True)
class _Scored:
    bits: float
    entry: Entry
    comparison: Comparison


def best_match(
    lead: Identity, candidates: Iterable[Entry], cfg: MatchConfig | None = None
) -> Match | None:
    """The most likely known person behind `lead`, or None below the possible band.

    A customer wins a tie with a lead entry (the same person scored before and since converted).
    Candidates must already be live (stores drop expired lead entries)."""
    cfg = cfg or MatchConfig()
    scored = _score_all(lead, candidates, cfg)
    if not scored:
        return None
    best = scored[0]
    confidence, any_of_them = _one_to_one(best, scored[1:])
    agree = best.comparison.name in NAMES_AGREE
    if confidence >= cfg.duplicate_threshold and agree:
        duplicate = True
    elif max(confidence, min(any_of_them, cfg.duplicate_threshold)) >= cfg.possible_threshold:
        duplicate = False  # below the threshold, ambiguous, or the names disagree
    else:
        return None
    evidence = tuple(matched_on(best.comparison, cfg))
    e = best.entry
    return Match(e.ref, e.kind, round(confidence, 4), evidence, duplicate, len(scored))


def _score_all(lead: Identity, candidates: Iterable[Entry], cfg: MatchConfig) -> list[_Scored]:
    """Every distinct candidate with its evidence, the best first (customers first on a tie)."""
    seen: set[tuple[str, str]] = set()
    out: list[_Scored] = []
    for e in candidates:
        if (e.kind, e.ref) in seen:
            continue
        seen.add((e.kind, e.ref))
        c = compare(lead, e)
        out.append(_Scored(cfg.bits(c), e, c))
    out.sort(key=lambda s: (s.bits, s.entry.kind == "customer"), reverse=True)
    return out


def _one_to_one(best: _Scored, others: list[_Scored]) -> tuple[float, float]:
    """(P(the lead is `best`), P(it is `best` or one of its rivals)).

    The lead is at most one known person, so customers about as good as the best that are other
    people share its odds: P(best) = O_b / (1 + sum O). Lead entries are no rivals: each was
    judged new when recorded, so two close lead entries are one person."""
    odds = 2.0**best.bits
    rivals = sum(
        2.0**s.bits
        for s in others
        if s.bits > best.bits - RIVAL_BITS
        and s.entry.kind == "customer"
        and not _same_person(best.entry, s.entry)
    )
    return odds / (1.0 + odds + rivals), (odds + rivals) / (1.0 + odds + rivals)


def _same_person(a: Entry, b: Entry) -> bool:
    """Entries that are one person do not compete: a lead and a customer with one name at one org
    (the lead converted), or two entries with one name and one personal phone (the CRM holds
    the person under two mailboxes)."""
    if (a.who.first, a.who.last) != (b.who.first, b.who.last):
        return False
    if a.who.phone and a.who.phone == b.who.phone and a.phone_n < SHARED_PHONE:
        return True
    return a.kind != b.kind and bool(set(a.who.orgs()) & set(b.who.orgs()))
