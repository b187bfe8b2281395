"""How an export's columns write numbers and dates, decided from their values.

A column's decimal mark matters only for its ambiguous values (`6.787`, `1,234`: a decimal or a
thousands group, leadgen.model.numbers). It is decided, in this order, by:

1. `--decimal` (forced, for every numeric column);
2. the column's own values: some read only with one mark (`1.234.567`, `0,33`) and none only with
   the other;
3. the file's other columns read here, when those that decide agree;
4. the delimiter: Excel writes `;` where the decimal mark is `,` and `,` where it is `.`;

and a column with ambiguous values that none of these decides is refused by name (`--decimal`
to say it). A date column's day/month order is decided the same way (`--date-format` or
`--dayfirst`, its own values with a day above 12, the file's other date columns), and it holds
Excel serials when its values are such numbers. The decisions are recorded in the version
(leadgen.model.fields.FieldFormats), so a lead's "1,200" or "05/03/2024" means what the export's
did; every value is parsed by the one function serving uses (parse_number, parse_date), once per
distinct value.

Build time and CLI only (pyarrow): inspect, the build's reader and score-file's lead files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadgen.errors import InputError
from leadgen.model.dates import (
    DateEvidence,
    DateFormat,
    DateProblem,
    Order,
    date_readings,
    parse_date,
)
from leadgen.model.numbers import DecimalMark, NumberEvidence, NumberProblem, parse_number, readings

DELIMITER_MARK: dict[str, DecimalMark] = {";": ",", ",": "."}


@dataclass(frozen=True)
class MarkDecision:
    """A numeric column's decimal mark (None: undecided, and not needed) and what decided it."""

    mark: DecimalMark | None
    how: str  # "--decimal", "its values", "the file's other columns", "the delimiter", "-"
    ambiguous: int = 0  # values the mark decides

    def describe(self) -> str:
        if self.how == "undecided":
            return f"decimal mark undecided ({self.ambiguous} ambiguous values)"
        if self.mark is None:
            return "no decimal mark needed"
        return f"decimal '{self.mark}' ({self.how})"


@dataclass(frozen=True)
class DateDecision:
    column: str
    format: DateFormat
    how: str

    def describe(self) -> str:
        if self.how == "undecided":
            return "day/month order undecided"
        if self.format.order is None and not self.format.strptime:
            return self.format.describe()
        return f"{self.format.describe()} ({self.how})"


# ---- evidence ----------------------------------------------------------------------------------
def _distinct(arr: Any) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """(distinct non-null values, their counts, each row's position among them or -1)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    counts = pc.value_counts(pc.drop_null(arr))
    values = counts.field("values")
    positions = pc.fill_null(pc.index_in(arr, value_set=values), -1)
    return (
        values.to_pylist(),
        np.asarray(counts.field("counts").to_numpy(zero_copy_only=False), dtype=np.int64),
        np.asarray(positions.to_numpy(zero_copy_only=False), dtype=np.int64),
    )


def _first_rows(kinds: list[str], positions: np.ndarray, row_base: int) -> dict[str, int]:
    """The first data row (1-based) holding a value of each kind."""
    out: dict[str, int] = {}
    valid = positions >= 0
    labels = np.array([*kinds, ""], dtype=object)[np.where(valid, positions, len(kinds))]
    for kind in set(kinds) - {""}:
        hits = np.flatnonzero(labels == kind)
        if len(hits):
            out[kind] = int(hits[0]) + row_base
    return out


def number_evidence(arr: Any, row_base: int = 1) -> NumberEvidence:
    """How a text column's values read as numbers (empty text is missing, not evidence)."""
    values, counts, positions = _distinct(arr)
    evidence = NumberEvidence()
    kinds = []
    for value, count in zip(values, counts.tolist(), strict=True):
        if not str(value).strip():
            kinds.append("")
            continue
        found = readings(str(value))
        evidence.add(found, count)
        kinds.append("bad" if found is None else found.shape)
    evidence.first_row = _first_rows(kinds, positions, row_base)
    return evidence


