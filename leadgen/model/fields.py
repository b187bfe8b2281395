"""One reading of a raw field value, for every path: an export's cell at build time, and a
lead's value in /score_lead, /score_leads, `score`, `score-file` and the bulk job.

A raw value is a JSON number, a JSON string ("1,200", "1.200,5", "05.03.2024"), a CSV cell or an
.xlsx cell (read as text by leadgen.stores.xlsx). Numeric columns read it with the decimal mark
their version recorded (leadgen.model.numbers), date columns with the recorded date form and turn
it into days before a reference time (leadgen.model.dates): the export's snapshot for customers,
the scoring time for leads. `FieldFormats` is what a version records; the build decides it from
the export's values (leadgen.stores.conventions) and serving reads leads with it.

Standard library only: the Lambda validates leads with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from leadgen.model.dates import DateFormat, DateProblem, days_before, parse_date
from leadgen.model.numbers import DecimalMark, NumberProblem, parse_number

FieldProblem = (NumberProblem, DateProblem)


@dataclass(frozen=True)
class FieldFormats:
    """How a version reads its numeric and date columns' raw values: a decimal mark per numeric
    column (None: undecided, so an ambiguous "1,234" is refused), a date form per date column,
    and the time the customers' dates were measured against (UTC seconds; None: no dates)."""

    decimal: Mapping[str, DecimalMark | None] = field(default_factory=dict)
    dates: Mapping[str, DateFormat] = field(default_factory=dict)
    reference: float | None = None

    def mark(self, column: str) -> DecimalMark | None:
        return self.decimal.get(column)

    def date_format(self, column: str) -> DateFormat:
        return self.dates.get(column, DateFormat())

    def to_json(self) -> dict[str, Any]:
        return {
            "decimal": dict(self.decimal),
            "dates": {c: f.to_json() for c, f in self.dates.items()},
            "reference": self.reference,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> FieldFormats:
        """A manifest's formats; None (a version built before they were recorded) reads every
        value with no mark decided."""
        if not data:
            return cls()
        marks = {str(c): m for c, m in dict(data.get("decimal", {})).items()}
        for col, mark in marks.items():
            if mark not in (None, ".", ","):
                raise ValueError(f"decimal mark of {col!r} must be '.' or ',', got {mark!r}")
        dates = {
            str(c): DateFormat.from_json(dict(f)) for c, f in dict(data.get("dates", {})).items()
        }
        reference = data.get("reference")
        return cls(marks, dates, None if reference is None else float(reference))


def number_field(value: Any, mark: DecimalMark | None) -> float | None:
    """A numeric column's value: a number as is, text as people write numbers (read with
    `mark` when ambiguous), None or empty text as missing. NumberProblem otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise NumberProblem("expected a number, got a boolean")
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an int beyond float's range
            return math.inf
    if isinstance(value, str):
        return parse_number(value, mark)
    raise NumberProblem(f"expected a number, got {type(value).__name__}")


def date_field(value: Any, fmt: DateFormat, reference: float) -> float | None:
    """A date column's value as days before `reference` (UTC seconds); None when missing.
    DateProblem when it is no date in the column's form."""
    if not isinstance(value, str | int | float | date | type(None)):
        raise DateProblem(f"expected a date string, got {type(value).__name__}")
    return days_before(reference, parse_date(value, fmt))
