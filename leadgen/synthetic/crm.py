"""Deterministic synthetic CRM generator.

Why it exists: the scoring service has to be built, tested and benchmarked without a real customer
export, and its quality has to be *measurable*. So the generator draws every customer from a known
latent "value" model that mixes tabular evidence (industry, company size, country, engagement
scores) and text evidence (seniority in the job title, buying-intent phrases in the bio) in roughly
equal parts, and labels the top ``high_value_rate`` of that latent as high value. A scorer that
reads both the text and the tabular block can therefore recover the label well; one that reads
only half of it cannot, and the gap shows up in the build-time quality figures.

It also reproduces the messy parts of a real export that the service must cope with:

* SCD2 history rows (``is_current == False``) that reuse a current ``customer_id`` with older
  values; the build must drop them.
* The same person re-entered under a new ``customer_id`` with an email variant (case, gmail dots,
  ``+tags``, stray whitespace); the duplicate check must catch them.
* Companies typed many ways ("Acme Soft, Inc.", "ACME SOFT", "Acme Soft Intl") and phones in each
  country's usual formats (leadgen.synthetic.contacts); names from large vocabularies
  (leadgen.synthetic.names), and re-entered leads with their labels (leadgen.synthetic.reentries).
* Heavily repeated job titles and bios, skewed category frequencies, and (optionally) irrelevant
  noise columns and label noise for the harder quality benchmarks (bench/quality_bench.py).
* Two dates, as of the export's snapshot (SNAPSHOT): when the record was created (no bearing on
  value) and the last activity, whose recency reveals part of the person's unexplained value
  (the latent's noise term): people who buy were active lately. So a model that reads "days
  since last activity" (`--date-cols`) can rank better than one that cannot (bench/DATES.md);
  some people have no activity at all (missing).

Determinism: every random decision comes from ``numpy.random.default_rng([seed, stream])`` with one
stream per concern, so the same arguments give a byte-identical table on every run, and changing an
argument only changes what it is about (adding noise columns or label noise, or changing the history
fraction, leaves every other value untouched). Everything numeric is vectorised; strings are
assembled with pyarrow kernels or, for e-mails only, one list comprehension.
"""

from __future__ import annotations

import itertools
import os
import string
import tempfile
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from leadgen.config import ColumnSpec
from leadgen.synthetic.contacts import (
    COMPANY_PREFIXES,
    INDUSTRY_SUFFIXES,
    Contacts,
    company_ids,
    draw_contacts,
    format_phone,
    national_numbers,
    render_company,
)
from leadgen.synthetic.names import FIRST_NAMES, first_name_weights, surname_weights, surnames

__all__ = [
    "DATE_COLS",
    "DEFAULT_CAT_COLS",
    "DEFAULT_NUM_COLS",
    "DEFAULT_TEXT_COLS",
    "LABEL_COLS",
    "CrmTruth",
    "example_lead",
    "generate_crm",
    "generate_crm_with_truth",
    "spec_with_noise",
    "write_crm",
]

FloatArr = NDArray[np.float64]
IntArr = NDArray[np.int64]
BoolArr = NDArray[np.bool_]
_Column: TypeAlias = "pa.Array[Any]"

DEFAULT_TEXT_COLS: Final[tuple[str, ...]] = ("job_title", "bio")
DEFAULT_CAT_COLS: Final[tuple[str, ...]] = ("industry", "country")
DEFAULT_NUM_COLS: Final[tuple[str, ...]] = (
    "company_size",
    "web_activity_score",
    "email_engagement_score",
)
#: The dates of the record (created, last activity): features only with ``--date-cols``, so
#: ``example_lead`` (the default layout's lead) leaves them out.
DATE_COLS: Final[tuple[str, ...]] = ("created_date", "last_activity_date")
#: Columns a new lead does not have (targets, identity, SCD2 flag): ``example_lead`` omits them.
LABEL_COLS: Final[tuple[str, ...]] = (
    "customer_id",
    "lifetime_value",
    "is_high_value",
    "is_current",
)

# One RNG stream per concern, so that changing one argument never shifts another column's draws.
_S_PEOPLE, _S_IDS, _S_DUPS, _S_HISTORY, _S_LABEL_NOISE, _S_NOISE_COLS, _S_LEAD = range(1, 8)
_S_CONTACTS = 8  # company spelling and phones: added later, drawn after everything else
_S_DATES = 9  # record created and last activity: drawn last, so nothing else moves

# The export's snapshot: every date is on or before it.
SNAPSHOT: Final = np.datetime64("2025-06-30")
# Days since the last activity: log-normal around e^3.6 (~37 days), shorter for people whose
# unexplained value (eps) is high; 4% never had an activity.
_RECENCY_LOG_MEAN, _RECENCY_EFFECT, _RECENCY_SD, _NO_ACTIVITY = 3.6, 0.9, 0.5, 0.04

_FIRST_ID: Final = 100_001  # customer ids look like a real CRM's, not 0..n-1 row numbers

# --------------------------------------------------------------------------------------------
# Vocabularies. (name, frequency weight, effect on the latent value[, extra]).
# Frequencies are deliberately skewed: real CRMs are dominated by a few industries/countries.
# --------------------------------------------------------------------------------------------