def date_evidence(arr: Any, row_base: int = 1, serials: bool = True) -> DateEvidence:
    """How a text column's values read as dates, and the newest date read."""
    values, counts, positions = _distinct(arr)
    evidence = DateEvidence()
    kinds = []
    for value, count in zip(values, counts.tolist(), strict=True):
        if not str(value).strip():
            kinds.append("")
            continue
        found = date_readings(str(value), serials=serials)
        evidence.add(found, count)
        kinds.append("bad" if found is None else found.shape)
        if found is not None and found.shape != "ambiguous":
            moment = found.under(None)
            evidence.newest = moment if evidence.newest is None else max(evidence.newest, moment)
    evidence.first_row = _first_rows(kinds, positions, row_base)
    return evidence


# ---- decisions ---------------------------------------------------------------------------------
def _first_decided(chain: Sequence[tuple[Any, str]]) -> tuple[Any, str]:
    """The first (choice, what decided it) of `chain` that decides; (None, "-") if none does."""
    return next(((c, how) for c, how in chain if c is not None), (None, "-"))


def _unanimous(choices: list[Any]) -> Any:
    """The one choice all deciding columns made (None: none decided, or they disagree)."""
    decided = {c for c in choices if c is not None}
    return decided.pop() if len(decided) == 1 else None


def decide_marks(
    path: str,
    evidence: Mapping[str, NumberEvidence],
    *,
    forced: DecimalMark | None = None,
    delimiter: str | None = None,
    use_file: bool = True,
    recorded: Mapping[str, DecimalMark | None] | None = None,
    strict: bool = True,
) -> dict[str, MarkDecision]:
    """Each column's decimal mark (see the module doc); InputError naming the first column
    whose ambiguous values nothing decides. `use_file` False: no column decides another's (an
    .xlsx, whose typed numbers carry a '.' that says nothing of how its text is written).
    `recorded`: the marks a version recorded, the last resort for a lead file's columns.
    `strict` False: an undecided column is returned (how "undecided") instead of refused."""
    own_marks: list[DecimalMark | None] = [e.own_mark for e in evidence.values()]
    file_mark = _unanimous(own_marks) if use_file else None
    by_delimiter = DELIMITER_MARK.get(delimiter or "")
    out: dict[str, MarkDecision] = {}
    for col, ev in evidence.items():
        chain: list[tuple[DecimalMark | None, str]] = [
            (forced, "--decimal"),
            (ev.own_mark, "its values"),
            (file_mark, "the file's other columns"),
            (by_delimiter, f"the '{delimiter}' delimiter"),
            ((recorded or {}).get(col), "the version's"),
        ]
        mark, how = _first_decided(chain)
        if mark is None and ev.ambiguous:
            if strict:
                raise undecided_mark(path, col, ev)
            how = "undecided"
        out[col] = MarkDecision(mark, how, ev.ambiguous)
    return out


def undecided_mark(path: str, col: str, ev: NumberEvidence) -> InputError:
    row = ev.first_row.get("ambiguous")
    where = f" (e.g. row {row})" if row else ""
    mixed = (
        f"; its values mix both marks (row {ev.first_row.get('point')} reads only with '.', "
        f"row {ev.first_row.get('comma')} only with ',')"
        if ev.conflicting
        else ""
    )
    return InputError(
        f"{path}: numeric column {col!r}: {ev.ambiguous} values{where} read differently with "
        f"'.' or ',' as decimal mark (like 1,234 or 6.787){mixed}, and nothing in the file "
        "decides which: pass --decimal , or --decimal ."
    )


