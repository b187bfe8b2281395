"""The supervised head: a logistic model on the same features, stacked with the lookalike score.

Plain kNN similarity treats every column alike; a linear model trained on the high-value label
knows which features matter. The head keeps both: p_high_value = sigmoid(a * logit(p_lr) +
b * contrast + c), with (a, b, c) fitted on the holdout (cross-fitted for the reported figures).
At serving it is a dot product and a sigmoid: plain arrays in head.json, numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.model.calibration import percentile_of, sigmoid
from leadgen.model.knn import KnnScores


@dataclass
class Head:
    """`headline_name` is what grades use: 'contrast' (no head) or 'p_high_value'."""

    headline_name: str = "contrast"
    coef_text: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_tab: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intercept: float = 0.0
    stack: tuple[float, float, float] = (1.0, 0.0, 0.0)  # a, b, c
    calibration: np.ndarray = field(default_factory=lambda: np.zeros(0))  # sorted customer p's

    @property
    def enabled(self) -> bool:
        return self.coef_text.size + self.coef_tab.size > 0

    def lr_logit(self, text: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = np.full(len(text), self.intercept, dtype=np.float64)
        if self.coef_text.size:
            out += text.astype(np.float64) @ self.coef_text
        if self.coef_tab.size:
            out += z @ self.coef_tab
        return out

    def probability(self, text: np.ndarray, z: np.ndarray, scores: KnnScores) -> np.ndarray | None:
        if not self.enabled:
            return None
        a, b, c = self.stack
        return sigmoid(a * self.lr_logit(text, z) + b * scores.contrast + c)

    def headline(self, scores: KnnScores, p: np.ndarray | None) -> np.ndarray:
        if self.headline_name == "p_high_value" and p is not None:
            return p
        return scores.contrast

    def percentile(self, headline: np.ndarray, contrast_pct: np.ndarray) -> np.ndarray:
        if self.headline_name == "p_high_value" and self.calibration.size:
            return percentile_of(self.calibration, headline)
        return contrast_pct

    def drivers(self, z: np.ndarray, columns: list[str], top: int = 3) -> list[dict[str, Any]]:
        """Tabular columns pushing this lead's p_high_value up or down the most (coef * z)."""
        if not self.coef_tab.size:
            return []
        contrib = self.coef_tab * z * self.stack[0]
        order = np.argsort(-np.abs(contrib))[:top]
        return [
            {
                "feature": columns[i],
                "effect": "raises" if contrib[i] > 0 else "lowers",
                "contribution": round(float(contrib[i]), 4),
            }
            for i in order
            if abs(contrib[i]) > 1e-6
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "headline": self.headline_name,
            "coef_text": self.coef_text.tolist(),
            "coef_tab": self.coef_tab.tolist(),
            "intercept": self.intercept,
            "stack": list(self.stack),
            "calibration": self.calibration.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Head:
        a, b, c = (float(x) for x in data.get("stack", (1.0, 0.0, 0.0)))
        return cls(
            headline_name=str(data.get("headline", "contrast")),
            coef_text=np.asarray(data.get("coef_text", []), dtype=np.float64),
            coef_tab=np.asarray(data.get("coef_tab", []), dtype=np.float64),
            intercept=float(data.get("intercept", 0.0)),
            stack=(a, b, c),
            calibration=np.asarray(data.get("calibration", []), dtype=np.float64),
        )