# industry, weight, effect, mean log company size
_INDUSTRIES: Final = (
    ("Software", 0.18, 0.80, 4.4),
    ("Finance", 0.11, 0.70, 5.2),
    ("Retail", 0.12, -0.60, 4.2),
    ("Manufacturing", 0.11, 0.10, 5.3),
    ("Healthcare", 0.10, 0.20, 5.0),
    ("Education", 0.07, -0.80, 4.6),
    ("Media", 0.06, -0.30, 3.8),
    ("Logistics", 0.06, 0.00, 4.8),
    ("Real Estate", 0.05, -0.40, 3.6),
    ("Telecommunications", 0.05, 0.40, 5.8),
    ("Energy", 0.05, 0.30, 5.5),
    ("Government", 0.04, -0.20, 6.0),
)
# country, weight, effect, top-level domain of company e-mail
_COUNTRIES: Final = (
    ("United States", 0.30, 0.15, "com"),
    ("United Kingdom", 0.10, 0.10, "co.uk"),
    ("Germany", 0.09, 0.10, "de"),
    ("India", 0.08, -0.20, "in"),
    ("France", 0.06, 0.00, "fr"),
    ("Canada", 0.05, 0.05, "ca"),
    ("Brazil", 0.05, -0.15, "com.br"),
    ("Australia", 0.04, 0.05, "com.au"),
    ("Netherlands", 0.04, 0.05, "nl"),
    ("Spain", 0.04, -0.05, "es"),
    ("Japan", 0.04, 0.00, "jp"),
    ("Singapore", 0.03, 0.10, "sg"),
    ("Mexico", 0.03, -0.10, "com.mx"),
    ("Sweden", 0.03, 0.05, "se"),
    ("South Africa", 0.02, -0.10, "co.za"),
)

# Names: ~400 first names and ~3,300 surnames with Zipf-like frequencies (leadgen.synthetic.names
# says why that size).
_FIRST_NAMES: Final = FIRST_NAMES
_LAST_NAMES: Final = surnames()

# Free-mail vs company e-mail mix of a B2B CRM. googlemail.com is rare but must be handled.
_MAIL_DOMAINS: Final = (
    ("", 0.50),  # "" = the person's company domain
    ("gmail.com", 0.24),
    ("outlook.com", 0.08),
    ("yahoo.com", 0.06),
    ("hotmail.com", 0.05),
    ("icloud.com", 0.03),
    ("protonmail.com", 0.02),
    ("googlemail.com", 0.02),
)
_GMAIL: Final = frozenset({"gmail.com", "googlemail.com"})
_PLUS_TAGS: Final = ("crm", "news", "work", "leads", "sales", "promo", "2024", "events")

# Job titles: function x seniority level x template. Seniority is the strongest text signal.
# function, weight, effect
_FUNCTIONS: Final = (
    ("Sales", 0.16, 0.00),
    ("Marketing", 0.14, -0.05),
    ("Engineering", 0.14, 0.10),
    ("Operations", 0.10, 0.05),
    ("Finance", 0.08, 0.20),
    ("IT", 0.08, 0.20),
    ("Product", 0.07, 0.05),
    ("Data", 0.06, 0.10),
    ("Procurement", 0.05, 0.35),
    ("HR", 0.05, -0.20),
    ("Customer Success", 0.04, -0.10),
    ("Supply Chain", 0.03, 0.15),
)
# level, weight, effect, ((template, weight), ...)
_LEVELS: Final = (
    ("intern", 0.06, -1.20, (("{f} Intern", 0.7), ("Intern, {f}", 0.3))),
    ("junior", 0.27, -0.60, (("{f} Analyst", 0.40), ("{f} Associate", 0.25),
                             ("{f} Coordinator", 0.20), ("Junior {f} Analyst", 0.15))),
    ("mid", 0.33, 0.00, (("{f} Manager", 0.40), ("{f} Specialist", 0.25),
                         ("Senior {f} Analyst", 0.20), ("{f} Consultant", 0.15))),
    ("senior", 0.19, 0.60, (("Director of {f}", 0.35), ("Head of {f}", 0.30),
                            ("Senior {f} Manager", 0.20), ("{f} Director", 0.15))),
    ("exec", 0.10, 1.00, (("VP of {f}", 0.45), ("VP, {f}", 0.20),
                          ("Vice President of {f}", 0.20), ("SVP {f}", 0.15))),
)  # fmt: skip
# C-level titles: title, weight within the level, function it reports for (for history rows)
_CLEVEL: Final = (
    ("CEO", 0.20, "Operations"),
    ("Founder & CEO", 0.10, "Operations"),
    ("CTO", 0.12, "Engineering"),
    ("CFO", 0.10, "Finance"),
    ("CIO", 0.08, "IT"),
    ("COO", 0.08, "Operations"),
    ("CMO", 0.08, "Marketing"),
    ("Chief Revenue Officer", 0.06, "Sales"),
    ("Chief Product Officer", 0.05, "Product"),
    ("Co-Founder", 0.05, "Operations"),
    ("Chief Procurement Officer", 0.04, "Procurement"),
    ("Chief Data Officer", 0.04, "Data"),
)
_CLEVEL_WEIGHT, _CLEVEL_EFFECT = 0.05, 1.40

