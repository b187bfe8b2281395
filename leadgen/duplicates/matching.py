"""Fuzzy duplicate matching: a lead against the candidates its blocking keys fetched.

Fellegi-Sunter with seven comparisons, each reduced to a few levels:

    name      exact | nickname | typo (one edit) | swapped | similar (Jaro-Winkler) |
              surname only | first only | first blank | surname blank | none
    org       same domain | same company | similar company | different | unknown
    phone     same | same but shared (a switchboard) | different | unknown
    country   same | different | unknown
    street    dwelling (house number and street) | dwelling, number one edit off | street only |
              number only (the street's name another) | different | unknown
    locality  postcode x city: same | near (postcode one edit off, city similar) | different |
              unknown, each pair its own weight (the two say much the same thing)
    dob       same | one part off | different | unknown

Each level weighs log2(m/u) bits: m = how often the level is seen when lead and candidate are one
person, u = when they are two people. The evidence adds up and becomes one confidence,

    confidence = 1 / (1 + 2^-(prior + sum of the weights)),

and `matched_on` lists the comparisons that counted for the match. rapidfuzz does the string
work on names (OSA distance for one-edit typos, Jaro-Winkler for similar names, token-set ratio
for similar company names); nicknames are a table (leadgen.duplicates.word_lists). Addresses
and birth dates are compared as digests (leadgen.duplicates.address: equal, one edit off,
bigram overlap), never in clear. The weights are fixed here and reviewed with the u and m that
the benches measure: bench/fuzzy_bench.py on generated data (bench/FUZZY.md) and
bench/dedup_febrl.py on the public Febrl data (bench/DEDUP_FEBRL.md); they are not refitted
silently on every build.

Names, postcode and country are also weighed by the export's own term frequencies (splink's
approach): the build counts, per stored person, how many people share their first name, surname,
postcode and country, and how many live one postcode edit away (normalise.Counts). u is then the
value's share of the export and the weight log2(m / u), with m fixed and documented below and the
prior the odds of one given person of the export; a rare surname agreeing weighs far more than
"smith", the same postcode less where the CRM holds many people in it. With counts, one name
agreeing with nothing against it may make a duplicate when it is rare enough for the place
(`identity_agrees`). Without counts (a lead entry, a store an older build wrote, an export of
fewer than TF_MIN_PEOPLE people, or an org on both sides) the fixed weights decide.

Where independence fails, rules (in `MatchConfig.bits` and `best_match`):
* "duplicate" needs the names to agree (exact, nickname, typo, swapped, similar; similar not
  between people of one org): org and phone are correlated for colleagues (one domain, one
  switchboard), which independence ignores.
  One exception, the household (`MatchConfig.household`, on by default): one name agreeing
  (the other different, or blank on one side: blank is unknown, never disagreement) at the same
  dwelling (house number and street, in the same postcode or city; either of the two one typo
  off, `at_dwelling`) or with the same birth date,
  when nothing contradicts the identity (`contradicted`: an org on both sides, one shared or
  another; another birth date; another personal phone). A lead at a customer's home with the
  customer's surname is the same household, already known (docs/duplicates.md: the trade-off
  and the strict setting, both names required). Where counts weigh the names, one name agreeing
  with nothing contradicting it and no other street is left to the confidence: its rarity in
  the lead's place decides;
* colleagues share an office: when the org agrees, the address adds at most ADDRESS_AT_ORG bits;
* one-to-one: different people matching about equally well (two John Smiths at one company)
  share the odds, so neither is a duplicate on its own; the lead is then a "possible" one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from math import log2
from typing import Final, Literal

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from leadgen.duplicates.address import near, one_typo, overlap, same, swapped
from leadgen.duplicates.normalise import Counts, Entry, EntryKind, Identity, first_groups
from leadgen.names import DUPLICATE_THRESHOLD, POSSIBLE_THRESHOLD

NameLevel = Literal[
    "exact", "nickname", "typo", "swapped", "similar", "surname_only", "first_only",
    "first_blank", "surname_blank", "none",
]  # fmt: skip
OrgLevel = Literal["domain", "company", "company_similar", "different", "unknown"]
PhoneLevel = Literal["same", "same_shared", "different", "unknown"]
CountryLevel = Literal["same", "different", "unknown"]
StreetLevel = Literal["dwelling", "dwelling_near", "street", "number", "different", "unknown"]
PostcodeLevel = Literal["same", "near", "different", "unknown"]
CityLevel = Literal["same", "similar", "different", "unknown"]
DobLevel = Literal["same", "near", "different", "unknown"]

TYPO_MIN_LEN: Final = 3  # "Li" -> "Lu" is another name, not a typo
SIMILAR_NAME: Final = 0.88  # Jaro-Winkler from which two names of 3+ letters are "similar"
SIMILAR_EDITS: Final = 2  # ... if at most this many edits apart (`_similar`)
SIMILAR_PLACE: Final = 0.7  # bigram overlap from which two street or city names are similar
SHARED_PHONE: Final = 2  # a number given by two different people is not a personal number
SIMILAR_COMPANY: Final = 90.0  # rapidfuzz token_set_ratio from which two names are "similar"
RIVAL_BITS: Final = 6.0  # candidates this close to the best share its odds (one-to-one rule)
ADDRESS_AT_ORG: Final = 2.0  # what a shared address adds for people of one org (the office)
NAMES_AGREE: Final[frozenset[str]] = frozenset({"exact", "nickname", "typo", "swapped", "similar"})
ONE_NAME: Final[frozenset[str]] = frozenset(
    {"surname_only", "first_only", "first_blank", "surname_blank"}
)
SHARED_ORG: Final[frozenset[str]] = frozenset({"domain", "company", "company_similar"})

# Weights in bits per level. Where independence fails they are set on purpose ("rule"):
# a nickname, a typo or a similar spelling is capped under an exact name; surname-only is the
# colleague or relative signature and must outweigh a shared company and phone; a similar
# company name is often another company ("Acme Soft" vs "Acme Soft Partners"); a shared number
# is a switchboard; a blank name is no evidence either way.
NAME_WEIGHTS: Final[Mapping[str, float]] = {
    "exact": 11.5, "nickname": 10.5, "typo": 11.0, "swapped": 10.5, "similar": 8.5,
    "surname_only": -8.0, "first_only": -4.0, "first_blank": 0.0, "surname_blank": -2.0,
    "none": -14.0,
}  # fmt: skip
# One name agreeing where the household rule corroborates it (`corroborated`): replaces the
# name weight above, so that the dwelling's own weight decides (the rule in the module doc).
ONE_NAME_CORROBORATED: Final[Mapping[str, float]] = {
    "surname_only": -1.0, "first_only": -1.0, "first_blank": 1.0, "surname_blank": 0.0,
}  # fmt: skip
ORG_WEIGHTS: Final[Mapping[str, float]] = {
    "domain": 12.5, "company": 10.0, "company_similar": 4.0, "different": -4.5, "unknown": 0.0,
}  # fmt: skip
PHONE_WEIGHTS: Final[Mapping[str, float]] = {
    "same": 12.0, "same_shared": 2.0, "different": -2.0, "unknown": 0.0,
}  # fmt: skip
COUNTRY_WEIGHTS: Final[Mapping[str, float]] = {"same": 2.5, "different": -4.5, "unknown": 0.0}
# "number": the house number the same, the street's name another (not similar). One person's
# two records show it where a street name was replaced or garbled beyond a typo; two people in
# one place by the chance that their numbers coincide. Neither is common, so it weighs nothing
# either way, but it is not "another street": a relative a few streets away rarely has the same
# number (`one_name_counts`).
STREET_WEIGHTS: Final[Mapping[str, float]] = {
    "dwelling": 12.0, "dwelling_near": 8.0, "street": 4.0, "number": 0.0, "different": -3.0,
    "unknown": 0.0,
}  # fmt: skip
# Postcode and city, as a pair: a same postcode and a same city are mostly one fact.
LOCALITY_WEIGHTS: Final[Mapping[str, float]] = {
    "same/same": 11.5, "same/similar": 11.0, "same/unknown": 10.5, "same/different": 9.0,
    "near/same": 9.0, "near/similar": 6.0, "near/unknown": 3.5, "near/different": 1.0,
    "different/same": 2.0, "different/similar": 0.0, "different/unknown": -3.0,
    "different/different": -4.0, "unknown/same": 8.0, "unknown/similar": 3.0,
    "unknown/unknown": 0.0, "unknown/different": -3.0,
}  # fmt: skip
DOB_WEIGHTS: Final[Mapping[str, float]] = {
    "same": 11.0, "near": 4.0, "different": -6.0, "unknown": 0.0,
}  # fmt: skip
# The odds, before any evidence, that a lead is one given candidate its keys fetched.
PRIOR_BITS: Final = -14.5

# ---- term frequencies: the weights of names and postcodes from the export's own counts ----------
# A candidate entry carries how many of the export's people share its first name, surname and
# postcode (normalise.Counts, counted by the build). A value's share of the people is its u, the
# chance that a new person agrees on it by coincidence, so an agreeing name weighs
# log2(m / share): a rare surname far more than "smith", and a postcode less where the CRM holds
# many people in it. The prior then is the odds of one given person of N, log2(KNOWN_SHARE / N),
# so that N cancels: what decides is how many people of this CRM share the value, not its size.
# Below TF_MIN_PEOPLE every name is one or two people and a share says nothing: the fixed weights.
TF_MIN_PEOPLE: Final = 1000
MIN_SHARE: Final = 1e-6  # no value is taken as rarer than one in a million (a typo is unique too)
# Of the leads, the share that are someone in the export: an upper bound (most leads are new).
KNOWN_SHARE: Final = 0.5
# m: how often one person's two records show the level, set by hand (not fitted): both names
# exact; the surname alone (the first name another: a middle name used, a nickname outside the
# table, a typo beyond one edit; a relative's, when it is another person); the first name alone
# (a surname changed by marriage, mistyped beyond one edit); one name agreeing where the other is
# blank on one side (a blank is unknown: the agreeing name is all the evidence, so its m).
# The other levels where both names agree keep their distance in bits below "exact".
M_EXACT: Final = 0.85
M_ONE_NAME: Final[Mapping[str, float]] = {
    "surname_only": 0.04, "first_only": 0.04, "first_blank": 0.9, "surname_blank": 0.9,
}  # fmt: skip
_SURNAME_LEVELS: Final = frozenset({"surname_only", "first_blank"})  # the surname agrees
M_POSTCODE: Final = 0.9  # the same postcode on one person's two records
M_POSTCODE_NEAR: Final = 0.05  # one edit off (a typo, a transposition) on one person's two
# Of those, two adjacent characters swapped ("4380" / "4830"): about one digit-entry error in ten
# (transpositions are the second commonest after single substitutions in typed codes). Where the
# counts say how many people live one swap away, a swapped code weighs by that and the other
# one-edit codes by the rest of M_POSTCODE_NEAR.
M_POSTCODE_SWAPPED: Final = 0.1 * M_POSTCODE_NEAR
# Neither the same nor one edit off (the person moved, or more than one typo): what is left of
# one person's records, so that the three postcode levels' m add up to one.
M_POSTCODE_ELSEWHERE: Final = 1.0 - M_POSTCODE - M_POSTCODE_NEAR
M_COUNTRY: Final = 0.95  # the same country on one person's two records


@dataclass(frozen=True)
class MatchConfig:
    """The two thresholds (ServiceConfig sets them) and the weights (fixed, see above)."""

    duplicate_threshold: float = DUPLICATE_THRESHOLD  # duplicate: true (a customer: unscored)
    possible_threshold: float = POSSIBLE_THRESHOLD  # the "possible" band below it: scored
    prior: float = PRIOR_BITS
    # The names rule (identity_agrees) on top of the confidence; off only where a bench measures
    # what it costs (bench/dedup_febrl.py).
    names_rule: bool = True
    # The household reading of one name at the same dwelling (`corroborated`); False: both names
    # must agree (ServiceConfig.dup_names = "strict").
    household: bool = True
    # Names and postcode weighed by the export's counts where the candidate carries them (above);
    # False: the fixed weights everywhere (what a bench compares against).
    term_frequencies: bool = True
    weights: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {
            "name": NAME_WEIGHTS,
            "org": ORG_WEIGHTS,
            "phone": PHONE_WEIGHTS,
            "country": COUNTRY_WEIGHTS,
            "street": STREET_WEIGHTS,
            "locality": LOCALITY_WEIGHTS,
            "dob": DOB_WEIGHTS,
        }
    )

    def bits(self, c: Comparison) -> float:
        w = self.weights
        counted = self.counted(c)
        name = name_bits(c, w["name"], counted)
        if self.household and corroborated(c):  # the dwelling or birth date decides
            household = ONE_NAME_CORROBORATED[c.name]
            name = household if counted is None else max(household, name)
        locality = locality_bits(c, w["locality"], counted)
        place = w["street"][c.street] + locality
        if c.org in SHARED_ORG:
            place = min(place, ADDRESS_AT_ORG)  # colleagues share the office's address
        prior = self.prior if counted is None else log2(KNOWN_SHARE / counted.people)
        return (prior + name + w["org"][c.org] + w["phone"][c.phone]
                + country_bits(c, w["country"], counted) + place + w["dob"][c.dob])  # fmt: skip

    def counted(self, c: Comparison) -> Counts | None:
        """The candidate's counts when the export's frequencies weigh this comparison: counts
        stored (not a lead entry, not an old store), from enough people to mean something, and
        no org shared. At one org a name's share of the whole export is not its share among the
        org's people (a family firm, one region's names, colleagues and their namesakes), so
        there the fixed weights, reviewed on colleagues (bench/FUZZY.md), decide."""
        k = c.counts
        if not self.term_frequencies or k is None or k.people < TF_MIN_PEOPLE:
            return None
        return None if c.org in SHARED_ORG else k


@dataclass(frozen=True, slots=True)
class Comparison:
    name: NameLevel
    org: OrgLevel
    phone: PhoneLevel
    country: CountryLevel
    street: StreetLevel = "unknown"
    locality: str = "unknown/unknown"  # "<postcode level>/<city level>"
    dob: DobLevel = "unknown"
    counts: Counts | None = None  # the candidate's (normalise.Counts), None: fixed weights
    postcode_swapped: bool = False  # "near" by two adjacent characters swapped


def _share(n: int, people: int) -> float:
    return max(max(n, 1) / people, MIN_SHARE)


def name_bits(c: Comparison, fixed: Mapping[str, float], counted: Counts | None) -> float:
    """The name's weight: log2(m / u) with u the agreeing names' shares of the export (both
    names: the product; one name: its share) where `counted`, else the fixed weight.

    One name agreeing is weighed so only where nothing says another person (`one_name_counts`):
    at one org, with another birth date or personal phone, or another street, it is the
    colleague's or the relative's signature and keeps its fixed, negative weight."""
    if counted is None:
        return fixed[c.name]
    first, last = (_share(n, counted.people) for n in (counted.first, counted.last))
    if c.name in NAMES_AGREE:
        return log2(M_EXACT / (first * last)) + fixed[c.name] - fixed["exact"]
    if c.name in M_ONE_NAME and one_name_counts(c):
        return log2(M_ONE_NAME[c.name] / (last if c.name in _SURNAME_LEVELS else first))
    return fixed[c.name]


def one_name_counts(c: Comparison) -> bool:
    """One name agreeing may weigh by its rarity: nothing contradicts the identity and the
    street, where both give one, is not another (a relative a few streets away), unless the
    birth date is the same (the person moved)."""
    if c.name not in M_ONE_NAME or contradicted(c):
        return False
    return c.street != "different" or c.dob == "same"


def locality_bits(c: Comparison, fixed: Mapping[str, float], counted: Counts | None) -> float:
    """The same postcode weighs log2(m / the postcode's share of the export) where `counted`
    (less where the CRM holds many people in it), a postcode one edit off log2(m / the share
    of the people one edit from the candidate's: many where codes are dense; where the counts
    hold it, a swap of two adjacent characters by the few people one swap away and M_POSTCODE_
    SWAPPED, any other edit by the rest of the m), another postcode log2(m / the share of
    everyone else), each plus what the city adds in the fixed table; without counts, or without
    a postcode on both sides, the fixed weight.

    The three m add up to one, as the shares do: weighed so, another postcode says about -4.3
    bits against a rare full name, where the fixed table's -3 let two namesakes in different
    postcodes merge (bench/DEDUP_FEBRL.md, "What the check merges")."""
    code = c.locality.split("/", 1)[0]
    if counted is None or code not in ("same", "near", "different") or not counted.postcode:
        return fixed[c.locality]
    if code == "same":
        share, m = _share(counted.postcode, counted.people), M_POSTCODE
    elif code == "near":
        share, m = _near(c.postcode_swapped, counted)
    else:
        rest = counted.people - counted.postcode - counted.near
        share, m = _share(rest, counted.people), M_POSTCODE_ELSEWHERE
    return log2(m / share) + fixed[c.locality] - fixed[f"{code}/unknown"]


def _near(swap: bool, counted: Counts) -> tuple[float, float]:
    """(u, m) of a postcode one edit off: by the people one swap away where the counts hold
    them and the lead's code is the candidate's swapped, by the people one edit away else."""
    if counted.swapped is None:
        return _share(counted.near, counted.people), M_POSTCODE_NEAR
    if swap:
        return _share(counted.swapped, counted.people), M_POSTCODE_SWAPPED
    return _share(counted.near, counted.people), M_POSTCODE_NEAR - M_POSTCODE_SWAPPED


def country_bits(c: Comparison, fixed: Mapping[str, float], counted: Counts | None) -> float:
    """The same country weighs log2(m / its share of the export) where `counted`: nothing in a
    CRM of one country, where every pair agrees on it."""
    if counted is None or c.country != "same" or not counted.country:
        return fixed[c.country]
    return log2(M_COUNTRY / _share(counted.country, counted.people))


def contradicted(c: Comparison) -> bool:
    """Evidence that says another person whatever a name says: an org known on both sides
    (another one: another person; the same one: colleagues, who share an office address),
    another birth date, another personal phone."""
    return c.org != "unknown" or c.dob == "different" or c.phone == "different"


def at_dwelling(c: Comparison) -> bool:
    """The same house number and street, in the same postcode or the same city, or a dwelling
    one typo off there: the number one edit off on the same street ("34" / "43"), or the street
    one edit off at the same number (`street_level`): one typo in the address is read as the
    customer's household mistyped, as one typo in a name is read as the person (the cost, a
    relative a few doors away: docs/duplicates.md)."""
    code, town = c.locality.split("/", 1)
    return c.street in ("dwelling", "dwelling_near") and "same" in (code, town)


def corroborated(c: Comparison) -> bool:
    """The household rule: one name agrees (the other different, or blank on one side) at the
    same dwelling or with the same birth date, and nothing contradicts the identity."""
    if c.name not in ONE_NAME or contradicted(c):
        return False
    return c.dob == "same" or at_dwelling(c)


def identity_agrees(c: Comparison, household: bool = True, counted: bool = False) -> bool:
    """What a duplicate needs besides its confidence: the names agree, or (`household`) one does
    and is corroborated, or (`household` and `counted`: the export's counts weigh the names) one
    does with nothing against it (`one_name_counts`): then its rarity decides through the
    confidence, so a rare surname in the same postcode can be a duplicate and "smith" cannot.
    At one org a similar spelling is no agreement: "Joseph Nakata" and "Joseph Nakahara" at one
    company are colleagues as often as one person misspelt."""
    if c.name == "similar" and c.org in SHARED_ORG:
        return False
    if c.name in NAMES_AGREE:
        return True
    return household and (corroborated(c) or (counted and one_name_counts(c)))


def _typo(a: str, b: str) -> bool:
    """One edit apart: a substitution, insertion, deletion or adjacent transposition."""
    if min(len(a), len(b)) < TYPO_MIN_LEN or abs(len(a) - len(b)) > 1:
        return False
    return OSA.distance(a, b, score_cutoff=1) <= 1


def _similar(a: str, b: str) -> bool:
    """Two spellings of one name: Jaro-Winkler close and at most SIMILAR_EDITS edits apart
    ("meadows" / "meadowts", "lachlan" / "lachoan"). Jaro-Winkler alone rewards a shared start,
    so "green" and "greenhalgh" would agree, and the rarer name's count would weigh the match."""
    if min(len(a), len(b)) < TYPO_MIN_LEN:
        return False
    if a == b:
        return True
    if OSA.distance(a, b, score_cutoff=SIMILAR_EDITS) > SIMILAR_EDITS:
        return False
    return JaroWinkler.similarity(a, b, score_cutoff=SIMILAR_NAME) > 0


def _first_equal(a: str, b: str) -> int:
    """2 = the same name, 1 = nickname-equal, 0 = different."""
    if a == b:
        return 2
    return 1 if set(first_groups(a)) & set(first_groups(b)) else 0


def name_level(lead: Identity, cand: Identity) -> NameLevel:
    lf, ll, cf, cl = lead.first, lead.last, cand.first, cand.last
    if not (lf and ll and cf and cl):
        return _blank_level(lf, ll, cf, cl)
    first = _first_equal(lf, cf)
    if first and ll == cl:
        return "exact" if first == 2 else "nickname"
    if (first and _typo(ll, cl)) or (ll == cl and _typo(lf, cf)):
        return "typo"
    if (ll == cf and _first_equal(lf, cl)) or (lf == cl and _first_equal(ll, cf)):
        return "swapped"  # on either side: the customer may be the one entered "Smith John"
    if (first or _similar(lf, cf)) and _similar(ll, cl):
        return "similar"
    if _similar(lf, cl) and _similar(ll, cf):
        return "similar"  # swapped, and misspelt
    if _similar(ll, cl) or _similar(lf, cl) or _similar(ll, cf):
        return "surname_only"  # one surname agrees, straight or across a swap
    return "first_only" if first or _similar(lf, cf) else "none"


def _blank_level(lf: str, ll: str, cf: str, cl: str) -> NameLevel:
    """A name missing on one side is no disagreement, and no agreement either."""
    if ll and cl and _similar(ll, cl) and not (lf and cf):
        return "first_blank"
    if lf and cf and (_first_equal(lf, cf) or _similar(lf, cf)) and not (ll and cl):
        return "surname_blank"
    return "none"


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


def street_level(lead: Identity, cand: Identity) -> StreetLevel:
    a, b = lead.place, cand.place
    if not (a.street and b.street):
        return "unknown"
    if not (
        same(a.street, b.street)
        or overlap(a.street, b.street) >= SIMILAR_PLACE
        or one_typo(a.street, b.street)
    ):
        return "number" if a.number and same(a.number, b.number) else "different"
    if same(a.number, b.number):
        return "dwelling"
    return "dwelling_near" if near(a.number, b.number) else "street"


def locality_level(lead: Identity, cand: Identity) -> str:
    """ "<postcode>/<city>": each same, near or similar, different or unknown."""
    a, b = lead.place, cand.place
    if not (a.postcode and b.postcode):
        code = "unknown"
    else:
        code = (
            "same"
            if same(a.postcode, b.postcode)
            else "near"
            if near(a.postcode, b.postcode)
            else "different"
        )
    if not (a.city and b.city):
        town = "unknown"
    elif same(a.city, b.city):
        town = "same"
    else:
        town = "similar" if overlap(a.city, b.city) >= SIMILAR_PLACE else "different"
    return f"{code}/{town}"


def dob_level(lead: Identity, cand: Identity) -> DobLevel:
    a, b = lead.place.dob, cand.place.dob
    if not (a and b):
        return "unknown"
    return "same" if same(a, b) else "near" if near(a, b) else "different"


def compare(lead: Identity, cand: Entry) -> Comparison:
    locality = locality_level(lead, cand.who)
    return Comparison(
        name_level(lead, cand.who),
        org_level(lead, cand.who),
        phone_level(lead, cand),
        country_level(lead, cand.who),
        street_level(lead, cand.who),
        locality,
        dob_level(lead, cand.who),
        cand.counts,
        # only a code one edit off can be a swap: the sets are built for those alone
        locality.startswith("near/") and swapped(lead.place.postcode, cand.who.place.postcode),
    )


_EVIDENCE: Final[Mapping[tuple[str, str], str]] = {
    ("name", "exact"): "name", ("name", "nickname"): "name:nickname",
    ("name", "typo"): "name:typo", ("name", "swapped"): "name:swapped",
    ("name", "similar"): "name:similar", ("org", "domain"): "email_domain",
    ("org", "company"): "company", ("org", "company_similar"): "company:similar",
    ("phone", "same"): "phone", ("phone", "same_shared"): "phone:shared",
    ("country", "same"): "country", ("street", "dwelling"): "street",
    ("street", "dwelling_near"): "street:number_near", ("street", "street"): "street:name",
    ("dob", "same"): "dob", ("dob", "near"): "dob:near",
}  # fmt: skip
_ONE_NAME_EVIDENCE: Final[Mapping[str, str]] = {
    "surname_only": "surname", "first_blank": "surname", "first_only": "first_name",
    "surname_blank": "first_name",
}  # fmt: skip
_LOCALITY_EVIDENCE: Final[Mapping[str, str]] = {
    "same": "postcode", "near": "postcode:near", "same_city": "city", "similar": "city:similar",
}  # fmt: skip


def matched_on(c: Comparison, cfg: MatchConfig) -> list[str]:
    """The comparisons that counted for the match: ["name:nickname", "company", "country"]."""
    levels = (("name", c.name), ("org", c.org), ("phone", c.phone), ("country", c.country),
              ("street", c.street), ("dob", c.dob))  # fmt: skip
    found = [
        _EVIDENCE[(comp, lv)]
        for comp, lv in levels
        if cfg.weights[comp][lv] > 0 and (comp, lv) in _EVIDENCE
    ]
    if identity_agrees(c, cfg.household, cfg.counted(c) is not None) and c.name in ONE_NAME:
        found.insert(0, _ONE_NAME_EVIDENCE[c.name])
    if cfg.weights["locality"][c.locality] > 0:
        code, town = c.locality.split("/")
        found += [_LOCALITY_EVIDENCE[x] for x in (code, "same_city" if town == "same" else town)
                  if x in _LOCALITY_EVIDENCE]  # fmt: skip
    return found


@dataclass(frozen=True, slots=True)
class Match:
    """The best candidate, at or above the possible band."""

    ref: str
    kind: EntryKind
    confidence: float
    matched_on: tuple[str, ...]
    duplicate: bool  # above the duplicate threshold (and identity_agrees); else "possible"
    candidates: int  # how many were compared: loggable, unlike what they were
    stage: str = ""  # the export's stage text of a CRM record


@dataclass(frozen=True, slots=True)
class _Scored:
    bits: float
    entry: Entry
    comparison: Comparison


def best_match(
    lead: Identity, candidates: Iterable[Entry], cfg: MatchConfig | None = None
) -> Match | None:
    """The most likely known person behind `lead`, or None below the possible band.

    A customer wins a tie with a record of the export that is not one, and both with a lead
    entry (the same person scored before and since converted). Candidates must already be live
    (stores drop expired lead entries)."""
    cfg = cfg or MatchConfig()
    scored = _score_all(lead, candidates, cfg)
    if not scored:
        return None
    best = scored[0]
    confidence, any_of_them = _one_to_one(best, scored[1:])
    counted = cfg.counted(best.comparison) is not None
    agrees = identity_agrees(best.comparison, cfg.household, counted) or not cfg.names_rule
    if confidence >= cfg.duplicate_threshold and agrees:
        duplicate = True
    elif max(confidence, min(any_of_them, cfg.duplicate_threshold)) >= cfg.possible_threshold:
        duplicate = False  # below the threshold, ambiguous, or the names disagree
    else:
        return None
    evidence = tuple(matched_on(best.comparison, cfg))
    e = best.entry
    return Match(e.ref, e.kind, round(confidence, 4), evidence, duplicate, len(scored), e.stage)


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
    out.sort(key=lambda s: (s.bits, _TIE_ORDER[s.entry.kind]), reverse=True)
    return out


_TIE_ORDER: Final[Mapping[str, int]] = {"customer": 2, "non_customer": 1, "lead": 0}


def _one_to_one(best: _Scored, others: list[_Scored]) -> tuple[float, float]:
    """(P(the lead is `best`), P(it is `best` or one of its rivals)).

    The lead is at most one known person, so the export's records about as good as the best that
    are other people share its odds: P(best) = O_b / (1 + sum O). Lead entries are no rivals:
    each was judged new when recorded, so two close lead entries are one person."""
    odds = 2.0**best.bits
    rivals = sum(
        2.0**s.bits
        for s in others
        if s.bits > best.bits - RIVAL_BITS
        and s.entry.kind != "lead"
        and not _same_person(best.entry, s.entry)
    )
    return odds / (1.0 + odds + rivals), (odds + rivals) / (1.0 + odds + rivals)


def _same_person(a: Entry, b: Entry) -> bool:
    """Entries that are one person do not compete: a lead and a customer with one name at one org
    or one dwelling (the lead converted), or two entries with one name and one personal phone
    (the CRM holds the person under two mailboxes)."""
    if (a.who.first, a.who.last) != (b.who.first, b.who.last):
        return False
    if a.who.phone and a.who.phone == b.who.phone and a.phone_n < SHARED_PHONE:
        return True
    lead_and_record = (a.kind == "lead") != (b.kind == "lead")
    pa, pb = a.who.place, b.who.place
    home = same(pa.street, pb.street) and same(pa.number, pb.number)
    return lead_and_record and (bool(set(a.who.orgs()) & set(b.who.orgs())) or home)
