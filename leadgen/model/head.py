"""The supervised head: p_high_value of a lead, and the exact drivers of it.

The build (leadgen.builder.head_fit) fits, on every customer with K-fold cross-fitting, a logistic
regression on the head's own features (leadgen.model.head_features) and a small boosted tree
ensemble on them (leadgen.model.trees), stacks their logits (plus, when cross-validation says it
helps, the lead's neighbour features: s_look, s_all, contrast, rate) and calibrates the stack
with Platt scaling:

    p = sigmoid(a * (w_lr * lr + w_gb * gb + w_nb . nb + b_s) + b)

Everything in it is linear in the level-1 scores, so the calibrated logit splits exactly into a
base value and one contribution per configured column: a * w_lr * coef_j * (x_j - mean_j) for
the linear part, a * w_gb * TreeSHAP_j for the trees, a * w_nb . (nb - mean) for "lookalike".
Serving needs numpy only: head.json (encoder, coefficients, stack, Platt, the customers' sorted
probabilities grades are taken against) and the trees' arrays (head_trees.npz).

Without a head (too few high-value customers to learn from) the headline is `contrast`, and
`reason` says why. Either way a lead's percentile is its rank among scores of customers computed
at build time (sorted, stored as plain arrays: `percentile_of`), so grades mean the same thing
across versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from leadgen.model.head_features import TEXT_GROUP, Columns, HeadFeatures
from leadgen.model.trees import TreeEnsemble

NEIGHBOUR_FEATURES = ("s_look", "s_all", "contrast", "rate")
LOOKALIKE_GROUP = "lookalike"


def percentile_of(calibration: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share (0-100) of customer scores at or below each value; 50 with no calibration."""
    if len(calibration) == 0:
        return np.full(len(values), 50.0)
    return 100.0 * np.searchsorted(calibration, values, side="right") / len(calibration)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


@dataclass(frozen=True)
class HeadOutput:
    """p of n rows; base + contributions.sum(axis=1) is the calibrated logit of p exactly."""

    p: np.ndarray  # (n,)
    base: np.ndarray  # (n,)
    contributions: np.ndarray  # (n, len(groups))
    groups: list[str]


@dataclass
class Head:
    """`headline_name` is what grades rank: 'p_high_value', or 'contrast' (no head; `reason`)."""

    headline_name: str = "contrast"
    reason: str = ""
    features: HeadFeatures | None = None
    lr_coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lr_intercept: float = 0.0
    lr_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))  # drivers' reference
    trees: TreeEnsemble | None = None
    stack: np.ndarray = field(default_factory=lambda: np.ones(2))  # over [lr, gb, *nb]
    stack_bias: float = 0.0
    nb_mean: np.ndarray = field(default_factory=lambda: np.zeros(len(NEIGHBOUR_FEATURES)))
    platt: tuple[float, float] = (1.0, 0.0)
    calibration: np.ndarray = field(default_factory=lambda: np.zeros(0))  # sorted customer p's

    @property
    def enabled(self) -> bool:
        return self.headline_name == "p_high_value" and self.features is not None

    @property
    def uses_neighbours(self) -> bool:
        """Whether the stack reads the neighbour features (the lead's `rate` then needs the
        labels of its nearest customers)."""
        return self.stack.size > 2

    @cached_property
    def groups(self) -> list[str]:
        assert self.features is not None
        names = [*self.features.linear_groups(), *self.features.tree_groups()]
        return list(dict.fromkeys([*names, TEXT_GROUP, LOOKALIKE_GROUP]))

    @cached_property
    def _group_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """0/1 matrices summing feature contributions into their configured column."""
        assert self.features is not None
        pos = {g: i for i, g in enumerate(self.groups)}
        out = []
        for names in (self.features.linear_groups(), self.features.tree_groups()):
            m = np.zeros((len(names), len(pos)))
            m[np.arange(len(names)), [pos[g] for g in names]] = 1.0
            out.append(m)
        return out[0], out[1]

    def level1(self, columns: Columns, n: int, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logistic regression logit, tree margin) of n rows: the stack's inputs."""
        assert self.features is not None and self.trees is not None
        x, x_trees = self.features.matrices(columns, n, text)
        _, raw = self.trees.shap(x_trees)
        return x @ self.lr_coef + self.lr_intercept, raw

    def score(
        self, columns: Columns, n: int, text: np.ndarray, nb: np.ndarray
    ) -> HeadOutput | None:
        """p_high_value and its drivers for n rows (`nb`: their neighbour features, (n, 4))."""
        if not self.enabled:
            return None
        assert self.features is not None and self.trees is not None
        a, b = self.platt
        w_lr, w_gb, w_nb = float(self.stack[0]), float(self.stack[1]), self.stack[2:]
        to_lr, to_gb = self._group_maps
        x, x_trees = self.features.matrices(columns, n, text)
        contrib = (a * w_lr) * (((x - self.lr_mean) * self.lr_coef) @ to_lr)
        phi, _ = self.trees.shap(x_trees)
        contrib += (a * w_gb) * (phi @ to_gb)
        base_value = self.stack_bias + w_lr * (
            self.lr_intercept + float(self.lr_mean @ self.lr_coef)
        )
        base_value += w_gb * self.trees.base_value
        if w_nb.size:
            contrib[:, self.groups.index(LOOKALIKE_GROUP)] += a * ((nb - self.nb_mean) @ w_nb)
            base_value += float(self.nb_mean @ w_nb)
        base = np.full(n, a * base_value + b)
        return HeadOutput(sigmoid(base + contrib.sum(axis=1)), base, contrib, self.groups)

    def percentile(self, headline: np.ndarray, contrast_pct: np.ndarray) -> np.ndarray:
        if self.enabled and self.calibration.size:
            return percentile_of(self.calibration, headline)
        return contrast_pct

    def to_json(self) -> dict[str, Any]:
        return {
            "headline": self.headline_name,
            "reason": self.reason,
            "features": None if self.features is None else self.features.to_json(),
            "lr_coef": self.lr_coef.tolist(),
            "lr_intercept": self.lr_intercept,
            "lr_mean": self.lr_mean.tolist(),
            "stack": self.stack.tolist(),
            "stack_bias": self.stack_bias,
            "nb_mean": self.nb_mean.tolist(),
            "platt": list(self.platt),
            "calibration": self.calibration.tolist(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], trees: TreeEnsemble | None) -> Head:
        a, b = (float(x) for x in data["platt"])
        feats = data.get("features")
        return cls(
            headline_name=str(data["headline"]),
            reason=str(data.get("reason", "")),
            features=None if feats is None else HeadFeatures.from_json(feats),
            lr_coef=np.asarray(data["lr_coef"], dtype=np.float64),
            lr_intercept=float(data["lr_intercept"]),
            lr_mean=np.asarray(data["lr_mean"], dtype=np.float64),
            trees=trees,
            stack=np.asarray(data["stack"], dtype=np.float64),
            stack_bias=float(data["stack_bias"]),
            nb_mean=np.asarray(data["nb_mean"], dtype=np.float64),
            platt=(a, b),
            calibration=np.asarray(data["calibration"], dtype=np.float64),
        )


def top_drivers(
    contributions: np.ndarray, groups: list[str], top: int
) -> tuple[list[tuple[str, float]], float]:
    """The `top` columns of one row by |contribution|, and the sum of all the others (so that
    base + listed + rest is the logit exactly)."""
    order = np.argsort(-np.abs(contributions), kind="stable")
    listed = [(groups[i], float(contributions[i])) for i in order[:top] if contributions[i] != 0]
    rest = float(contributions.sum()) - sum(c for _, c in listed)
    return listed, rest
