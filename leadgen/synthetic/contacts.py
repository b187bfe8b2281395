"""The `company` and `phone` columns of the synthetic CRM, and how people type them.

Companies are the ones the e-mail domains already imply: every person draws a company prefix and
an industry word ("northwind" + "capital" -> northwindcapital.com), free-mail users included, so
a person's work address and company agree. A company has a fixed descriptor (Group,
International, "& Partners", ...) and a legal form per country (Inc./LLC/Corp., Ltd/PLC,
GmbH/AG, S.A. de C.V., ...), the same in every generated CRM. A CRM row carries the canonical
spelling or, one time in four, a variant: the legal form respelt or dropped, the descriptor
abbreviated or dropped, "&" / "and", "The", squeezed words, punctuation, case.

Phones: 70% of people have one; a fifth of those give their company's switchboard (shared by
colleagues in the same country), the rest a personal number; each row writes it in one of the
country's common formats (E.164, "+1 (555) 123-4567", "555.123.4567", trunk 0, 00 prefix,
extensions). The country tables follow the order of the generator's countries.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
from numpy.typing import NDArray

IntArr = NDArray[np.int64]

# Company-domain words per industry (the generator's industry order): "northwindcapital.com".
INDUSTRY_SUFFIXES: Final = (
    ("soft", "labs", "ai", "cloud", "systems"),
    ("capital", "bank", "financial", "partners"),
    ("stores", "shop", "brands", "outlet"),
    ("industries", "works", "manufacturing", "steel"),
    ("health", "medical", "care", "bio"),
    ("academy", "learning", "university", "school"),
    ("media", "studios", "news", "digital"),
    ("logistics", "freight", "shipping", "transport"),
    ("realty", "properties", "estates", "homes"),
    ("telecom", "networks", "mobile", "connect"),
    ("energy", "power", "solar", "grid"),
    ("gov", "council", "agency", "publicworks"),
)
COMPANY_PREFIXES: Final = (
    "acme", "northwind", "globex", "initech", "umbrella", "stark", "hooli", "vandelay", "soylent",
    "cyberdyne", "tyrell", "wonka", "aperture", "blueriver", "redwood", "silverline", "brightpath",
    "ironbridge", "clearwater", "summit", "pioneer", "evergreen", "bluepeak", "nimbus", "quantum",
    "vertex", "atlas", "orion", "polaris", "zenith", "crescent", "harbor", "keystone", "lighthouse",
    "maple", "oakridge", "pinnacle", "sterling", "granite", "meridian",
)  # fmt: skip

_WORD_DISPLAY: Final = {"ai": "AI", "publicworks": "Public Works", "gov": "Gov"}
# (descriptor, weight): "& Partners" is part of a name; the others are descriptors people drop.
_DESCRIPTORS: Final = (
    ("", 0.55), ("Group", 0.10), ("International", 0.08), ("Technologies", 0.06),
    ("Holdings", 0.05), ("Solutions", 0.05), ("Global", 0.04), ("& Partners", 0.04),
    ("& Sons", 0.03),
)  # fmt: skip
_DESCRIPTOR_ABBREVIATIONS: Final = {
    "International": ("Intl", "Int'l", "Intl."),
    "Technologies": ("Tech", "Technology"),
    "Holdings": ("Hldgs",),
    "Group": ("Grp",),
    "Solutions": ("Solns",),
}
_DROPPABLE: Final = frozenset(
    {"Group", "International", "Technologies", "Holdings", "Solutions", "Global", "& Sons"}
)
_WORD_ABBREVIATIONS: Final = {"Manufacturing": "Mfg", "University": "Univ", "Industries": "Inds"}

# Legal forms per country: ((canonical, (how people also type it, ...)), ...).
LEGAL_FORMS: Final = (
    (("Inc.", ("Inc", "Incorporated", "INC.")), ("LLC", ("L.L.C.", "Llc", "LLC.")),
     ("Corp.", ("Corp", "Corporation", "CORP"))),  # United States
    (("Ltd", ("Ltd.", "Limited", "LTD")), ("PLC", ("plc", "P.L.C."))),  # United Kingdom
    (("GmbH", ("Gmbh", "GMBH", "G.m.b.H.")), ("AG", ("A.G.",))),  # Germany
    (("Pvt. Ltd.", ("Pvt Ltd", "Private Limited", "PVT LTD")), ("Ltd.", ("Ltd", "Limited"))),
    (("SA", ("S.A.",)), ("SAS", ("S.A.S.", "Sas")), ("SARL", ("S.A.R.L.", "Sarl"))),  # France
    (("Inc.", ("Inc", "Incorporated")), ("Ltd.", ("Ltd", "Limited")),
     ("Corp.", ("Corp", "Corporation"))),  # Canada
    (("Ltda.", ("Ltda", "LTDA")), ("S.A.", ("SA", "S/A"))),  # Brazil
    (("Pty Ltd", ("Pty. Ltd.", "Proprietary Limited", "PTY LTD")),),  # Australia
    (("B.V.", ("BV", "B.V", "bv")), ("N.V.", ("NV",))),  # Netherlands
    (("S.L.", ("SL", "S.L")), ("S.A.", ("SA",))),  # Spain
    (("K.K.", ("KK", "Kabushiki Kaisha", "Co., Ltd.")),),  # Japan
    (("Pte. Ltd.", ("Pte Ltd", "Private Limited", "PTE LTD")),),  # Singapore
    (("S.A. de C.V.", ("SA de CV", "S.A. de C.V", "S.A.")),),  # Mexico
    (("AB", ("Aktiebolag", "A.B.")),),  # Sweden
    (("(Pty) Ltd", ("Pty Ltd", "Proprietary Limited", "(PTY) LTD")),),  # South Africa
)  # fmt: skip
_COMMA_COUNTRIES: Final = frozenset({0, 5})  # "Acme Soft, Inc." in the US and Canada


@dataclass(frozen=True)
class Companies:
    """The company universe; company id = prefix * n_words + word offset of (industry, word)."""

    n_words: int
    word_offset: tuple[int, ...]  # per industry
    base: tuple[str, ...]  # "Northwind Capital"
    word: tuple[str, ...]  # "Capital"
    descriptor: tuple[str, ...]  # "" | "Group" | "& Partners" ...
    domain_label: tuple[str, ...]  # "northwindcapital"
    legal: IntArr  # (companies, countries): index into LEGAL_FORMS[country]


@lru_cache(maxsize=1)
def companies() -> Companies:
    offsets: list[int] = []
    words: list[str] = []
    for sfx in INDUSTRY_SUFFIXES:
        offsets.append(len(words))
        words.extend(sfx)
    n = len(COMPANY_PREFIXES) * len(words)
    fixed = np.random.default_rng(20240614)  # the universe does not depend on the seed
    weights = np.array([w for _, w in _DESCRIPTORS])
    desc = fixed.choice(len(_DESCRIPTORS), n, p=weights / weights.sum())
    legal = np.stack([fixed.integers(0, len(f), n) for f in LEGAL_FORMS], axis=1)
    shown = [_WORD_DISPLAY.get(w, w.capitalize()) for w in words]
    return Companies(
        n_words=len(words),
        word_offset=tuple(offsets),
        base=tuple(f"{p.capitalize()} {w}" for p in COMPANY_PREFIXES for w in shown),
        word=tuple(w for _ in COMPANY_PREFIXES for w in shown),
        descriptor=tuple(_DESCRIPTORS[int(d)][0] for d in desc),
        domain_label=tuple(f"{p}{w}" for p in COMPANY_PREFIXES for w in words),
        legal=legal.astype(np.int64),
    )


def company_ids(prefix: IntArr, industry: IntArr, suffix_u: NDArray[np.float64]) -> IntArr:
    """Company of each person from the prefix and word draws the e-mails are made of."""
    comp = companies()
    n_words = np.array([len(s) for s in INDUSTRY_SUFFIXES])[industry]
    word = (suffix_u * n_words).astype(np.int64)
    out: IntArr = prefix * comp.n_words + np.asarray(comp.word_offset)[industry] + word
    return out.astype(np.int64)


def render_company(cid: int, country: int, u: NDArray[np.float64] | None = None) -> str:
    """The company's name as typed: canonical when `u` is None, else the variant that `u` (8
    uniforms) picks."""
    comp = companies()
    forms = LEGAL_FORMS[country]
    canonical, alternatives = forms[int(comp.legal[cid, country]) % len(forms)]
    name, desc, legal = comp.base[cid], comp.descriptor[cid], canonical
    if u is not None:
        legal = "" if u[0] < 0.30 else (alternatives[int(u[1] * len(alternatives))]
                                        if u[0] < 0.75 else canonical)  # fmt: skip
        desc = _descriptor_variant(desc, u)
        name = _name_variant(name, comp.word[cid], u)
    full = f"{name} {desc}" if desc else name
    if legal:
        comma = country in _COMMA_COUNTRIES and (u is None or u[6] < 0.5)
        full = f"{full}, {legal}" if comma else f"{full} {legal}"
    return full if u is None else _case_variant(full, u)


def _descriptor_variant(desc: str, u: NDArray[np.float64]) -> str:
    if not desc:
        return desc
    if desc in _DROPPABLE and u[2] < 0.35:
        return ""
    if desc in _DESCRIPTOR_ABBREVIATIONS and u[2] < 0.75:
        options = _DESCRIPTOR_ABBREVIATIONS[desc]
        return options[int(u[3] * len(options))]
    if desc.startswith("&") and u[2] < 0.7:
        return "and" + desc[1:]
    return desc


def _name_variant(name: str, word: str, u: NDArray[np.float64]) -> str:
    if word in _WORD_ABBREVIATIONS and u[3] < 0.5:
        return name.replace(word, _WORD_ABBREVIATIONS[word])  # "Acme Mfg" is not squeezed
    if u[4] < 0.12:
        name = name.replace(" ", "")  # "AcmeSoft", as in the domain
    elif u[4] < 0.20:
        name = name.replace(" ", "-")
    return f"The {name}" if u[5] < 0.08 else name


def _case_variant(full: str, u: NDArray[np.float64]) -> str:
    if u[6] > 0.85:
        full = full.replace(".", "").replace(",", "")
    if u[7] < 0.15:
        return full.upper()
    return full.lower() if u[7] < 0.25 else full


def company_variant(cid: int, country: int, current: str, rng: np.random.Generator) -> str:
    """A spelling of the company that differs from `current`."""
    for _ in range(20):
        variant = render_company(cid, country, rng.random(8))
        if variant != current:
            return variant
    return current.upper() if current != current.upper() else current.lower()


# calling code, national number length, trunk prefix ("" = none), digit groups (national)
_PHONE_PLANS: Final = (
    ("1", 10, "", (3, 3, 4)),  # United States (NANP)
    ("44", 10, "0", (2, 4, 4)),  # United Kingdom
    ("49", 10, "0", (3, 7)),  # Germany
    ("91", 10, "0", (5, 5)),  # India
    ("33", 9, "0", (1, 2, 2, 2, 2)),  # France
    ("1", 10, "", (3, 3, 4)),  # Canada (NANP)
    ("55", 11, "0", (2, 5, 4)),  # Brazil
    ("61", 9, "0", (1, 4, 4)),  # Australia
    ("31", 9, "0", (2, 3, 4)),  # Netherlands
    ("34", 9, "", (3, 3, 3)),  # Spain
    ("81", 10, "0", (2, 4, 4)),  # Japan
    ("65", 8, "", (4, 4)),  # Singapore
    ("52", 10, "", (2, 4, 4)),  # Mexico
    ("46", 9, "0", (2, 3, 2, 2)),  # Sweden
    ("27", 9, "0", (2, 3, 4)),  # South Africa
)
N_PHONE_STYLES: Final = 8


def national_numbers(rng: np.random.Generator, country: IntArr) -> list[str]:
    """Random national numbers of each country's length (first digit 2-9; NANP exchange 2-9)."""
    n = len(country)
    lengths = np.array([p[1] for p in _PHONE_PLANS])[country]
    digits = rng.integers(0, 10, (n, 11))
    digits[:, 0] = rng.integers(2, 10, n)
    nanp = np.isin(country, (0, 5))
    digits[nanp, 3] = rng.integers(2, 10, int(nanp.sum()))
    rows = ["".join(map(str, r)) for r in digits.tolist()]
    return [r[:k] for r, k in zip(rows, lengths.tolist(), strict=True)]


