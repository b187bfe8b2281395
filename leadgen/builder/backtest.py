"""The backtest: how the versions that served did on the leads they scored, once those matured.

Per version that scored matured leads (leadgen.builder.outcomes), and pooled over all of them:
realised conversion and high-value rates overall, per grade (as answered) and per decile of the
version's headline score among its matured leads, each with its count and a 95% Wilson interval;
the realised AUC and lift@10/20% of the headline (p_high_value, or contrast for a version
without a head) at ranking leads by "became a high-value customer"; and the calibration of
p_high_value against what happened. p_high_value is a customer's probability of being
high-value, so its calibration is measured on the leads that became customers (among all leads
it would also mix in the conversion rate); the reliability table and its error are over them.

The figures go to build_report.json (`outcomes.backtest`), the report's section "What happened to
the leads we scored" (leadgen.builder.report_outcomes) and, through `metric_values`, CloudWatch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from leadgen.builder.outcomes import Outcomes
from leadgen.builder.quality import calibration_error, lift_at, roc_auc
from leadgen.builder.report import reliability
from leadgen.names import GRADES, Metric

Z95 = 1.959964
DECILES = 10
# Below these, realised figures are shown but not enforced (the challenger gate) nor put as
# metrics (a noisy AUC on a few leads would page someone for nothing); docs/outcomes.md.
MIN_LEADS = 200
MIN_POSITIVES = 20


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion; (None, None) for n = 0."""
    if n == 0:
        return None, None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return _r(max(0.0, centre - half)), _r(min(1.0, centre + half))


def rates(converted: np.ndarray, high_value: np.ndarray) -> dict[str, Any]:
    """Counts, rates and intervals of a group of matured leads."""
    n, c, h = len(converted), int(converted.sum()), int(high_value.sum())
    return {
        "leads": n,
        "converted": c,
        "high_value": h,
        "conversion_rate": _r(c / n) if n else None,
        "conversion_ci95": list(wilson(c, n)),
        "high_value_rate": _r(h / n) if n else None,
        "high_value_ci95": list(wilson(h, n)),
    }


def enough(leads: int, positives: int) -> bool:
    return leads >= MIN_LEADS and positives >= MIN_POSITIVES


def ranking(high_value: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Realised AUC and lift of a score at finding the leads that became high-value."""
    return {
        "auc": _r(roc_auc(high_value, scores)),
        "lift@10%": _r(lift_at(high_value, scores, 0.10)),
        "lift@20%": _r(lift_at(high_value, scores, 0.20)),
        "enough": enough(len(high_value), int(np.sum(high_value))),
    }


def calibration(
    converted: np.ndarray, high_value: np.ndarray, p: np.ndarray | None
) -> dict[str, Any] | None:
    """p_high_value against what happened, on the leads that became customers."""
    if p is None:
        return None
    keep = converted & ~np.isnan(p)
    if not keep.any():
        return {"customers": 0, "ece": None, "reliability": []}
    y, q = high_value[keep].astype(float), p[keep]
    return {
        "customers": int(keep.sum()),
        "ece": _r(calibration_error(y, q)),
        "reliability": reliability(y, q),
    }


def grade_rows(
    grades: Sequence[str | None], converted: np.ndarray, high_value: np.ndarray
) -> list[dict[str, Any]]:
    g = np.array([x or "" for x in grades])
    return [
        {"grade": grade, **rates(converted[g == grade], high_value[g == grade])} for grade in GRADES
    ]


def decile_rows(
    scores: np.ndarray, converted: np.ndarray, high_value: np.ndarray
) -> list[dict[str, Any]]:
    """Deciles of the headline among these leads, the best first (ties stay together)."""
    order = np.argsort(-scores, kind="stable")
    rows = []
    for d, idx in enumerate(np.array_split(order, DECILES), start=1):
        if len(idx) == 0:
            continue
        rows.append(
            {
                "decile": d,
                "min_score": _r(float(scores[idx].min())),
                "max_score": _r(float(scores[idx].max())),
                **rates(converted[idx], high_value[idx]),
            }
        )
    return rows


def version_figures(outcomes: Outcomes, rows: np.ndarray) -> dict[str, Any]:
    """Everything above for the matured scorings at `rows`."""
    records = [outcomes.matured[i].record for i in rows]
    converted, high = outcomes.converted[rows], outcomes.high_value[rows]
    headline = np.array([_nan(r.headline) for r in records], dtype=np.float64)
    scored = ~np.isnan(headline)
    p = np.array([_nan(r.p_high_value) for r in records], dtype=np.float64)
    has_p = bool(len(p)) and not np.isnan(p).all()
    return {
        **rates(converted, high),
        "graded_on": sorted({r.graded_on or "" for r in records}),
        "grades": grade_rows([r.grade for r in records], converted, high),
        "deciles": decile_rows(headline[scored], converted[scored], high[scored]),
        "ranking": ranking(high[scored], headline[scored]),
        "calibration": calibration(converted, high, p if has_p else None),
    }


def backtest(outcomes: Outcomes) -> dict[str, Any]:
    """Per version (newest first) and pooled; {} without matured leads."""
    if not outcomes.matured:
        return {"versions": [], "all": None}
    versions = np.array([o.record.artifact_version for o in outcomes.matured])
    per_version = [
        {"version": v, **version_figures(outcomes, np.flatnonzero(versions == v))}
        for v in sorted(set(versions.tolist()), reverse=True)
    ]
    pooled = version_figures(outcomes, np.arange(len(outcomes.matured)))
    return {"versions": per_version, "all": pooled}


def metric_values(report: Mapping[str, Any]) -> dict[str, float]:
    """What the build job puts (leadgen.names.Metric): the matured leads always; the pooled
    realised AUC, its gap below this build's holdout AUC and grade A's realised high-value rate
    once there are enough matured leads (MIN_LEADS, MIN_POSITIVES)."""
    outcomes = report.get("outcomes") or {}
    counts = outcomes.get("counts") or {}
    if not counts:
        return {}
    values = {Metric.MATURED_LEADS: float(counts.get("matured", 0))}
    pooled = (outcomes.get("backtest") or {}).get("all") or {}
    rank = pooled.get("ranking") or {}
    if not rank.get("enough") or rank.get("auc") is None:
        return values
    values[Metric.REALIZED_AUC] = float(rank["auc"])
    holdout = (report.get("quality") or {}).get("headline", {}).get("auc")
    if holdout is not None:
        values[Metric.REALIZED_AUC_GAP] = round(float(holdout) - float(rank["auc"]), 4)
    grade_a = next((g for g in pooled.get("grades", []) if g["grade"] == "A"), None)
    if grade_a and grade_a["high_value_rate"] is not None:
        values[Metric.REALIZED_GRADE_A_HIGH_VALUE] = float(grade_a["high_value_rate"])
    return values


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def _r(x: float | None, digits: int = 4) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return round(float(x), digits)
