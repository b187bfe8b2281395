"""Ranking-quality figures for the high-value label, and the gate that refuses bad builds.

AUC and lift are computed in numpy (ties averaged) so the same code checks the build and the tests.
The supervised head (leadgen.builder.head_fit) is fitted at build time only; serving never imports
sklearn or lightgbm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadgen.errors import QualityGateError


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties; NaN if one class is absent."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0 or np.isnan(s).any():
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average ranks over tied runs
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(s)]])
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def lift_at(labels: np.ndarray, scores: np.ndarray, fraction: float) -> float:
    """Positive rate among the top `fraction` by score, divided by the overall positive rate."""
    y = np.asarray(labels, dtype=bool)
    base = y.mean() if len(y) else 0.0
    if base == 0 or np.isnan(scores).any():
        return float("nan")
    n_top = max(1, math.ceil(fraction * len(y)))
    top = np.argsort(-np.asarray(scores), kind="mergesort")[:n_top]
    return float(y[top].mean() / base)


def calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    err = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            err += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(err)


@dataclass
class Figures:
    auc: float
    lift10: float
    lift20: float
    ece: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "auc": _r(self.auc),
            "lift@10%": _r(self.lift10),
            "lift@20%": _r(self.lift20),
        }
        if self.ece is not None:
            out["calibration_error"] = _r(self.ece)
        return out


def _r(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 4)


def figures(labels: np.ndarray, scores: np.ndarray, probs: np.ndarray | None = None) -> Figures:
    return Figures(
        auc=roc_auc(labels, scores),
        lift10=lift_at(labels, scores, 0.10),
        lift20=lift_at(labels, scores, 0.20),
        ece=calibration_error(labels, probs) if probs is not None else None,
    )


def stratified_holdout(labels: np.ndarray, fraction: float, max_rows: int, seed: int) -> np.ndarray:
    """Boolean mask of a stratified holdout: same positive rate as the whole table."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    # at least a few hundred rows when the table allows it: tiny holdouts make noisy figures
    size = min(max_rows, max(round(fraction * n), min(500, n // 4)))
    mask = np.zeros(n, dtype=bool)
    for cls in (True, False):
        pos = np.flatnonzero(labels == cls)
        take = round(size * len(pos) / max(1, n))
        take = min(take, max(0, len(pos) - 1))
        if take:
            mask[rng.choice(pos, size=take, replace=False)] = True
    return mask


def gate(headline: Figures, min_auc: float, min_lift: float, scores: np.ndarray) -> None:
    """Refuse to publish when the headline figures are below the floor or any score is NaN."""
    if np.isnan(scores).any():
        raise QualityGateError("quality gate: NaN scores on the holdout; not publishing")
    if math.isnan(headline.auc) or headline.auc < min_auc:
        raise QualityGateError(
            f"quality gate: holdout AUC {headline.auc:.3f} is below the floor {min_auc:.3f}; "
            "not publishing (LATEST unchanged)"
        )
    if math.isnan(headline.lift10) or headline.lift10 < min_lift:
        raise QualityGateError(
            f"quality gate: holdout lift@10% {headline.lift10:.2f} is below the floor "
            f"{min_lift:.2f}; not publishing (LATEST unchanged)"
        )


def drift_gate(drift: Mapping[str, Any], max_psi: float | None) -> None:
    """Refuse a version whose largest column PSI against the previous version is above
    `max_psi` (off when None; a first version has nothing to drift from)."""
    psi = drift.get("max_psi")
    if max_psi is None or psi is None or psi <= max_psi:
        return
    raise QualityGateError(
        f"quality gate: column {drift.get('max_psi_column')!r} drifted from "
        f"{drift.get('previous_version')} with PSI {psi:.3f}, above the limit {max_psi:.3f} "
        "(--max-psi / LEADGEN_MAX_PSI); not publishing (LATEST unchanged)"
    )