# Bio sentences: (template, class). Classes carry the buying-intent signal of the text block.
_BIO_EFFECT: Final = {"buyer": 0.90, "growth": 0.40, "neutral": 0.00, "hobby": -0.80}
_BIO_TEMPLATES: Final = (
    ("Manages an enterprise budget for {area} across {region}.", "buyer"),
    ("Leading a global rollout of {product} for {sites} sites.", "buyer"),
    ("Owns procurement for {area} and signs multi-year contracts.", "buyer"),
    ("Responsible for vendor selection and procurement of {product}.", "buyer"),
    ("Sponsoring a company-wide {product} program with board approval.", "buyer"),
    ("Consolidating {area} vendors under one enterprise agreement.", "buyer"),
    ("Scaling the {area} team from {small} to {large} people.", "growth"),
    ("Evaluating vendors for {product} this quarter.", "growth"),
    ("Building out {area} operations in {region}.", "growth"),
    ("Modernising {area} with {product}.", "growth"),
    ("{years} years of experience in {area}.", "neutral"),
    ("Based in {city}; enjoys {hobby}.", "neutral"),
    ("Passionate about {topic}.", "neutral"),
    ("Speaker at {event}.", "neutral"),
    ("Interested in {topic} and {hobby}.", "neutral"),
    ("Previously worked in {area} at a {adj} company.", "neutral"),
    ("Working on a student project about {topic}.", "hobby"),
    ("Freelance {role} taking on small {area} gigs.", "hobby"),
    ("Exploring {product} for a personal side project.", "hobby"),
    ("Just browsing; no budget allocated yet.", "hobby"),
    ("Recent graduate looking for {area} internships.", "hobby"),
    ("Researching {topic} for a university course.", "hobby"),
)
_BIO_FILLERS: Final = {
    "area": ("sales", "marketing", "engineering", "finance", "operations", "IT", "data",
             "procurement", "customer support", "supply chain"),
    "region": ("EMEA", "North America", "APAC", "LATAM", "the DACH region", "the Nordics"),
    "product": ("a CRM platform", "cloud infrastructure", "marketing automation",
                "an ERP system", "data warehousing", "cybersecurity tooling",
                "payment processing", "analytics dashboards"),
    "sites": ("12", "40", "120", "300"),
    "small": ("5", "10", "20"),
    "large": ("40", "80", "150"),
    "years": ("3", "5", "8", "10", "15", "20"),
    "city": ("London", "Berlin", "Austin", "Toronto", "Singapore", "Madrid", "Mumbai",
             "São Paulo", "Sydney", "Stockholm"),
    "hobby": ("hiking", "cycling", "photography", "chess", "cooking", "running", "jazz"),
    "topic": ("machine learning", "customer experience", "sustainability", "remote work",
              "growth marketing", "open source", "fintech", "data privacy"),
    "event": ("SaaStr", "Web Summit", "a local meetup", "Dreamforce", "RSA Conference"),
    "adj": ("fast-growing", "Fortune 500", "small", "family-owned", "venture-backed"),
    "role": ("designer", "developer", "consultant", "copywriter", "analyst"),
}  # fmt: skip
_BIO_CLASSES: Final = ("buyer", "growth", "neutral", "hobby")
# Bio "tone" of a person -> probabilities of each sentence class; keeps a bio coherent.
_TONES: Final = (
    (0.25, (0.45, 0.30, 0.25, 0.00)),  # buyer-minded
    (0.55, (0.05, 0.15, 0.75, 0.05)),  # neutral
    (0.20, (0.00, 0.05, 0.35, 0.60)),  # hobbyist / student
)
_BIO_LENGTHS: Final = (0.02, 0.38, 0.40, 0.20)  # P(0, 1, 2, 3 sentences); 0 = empty bio

# Latent value = sum of effects + these weights; noise keeps the label learnable, not trivial.
_W_LOG_SIZE: Final = 0.30
_W_WEB: Final = 2.0
_W_EMAIL: Final = 2.0
_NOISE_SD: Final = 0.70
_LTV_LOG_MEAN, _LTV_LOG_SD = 8.0, 1.0  # lognormal lifetime value: median ~3k, top decile ~10k+


def _normalise(w: tuple[float, ...] | list[float] | FloatArr) -> FloatArr:
    arr = np.asarray(w, dtype=np.float64)
    out: FloatArr = arr / arr.sum()
    return out


def _zipf(n: int, a: float = 1.0) -> FloatArr:
    """Skewed within-pool frequencies, so a few titles/bios repeat a lot, as in real CRMs."""
    return _normalise(1.0 / np.arange(1, n + 1, dtype=np.float64) ** a)


