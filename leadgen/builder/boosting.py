"""The head's gradient boosting: LightGBM cross-validated on the build's folds, exported to plain
arrays (leadgen.model.trees) so serving scores and explains it with numpy only.

A tiny fixed grid of tree shapes (never tuned per table) is chosen by cross-validated log-loss;
rounds come from early stopping on the same folds. Each shape is capped in leaves in all, since
TreeSHAP at serving costs about the same per leaf (bench/QUALITY_REAL.md has the latency).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadgen.model.trees import TreeEnsemble, shapley_tables

SHAPES: tuple[dict[str, int], ...] = (
    {"num_leaves": 4, "max_depth": 2},
    {"num_leaves": 16, "max_depth": 5},
    {"num_leaves": 32, "max_depth": 6},
)
# Leaves in all per shape: depth-6 paths double the Shapley table per leaf, so half as many.
MAX_LEAVES = {2: 16_000, 5: 16_000, 6: 8_000}
MAX_ROUNDS = 2000
PATIENCE = 100
BASE_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "min_data_in_leaf": 20,
    "min_sum_hessian_in_leaf": 1e-3,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
}
# Above this many rows LightGBM gets both cores; below, one thread is faster than the overhead.
_THREADED_ROWS = 50_000


@dataclass
class Boosted:
    """The chosen shape, its rounds, out-of-fold margins, and the model refitted on every row."""

    shape: int  # index into SHAPES
    rounds: int
    log_loss: float
    oof: np.ndarray
    trees: TreeEnsemble
    booster: Any  # lightgbm.Booster (build side: tests compare TreeSHAP with pred_contrib)

    def to_json(self) -> dict[str, Any]:
        return {**SHAPES[self.shape], "rounds": self.rounds, "cv_log_loss": round(self.log_loss, 5)}


def boost(
    x: np.ndarray, y: np.ndarray, folds: np.ndarray, seed: int, shape: int | None = None
) -> Boosted:
    """Cross-validate each shape (or only `shape`) on the folds; refit the best on all rows."""
    import lightgbm as lgb

    splits = [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in np.unique(folds)]
    threads = min(2, os.cpu_count() or 1) if len(y) > _THREADED_ROWS else 1
    data = lgb.Dataset(x, y.astype(np.float64), free_raw_data=False)
    best: tuple[float, int, int, np.ndarray] | None = None
    for i in range(len(SHAPES)) if shape is None else (shape,):
        params = {**BASE_PARAMS, **SHAPES[i], "seed": seed, "num_threads": threads}
        cap = MAX_LEAVES[SHAPES[i]["max_depth"]] // SHAPES[i]["num_leaves"]
        res: dict[str, Any] = lgb.cv(
            params,
            data,
            min(MAX_ROUNDS, cap),
            folds=splits,
            return_cvbooster=True,
            callbacks=[lgb.early_stopping(PATIENCE, verbose=False)],
        )
        curve = res["valid binary_logloss-mean"]
        if best is None or curve[-1] < best[0]:
            oof = np.zeros(len(y))
            for (_, te), model in zip(splits, res["cvbooster"].boosters, strict=True):
                oof[te] = model.predict(x[te], raw_score=True, num_iteration=len(curve))
            best = (float(curve[-1]), i, len(curve), oof)
    assert best is not None
    log_loss, i, rounds, oof = best
    params = {**BASE_PARAMS, **SHAPES[i], "seed": seed, "num_threads": threads}
    booster = lgb.train(params, lgb.Dataset(x, y.astype(np.float64)), rounds)
    return Boosted(i, rounds, log_loss, oof, export(booster.dump_model()), booster)


def export(dump: Mapping[str, Any]) -> TreeEnsemble:
    """LightGBM's `dump_model()` as arrays: every leaf's path reduced to its distinct features,
    each with its interval and cover ratio, and the Shapley tables of every leaf."""
    leaves: list[tuple[float, dict[int, tuple[float, float, float]]]] = []
    base = 0.0
    for info in dump["tree_info"]:
        root = info["tree_structure"]
        if "split_feature" not in root:  # a single leaf: a constant
            leaves.append((float(root["leaf_value"]), {}))
            base += float(root["leaf_value"])
            continue
        base += _walk(root, {}, float(root["internal_count"]), leaves)
    depth = max([len(path) for _, path in leaves] + [1])
    n = len(leaves)
    feature = np.zeros((n, depth), dtype=np.int32)
    lo, hi = np.full((n, depth), -math.inf), np.full((n, depth), math.inf)
    ratio = np.ones((n, depth))
    for leaf, (_, path) in enumerate(leaves):
        for slot, (f, (a, b, r)) in enumerate(path.items()):
            feature[leaf, slot], lo[leaf, slot], hi[leaf, slot], ratio[leaf, slot] = f, a, b, r
    values = np.array([v for v, _ in leaves])
    return TreeEnsemble(
        n_features=int(dump["max_feature_idx"]) + 1,
        base_value=base,
        slot_feature=feature,
        slot_lo=lo,
        slot_hi=hi,
        table=shapley_tables(ratio, values),
    )


def _walk(
    node: Mapping[str, Any],
    path: dict[int, tuple[float, float, float]],
    root_cover: float,
    leaves: list[tuple[float, dict[int, tuple[float, float, float]]]],
) -> float:
    """Collect the leaves under `node`; returns their cover-weighted values (the base value)."""
    if "leaf_index" in node:
        leaves.append((float(node["leaf_value"]), path))
        return float(node["leaf_value"]) * float(node["leaf_count"]) / root_cover
    if node.get("decision_type", "<=") != "<=":
        raise ValueError("only numerical '<=' splits can be exported")
    f, threshold = int(node["split_feature"]), float(node["threshold"])
    cover = float(node["internal_count"])
    total = 0.0
    for child, left in ((node["left_child"], True), (node["right_child"], False)):
        share = float(child.get("internal_count", child.get("leaf_count"))) / cover
        a, b, r = path.get(f, (-math.inf, math.inf, 1.0))
        bounds = (a, min(b, threshold)) if left else (max(a, threshold), b)
        total += _walk(child, {**path, f: (*bounds, r * share)}, root_cover, leaves)
    return total
