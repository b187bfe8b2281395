"""The holdout tables of build_report.json: calibration, grades and score distributions.

They are plain JSON with stable keys under report["quality"] (docs/scores.md lists them), so the
HTML report and /health render them without recomputing anything:
  calibration    expected calibration error and a reliability table (per probability bin: mean
                 predicted, observed high-value rate, count) of the headline probability
  grades         per grade: how many holdout customers fell in it, their share, and their
                 measured high-value rate ("A: 9.8% of leads, 41% high-value")
  distributions  binned headline and contrast scores of high-value vs other holdout customers
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leadgen.builder.quality import calibration_error
from leadgen.config import GradeBands

RELIABILITY_BINS = 10
DISTRIBUTION_BINS = 20


def grade_table(
    labels: np.ndarray, percentiles: np.ndarray, bands: GradeBands
) -> list[dict[str, Any]]:
    """Holdout customers per grade (A..D) and their high-value rate (None for an empty grade)."""
    grades = np.array([bands.grade(float(p)) for p in percentiles])
    floors = {**bands.to_json(), "D": 0.0}
    rows = []
    for g in ("A", "B", "C", "D"):
        m = grades == g
        rows.append(
            {
                "grade": g,
                "min_percentile": floors[g],
                "customers": int(m.sum()),
                "share": _r(m.mean()) if len(m) else None,
                "high_value_rate": _r(labels[m].mean()) if m.any() else None,
            }
        )
    return rows


def reliability(
    labels: np.ndarray, probs: np.ndarray, bins: int = RELIABILITY_BINS
) -> list[dict[str, Any]]:
    """Equal-width probability bins that hold customers: mean predicted vs observed rate."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    which = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = which == b
        if m.any():
            rows.append(
                {
                    "bin": [b / bins, (b + 1) / bins],
                    "mean_predicted": _r(p[m].mean()),
                    "observed_rate": _r(labels[m].mean()),
                    "count": int(m.sum()),
                }
            )
    return rows


def distribution(
    labels: np.ndarray, scores: np.ndarray, bins: int = DISTRIBUTION_BINS
) -> dict[str, Any]:
    """Counts of high-value and other customers over equal-width bins of the score's range."""
    lo, hi = float(np.min(scores)), float(np.max(scores))
    if hi <= lo:
        hi = lo + 1e-9
    edges = np.linspace(lo, hi, bins + 1)
    y = np.asarray(labels, dtype=bool)
    return {
        "edges": [_r(e, 6) for e in edges],
        "high_value": np.histogram(scores[y], edges)[0].tolist(),
        "other": np.histogram(scores[~y], edges)[0].tolist(),
    }


def holdout_tables(
    labels: np.ndarray, scores: dict[str, np.ndarray], headline: str, contrast: str
) -> dict[str, Any]:
    """The calibration (when the headline is a probability) and distribution tables."""
    out: dict[str, Any] = {}
    if headline not in ("knn", "knn_learned"):
        p = scores[headline]
        out["calibration"] = {
            "method": "platt",
            "ece": _r(calibration_error(labels, p)),
            "reliability": reliability(labels, p),
        }
    out["distributions"] = {
        "headline": distribution(labels, scores[headline]),
        "contrast": distribution(labels, scores[contrast]),
    }
    return out


def _r(x: float, digits: int = 4) -> float:
    return round(float(x), digits)