def _ascii_slug(name: str) -> str:
    """E-mail-safe form of a name: "Núñez" -> "nunez", "O'Brien" -> "obrien"."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


@dataclass(frozen=True)
class _Pools:
    """Expanded vocabularies as arrays, built once: sampling then works on integer indices."""

    titles: _Column
    title_strs: tuple[str, ...]
    title_weight: FloatArr
    title_effect: FloatArr
    title_prev: IntArr  # index of the title one level below (older SCD2 version)
    sentences: _Column
    sentence_effect: FloatArr  # one extra trailing 0.0 so index -1 ("no sentence") adds nothing
    sentence_template: IntArr  # template of each sentence; a trailing -2 for index -1
    class_offsets: tuple[int, ...]
    class_sizes: tuple[int, ...]
    first_names: _Column
    last_names: _Column
    first_slugs: tuple[str, ...]
    last_slugs: tuple[str, ...]


@lru_cache(maxsize=1)
def _pools() -> _Pools:
    titles: list[str] = []
    weights: list[float] = []
    effects: list[float] = []
    key_of: dict[tuple[int, str], int] = {}  # (level, function) -> first template's title index
    func_w = _normalise([w for _, w, _ in _FUNCTIONS])
    for lvl, (_, lvl_w, lvl_eff, templates) in enumerate(_LEVELS):
        tpl_w = _normalise([w for _, w in templates])
        for t, (tpl, _) in enumerate(templates):
            for f, (func, _, func_eff) in enumerate(_FUNCTIONS):
                if t == 0:
                    key_of[(lvl, func)] = len(titles)
                titles.append(tpl.format(f=func))
                weights.append(lvl_w * tpl_w[t] * func_w[f])
                effects.append(lvl_eff + func_eff)
    func_effect = {name: eff for name, _, eff in _FUNCTIONS}
    clevel_w = _normalise([w for _, w, _ in _CLEVEL])
    prev: list[int] = []
    for lvl, (_, _, _, templates) in enumerate(_LEVELS):
        for _tpl in templates:
            for func, _, _ in _FUNCTIONS:
                prev.append(key_of[(max(lvl - 1, 0), func)])
    exec_level = len(_LEVELS) - 1
    for c, (title, _, func) in enumerate(_CLEVEL):
        titles.append(title)
        weights.append(_CLEVEL_WEIGHT * clevel_w[c])
        effects.append(_CLEVEL_EFFECT + func_effect[func])
        prev.append(key_of[(exec_level, func)])

    formatter = string.Formatter()
    by_class: dict[str, list[tuple[str, int]]] = {c: [] for c in _BIO_CLASSES}
    for t, (tpl, cls) in enumerate(_BIO_TEMPLATES):
        slots = [name for _, name, _, _ in formatter.parse(tpl) if name]
        for combo in itertools.product(*(_BIO_FILLERS[s] for s in slots)):
            by_class[cls].append((tpl.format(**dict(zip(slots, combo, strict=True))), t))
    # Fixed (seed-independent) shuffle so the Zipf head is a mix of templates, not the first one.
    shuffler = np.random.default_rng(20240607)
    sentences: list[str] = []
    sent_eff: list[float] = []
    sent_tpl: list[int] = []
    offsets: list[int] = []
    sizes: list[int] = []
    for cls in _BIO_CLASSES:
        pool = by_class[cls]
        order = shuffler.permutation(len(pool))
        offsets.append(len(sentences))
        sizes.append(len(pool))
        sentences.extend(pool[i][0] for i in order)
        sent_tpl.extend(pool[i][1] for i in order)
        sent_eff.extend([_BIO_EFFECT[cls]] * len(pool))
    sent_eff.append(0.0)
    sent_tpl.append(-2)

    return _Pools(
        titles=pa.array(titles, pa.string()),
        title_strs=tuple(titles),
        title_weight=_normalise(weights),
        title_effect=np.asarray(effects, dtype=np.float64),
        title_prev=np.asarray(prev, dtype=np.int64),
        sentences=pa.array(sentences, pa.string()),
        sentence_effect=np.asarray(sent_eff, dtype=np.float64),
        sentence_template=np.asarray(sent_tpl, dtype=np.int64),
        class_offsets=tuple(offsets),
        class_sizes=tuple(sizes),
        first_names=pa.array(_FIRST_NAMES, pa.string()),
        last_names=pa.array(_LAST_NAMES, pa.string()),
        first_slugs=tuple(_ascii_slug(n) for n in _FIRST_NAMES),
        last_slugs=tuple(_ascii_slug(n) for n in _LAST_NAMES),
    )


_IND_EFFECT: Final = np.array([e for _, _, e, _ in _INDUSTRIES])
_IND_LOGSIZE: Final = np.array([m for _, _, _, m in _INDUSTRIES])
_CTRY_EFFECT: Final = np.array([e for _, _, e, _ in _COUNTRIES])


@dataclass
class _People:
    """Column-wise attributes of n persons, as pool indices and numbers (no strings yet)."""

    first: IntArr
    last: IntArr
    industry: IntArr
    country: IntArr
    company_size: IntArr
    title: IntArr
    sentences: IntArr  # shape (n, 3); -1 = no sentence
    web: FloatArr
    email_eng: FloatArr
    eps: FloatArr  # the person's unexplained value; shared by their duplicate and history rows

    def take(self, idx: IntArr) -> _People:
        """Copies of rows ``idx``: duplicates and history rows start as the same person."""
        return _People(**{k: v[idx] for k, v in vars(self).items()})


def _sample_people(rng: np.random.Generator, n: int) -> _People:
    """Draw n independent people; every attribute that feeds the latent value is drawn here."""
    pools = _pools()
    industry = rng.choice(len(_INDUSTRIES), n, p=_normalise([w for _, w, _, _ in _INDUSTRIES]))
    country = rng.choice(len(_COUNTRIES), n, p=_normalise([w for _, w, _, _ in _COUNTRIES]))
    log_size = rng.normal(_IND_LOGSIZE[industry], 1.5)
    company_size = np.clip(np.rint(np.exp(log_size)), 1, 250_000).astype(np.int64)
    title = rng.choice(len(pools.title_weight), n, p=pools.title_weight)

    tone = rng.choice(len(_TONES), n, p=_normalise([w for w, _ in _TONES]))
    tone_p = np.array([p for _, p in _TONES])  # (tones, classes)
    n_sent = rng.choice(len(_BIO_LENGTHS), n, p=_normalise(_BIO_LENGTHS))
    cum = np.cumsum(tone_p[tone], axis=1)  # (n, classes)
    sentences = np.full((n, 3), -1, dtype=np.int64)
    for slot in range(3):
        cls = (rng.random(n)[:, None] > cum).sum(axis=1).clip(0, len(_BIO_CLASSES) - 1)
        picked = np.empty(n, dtype=np.int64)
        for c in range(len(_BIO_CLASSES)):
            mask = cls == c
            size = pools.class_sizes[c]
            picked[mask] = pools.class_offsets[c] + rng.choice(
                size, int(mask.sum()), p=_zipf(size, 0.8)
            )
        sentences[:, slot] = np.where(n_sent > slot, picked, -1)
    # Two sentences from one template in a bio ("Based in Berlin. Based in Madrid.") read as a
    # generator bug, not as data: drop the later one.
    tpl = pools.sentence_template[sentences]
    sentences[:, 1] = np.where(tpl[:, 1] == tpl[:, 0], -1, sentences[:, 1])
    tpl = pools.sentence_template[sentences]
    repeat = (tpl[:, 2] == tpl[:, 0]) | (tpl[:, 2] == tpl[:, 1])
    sentences[:, 2] = np.where(repeat, -1, sentences[:, 2])

    return _People(
        first=rng.choice(len(_FIRST_NAMES), n, p=first_name_weights()),
        last=rng.choice(len(_LAST_NAMES), n, p=surname_weights()),
        industry=industry,
        country=country,
        company_size=company_size,
        title=title,
        sentences=sentences,
        web=rng.beta(2.0, 4.0, n),
        email_eng=rng.beta(2.5, 3.0, n),
        eps=rng.normal(0.0, _NOISE_SD, n),
    )


def _latent(p: _People) -> FloatArr:
    """The hidden value the label thresholds: half tabular evidence, half text evidence."""
    pools = _pools()
    tabular = (
        _IND_EFFECT[p.industry]
        + _CTRY_EFFECT[p.country]
        + _W_LOG_SIZE * np.log(p.company_size.astype(np.float64))
        + _W_WEB * p.web
        + _W_EMAIL * p.email_eng
    )
    text = pools.title_effect[p.title] + pools.sentence_effect[p.sentences].sum(axis=1)
    out: FloatArr = tabular + text + p.eps
    return out


def _lookup(pool: _Column, idx: IntArr, null: BoolArr | None = None) -> _Column:
    """Values by index in C (``take``): pools are tiny, index arrays have up to ~1M rows."""
    return pool.take(pa.array(idx, type=pa.int64(), mask=null))  # type: ignore[arg-type]


def _bios(p: _People) -> _Column:
    """1-3 sentences joined with spaces; an absent sentence (index -1) is a null, skipped."""
    pools = _pools()
    parts = [_lookup(pools.sentences, p.sentences[:, s], p.sentences[:, s] < 0) for s in range(3)]
    # Only empty bios have a null first sentence. pyarrow (26.0) drops all-null rows from a
    # "skip" join instead of emitting "", so the first part must never be null.
    parts[0] = parts[0].fill_null("")
    join: Any = pc.binary_join_element_wise  # stubs cannot express "arrays, then a separator"
    joined: _Column = join(*parts, " ", null_handling="skip")
    return joined


def _email_key(local: str, domain: str) -> str:
    """Identity of a mailbox as the providers see it (what the dedup step must reproduce)."""
    local, domain = local.lower(), domain.lower()
    if domain in _GMAIL:
        return local.replace(".", "") + "@gmail.com"
    return f"{local}@{domain}"


def _first_dup_positions(keys: list[str]) -> IntArr:
    """Positions whose key already occurred earlier (pyarrow hashing: fast at 1M rows)."""
    codes = pa.array(keys, pa.string()).dictionary_encode().indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    seen = np.zeros(len(keys), dtype=np.bool_)
    seen[first] = True
    return np.flatnonzero(~seen).astype(np.int64)


# Local parts of mailboxes, in the order of the `pattern` weights in _emails: f/l = first/last name
# slug, f0/l0 their initials, n a number, y a birth year.
_LOCAL_PATTERNS: Final = (
    "{f}.{l}", "{f}{l}", "{f0}{l}", "{f}_{l}", "{f}{l0}", "{f}.{l}{n}", "{l}{f}{y}", "{l}.{f}",
    "{f}",
)  # fmt: skip


@dataclass(frozen=True)
class _Mail:
    """E-mail addresses, and the company (and its domain) each person's address implies."""

    emails: list[str]
    company: IntArr
    work_domain: list[str]


