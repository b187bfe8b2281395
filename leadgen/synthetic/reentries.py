"""Re-entered duplicates, hard negatives and their labelled pairs: what fuzzy matching is measured
on (bench/fuzzy_bench.py, tests).

A lead re-entering a customer always comes under a NEW mailbox (the exact email check never
catches it) and is of one of six kinds: `other_provider` (work <-> free-mail), `nickname` (Bill
for William), `typo` (one edit, mostly in the surname), `swapped` (first and last name), and
`company_variant` / `phone_format` (forced respellings; every kind also respells the company
45% of the time and reformats, keeps, changes or drops the phone). 5% move country.
Hard negatives: `colleague` (same company, mostly the same office, a different first name that
is no nickname of the customer's, the same surname 35% of the time, some on the switchboard),
`namesake` (the customer's full name, sometimes a nickname of it, at another company) and `new`
(anyone, anywhere).

Pairs: one row per customer id of a duplicate's person (a person the CRM holds twice has two),
one row per negative with the customer it was made to be confused with (None for `new`).
Deterministic: one RNG stream, `[seed, 9]`, apart from the CRM's.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import numpy as np
import pyarrow as pa

from leadgen.duplicates.normalise import normalise_email
from leadgen.synthetic import contacts as ct
from leadgen.synthetic.crm import _COUNTRIES, _INDUSTRIES, CrmTruth
from leadgen.synthetic.names import (
    FIRST_NAMES,
    NICKNAMES,
    first_name_weights,
    surname_weights,
    surnames,
)

_S_REENTRY: Final = 9
DUP_KINDS: Final = (
    "other_provider", "nickname", "typo", "swapped", "company_variant", "phone_format",
)  # fmt: skip
NEG_KINDS: Final = ("colleague", "namesake", "new")
LEAD_COLUMNS: Final = ("first_name", "last_name", "email", "company", "phone", "country")

_FREE: Final = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com",
                "protonmail.com")  # fmt: skip
_FREE_WEIGHTS: Final = np.array([0.50, 0.16, 0.12, 0.10, 0.08, 0.04])
_FREE_SET: Final = frozenset({*_FREE, "googlemail.com"})
_QWERTY: Final = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


@lru_cache(maxsize=1)
def _neighbours() -> dict[str, str]:
    pos = {ch: (r, c) for r, row in enumerate(_QWERTY) for c, ch in enumerate(row)}
    return {
        a: "".join(b for b, (r2, c2) in pos.items() if b != a and abs(r - r2) + abs(c - c2) == 1)
        for a, (r, c) in pos.items()
    }


def one_letter_typo(word: str, rng: np.random.Generator) -> str:
    """One edit as people make them (keyboard-neighbour substitution, deletion, doubled letter,
    adjacent transposition), rarely on the first letter."""
    for _ in range(20):
        op = int(rng.choice(4, p=[0.40, 0.25, 0.15, 0.20]))
        i = int(rng.integers(1 if rng.random() < 0.9 else 0, len(word)))
        out = _edit(word, i, op, rng)
        if out and out != word:
            return out
    return word + "e"


def _edit(word: str, i: int, op: int, rng: np.random.Generator) -> str:
    ch = word[i]
    if op == 0:
        near = _neighbours().get(ch.lower(), "")
        if not near:
            return word
        new = near[int(rng.integers(0, len(near)))]
        return word[:i] + (new.upper() if ch.isupper() else new) + word[i + 1 :]
    if op == 1:
        return word[:i] + word[i + 1 :] if len(word) > 3 else word
    if op == 2:
        return word[: i + 1] + ch.lower() + word[i + 1 :]
    if i >= len(word) - 1 or word[i] == word[i + 1]:
        return word
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _slug(s: str) -> str:
    folded = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum()) or "x"


@dataclass
class _Ctx:
    truth: CrmTruth
    rng: np.random.Generator
    mailboxes: set[str]  # normalised mailboxes in use: a lead never reuses one
    rows_of_person: dict[int, list[int]]

    def names(self, row: int) -> tuple[str, str]:
        return FIRST_NAMES[int(self.truth.first[row])], surnames()[int(self.truth.last[row])]

    def email(self, first: str, last: str, domain: str) -> str:
        f, last_ = _slug(first), _slug(last)
        pattern = int(self.rng.choice(5, p=[0.45, 0.2, 0.15, 0.1, 0.1]))
        local = (f"{f}.{last_}", f"{f}{last_}", f"{f[0]}{last_}", f"{last_}.{f}",
                 f"{f}.{last_}{int(self.rng.integers(1, 100))}")[pattern]  # fmt: skip
        email = f"{local}@{domain}"
        while (normalise_email(email) or email) in self.mailboxes:
            email = f"{local}{int(self.rng.integers(2, 1000))}@{domain}"
        self.mailboxes.add(normalise_email(email) or email)
        return email

    def free_domain(self, avoid: str = "") -> str:
        while True:
            d = _FREE[int(self.rng.choice(len(_FREE), p=_FREE_WEIGHTS))]
            if d != avoid:
                return d


def _other_mailbox(ctx: _Ctx, row: int, first: str, last: str, other_provider: bool) -> str:
    """Another mailbox of the person: another provider (work <-> free-mail, or another free
    provider), or another address at the same domain."""
    old = ctx.truth.email[row].strip().lower().rsplit("@", 1)[-1]
    work = ctx.truth.work_domain[row]
    if other_provider or ctx.rng.random() < 0.5:
        if old not in _FREE_SET:
            return ctx.email(first, last, ctx.free_domain())
        domain = work if ctx.rng.random() < 0.6 else ctx.free_domain(avoid=old)
        return ctx.email(first, last, domain)
    return ctx.email(first, last, old)


def _reentry_phone(ctx: _Ctx, row: int, reformat: bool) -> str:
    c = ctx.truth.contacts
    national, country, old = c.phone_national[row], int(ctx.truth.country[row]), c.phone[row]
    u = ctx.rng.random()
    if national and (reformat or u < 0.30):
        for _ in range(20):
            typed = ct.format_phone(country, national, int(ctx.rng.integers(0, ct.N_PHONE_STYLES)))
            if typed != old:
                return typed
        return old
    if national and u < 0.40:
        return old
    if u < 0.50:  # a new number (a new mobile), or the first one given
        new = ct.national_numbers(ctx.rng, np.array([country]))[0]
        return ct.format_phone(country, new, int(ctx.rng.integers(0, ct.N_PHONE_STYLES)))
    return ""


def _duplicate_lead(kind: str, row: int, ctx: _Ctx) -> dict[str, str]:
    rng = ctx.rng
    first, last = ctx.names(row)
    mail_first = first  # a typo or a swap happens in the form, not in the address
    if kind == "nickname":
        first = NICKNAMES[first][int(rng.integers(0, len(NICKNAMES[first])))]
        mail_first = first if rng.random() < 0.6 else mail_first
    elif kind == "typo":
        if rng.random() < 0.65:
            last = one_letter_typo(last, rng)
        else:
            first = one_letter_typo(first, rng)
    email = _other_mailbox(ctx, row, mail_first, ctx.names(row)[1], kind == "other_provider")
    if kind == "swapped":
        first, last = last, first
    case = rng.random()
    if case < 0.08:
        first, last = (
            (first.lower(), last.lower()) if case < 0.05 else (first.upper(), last.upper())
        )
    truth = ctx.truth
    company = truth.contacts.company[row]
    country = int(truth.country[row])
    if kind == "company_variant" or rng.random() < 0.45:
        company = ct.company_variant(int(truth.company[row]), country, company, rng)
    phone = _reentry_phone(ctx, row, kind == "phone_format")
    if rng.random() < 0.05:  # moved, or signed up from another office
        country = int((country + 1 + rng.integers(0, len(_COUNTRIES) - 1)) % len(_COUNTRIES))
    return {"first_name": first, "last_name": last, "email": email, "company": company,
            "phone": phone, "country": _COUNTRIES[country][0]}  # fmt: skip


def _person_at(ctx: _Ctx, first: str, last: str, company: int, domain: str, country: int,
               switchboard: bool) -> dict[str, str]:  # fmt: skip
    """A person the CRM does not know, at `company` (work domain `domain`) in `country`."""
    rng = ctx.rng
    email = ctx.email(first, last, domain if rng.random() < 0.55 else ctx.free_domain())
    spelling = rng.random(8) if rng.random() < 0.4 else None
    u = rng.random()
    if switchboard and u < 0.25:  # colleagues call from the customer's switchboard
        national = ctx.truth.contacts.switchboards[company * len(_COUNTRIES) + country]
    elif u < 0.60:
        national = ct.national_numbers(rng, np.array([country]))[0]
    else:
        national = ""
    style = int(rng.integers(0, ct.N_PHONE_STYLES))
    return {"first_name": first, "last_name": last, "email": email,
            "company": ct.render_company(company, country, spelling),
            "phone": ct.format_phone(country, national, style) if national else "",
            "country": _COUNTRIES[country][0]}  # fmt: skip


def _draw_first(ctx: _Ctx) -> str:
    return FIRST_NAMES[int(ctx.rng.choice(len(FIRST_NAMES), p=first_name_weights()))]


def _draw_last(ctx: _Ctx) -> str:
    return surnames()[int(ctx.rng.choice(len(surnames()), p=surname_weights()))]


def _colleague_lead(row: int, ctx: _Ctx) -> dict[str, str]:
    first0, last0 = ctx.names(row)
    first = _draw_first(ctx)
    while first == first0 or first in NICKNAMES.get(first0, ()):
        first = _draw_first(ctx)
    last = last0 if ctx.rng.random() < 0.35 else _draw_last(ctx)
    t = ctx.truth
    country = int(t.country[row])
    if ctx.rng.random() >= 0.75:
        country = int(ctx.rng.integers(0, len(_COUNTRIES)))
    return _person_at(ctx, first, last, int(t.company[row]), t.work_domain[row], country, True)


def _random_company(ctx: _Ctx, avoid: int = -1) -> tuple[int, str]:
    """A company anywhere (and its work domain), not `avoid`."""
    while True:
        prefix = int(ctx.rng.integers(0, len(ct.COMPANY_PREFIXES)))
        weights = np.array([w for _, w, _, _ in _INDUSTRIES])
        industry = int(ctx.rng.choice(len(_INDUSTRIES), p=weights / weights.sum()))
        su = float(ctx.rng.random())
        cid = int(ct.company_ids(np.array([prefix]), np.array([industry]), np.array([su]))[0])
        if cid != avoid:
            return cid, f"{ct.companies().domain_label[cid]}.com"


def _namesake_lead(row: int, ctx: _Ctx) -> dict[str, str]:
    first, last = ctx.names(row)
    if first in NICKNAMES and ctx.rng.random() < 0.15:
        first = NICKNAMES[first][int(ctx.rng.integers(0, len(NICKNAMES[first])))]
    company, domain = _random_company(ctx, avoid=int(ctx.truth.company[row]))
    country = int(ctx.truth.country[row])
    if ctx.rng.random() < 0.5:
        country = int(ctx.rng.integers(0, len(_COUNTRIES)))
    return _person_at(ctx, first, last, company, domain, country, False)


def _new_lead(ctx: _Ctx) -> dict[str, str]:
    company, domain = _random_company(ctx)
    weights = np.array([w for _, w, _, _ in _COUNTRIES])
    country = int(ctx.rng.choice(len(_COUNTRIES), p=weights / weights.sum()))
    return _person_at(ctx, _draw_first(ctx), _draw_last(ctx), company, domain, country, False)


def generate_reentries(
    truth: CrmTruth, per_kind: int | dict[str, int] = 2_000, seed: int = 0
) -> tuple[pa.Table, pa.Table]:
    """(leads, pairs). leads: lead_id ("L0000001"), kind, first_name, last_name, email, company,
    phone, country. pairs: lead_id, customer_id, kind, is_duplicate. Sources are distinct
    customer rows per kind (nickname: a formal first name with a nickname; phone_format: a
    customer with a phone)."""
    kinds = (*DUP_KINDS, *NEG_KINDS)
    counts = dict.fromkeys(kinds, per_kind) if isinstance(per_kind, int) else dict(per_kind)
    rows_of_person: dict[int, list[int]] = {}
    for r, p in enumerate(truth.person.tolist()):
        rows_of_person.setdefault(p, []).append(r)
    mailboxes = {normalise_email(e) or e for e in truth.email}
    ctx = _Ctx(truth, np.random.default_rng([seed, _S_REENTRY]), mailboxes, rows_of_person)
    leads: dict[str, list[Any]] = {c: [] for c in ("lead_id", "kind", *LEAD_COLUMNS)}
    pairs: dict[str, list[Any]] = {c: [] for c in ("lead_id", "customer_id", "kind",
                                                   "is_duplicate")}  # fmt: skip
    for kind in kinds:
        for row in _sources(ctx, kind, counts.get(kind, 0)):
            lead_id = f"L{len(leads['lead_id']) + 1:07d}"
            lead, customers = _one_lead(ctx, kind, row)
            for cid in customers:
                for col, v in zip(pairs, (lead_id, cid, kind, kind in DUP_KINDS), strict=True):
                    pairs[col].append(v)
            for col, v in (("lead_id", lead_id), ("kind", kind), *lead.items()):
                leads[col].append(v)
    pair_types = {"customer_id": pa.int64(), "is_duplicate": pa.bool_()}
    return (
        pa.table({c: pa.array(v, pa.string()) for c, v in leads.items()}),
        pa.table({c: pa.array(v, pair_types.get(c, pa.string())) for c, v in pairs.items()}),
    )


def _sources(ctx: _Ctx, kind: str, n: int) -> list[int]:
    if n <= 0:
        return []
    pool = np.arange(len(ctx.truth.customer_id))
    if kind == "nickname":
        pool = pool[[FIRST_NAMES[int(f)] in NICKNAMES for f in ctx.truth.first]]
    elif kind == "phone_format":
        pool = pool[[bool(x) for x in ctx.truth.contacts.phone_national]]
    rows: list[int] = ctx.rng.choice(pool, min(n, len(pool)), replace=False).tolist()
    return rows


def _one_lead(ctx: _Ctx, kind: str, row: int) -> tuple[dict[str, str], list[int | None]]:
    """A lead of `kind` made from customer row `row`, and the customer ids of its pairs."""
    t = ctx.truth
    if kind in DUP_KINDS:
        same = ctx.rows_of_person[int(t.person[row])]
        return _duplicate_lead(kind, row, ctx), [int(t.customer_id[r]) for r in same]
    if kind == "colleague":
        return _colleague_lead(row, ctx), [int(t.customer_id[row])]
    if kind == "namesake":
        return _namesake_lead(row, ctx), [int(t.customer_id[row])]
    return _new_lead(ctx), [None]
