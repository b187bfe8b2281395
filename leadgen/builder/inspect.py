"""`leadgen inspect EXPORT`: what is in a CRM export, and the `build` command that fits it.

The first thing a new user runs on their own export. One streamed pass over (the first rows of)
the file profiles every column (inferred type, missing share, distinct values) and guesses its
role from its name and its values: the id (unique, named like an id), the email (values look like
addresses), the label (a true/false flag, or a stage column with a "won" value such as
"Closed Won" or "customer"), the SCD2 current flag, the columns that say who a person is (names,
company, phone, address, birth date as HubSpot, Salesforce, Pipedrive or Dynamics name them:
leadgen.builder.identity_columns; the duplicate check reads them, --first-name-col ...), and the
features: long or varied text -> text, few distinct values -> categorical, numbers -> numeric,
dates -> date (days before the snapshot). Identity columns, value/revenue columns and outcome
dates (a close or "became a customer" date: leadgen.builder.outcome_columns) are never features,
each left out with its reason (as a feature they would leak the label or name a person); a
country may be both.

It also says how the file is written: its dialect (delimiter, encoding, line endings, or the
.xlsx sheet), each numeric column's decimal mark and each date column's form, and what decided
them (leadgen.stores.conventions). A column whose convention nothing decides, a list or struct
column, and a column whose name a `--*-cols` list cannot carry (a comma in it) are left out with
the reason, so the printed command builds as printed (tests run it on CRM-like exports); a name
that looks like a flag (`--out`) is passed as `--text-cols=--out`.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.builder.identity_columns import detect
from leadgen.builder.outcome_columns import outcome_reason
from leadgen.config import (
    ColumnSpec,
    KeyColumns,
    ReadSettings,
    high_value_rule,
    split_cols,
)
from leadgen.model.dates import DateEvidence, date_readings
from leadgen.model.numbers import NumberEvidence, readings
from leadgen.stores.conventions import DateDecision, MarkDecision, decide_dates, decide_marks
from leadgen.stores.exports import (
    CSV_SUFFIXES,
    XLSX_SUFFIXES,
    Export,
    is_nested_type,
    is_numeric_type,
    is_text_type,
    open_export,
)

DEFAULT_ROWS = 200_000
DISTINCT_CAP = 20_000  # distinct values remembered per column (memory stays bounded)
TOP_CAP = 1_000  # value counts kept while a column has at most this many distinct values
MAX_CATEGORIES = 100
TRUTHY = {"true", "t", "yes", "y", "1"}
FALSY = {"false", "f", "no", "n", "0"}
WON = ("closed won", "won", "customer", "evangelist", "vip", "paying", "high", "high value")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ID_NAME = re.compile(r"(^|[^a-z])id$|^id[^a-z]|_id$", re.IGNORECASE)
_SKIP_NAME = re.compile(
    r"name|phone|mobile|fax|street|address|zip|postal|url|website|linkedin|twitter|owner",
    re.IGNORECASE,
)
# The organisation a person works for: read by the fuzzy duplicate check (leadgen.config
# IDENTITY_FIELDS), but as a feature its spellings name a company rather than describe it.
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
    numbers: NumberEvidence = field(default_factory=NumberEvidence)
    integral: dict[str, int] = field(default_factory=lambda: {".": 0, ",": 0})
    flags: int = 0  # values that are true/false words
    emails: int = 0
    dates: DateEvidence = field(default_factory=DateEvidence)
    words: int = 0
    typed: str = ""  # "number" / "date" / "nested" when the file's own type says so
    kind: str = "text"
    role: str = "skip"
    reason: str = ""
    detail: str = ""  # how its numbers or dates are read
    _memo: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False)

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

    @property
    def n_numbers(self) -> int:
        ev = self.numbers
        return ev.point + ev.comma + ev.ambiguous + ev.either

    def add(self, arr: Any) -> None:
        """Fold one batch of this column into the statistics."""
        if is_nested_type(arr.type) or _undecodable(arr):
            self.typed = "nested" if is_nested_type(arr.type) else "binary"
            self.rows += len(arr)
            self.missing += arr.null_count
            return
        values = [None if v is None else str(v).strip() for v in arr.to_pylist()]
        self.rows += len(values)
        self._type_of(arr)
        hints = _hints(arr) if not self.typed else None
        if self.typed == "number":
            self._typed_numbers(arr)
        unread = 0  # present values that start like neither a number nor a date
        for i, v in enumerate(values):
            if not v:
                self.missing += 1
                continue
            low = v.lower()
            self.flags += low in TRUTHY or low in FALSY
            self.emails += bool(_EMAIL.match(v))
            self.words += len(v.split())
            if hints is not None:
                if hints[0][i] or hints[1][i]:
                    self._read(v, hints[0][i], hints[1][i])
                else:
                    unread += 1
            self._remember(low if low in TRUTHY | FALSY else v)
        self.numbers.bad += unread
        self.dates.bad += unread

    def _typed_numbers(self, arr: Any) -> None:
        """A typed number column: every present value is a number with one reading."""
        import pyarrow as pa
        import pyarrow.compute as pc

        numbers = np.asarray(
            pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
        )
        present = numbers[np.isfinite(numbers)]
        self.numbers.either += len(present)
        whole = int((present == np.round(present)).sum())
        self.integral = {mark: count + whole for mark, count in self.integral.items()}

    def _type_of(self, arr: Any) -> None:
        import pyarrow as pa

        if pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type):
            self.typed = "date"
        elif is_numeric_type(arr.type) and not pa.types.is_boolean(arr.type):
            self.typed = "number"

    def _read(self, value: str, number_like: bool, date_like: bool) -> None:
        """How a value reads as a number and as a date (the evidence of its conventions); only
        values that start like one are parsed (a bio never is), each distinct one once."""
        known = self._memo.get(value)
        if known is None:
            found = readings(value) if number_like else None
            stamp = date_readings(value, serials=False) if date_like else None
            known = (found, stamp)
            if len(self._memo) < DISTINCT_CAP:
                self._memo[value] = known
        found, stamp = known
        self.numbers.add(found)
        if found is not None:
            for mark, number in ((".", found.point), (",", found.comma)):
                self.integral[mark] += number is not None and float(number).is_integer()
        self.dates.add(stamp)

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
        if self.typed in ("nested", "binary"):
            self.kind = self.typed
        elif self.present == 0:
            self.kind = "empty"
        elif self.arrow_type == "bool" or self.share(self.flags) == 1.0:
            self.kind = "boolean"
        elif self.typed == "date" or (
            self.typed != "number" and self.share(self.dates.dates) >= 0.8
        ):
            self.kind = "date"
        elif self.share(self.n_numbers) >= 0.95:
            self.kind = "number"
        elif self.share(self.emails) >= 0.8:
            self.kind = "email"
        else:
            self.kind = "text"

    def settle_number(self, decision: MarkDecision) -> None:
        """integer or number once the decimal mark is known, and how it was decided."""
        mark = decision.mark or "."
        whole = self.integral[mark] if self.numbers.ambiguous else max(self.integral.values())
        self.kind = "integer" if whole >= self.n_numbers else "number"
        evidence = decision.ambiguous or self.numbers.own_mark or decision.mark
        if decision.how == "undecided" or (evidence and not self.typed):
            self.detail = decision.describe()


# What a number or a date starts with (a cheap test in C before any value is parsed in Python).
_NUMBER_START = (
    r"^[\s\x{feff}]*[(+\-\x{2212}]?\s*([$€£¥₹₩¢₽₺₪]|US\$|R\$|C\$|A\$|[A-Z]{3})?\s*"
    r"[(+\-\x{2212}]?\s*[0-9.,]"
)
_DATE_START = r"^[\s\x{feff}]*[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{2,4}"


def _hints(arr: Any) -> tuple[list[bool], list[bool]]:
    """Per value: may it be a number, may it be a date (a text column's batch)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = arr if is_text_type(arr.type) else pc.cast(arr, pa.string())
    number = pc.fill_null(pc.match_substring_regex(text, _NUMBER_START), False)
    date = pc.fill_null(pc.match_substring_regex(text, _DATE_START), False)
    return number.to_pylist(), date.to_pylist()


def _undecodable(arr: Any) -> bool:
    """Binary that is not UTF-8 text: the build refuses it as a text column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)):
        return False
    try:
        pc.cast(arr, pa.string())
    except pa.ArrowInvalid:
        return True
    return False


@dataclass
class Inspection:
    path: str
    format: str
    rows: int
    complete: bool  # every row inspected (else the first `rows`)
    columns: list[ColumnProfile]
    flags: dict[str, str]
    notes: list[str]
    source: str = ""  # how the file was read (its dialect or sheet)

    def command(self, out: str = "artifacts") -> str:
        """The suggested `build` command line, quoted for a POSIX shell. A value that starts
        with '-' (a column named like a flag) is joined to its flag with '=', or the shell's
        argument parser would take it for a flag."""
        parts = ["leadgen", "build", "--input", self.path]
        if self.format == "csv" and not self.path.lower().endswith(CSV_SUFFIXES):
            parts += ["--format", "csv"]
        if self.format == "xlsx" and not self.path.lower().endswith(XLSX_SUFFIXES):
            parts += ["--format", "xlsx"]
        for flag, value in [*self.flags.items(), ("--out", out)]:
            parts += [f"{flag}={value}"] if value.startswith("-") else [flag, value]
        return " ".join(shlex.quote(p) for p in parts)

    def render(self) -> str:
        width = max([len(c.name) for c in self.columns] + [6])
        seen = f"{self.rows} rows" + ("" if self.complete else f" (the first {self.rows})")
        lines = [
            f"{self.path}: {self.source or self.format}, {len(self.columns)} columns, {seen}",
            "",
            f"{'column':<{width}}  {'type':<8} {'missing':>7} {'distinct':>9}  role",
        ]
        for c in self.columns:
            distinct = f">{DISTINCT_CAP}" if c.distinct_capped else str(c.n_distinct)
            role = c.role + (f" ({c.reason})" if c.reason else "")
            role += f"; {c.detail}" if c.detail else ""
            lines.append(
                f"{c.name:<{width}}  {c.kind:<8} {c.missing_share:>7.1%} {distinct:>9}  {role}"
            )
        lines += ["", *(f"note: {n}" for n in self.notes), "", "suggested build command:"]
        lines.append("  " + self.command())
        return "\n".join(lines)


def inspect_export(
    path: str,
    fmt: str = "auto",
    max_rows: int | None = DEFAULT_ROWS,
    reading: ReadSettings | None = None,
) -> Inspection:
    """Profile the export (streamed; at most `max_rows` rows) and suggest a build command."""
    reading = reading or ReadSettings()
    export, profiles, rows, complete = profile_export(path, fmt, max_rows, reading)
    marks, forms = _conventions(export, profiles, reading)
    notes: list[str] = []
    flags = _assign_roles(profiles, rows, notes)
    flags.update(_reading_flags(reading, _borrowed(profiles, marks, forms)))
    _skip_leaks(path, export.format, rows, profiles, flags, notes)
    return Inspection(
        path, export.format, rows, complete, profiles, flags, notes, export.describe()
    )


def profile_export(
    path: str, fmt: str, max_rows: int | None, reading: ReadSettings
) -> tuple[Export, list[ColumnProfile], int, bool]:
    """Every column's profile and inferred kind over the first `max_rows` rows (and whether
    that was the whole file)."""
    export = open_export(
        path, fmt, delimiter=reading.delimiter, encoding=reading.encoding, sheet=reading.sheet
    )
    profiles = [ColumnProfile(n, str(export.schema.field(n).type)) for n in export.names]
    rows, complete = _profile(export, profiles, max_rows)
    for p in profiles:
        p.infer_kind()
    return export, profiles, rows, complete


def leak_check_spec(
    path: str, fmt: str, max_rows: int, reading: ReadSettings, columns: list[str]
) -> ColumnSpec | None:
    """How the leak checks read `columns` when nobody configured them: decided dates as dates,
    decided numbers as numbers, varied long text as text, anything else by its values; empty,
    nested and binary columns are left out (None: nothing left)."""
    export, profiles, _, _ = profile_export(path, fmt, max_rows, reading)
    _conventions(export, profiles, reading)
    roles: dict[str, list[str]] = {"text": [], "cat": [], "num": [], "date": []}
    for p in profiles:
        if p.name not in columns or p.kind in _KIND_REASONS:
            continue
        avg_words = p.words / p.present if p.present else 0.0
        if p.kind == "date" and _decided(p):
            roles["date"].append(p.name)
        elif p.kind in ("integer", "number") and _decided(p):
            roles["num"].append(p.name)
        elif p.n_distinct > MAX_CATEGORIES and avg_words >= 1.5:
            roles["text"].append(p.name)
        else:
            roles["cat"].append(p.name)
    if not any(roles.values()):
        return None
    return ColumnSpec.with_dates(
        tuple(roles["text"]), tuple(roles["cat"]), tuple(roles["num"]), tuple(roles["date"])
    )


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


def _conventions(
    export: Export, profiles: list[ColumnProfile], reading: ReadSettings
) -> tuple[dict[str, MarkDecision], dict[str, DateDecision]]:
    """Decimal marks of the number columns, forms of the date columns (undecided ones are left
    out of the roles later)."""
    numbers = {p.name: p for p in profiles if p.kind == "number" and not p.typed}
    marks = decide_marks(
        export.path,
        {n: p.numbers for n, p in numbers.items()},
        forced=reading.decimal,  # type: ignore[arg-type]  # ReadSettings checked it is . or ,
        delimiter=export.dialect.delimiter if export.dialect else None,
        use_file=export.format != "xlsx",
        strict=False,
    )
    for p in profiles:
        if p.kind == "number":
            p.settle_number(marks.get(p.name, MarkDecision(None, "typed")))
    dated = {p.name: p for p in profiles if p.kind == "date" and p.typed != "date"}
    forms = decide_dates(
        export.path,
        {n: p.dates for n, p in dated.items()},
        dayfirst=reading.dayfirst,
        strptime=reading.date_format,
        strict=False,
    )
    for name, form in forms.items():
        dated[name].detail = form.describe()
    return marks, forms


def _borrowed(
    profiles: list[ColumnProfile],
    marks: dict[str, MarkDecision],
    forms: dict[str, DateDecision],
) -> dict[str, str]:
    """--decimal / --dayfirst when a suggested column's convention came from a column the build
    will not read (only the suggested columns decide each other there)."""
    used = {p.name for p in profiles if p.role in ("numeric", "date", "label")}
    out: dict[str, str] = {}
    own = {m.mark for c, m in marks.items() if c in used and m.how == "its values"}
    lent = {
        m.mark
        for c, m in marks.items()
        if c in used and m.how == "the file's other columns" and m.mark not in own
    }
    if len(lent) == 1 and None not in lent:
        out["--decimal"] = str(lent.pop())
    own_orders = {f.format.order for c, f in forms.items() if c in used and f.how == "its values"}
    lent_orders = {
        f.format.order
        for c, f in forms.items()
        if c in used
        and f.how == "the file's other date columns"
        and f.format.order not in own_orders
    }
    if len(lent_orders) == 1 and None not in lent_orders:
        out["--dayfirst"] = "yes" if lent_orders.pop() == "dmy" else "no"
    return out


def _reading_flags(reading: ReadSettings, borrowed: dict[str, str]) -> dict[str, str]:
    """The reading settings inspect was given, for the build to read the file alike."""
    given = {
        "--delimiter": reading.delimiter,
        "--encoding": reading.encoding,
        "--sheet": reading.sheet,
        "--decimal": reading.decimal,
        "--dayfirst": None if reading.dayfirst is None else ("yes" if reading.dayfirst else "no"),
        "--date-format": reading.date_format,
    }
    out = {k: v for k, v in given.items() if v is not None}
    if out.get("--delimiter") == "\t":
        out["--delimiter"] = "tab"
    return {**borrowed, **out}


def _assign_roles(profiles: list[ColumnProfile], rows: int, notes: list[str]) -> dict[str, str]:
    """Key columns first (id, email, label, current), then the features from what is left."""
    flags: dict[str, str] = {}
    free = [p for p in profiles if _nameable(p)]
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
    flags.update(_identity(free))
    for p in free:
        _feature_role(p, rows)
    flags.update(_feature_flags(profiles))
    if not any(flags[f] for f in ("--text-cols", "--cat-cols", "--num-cols")):
        notes.append("no feature column found: choose --text-cols/--cat-cols/--num-cols")
    _undecided_notes(profiles, notes)
    return flags


_FEATURE_FLAGS = {
    "text": "--text-cols",
    "categorical": "--cat-cols",
    "numeric": "--num-cols",
    "date": "--date-cols",
}


def _feature_flags(profiles: list[ColumnProfile]) -> dict[str, str]:
    """The --*-cols lists of the columns whose role is a feature (--date-cols only when any)."""
    out = {
        flag: ",".join(p.name for p in profiles if p.role == role)
        for role, flag in _FEATURE_FLAGS.items()
    }
    if not out["--date-cols"]:
        out.pop("--date-cols")
    return out


def _skip_leaks(
    path: str,
    fmt: str,
    rows: int,
    profiles: list[ColumnProfile],
    flags: dict[str, str],
    notes: list[str],
) -> None:
    """The build's leak checks (leadgen.builder.leaks) on the suggested columns, read as the
    suggested command would read them: a flagged column is skipped with the evidence."""
    from leadgen.builder.leaks import check_columns
    from leadgen.builder.reader import read_crm
    from leadgen.errors import LeadgenError

    label = flags.get("--high-value-col") or flags.get("--value-col")
    if label is None or "--id-col" not in flags:
        notes.append("leak checks not run: they need the label and an id column")
        return
    try:
        spec = ColumnSpec.with_dates(
            *(split_cols(flags.get(f, "")) or () for f in _FEATURE_FLAGS.values())
        )
        rule = high_value_rule(
            flags.get("--high-value-col"),
            flags.get("--value-col"),
            float(flags.get("--value-quantile", "0.9")),
            split_cols(flags.get("--high-value-values")),
        )
        keys = KeyColumns(flags["--id-col"], flags.get("--email-col"), flags.get("--current-col"))
        reading = ReadSettings.parse(*(flags.get(f) for f in _READING_FLAGS))
        table = read_crm(path, spec, rule, keys, fmt=fmt, reading=reading, max_rows=rows)
        check = check_columns(table.columns, spec, table.labels)
    except LeadgenError as exc:
        notes.append(f"leak checks not run: {exc}")
        return
    by_name = {p.name: p for p in profiles}
    for leak in check.flagged:
        by_name[leak.column].role, by_name[leak.column].reason = "skip", leak.short()
    kept = _feature_flags(profiles)
    for flag in _FEATURE_FLAGS.values():
        if flag in kept:
            flags[flag] = kept[flag]  # in place: the command keeps its order
        else:
            flags.pop(flag, None)


_READING_FLAGS = (
    "--delimiter",
    "--encoding",
    "--sheet",
    "--decimal",
    "--dayfirst",
    "--date-format",
)


def _nameable(p: ColumnProfile) -> bool:
    """A column a flag can name as it is: a --*-cols list splits at commas and trims spaces, and
    a blank name is nothing a flag can carry."""
    if not p.name.strip():
        p.reason = "no column name"
    elif "," in p.name:
        p.reason = "its name has a comma (the --*-cols lists are comma-separated): rename it"
    elif p.name != p.name.strip():
        p.reason = "its name starts or ends with spaces (the --*-cols lists trim them): rename it"
    else:
        return True
    return False


def _undecided_notes(profiles: list[ColumnProfile], notes: list[str]) -> None:
    for p in profiles:
        if p.detail.startswith("decimal mark undecided"):
            notes.append(
                f"{p.name!r}: values like 1,234 or 6.787 read two ways and nothing in the file "
                "says which: pass --decimal , or --decimal . to use it"
            )
        if p.detail.startswith("day/month order undecided"):
            notes.append(
                f"{p.name!r}: dates like 05/03/2024 read two ways and nothing in the file says "
                "which: pass --dayfirst yes or no to use it"
            )


def _identity(free: list[ColumnProfile]) -> dict[str, str]:
    """The identity columns by their CRM spellings, as --<field>-col flags (a column already
    named like its field needs none). They are not features; a country may also be one."""
    found = detect([p.name for p in free if p.kind != "nested"])  # a list or struct: no field
    by_name = {p.name: p for p in free}
    flags: dict[str, str] = {}
    for what, column in found.items():
        p = by_name[column]
        if what != "country":
            p.role, p.reason = "identity", what.replace("_", " ") + ", for the duplicate check"
            free.remove(p)
        if column != what:
            flags[f"--{what.replace('_', '-')}-col"] = column
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
        if p.kind in ("integer", "number") and _VALUE_NAME.search(p.name) and _decided(p):
            p.role, p.reason = "label", "top 10% by value"
            free.remove(p)
            notes.append(f"high value = the top 10% of {p.name!r}; change with --value-quantile")
            return {"--value-col": p.name, "--value-quantile": "0.9"}
    notes.append(
        "no label found: pass --high-value-col (a true/false or stage column, with "
        "--high-value-values) or --value-col (a numeric value column)"
    )
    return {}


def _decided(p: ColumnProfile) -> bool:
    return not p.detail.startswith(("decimal mark undecided", "day/month order undecided"))


def _won_values(p: ColumnProfile) -> list[str]:
    if p.kind != "text" or p.top is None or not 2 <= len(p.top) <= 30:
        return []
    if not _LABEL_NAME.search(p.name):
        return []
    return [v for v in p.top if v.lower() in WON and "," not in v]


_KIND_REASONS = {
    "empty": "no values",
    "email": "an email",
    "nested": "a list or struct column: a build reads scalar values only",
    "binary": "binary data that is not UTF-8 text",
}


def _feature_role(p: ColumnProfile, rows: int) -> None:
    """text / categorical / numeric / date, or skip with the reason."""
    if p.kind in _KIND_REASONS or p.missing_share > 0.9:
        p.reason = _KIND_REASONS.get(p.kind, "mostly empty")
        return
    if p.kind == "date":
        _date_role(p)
        return
    if _SKIP_NAME.search(p.name):
        p.reason = "personal or contact detail"
        return
    if p.kind in ("integer", "number"):  # "Organization - Number of employees" is a number
        _number_role(p)
        return
    if _ORG_NAME.search(p.name):
        p.reason = (
            "a company name (the duplicate check reads it; as a feature it names, not describes)"
        )
        return
    avg_words = p.words / p.present if p.present else 0.0
    if p.n_distinct <= MAX_CATEGORIES or p.kind == "boolean":
        p.role = "categorical" if p.n_distinct >= 2 else "skip"
        p.reason = "" if p.n_distinct >= 2 else "one value"
    elif avg_words >= 1.5:
        p.role = "text"
    else:
        p.reason = "many distinct short values: a code or a name?"


def _number_role(p: ColumnProfile) -> None:
    if _VALUE_NAME.search(p.name):
        p.reason = "value/outcome column: as a feature it may leak the label"
    elif not _decided(p):
        p.reason = "its decimal mark is undecided (see the note)"
    elif p.n_distinct == p.present and p.present > 50:
        p.reason = "unique numbers: an identifier?"
    else:
        p.role = "numeric"


def _date_role(p: ColumnProfile) -> None:
    """A date is a feature (days before the snapshot) unless it records the outcome."""
    outcome = outcome_reason(p.name)
    if outcome is not None:
        p.reason = f"an outcome date ({outcome}): as a feature it would leak the label"
    elif not _decided(p):
        p.reason = "its day/month order is undecided (see the note)"
    elif p.n_distinct < 2:
        p.reason = "one value"
    else:
        p.role = "date"