def _emails(rng: np.random.Generator, p: _People) -> _Mail:
    """Realistic, mailbox-unique addresses: distinct people never share a normalised e-mail."""
    pools = _pools()
    n = len(p.first)
    kind = rng.choice(len(_MAIL_DOMAINS), n, p=_normalise([w for _, w in _MAIL_DOMAINS]))
    prefix = rng.choice(len(COMPANY_PREFIXES), n, p=_zipf(len(COMPANY_PREFIXES), 0.5))
    suffix_u = rng.random(n)
    # local-part patterns: first.last, firstlast, flast, first_last, firstl, first.lastNN,
    # lastfirst-year, last.first, first
    pattern = rng.choice(9, n, p=_normalise([40, 12, 15, 5, 5, 10, 3, 7, 3]))
    number = rng.integers(1, 100, n)
    year = rng.integers(1965, 2004, n)
    capital = rng.random(n) < 0.04  # a few people type their address as "Jane.Doe@..."

    work: list[str] = []
    for pre, su, ind, ctry in zip(
        prefix.tolist(), suffix_u.tolist(), p.industry.tolist(), p.country.tolist(), strict=True
    ):
        sfx = INDUSTRY_SUFFIXES[ind]
        tld = "io" if ind == 0 and su > 0.7 else _COUNTRIES[ctry][3]
        work.append(f"{COMPANY_PREFIXES[pre]}{sfx[int(su * len(sfx))]}.{tld}")
    domains = [work[i] if k == 0 else _MAIL_DOMAINS[k][0] for i, k in enumerate(kind.tolist())]

    fs, ls = pools.first_slugs, pools.last_slugs
    locals_: list[str] = []
    for fi, li, pat, num, yr, cap in zip(
        p.first.tolist(), p.last.tolist(), pattern.tolist(), number.tolist(), year.tolist(),
        capital.tolist(), strict=True,
    ):  # fmt: skip
        f, last = fs[fi], ls[li]
        if cap:
            f, last = f.capitalize(), last.capitalize()
        local = _LOCAL_PATTERNS[pat].format(f=f, l=last, f0=f[0], l0=last[0], n=num, y=yr)
        locals_.append(local)

    # Distinct people with the same name: append digits until every mailbox is unique.
    for _ in range(50):
        clash = _first_dup_positions(
            [_email_key(lo, d) for lo, d in zip(locals_, domains, strict=True)]
        )
        if clash.size == 0:
            break
        digits = rng.integers(2, 1000, clash.size)
        for i, dg in zip(clash.tolist(), digits.tolist(), strict=True):
            locals_[i] = f"{locals_[i]}{dg}"
    else:  # pragma: no cover - would need astronomically many same-name people
        raise RuntimeError("could not make e-mail addresses unique")
    emails = [f"{lo}@{d}" for lo, d in zip(locals_, domains, strict=True)]
    return _Mail(emails, company_ids(prefix, p.industry, suffix_u), work)


def _email_variant(email: str, first_slug: str, u: FloatArr, tag: str) -> str:
    """The same mailbox typed differently: gmail dots, +tag, case, stray whitespace."""
    local, domain = email.rsplit("@", 1)
    if domain in _GMAIL and u[0] < 0.6:
        if "." in local:
            local = local.replace(".", "")
        else:
            # Split between letters only ("jane.doe", "ja.nedoe"), never next to "_" or digits;
            # prefer the first-name boundary, which is how people actually type it.
            cuts = [i for i in range(1, len(local)) if local[i - 1 : i + 1].isalpha()]
            n = len(first_slug)
            if n in cuts and local.lower().startswith(first_slug):
                cuts = [n]
            if cuts:
                cut = cuts[int(u[1] * len(cuts))]
                local = f"{local[:cut]}.{local[cut:]}"
    if u[2] < 0.45 and domain != "yahoo.com":  # yahoo uses "-" aliases, not "+"
        local = f"{local}+{tag}"
    if u[3] < 0.55:
        if u[4] < 0.45:
            local = ".".join(part[:1].upper() + part[1:] for part in local.split("."))
            domain = domain.capitalize()
        elif u[4] < 0.75:
            local = local.upper()
        else:
            domain = domain.upper()
    out = f"{local}@{domain}"
    if out == email:
        out = f"{local}@{domain.upper()}"
    if u[5] < 0.08:
        out = f" {out}" if u[6] < 0.5 else f"{out} "
    return out