def _grouped(num: str, groups: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for g in groups:
        out.append(num[i : i + g])
        i += g
    if i < len(num):
        out[-1] += num[i:]
    return sep.join(p for p in out if p)


def format_phone(country: int, national: str, style: int) -> str:
    """One of N_PHONE_STYLES common ways to write a number in its country."""
    cc, _, trunk, groups = _PHONE_PLANS[country]
    if cc == "1":
        a, b, c = national[:3], national[3:6], national[6:]
        return (
            f"+1 ({a}) {b}-{c}", f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}",
            f"+1{national}", f"+1 {a} {b} {c}", f"1-{a}-{b}-{c}", f"{a}-{b}-{c} ext. {b[:2]}",
        )[style]  # fmt: skip
    spaced = _grouped(national, groups, " ")
    return (
        f"+{cc} {spaced}", f"{trunk}{spaced}", f"+{cc}{national}", f"00{cc} {spaced}",
        f"+{cc} ({trunk}) {spaced}" if trunk else f"+{cc}-{_grouped(national, groups, '-')}",
        f"{trunk}{_grouped(national, groups, '-')}", f"{trunk}{national}",
        f"+{cc} {_grouped(national, groups, '.')}",
    )[style]  # fmt: skip


@dataclass(frozen=True)
class Contacts:
    """Per current CRM row: the company as typed and the phone (national number + as typed)."""

    company: list[str]
    phone_national: list[str]  # "" = no phone
    phone: list[str]  # as typed ("" = none)
    switchboards: list[str]  # national number of company c's switchboard in country k: [c*K+k]


