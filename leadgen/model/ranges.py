"""The training range of each numeric input, and a lead's values clipped into it.

A value far beyond anything the customers had (a score of 1e6 where the CRM's are 0-1, a company
size of 1e12) says nothing the model learnt: standardised, it dominates the tabular vector and
the head's linear part, and alone turns a grade-D lead into grade A. So serving clips each numeric
input to its column's range and says so in the answer's `warnings` (column, value, range).

The range is the customers' own, made robust to a few stray rows: the 0.1th and 99.9th
percentiles widened by the interquartile range (a Tukey fence), and never beyond the smallest and
largest value seen. A typo of 1e9 in one customer row does not stretch it (the fence stops well
short), while every value the bulk of the customers had stays as it was. Dates used as features
are numbers (epoch seconds) by then, and are clipped alike. Stored as plain JSON in the version
(ranges.json); a version without it clips nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# The percentiles the fence starts from, and how many IQRs it reaches beyond them.
LOW_Q, HIGH_Q = 0.1, 99.9
IQR_WIDEN = 1.5


@dataclass(frozen=True)
class ColumnRange:
    low: float
    high: float


@dataclass(frozen=True)
class OutOfRange:
    """One input outside its training range: the value sent and the range it was clipped to."""

    column: str
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class TrainingRanges:
    """Per numeric column, the range a lead's value is clipped to (columns without finite
    training values are absent: nothing to compare with)."""

    columns: Mapping[str, ColumnRange]

    @classmethod
    def of(
        cls, columns: Mapping[str, Sequence[Any] | np.ndarray], num_cols: Sequence[str]
    ) -> TrainingRanges:
        found: dict[str, ColumnRange] = {}
        for col in num_cols:
            vals = columns.get(col)
            if vals is None:
                continue
            x = np.asarray([np.nan if v is None else v for v in vals], dtype=np.float64)
            x = x[np.isfinite(x)]
            if len(x):
                found[col] = _fence(x)
        return cls(found)

    def clip(self, features: Mapping[str, Any]) -> tuple[dict[str, Any], list[OutOfRange]]:
        """`features` with each numeric value inside its range, and what was clipped."""
        out = dict(features)
        flagged: list[OutOfRange] = []
        for col, r in self.columns.items():
            v = out.get(col)
            if not isinstance(v, int | float) or r.low <= v <= r.high:
                continue
            flagged.append(OutOfRange(col, float(v), r.low, r.high))
            out[col] = min(max(float(v), r.low), r.high)
        return out, flagged

    def to_json(self) -> dict[str, Any]:
        return {
            "method": f"p{LOW_Q:g}/p{HIGH_Q:g} widened by {IQR_WIDEN:g} IQR, within min/max",
            "columns": {c: {"low": r.low, "high": r.high} for c, r in self.columns.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainingRanges:
        cols = data.get("columns", {})
        return cls({c: ColumnRange(float(r["low"]), float(r["high"])) for c, r in cols.items()})


NO_RANGES = TrainingRanges({})


def _fence(x: np.ndarray) -> ColumnRange:
    lo_q, q1, q3, hi_q = np.percentile(x, [LOW_Q, 25.0, 75.0, HIGH_Q])
    iqr = float(q3 - q1)
    low = max(float(x.min()), float(lo_q) - IQR_WIDEN * iqr)
    high = min(float(x.max()), float(hi_q) + IQR_WIDEN * iqr)
    return ColumnRange(low, high)