def _validate(
    rows: int,
    seed: int,
    noise_cols: int,
    label_noise: float,
    high_value_rate: float,
    history_fraction: float,
    duplicate_fraction: float,
) -> None:
    def is_int(x: object) -> bool:
        return isinstance(x, int | np.integer) and not isinstance(x, bool)

    def in_range(name: str, x: object, lo: float, hi: float, hi_open: bool = False) -> None:
        ok = isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)
        if ok:
            xf = float(x)  # type: ignore[arg-type]
            ok = bool(np.isfinite(xf)) and lo <= xf and (xf < hi if hi_open else xf <= hi)
        if not ok:
            upper = f"{hi})" if hi_open else f"{hi}]"
            raise ValueError(f"{name} must be a number in [{lo}, {upper}, got {x!r}")

    if not is_int(rows) or rows < 2:
        raise ValueError(f"rows must be an integer >= 2, got {rows!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not is_int(noise_cols) or not 0 <= noise_cols <= 1000:
        raise ValueError(f"noise_cols must be an integer in [0, 1000], got {noise_cols!r}")
    in_range("label_noise", label_noise, 0.0, 0.5, hi_open=True)
    in_range("high_value_rate", high_value_rate, 0.02, 0.30)
    in_range("history_fraction", history_fraction, 0.0, 1.0)
    in_range("duplicate_fraction", duplicate_fraction, 0.0, 0.5)


def spec_with_noise(table: pa.Table) -> ColumnSpec:
    """The default column spec plus the table's noise columns (noise_num_*, noise_cat_*): what a
    careless export hands the build, for the quality runs that check the weights ignore them."""
    names = table.schema.names
    return ColumnSpec(
        text_cols=DEFAULT_TEXT_COLS,
        cat_cols=(*DEFAULT_CAT_COLS, *[c for c in names if c.startswith("noise_cat")]),
        num_cols=(*DEFAULT_NUM_COLS, *[c for c in names if c.startswith("noise_num")]),
    )


def _noise_columns(rng: np.random.Generator, n: int, count: int) -> list[tuple[str, _Column]]:
    """Irrelevant columns (bench/quality_bench.py): drawn from their own stream, independent of
    everything."""
    out: list[tuple[str, _Column]] = []
    for j in range(count):
        k = j // 2
        if j % 2 == 0:
            shape = k % 3
            if shape == 0:
                values = rng.normal(rng.uniform(-5, 5), rng.uniform(0.5, 3.0), n)
            elif shape == 1:
                values = rng.lognormal(rng.uniform(0, 3), rng.uniform(0.3, 1.2), n)
            else:
                values = rng.uniform(0.0, rng.uniform(1, 100), n)
            out.append((f"noise_num_{k}", pa.array(np.round(values, 4), pa.float64())))
        else:
            levels = int(rng.integers(5, 51))
            probs = rng.dirichlet(np.full(levels, 0.8))
            codes = rng.choice(levels, n, p=probs)
            names = pa.array([f"n{k}_{chr(97 + i % 26)}{i:02d}" for i in range(levels)])
            out.append((f"noise_cat_{k}", _lookup(names, codes)))
    return out


def generate_crm(
    rows: int = 20_000,
    seed: int = 0,
    *,
    noise_cols: int = 0,
    label_noise: float = 0.0,
    high_value_rate: float = 0.10,
    history_fraction: float = 0.10,
    duplicate_fraction: float = 0.02,
) -> pa.Table:
    """Generate a synthetic SCD2 CRM export with a learnable high-value label.

    ``rows`` is the number of *current* customers (``is_current``); ``round(history_fraction *
    rows)`` older versions of existing customers are added with ``is_current == False``, and
    ``round(duplicate_fraction * rows)`` of the current customers are an earlier customer
    re-entered under a new id with an e-mail variant (same mailbox, different spelling).

    Label model: ``latent = industry + country + 0.3*log(company_size) + 2*web_activity +
    2*email_engagement + seniority(job_title) + intent(bio sentences) + N(0, 0.7)``; exactly
    ``round(high_value_rate * rows)`` current customers (the top of the latent) are high value, and
    ``lifetime_value = exp(8 + z(latent))`` is monotone in it, so ``--value-col lifetime_value
    --quantile 0.9`` selects the same people as the label when the rate is 10%.

    ``label_noise = p`` swaps the latent of ``round(p * rows / 2)`` random positives with as many
    random negatives (capped by the number of positives), so a fraction ``p`` of current labels
    is wrong while the positive rate stays exact and ``lifetime_value`` agrees with the label.
    ``noise_cols = N`` appends N columns independent of everything else, alternating
    ``noise_num_i`` (float64) and ``noise_cat_i`` (string, 5 to 50 levels).

    Rows are ordered by ``customer_id`` with history rows before the current one, like an export.
    Raises ``ValueError`` naming the argument when one is out of range.
    """
    table, _ = generate_crm_with_truth(
        rows,
        seed,
        noise_cols=noise_cols,
        label_noise=label_noise,
        high_value_rate=high_value_rate,
        history_fraction=history_fraction,
        duplicate_fraction=duplicate_fraction,
    )
    return table


@dataclass(frozen=True)
class CrmTruth:
    """What the generator knows of each current row and an export does not say: the person
    behind it (a CRM-internal duplicate shares its source's), their names, company and phone.
    The re-entered leads of leadgen.synthetic.reentries are drawn from it."""

    customer_id: IntArr
    person: IntArr
    first: IntArr  # index into FIRST_NAMES
    last: IntArr  # index into surnames()
    country: IntArr
    industry: IntArr
    company: IntArr  # company id (leadgen.synthetic.contacts)
    work_domain: list[str]
    email: list[str]
    contacts: Contacts


def generate_crm_with_truth(
    rows: int = 20_000,
    seed: int = 0,
    *,
    noise_cols: int = 0,
    label_noise: float = 0.0,
    high_value_rate: float = 0.10,
    history_fraction: float = 0.10,
    duplicate_fraction: float = 0.02,
) -> tuple[pa.Table, CrmTruth]:
    """`generate_crm` and the truth of its current rows (`CrmTruth`)."""
    _validate(rows, seed, noise_cols, label_noise, high_value_rate, history_fraction,
              duplicate_fraction)  # fmt: skip
    rows, seed, noise_cols = int(rows), int(seed), int(noise_cols)
    pools = _pools()

    def rng(stream: int) -> np.random.Generator:
        return np.random.default_rng([seed, stream])

    n_dup = int(np.floor(duplicate_fraction * rows + 0.5))
    n_hist = int(np.floor(history_fraction * rows + 0.5))
    current = _current_people(rng, pools, rows, n_dup)
    cur = current.people
    # Ids: a random permutation, so duplicates are interleaved with everyone else.
    cur_ids = np.empty(rows, dtype=np.int64)
    cur_ids[rng(_S_IDS).permutation(rows)] = _FIRST_ID + np.arange(rows, dtype=np.int64)
    labels = _label(cur, high_value_rate, label_noise, rng(_S_LABEL_NOISE))
    hist, hsrc, hist_label, hist_ltv = _history(cur, pools, labels, rng(_S_HISTORY), n_hist)
    orig = current.originals
    contacts = draw_contacts(rng(_S_CONTACTS), current.mail.company, orig.country, current.person)

    allp = _People(**{k: np.concatenate([v, getattr(hist, k)]) for k, v in vars(cur).items()})
    ids = np.concatenate([cur_ids, cur_ids[hsrc]])
    is_current = np.concatenate([np.ones(rows, np.bool_), np.zeros(n_hist, np.bool_)])
    final = np.lexsort((is_current, ids))  # by id, history first
    # Per final row: the current row it is (or is a history version of).
    row = np.concatenate([np.arange(rows, dtype=np.int64), hsrc])[final]
    p = allp.take(final)
    created, active = _activity_dates(rng(_S_DATES), cur.eps, hsrc)
    columns: list[tuple[str, _Column]] = [
        ("customer_id", pa.array(ids[final], pa.int64())),
        ("first_name", _lookup(pools.first_names, p.first)),
        ("last_name", _lookup(pools.last_names, p.last)),
        ("email", _lookup(pa.array(current.emails, pa.string()), row)),
        ("company", _lookup(pa.array(contacts.company, pa.string()), row)),
        ("phone", _lookup(pa.array([x or None for x in contacts.phone], pa.string()), row)),
        *_person_columns(p, pools),
        ("created_date", _lookup(created, final)),
        ("last_activity_date", _lookup(active, final)),
        ("lifetime_value", pa.array(np.concatenate([labels.ltv, hist_ltv])[final], pa.float64())),
        ("is_high_value", pa.array(np.concatenate([labels.label, hist_label])[final], pa.bool_())),
        ("is_current", pa.array(is_current[final], pa.bool_())),
    ]
    columns += _noise_columns(rng(_S_NOISE_COLS), rows + n_hist, noise_cols)
    truth = CrmTruth(
        customer_id=cur_ids,
        person=current.person,
        first=cur.first,
        last=cur.last,
        country=cur.country,
        industry=cur.industry,
        company=current.mail.company[current.person],
        work_domain=[current.mail.work_domain[i] for i in current.person.tolist()],
        email=current.emails,
        contacts=contacts,
    )
    return pa.table(dict(columns)), truth


def _activity_dates(
    rng_d: np.random.Generator, eps: FloatArr, hsrc: IntArr
) -> tuple[_Column, _Column]:
    """(created, last activity) as date32 for the current rows then their history rows. A
    history row (an older version) has its record's creation date and an older activity."""
    n = len(eps)
    age = rng_d.integers(30, 6 * 365, n)
    z = eps / _NOISE_SD
    log_recency = _RECENCY_LOG_MEAN - _RECENCY_EFFECT * z + rng_d.normal(0.0, _RECENCY_SD, n)
    recency = np.minimum(np.rint(np.exp(log_recency)), age).astype(np.int64)
    never = rng_d.random(n) < _NO_ACTIVITY
    older = np.minimum(recency[hsrc] + rng_d.integers(30, 400, len(hsrc)), age[hsrc])
    ages = np.concatenate([age, age[hsrc]])
    recencies = np.concatenate([recency, older])
    missing = np.concatenate([never, never[hsrc]])

    def dates(days: IntArr, mask: BoolArr | None = None) -> _Column:
        values = (SNAPSHOT - days.astype("timedelta64[D]")).astype("datetime64[D]")
        return pa.array(values, pa.date32(), mask=mask)

    return dates(ages), dates(recencies, missing)


def _person_columns(p: _People, pools: _Pools) -> list[tuple[str, _Column]]:
    return [
        ("industry", _lookup(pa.array([n for n, _, _, _ in _INDUSTRIES]), p.industry)),
        ("company_size", pa.array(p.company_size, pa.int64())),
        ("country", _lookup(pa.array([n for n, _, _, _ in _COUNTRIES]), p.country)),
        ("job_title", _lookup(pools.titles, p.title)),
        ("bio", _bios(p)),
        ("web_activity_score", pa.array(np.round(p.web, 4), pa.float64())),
        ("email_engagement_score", pa.array(np.round(p.email_eng, 4), pa.float64())),
    ]


@dataclass(frozen=True)
class _Current:
    """The current customers: people, their e-mails, and for the contact columns the person
    (original row) behind each row, the originals' companies and work domains."""

    people: _People
    emails: list[str]
    person: IntArr
    originals: _People
    mail: _Mail


def _current_people(rng: Any, pools: Any, rows: int, n_dup: int) -> _Current:
    """Current customers: originals, then duplicates that copy a source person but carry fresh
    activity scores (a second sign-up behaves differently) and an e-mail variant."""
    n_orig = rows - n_dup
    rng_people = rng(_S_PEOPLE)
    orig = _sample_people(rng_people, n_orig)
    mail = _emails(rng_people, orig)
    rng_dup = rng(_S_DUPS)
    src = np.sort(rng_dup.choice(n_orig, n_dup, replace=False)).astype(np.int64)
    dup = orig.take(src)
    dup.web = rng_dup.beta(2.0, 4.0, n_dup)
    dup.email_eng = rng_dup.beta(2.5, 3.0, n_dup)
    u = rng_dup.random((n_dup, 7))
    tags = rng_dup.integers(0, len(_PLUS_TAGS), n_dup)
    dup_emails = [
        _email_variant(mail.emails[s], pools.first_slugs[orig.first[s]], u[i], _PLUS_TAGS[t])
        for i, (s, t) in enumerate(zip(src.tolist(), tags.tolist(), strict=True))
    ]
    cur = _People(**{k: np.concatenate([v, getattr(dup, k)]) for k, v in vars(orig).items()})
    person = np.concatenate([np.arange(n_orig, dtype=np.int64), src])
    return _Current(cur, mail.emails + dup_emails, person, orig, mail)


@dataclass
class _Labels:
    label: BoolArr
    ltv: FloatArr
    threshold: float  # the latent above which a customer is high value
    mu: float  # latent mean and sd, to put history rows on the same value scale
    sd: float


def _label(
    cur: _People, high_value_rate: float, label_noise: float, rng_ln: np.random.Generator
) -> _Labels:
    """Exact positive rate: the top n_pos latents are positive (after swapping `label_noise`
    of them with negatives)."""
    rows = len(cur.first)
    latent = _latent(cur)
    n_pos = min(max(int(np.floor(high_value_rate * rows + 0.5)), 1), rows - 1)
    order = np.argsort(-latent, kind="stable")
    threshold = float(latent[order[n_pos - 1]])
    mu, sd = float(latent.mean()), float(latent.std()) or 1.0
    observed = latent.copy()
    if label_noise > 0:
        m = min(int(np.floor(label_noise * rows / 2 + 0.5)), n_pos, rows - n_pos)
        pos = rng_ln.choice(order[:n_pos], m, replace=False)
        neg = rng_ln.choice(order[n_pos:], m, replace=False)
        observed[pos], observed[neg] = latent[neg], latent[pos]
    label = np.zeros(rows, dtype=np.bool_)
    label[np.argsort(-observed, kind="stable")[:n_pos]] = True
    ltv = np.round(np.exp(_LTV_LOG_MEAN + _LTV_LOG_SD * (observed - mu) / sd), 2)
    return _Labels(label, np.asarray(ltv, dtype=np.float64), threshold, mu, sd)


def _history(
    cur: _People, pools: Any, labels: _Labels, rng_h: np.random.Generator, n_hist: int
) -> tuple[_People, IntArr, BoolArr, FloatArr]:
    """SCD2 history: an older version of an existing customer (one level junior, smaller company,
    less engaged, less value so far). Same person, so the same name, e-mail and bio."""
    hsrc = rng_h.integers(0, len(cur.first), n_hist).astype(np.int64)
    hist = cur.take(hsrc)
    hist.title = pools.title_prev[hist.title]
    hist.company_size = np.maximum(
        1, np.rint(hist.company_size * rng_h.uniform(0.55, 0.95, n_hist))
    ).astype(np.int64)
    hist.web = hist.web * rng_h.uniform(0.35, 0.9, n_hist)
    hist.email_eng = hist.email_eng * rng_h.uniform(0.35, 0.9, n_hist)
    latent = _latent(hist)
    scale = _LTV_LOG_SD * (latent - labels.mu) / labels.sd
    ltv = np.round(0.75 * np.exp(_LTV_LOG_MEAN + scale), 2)
    return hist, hsrc, latent >= labels.threshold, ltv


def write_crm(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` as parquet atomically: a reader sees the old file or the new one, never half.

    The file is written next to the target (same filesystem) and moved into place with
    ``os.replace``; the parent directory is created if needed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp_name, compression="zstd")
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def example_lead(seed: int = 1) -> dict[str, object]:
    """One realistic new lead (the CRM columns minus ids, labels and ``is_current``), JSON-ready.

    Drawn from the same distributions as the customers, so it is embedded like them; from its own
    stream, so it is not a copy of any generated customer. The bio is never empty, so the demo
    output has something to explain.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    pools = _pools()
    rng = np.random.default_rng([int(seed), _S_LEAD])
    people = _sample_people(rng, 16)
    i = int(np.flatnonzero(people.sentences[:, 0] >= 0)[0])
    lead = people.take(np.array([i], dtype=np.int64))
    mail = _emails(rng, lead)
    country = int(lead.country[0])
    return {
        "first_name": _FIRST_NAMES[int(lead.first[0])],
        "last_name": _LAST_NAMES[int(lead.last[0])],
        "email": mail.emails[0],
        "company": render_company(int(mail.company[0]), country),
        "phone": format_phone(country, national_numbers(rng, lead.country)[0], 0),
        "industry": _INDUSTRIES[int(lead.industry[0])][0],
        "company_size": int(lead.company_size[0]),
        "country": _COUNTRIES[int(lead.country[0])][0],
        "job_title": pools.title_strs[int(lead.title[0])],
        "bio": str(_bios(lead)[0].as_py()),
        "web_activity_score": round(float(lead.web[0]), 4),
        "email_engagement_score": round(float(lead.email_eng[0]), 4),
    }