def draw_contacts(
    rng: np.random.Generator, company: IntArr, country: IntArr, person: IntArr
) -> Contacts:
    """Phones per person (`company`, `country`: per person), then per row (`person`: the person
    of each current row) the company spelling and the phone format."""
    n_people, n_countries = len(company), len(LEGAL_FORMS)
    has_phone = rng.random(n_people) < 0.70
    switchboard = has_phone & (rng.random(n_people) < 0.20)
    personal = national_numbers(rng, country)
    n_companies = len(companies().base)  # one switchboard per company and country, for all
    boards = national_numbers(rng, np.tile(np.arange(n_countries, dtype=np.int64), n_companies))
    national = [
        (boards[c * n_countries + k] if board else own) if has else ""
        for c, k, has, board, own in zip(company.tolist(), country.tolist(), has_phone.tolist(),
                                         switchboard.tolist(), personal, strict=True)
    ]  # fmt: skip
    rows = len(person)
    variant, u = rng.random(rows) < 0.25, rng.random((rows, 8))
    style = rng.integers(0, N_PHONE_STYLES, rows)
    row_company, row_country = company[person].tolist(), country[person].tolist()
    canonical = lru_cache(maxsize=None)(render_company)
    spelt = [
        render_company(c, k, u[i]) if variant[i] else canonical(c, k)
        for i, (c, k) in enumerate(zip(row_company, row_country, strict=True))
    ]
    row_national = [national[p] for p in person.tolist()]
    typed = [
        format_phone(k, nat, s) if nat else ""
        for k, nat, s in zip(row_country, row_national, style.tolist(), strict=True)
    ]
    return Contacts(spelt, row_national, typed, boards)