def decide_dates(
    path: str,
    evidence: Mapping[str, DateEvidence],
    *,
    dayfirst: bool | None = None,
    strptime: str | None = None,
    recorded: Mapping[str, DateFormat] | None = None,
    strict: bool = True,
) -> dict[str, DateDecision]:
    """Each date column's form (see the module doc); InputError naming the first column whose
    ambiguous day/month values nothing decides (`strict` False: returned, how "undecided")."""
    if strptime:
        fmt = DateFormat(strptime=strptime)
        return {c: DateDecision(c, fmt, "--date-format") for c in evidence}
    kept = {c: f for c, f in (recorded or {}).items() if f.strptime and c in evidence}
    forced: Order | None = None if dayfirst is None else ("dmy" if dayfirst else "mdy")
    own_orders: list[Order | None] = [e.own_order for e in evidence.values()]
    file_order = _unanimous(own_orders)
    out: dict[str, DateDecision] = {c: DateDecision(c, f, "the version's") for c, f in kept.items()}
    for col, ev in evidence.items():
        if col in kept:
            continue
        chain: list[tuple[Order | None, str]] = [
            (forced, "--dayfirst"),
            (ev.own_order, "its values"),
            (file_order, "the file's other date columns"),
            ((recorded or {}).get(col, DateFormat()).order, "the version's"),
        ]
        order, how = _first_decided(chain)
        if order is None and ev.ambiguous:
            if strict:
                raise undecided_order(path, col, ev)
            how = "undecided"
        serial = ev.serial > 0 or (recorded or {}).get(col, DateFormat()).serial
        out[col] = DateDecision(col, DateFormat(order=order, serial=serial), how)
    return out


def undecided_order(path: str, col: str, ev: DateEvidence) -> InputError:
    row = ev.first_row.get("ambiguous")
    where = f" (e.g. row {row})" if row else ""
    mixed = (
        f"; its values mix both orders (row {ev.first_row.get('dmy')} is day first, row "
        f"{ev.first_row.get('mdy')} month first)"
        if ev.conflicting
        else ""
    )
    return InputError(
        f"{path}: date column {col!r}: {ev.ambiguous} dates{where} have day and month both 12 or "
        f"less{mixed}, and nothing in the file says which comes first: pass --dayfirst yes (or "
        "no), or --date-format (e.g. %d/%m/%Y)"
    )


# ---- values ------------------------------------------------------------------------------------
def _parsed(arr: Any, parse: Callable[[str], float | None]) -> tuple[np.ndarray, np.ndarray]:
    """(float64 per row, NaN for missing or bad; which rows held something `parse` refused),
    parsing each distinct value once."""
    values, _, positions = _distinct(arr)
    parsed = np.full(len(values) + 1, np.nan)
    refused = np.zeros(len(values) + 1, dtype=bool)
    for i, value in enumerate(values):
        try:
            got = parse(str(value))
        except (NumberProblem, DateProblem):
            refused[i] = True
            continue
        parsed[i] = np.nan if got is None else got
    index = np.where(positions >= 0, positions, len(values))
    return parsed[index], refused[index]


def read_numbers(arr: Any, mark: DecimalMark | None) -> tuple[np.ndarray, np.ndarray]:
    """A column as numbers: typed numbers as they are, text with its decided mark; (float64
    values with NaN for missing, rows that held something that is no number). TypeError for a
    column of another type (a list, a binary blob)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_null(arr.type):
        return np.full(len(arr), np.nan), np.zeros(len(arr), dtype=bool)
    if _typed_number(arr.type):
        out = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(out, dtype=np.float64), np.zeros(len(arr), dtype=bool)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise TypeError(f"{arr.type}")
    return _parsed(arr, lambda text: parse_number(text, mark))


def _typed_number(t: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
    )


def read_dates(arr: Any, fmt: DateFormat) -> tuple[np.ndarray, np.ndarray]:
    """A column as UTC seconds: typed dates as they are, text in its decided form; (seconds
    with NaN for missing, rows that held something that is no date)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_null(arr.type):
        return np.full(len(arr), np.nan), np.zeros(len(arr), dtype=bool)
    if pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type):
        stamps = pc.cast(pc.cast(arr, pa.timestamp("us", tz="UTC")), pa.int64())
        micros = np.asarray(stamps.to_numpy(zero_copy_only=False), dtype=np.float64)
        return micros / 1e6, np.zeros(len(arr), dtype=bool)
    if _typed_number(arr.type) and fmt.serial:
        return _parsed(arr, lambda text: parse_date(float(text), fmt))
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise TypeError(f"{arr.type}")
    return _parsed(arr, lambda text: parse_date(text, fmt))
