"""`leadgen inspect EXPORT`: what is in a CRM export, and the `build` command that fits it.

The first thing a new user runs on their own export. One streamed pass over (the first rows of)
the file profiles every column (inferred type, missing share, distinct values) and guesses its
role from its name and its values: the id (unique, named like an id), the email (values look like
addresses), the label (a true/false flag, or a stage column with a "won" value such as
"Closed Won" or "customer"), the SCD2 current flag, and the features: long or varied text ->
text, few distinct values -> categorical, numbers -> numeric. Names, phones, addresses, dates
and value/revenue columns are left out, each with its reason (a revenue column may be the outcome
itself: as a feature it would leak the label). The suggestion is a starting point the user can
edit; tests run it as printed on CRM-like exports and check that it builds.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.stores.exports import (
    CSV_SUFFIXES,
    Export,
    is_numeric_type,
    is_text_type,
    open_export,
    parse_numbers,
)

DEFAULT_ROWS = 200_000
DISTINCT_CAP = 20_000  # distinct values remembered per column (memory stays bounded)
TOP_CAP = 1_000  # value counts kept while a column has at most this many distinct values
MAX_CATEGORIES = 100
TRUTHY = {"true", "t", "yes", "y", "1"}
FALSY = {"false", "f", "no", "n", "0"}
WON = ("closed won", "won", "customer", "evangelist", "vip", "paying", "high", "high value")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T].*)?$|^\d{1,2}/\d{1,2}/\d{2,4}( .*)?$")
_ID_NAME = re.compile(r"(^|[^a-z])id$|^id[^a-z]|_id$", re.IGNORECASE)
_SKIP_NAME = re.compile(
    r"name|phone|mobile|fax|street|address|zip|postal|url|website|linkedin|twitter|owner",
    re.IGNORECASE,
)
# The organisation a person works for: read by the fuzzy duplicate check (leadgen.config
# IDENTITY_COLS), but as a feature its spellings name a company rather than describe it.
_ORG_NAME = re.compile(r"\bcompany\b|\borgani[sz]ation\b|\baccount name\b", re.IGNORECASE)
_VALUE_NAME = re.compile(r"revenue|value|ltv|amount|arr\b|mrr\b|spend|price", re.IGNORECASE)
_LABEL_NAME = re.compile(
    r"stage|status|lifecycle|type|tier|segment|won|high.?value|convert|customer|paying", re.I
)


@dataclass
class ColumnProfile:
    """One column's statistics over the rows inspected, and the role guessed for it."""

    name: str
    arrow_type: str
    rows: int = 0
    missing: int = 0
    distinct: set[str] = field(default_factory=set)
    distinct_capped: bool = False
    top: Counter[str] | None = field(default_factory=Counter)
    numbers: int = 0  # non-missing values that parse as numbers
    integers: int = 0
    flags: int = 0  # values that are true/false words
    emails: int = 0
    dates: int = 0
    words: int = 0
    kind: str = "text"
    role: str = "skip"
    reason: str = ""

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 1.0

    @property
    def n_distinct(self) -> int:
        return len(self.distinct)

    def share(self, count: int) -> float:
        return count / self.present if self.present else 0.0

    def add(self, arr: Any) -> None:
        """Fold one batch of this column into the statistics."""
        values = [None if v is None else str(v).strip() for v in arr.to_pylist()]
        present = [v for v in values if v]
        self.rows += len(values)
        self.missing += len(values) - len(present)
        if is_numeric_type(arr.type) or is_text_type(arr.type):
            numbers, bad = parse_numbers(arr)
            ok = np.isfinite(numbers) & ~bad
            self.numbers += int(ok.sum())
            self.integers += int((ok & (numbers == np.round(numbers))).sum())
        for v in present:
            low = v.lower()
            self.flags += low in TRUTHY or low in FALSY
            self.emails += bool(_EMAIL.match(v))
            self.dates += bool(_DATE.match(v))
            self.words += len(v.split())
            self._remember(low if low in TRUTHY | FALSY else v)

    def _remember(self, value: str) -> None:
        if len(self.distinct) < DISTINCT_CAP:
            self.distinct.add(value)
        elif value not in self.distinct:
            self.distinct_capped = True
        if self.top is not None:
            self.top[value] += 1
            if len(self.top) > TOP_CAP:
                self.top = None  # too many values for a label or a category

    def infer_kind(self) -> None:
        if self.present == 0:
            self.kind = "empty"
        elif self.arrow_type == "bool" or self.share(self.flags) == 1.0:
            self.kind = "boolean"
        elif self.share(self.numbers) >= 0.95:
            self.kind = "integer" if self.integers == self.numbers else "number"
        elif self.share(self.emails) >= 0.8:
            self.kind = "email"
        elif self.share(self.dates) >= 0.8:
            self.kind = "date"
        else:
            self.kind = "text"


