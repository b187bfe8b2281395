"""The export's numeric and date columns, read as its people wrote them.

Each text column's decimal mark and each date column's day/month order are decided from the
export's values (leadgen.stores.conventions: the column's own, then the file's, then the
delimiter; or as `--decimal` / `--dayfirst` / `--date-format` say), every value is parsed with
the one parser serving uses, and the decisions are recorded (FieldFormats) for the manifest, so
a lead's "1,200" or "05.03.2024" later reads as the customers' did.

Date columns become numbers: the days from each date to the reference time, which is `--as-of`
or else the export's newest date in its date columns (not after the build's own clock: a
"next meeting" in the future does not move the snapshot). A missing date is a missing value.
Values that are no number (no date) count as missing, are reported per column with the row of
the first one (never its value), and above `max_non_numeric` of a column stop the build.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from leadgen.config import ColumnSpec, ReadSettings
from leadgen.errors import InputError
from leadgen.model.dates import SECONDS_PER_DAY, DateEvidence, DateProblem, iso, parse_reference
from leadgen.model.fields import FieldFormats
from leadgen.model.numbers import NumberEvidence
from leadgen.stores.conventions import (
    DateDecision,
    MarkDecision,
    date_evidence,
    decide_dates,
    decide_marks,
    number_evidence,
    read_dates,
    read_numbers,
)
from leadgen.stores.exports import Export, is_text_type


class Scanned(Protocol):
    """What the reader scanned: a column of the current rows, and a row's number in the file."""

    def column(self, name: str) -> Any: ...

    def row_number(self, pos: int) -> int: ...


@dataclass
class Counts:
    """Non-numbers per column, for the build report (CrmTable.non_numeric / dropped)."""

    dropped: int = 0
    per_column: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class NumericColumns:
    values: dict[str, np.ndarray]  # numeric columns, date columns as days, of the kept rows
    formats: FieldFormats
    conventions: list[str]  # how each was read, for the build log and report
    marks: dict[str, MarkDecision]
    counts: Counts


def read_numeric_columns(
    export: Export,
    scan: Scanned,
    keep_pos: np.ndarray,
    spec: ColumnSpec,
    *,
    value_col: str | None = None,
    reading: ReadSettings | None = None,
    as_of: str | None = None,
    max_share: float = 0.05,
) -> NumericColumns:
    """The numeric and date columns of the kept rows (see the module doc). `value_col` is the
    label's value column, whose decimal mark is decided with the others."""
    reading = reading or ReadSettings()
    marks = _marks(
        export, scan, [*spec.plain_num_cols, *([value_col] if value_col else [])], reading
    )
    kept = _Kept(export.path, scan, keep_pos, max_share)
    values = {
        c: kept.checked(c, read_numbers(scan.column(c), marks[c].mark), "number")
        for c in spec.plain_num_cols
    }
    decisions = _date_forms(export, scan, spec.date_cols, reading)
    seconds = {
        c: kept.checked(c, read_dates(scan.column(c), decisions[c].format), "date")
        for c in spec.date_cols
    }
    reference = _reference(as_of, list(seconds.values()))
    for c, secs in seconds.items():
        values[c] = (reference - secs) / SECONDS_PER_DAY
    formats = FieldFormats(
        decimal={c: marks[c].mark for c in spec.plain_num_cols},
        dates={c: d.format for c, d in decisions.items()},
        reference=reference if spec.date_cols else None,
    )
    said = [f"numeric column {c!r}: {m.describe()}" for c, m in marks.items() if m.ambiguous]
    said += [f"date column {c!r}: {d.describe()}" for c, d in decisions.items()]
    if spec.date_cols:
        source = "--as-of" if as_of else "the newest date"
        said.append(f"date columns count days before {iso(reference)} ({source})")
    return NumericColumns(values, formats, said, marks, kept.counts)


def _marks(
    export: Export, scan: Scanned, columns: Sequence[str], reading: ReadSettings
) -> dict[str, MarkDecision]:
    """Decimal marks of the columns held as text; typed columns need none."""
    evidence: dict[str, NumberEvidence] = {}
    for c in columns:
        arr = scan.column(c)
        if is_text_type(arr.type):
            evidence[c] = number_evidence(arr)
    delimiter = export.dialect.delimiter if export.dialect is not None else None
    decided = decide_marks(
        export.path,
        evidence,
        forced=reading.decimal,  # type: ignore[arg-type]  # ReadSettings checked it is . or ,
        delimiter=delimiter,
        use_file=export.format != "xlsx",
    )
    return {c: decided.get(c, MarkDecision(None, "typed")) for c in columns}


def _date_forms(
    export: Export, scan: Scanned, columns: Sequence[str], reading: ReadSettings
) -> dict[str, DateDecision]:
    evidence: dict[str, DateEvidence] = {}
    for c in columns:
        arr = scan.column(c)
        evidence[c] = date_evidence(arr) if is_text_type(arr.type) else DateEvidence()
    return decide_dates(
        export.path, evidence, dayfirst=reading.dayfirst, strptime=reading.date_format
    )


@dataclass
class _Kept:
    """The kept rows of the scan, and what their non-numbers add up to."""

    path: str
    scan: Scanned
    keep_pos: np.ndarray
    max_share: float
    counts: Counts = field(default_factory=Counts)

    def checked(self, col: str, parsed: tuple[np.ndarray, np.ndarray], kind: str) -> np.ndarray:
        """The kept rows' values of one column; what is no `kind` is counted as missing, named
        by its first row (never its value), and above the allowed share stops the build."""
        values, bad = parsed[0][self.keep_pos], parsed[1][self.keep_pos]
        n_bad, n = int(bad.sum()), len(self.keep_pos)
        role, flag = ("date", "--date-cols") if kind == "date" else ("numeric", "--num-cols")
        if n_bad:
            row = self.scan.row_number(int(self.keep_pos[np.flatnonzero(bad)[0]]))
            share = n_bad / max(n, 1)
            self.counts.dropped += n_bad
            self.counts.per_column[col] = {
                "count": n_bad,
                "share": round(share, 4),
                "example_row": row,
            }
            where = f"{n_bad} of {n} values ({share:.1%}) are not {kind}s (e.g. row {row})"
            if share > self.max_share:
                raise InputError(
                    f"{self.path}: {role} column {col!r}: {where}, above the "
                    f"{self.max_share:.0%} allowed (--max-non-numeric); wrong column, or "
                    "another locale?"
                )
            self.counts.warnings.append(f"{role} column {col!r}: {where}; they count as missing")
        if n and not np.isfinite(values).any():
            raise InputError(
                f"{self.path}: {role} column {col!r} has no {kind}s (all {n} current rows are "
                f"empty); remove it from {flag}"
            )
        return values


def _reference(as_of: str | None, seconds: list[np.ndarray]) -> float:
    """--as-of, else the newest date read (not after now); now when there are no dates."""
    if as_of:
        try:
            return parse_reference(as_of)
        except DateProblem as exc:
            raise InputError(f"--as-of {as_of!r}: {exc.reason}") from None
    now = time.time()
    newest = [float(np.nanmax(s)) for s in seconds if len(s) and np.isfinite(s).any()]
    return min(max(newest), now) if newest else now
