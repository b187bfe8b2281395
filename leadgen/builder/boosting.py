"""The head's gradient boosting: LightGBM cross-validated on the build's folds, exported to plain
arrays (leadgen.model.trees) so serving scores and explains it with numpy only.

A tiny fixed grid of tree shapes (never tuned per table) is chosen by out-of-fold log-loss, on
the rows the head's C is chosen on (at most C_MAX_ROWS: leadgen.builder.head_fit); on more rows
only the chosen shape is cross-fitted on all of them. Each fold's model stops by early stopping
on the fold's own held-out part; the shape is refitted on every row for the folds' mean number
of rounds. Each shape is capped in leaves in all, since TreeSHAP at serving costs about the same
per leaf (bench/QUALITY_REAL.md has the latency).

Every model runs on one LightGBM thread and the folds side by side (leadgen.builder.workers);
the rows are binned once for every fold and shape, in fewer bins on large tables, where a
split's histogram costs more than the finer bins gain (bench/BUILD_SPEED.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadgen.builder.progress import Note, silent
from leadgen.builder.workers import side_by_side
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
    "num_threads": 1,
}
# LightGBM's default bins; above COARSE_ROWS rows, COARSE_BINS.
BINS = 255
COARSE_ROWS = 50_000
COARSE_BINS = 63


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
    x: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    seed: int,
    shape: int | None = None,
    note: Note = silent,
    choose_on: np.ndarray | None = None,
) -> Boosted:
    """Cross-fit each shape (or only `shape`) on the folds of the rows `choose_on` (default:
    all), keep the best by out-of-fold log-loss; cross-fit it on all rows if the choice saw
    fewer; refit it on all rows."""
    rows = np.arange(len(y)) if choose_on is None else choose_on
    best: tuple[float, int, int, np.ndarray] | None = None
    for i in range(len(SHAPES)) if shape is None else (shape,):
        oof, rounds = cross_fit(x[rows], y[rows], folds[rows], i, seed, note)
        loss = log_loss(y[rows], oof)
        if best is None or loss < best[0]:
            best = (loss, i, rounds, oof)
    assert best is not None
    loss, i, rounds, oof = best
    if len(rows) < len(y):
        oof, rounds = cross_fit(x, y, folds, i, seed, note)
        loss = log_loss(y, oof)
    return refit_boosted(x, y, seed, i, rounds, oof, loss)


def refit_boosted(
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    shape: int,
    rounds: int,
    oof: np.ndarray,
    loss: float | None = None,
) -> Boosted:
    """Shape `shape` fitted on every row for `rounds` rounds, exported; `oof` are the rows'
    out-of-fold margins it is reported with."""
    import lightgbm as lgb

    data = lgb.Dataset(x, y.astype(np.float64), params={"max_bin": _bins(len(y))})
    booster = lgb.train(_params(shape, seed, len(y)), data, rounds)
    loss = log_loss(y, oof) if loss is None else loss
    return Boosted(shape, rounds, loss, oof, export(booster.dump_model()), booster)


def cross_fit(
    x: np.ndarray, y: np.ndarray, folds: np.ndarray, shape: int, seed: int, note: Note = silent
) -> tuple[np.ndarray, int]:
    """Out-of-fold margins of one shape, each fold stopped early on its own held-out part, the
    folds side by side; and the folds' mean rounds."""
    import lightgbm as lgb

    params = _params(shape, seed, len(y))
    data = lgb.Dataset(x, y.astype(np.float64), params={"max_bin": params["max_bin"]})
    data.construct()
    parts = [np.flatnonzero(folds != f) for f in np.unique(folds)]
    held = [np.flatnonzero(folds == f) for f in np.unique(folds)]
    # cut from the binned rows here: the workers then only read them
    sets = [
        (data.subset(tr.tolist()).construct(), data.subset(te.tolist()).construct())
        for tr, te in zip(parts, held, strict=True)
    ]
    cap = min(MAX_ROUNDS, MAX_LEAVES[SHAPES[shape]["max_depth"]] // SHAPES[shape]["num_leaves"])
    label = f"gradient boosting ({SHAPES[shape]['num_leaves']} leaves)"

    def fold(part: int) -> tuple[np.ndarray, int]:
        train, valid = sets[part]
        early = lgb.early_stopping(PATIENCE, verbose=False)
        model = lgb.train(params, train, cap, valid_sets=[valid], callbacks=[early])
        rounds = model.best_iteration or cap
        note(f"{label}: fold {part + 1} of {len(sets)} ({rounds} rounds)")
        margins = model.predict(x[held[part]], raw_score=True, num_iteration=rounds)
        return np.asarray(margins, dtype=np.float64), rounds

    oof = np.zeros(len(y))
    results = side_by_side(fold, range(len(sets)))
    for rows, (margins, _) in zip(held, results, strict=True):
        oof[rows] = margins
    return oof, max(1, round(float(np.mean([r for _, r in results]))))


def log_loss(y: np.ndarray, margin: np.ndarray) -> float:
    """Binary log-loss of margins (log-odds), without overflow."""
    return float(np.mean(np.logaddexp(0.0, margin) - y * margin))


def _bins(rows: int) -> int:
    return COARSE_BINS if rows > COARSE_ROWS else BINS


def _params(shape: int, seed: int, rows: int) -> dict[str, Any]:
    return {**BASE_PARAMS, **SHAPES[shape], "seed": seed, "max_bin": _bins(rows)}


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