@dataclass
class Inspection:
    path: str
    format: str
    rows: int
    complete: bool  # every row inspected (else the first `rows`)
    columns: list[ColumnProfile]
    flags: dict[str, str]
    notes: list[str]

    def command(self, out: str = "artifacts") -> str:
        """The suggested `build` command line, quoted for a POSIX shell."""
        parts = ["leadgen", "build", "--input", self.path]
        if self.format == "csv" and not self.path.lower().endswith(CSV_SUFFIXES):
            parts += ["--format", "csv"]
        for flag, value in self.flags.items():
            parts += [flag, value]
        parts += ["--out", out]
        return " ".join(shlex.quote(p) for p in parts)

    def render(self) -> str:
        width = max([len(c.name) for c in self.columns] + [6])
        seen = f"{self.rows} rows" + ("" if self.complete else f" (the first {self.rows})")
        lines = [
            f"{self.path}: {self.format}, {len(self.columns)} columns, {seen}",
            "",
            f"{'column':<{width}}  {'type':<8} {'missing':>7} {'distinct':>9}  role",
        ]
        for c in self.columns:
            distinct = f">{DISTINCT_CAP}" if c.distinct_capped else str(c.n_distinct)
            role = c.role + (f" ({c.reason})" if c.reason else "")
            lines.append(
                f"{c.name:<{width}}  {c.kind:<8} {c.missing_share:>7.1%} {distinct:>9}  {role}"
            )
        lines += ["", *(f"note: {n}" for n in self.notes), "", "suggested build command:"]
        lines.append("  " + self.command())
        return "\n".join(lines)


def inspect_export(path: str, fmt: str = "auto", max_rows: int | None = DEFAULT_ROWS) -> Inspection:
    """Profile the export (streamed; at most `max_rows` rows) and suggest a build command."""
    export = open_export(path, fmt)
    profiles = [ColumnProfile(n, str(export.schema.field(n).type)) for n in export.names]
    rows, complete = _profile(export, profiles, max_rows)
    for p in profiles:
        p.infer_kind()
    notes: list[str] = []
    flags = _assign_roles(profiles, rows, notes)
    return Inspection(path, export.format, rows, complete, profiles, flags, notes)


def _profile(
    export: Export, profiles: list[ColumnProfile], max_rows: int | None
) -> tuple[int, bool]:
    rows = 0
    for batch in export.batches(None, 16_384):
        if max_rows is not None and rows + batch.num_rows > max_rows:
            batch = batch.slice(0, max_rows - rows)
        for p, column in zip(profiles, batch.columns, strict=True):
            p.add(column)
        rows += batch.num_rows
        if max_rows is not None and rows >= max_rows:
            return rows, False
    return rows, True


def _assign_roles(profiles: list[ColumnProfile], rows: int, notes: list[str]) -> dict[str, str]:
    """Key columns first (id, email, label, current), then the features from what is left."""
    flags: dict[str, str] = {}
    free = list(profiles)
    ident = _pick(free, "id", _looks_like_id)
    if ident is not None:
        flags["--id-col"] = ident.name
    else:
        notes.append("no unique id column found: pass --id-col (rows without an id are dropped)")
    email = _pick(free, "email", lambda p: p.kind == "email")
    if email is not None:
        flags["--email-col"] = email.name
    flags.update(_label(free, notes))
    current = _pick(free, "current", lambda p: p.kind == "boolean" and "current" in p.name.lower())
    if current is not None:
        flags["--current-col"] = current.name
    features: dict[str, list[str]] = {"text": [], "categorical": [], "numeric": []}
    for p in free:
        _feature_role(p, rows)
        if p.role in features:
            features[p.role].append(p.name)
    flags["--text-cols"] = ",".join(features["text"])
    flags["--cat-cols"] = ",".join(features["categorical"])
    flags["--num-cols"] = ",".join(features["numeric"])
    if not any(features.values()):
        notes.append("no feature column found: choose --text-cols/--cat-cols/--num-cols")
    return flags


def _pick(free: list[ColumnProfile], role: str, test: Any) -> ColumnProfile | None:
    for p in free:
        if test(p):
            p.role = role
            free.remove(p)
            return p
    return None


def _looks_like_id(p: ColumnProfile) -> bool:
    """Named like an id, almost never empty, and mostly unique (an SCD2 export repeats the ids
    of customers with history rows)."""
    varied = p.distinct_capped or p.n_distinct >= 0.5 * p.present > 0
    return bool(varied and p.missing_share < 0.01 and _ID_NAME.search(p.name.strip()))


def _label(free: list[ColumnProfile], notes: list[str]) -> dict[str, str]:
    """A flag or stage column (with the values that mean 'won'), else a value column."""
    for p in free:
        if p.kind == "boolean" and _LABEL_NAME.search(p.name) and "current" not in p.name.lower():
            p.role = "label"
            free.remove(p)
            return {"--high-value-col": p.name}
    for p in free:
        won = _won_values(p)
        if won:
            p.role, p.reason = "label", "high value: " + ", ".join(won)
            free.remove(p)
            return {"--high-value-col": p.name, "--high-value-values": ",".join(won)}
    for p in free:
        if p.kind in ("integer", "number") and _VALUE_NAME.search(p.name):
            p.role, p.reason = "label", "top 10% by value"
            free.remove(p)
            notes.append(f"high value = the top 10% of {p.name!r}; change with --value-quantile")
            return {"--value-col": p.name, "--value-quantile": "0.9"}
    notes.append(
        "no label found: pass --high-value-col (a true/false or stage column, with "
        "--high-value-values) or --value-col (a numeric value column)"
    )
    return {}


def _won_values(p: ColumnProfile) -> list[str]:
    if p.kind != "text" or p.top is None or not 2 <= len(p.top) <= 30:
        return []
    if not _LABEL_NAME.search(p.name):
        return []
    return [v for v in p.top if v.lower() in WON]


def _feature_role(p: ColumnProfile, rows: int) -> None:
    """text / categorical / numeric, or skip with the reason."""
    if p.kind in ("empty", "date", "email") or p.missing_share > 0.9:
        p.reason = {"empty": "no values", "date": "a date", "email": "an email"}.get(
            p.kind, "mostly empty"
        )
        return
    if _SKIP_NAME.search(p.name):
        p.reason = "personal or contact detail"
        return
    if _ORG_NAME.search(p.name):
        p.reason = (
            "a company name (the duplicate check reads it; as a feature it names, not describes)"
        )
        return
    if _VALUE_NAME.search(p.name) and p.kind in ("integer", "number"):
        p.reason = "value/outcome column: as a feature it may leak the label"
        return
    if p.kind in ("integer", "number"):
        unique = p.n_distinct == p.present and p.present > 50
        p.role, p.reason = ("skip", "unique numbers: an identifier?") if unique else ("numeric", "")
        return
    avg_words = p.words / p.present if p.present else 0.0
    if p.n_distinct <= MAX_CATEGORIES or p.kind == "boolean":
        p.role = "categorical" if p.n_distinct >= 2 else "skip"
        p.reason = "" if p.n_distinct >= 2 else "one value"
    elif avg_words >= 1.5:
        p.role = "text"
    else:
        p.reason = "many distinct short values: a code or a name?"
