"""Quality on a stratified holdout, scored against indices built without it.

Every candidate score (plain kNN, learned-weight kNN, the blend with the supervised head, and
the logistic-regression and gradient-boosting baselines) is measured on the same held-out
customers; the headline is the better of the blend and the kNN contrast, and its figures are
the ones the quality gate reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.build.fitting import (
    LR_MAX_ROWS,
    Features,
    apply_space,
    fit_lr,
    fit_space,
    fit_stack,
    learn_weights,
    sample_rows,
)
from leadgen.build.quality import Figures, boosting_baseline, figures, stratified_holdout
from leadgen.config import BuildConfig
from leadgen.model import index as ix
from leadgen.model.calibration import sigmoid
from leadgen.model.knn import KnnScores, search_neighbours

# Trees on 384 raw embedding dimensions are slow and no better: they get this many top text
# components (an SVD of the training rows) beside the standardised columns.
GB_TEXT_DIMS = 16


@dataclass
class HoldoutResult:
    rows: int
    positives: int
    figures: dict[str, Figures]
    weights: np.ndarray | None  # learned column weights (None: plain kNN)
    column_weights: dict[str, float]
    stack: tuple[float, float, float]
    headline: str  # "p_high_value" | "contrast"
    headline_source: str  # which of `figures` the headline is
    headline_scores: np.ndarray = field(repr=False)
    # the held-out rows (build/served.py scores them again through the published indices)
    test_rows: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))

    @property
    def headline_figures(self) -> Figures:
        return self.figures[self.headline_source]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"holdout_rows": self.rows, "holdout_positives": self.positives}
        if self.column_weights:
            out["column_weights"] = self.column_weights
        out["scores"] = {name: f.to_json() for name, f in self.figures.items()}
        out["headline"] = {
            "score": self.headline,
            "source": self.headline_source,
            **self.headline_figures.to_json(),
        }
        return out


def evaluate_holdout(
    feats: Features, cfg: BuildConfig, say: Callable[[str], None]
) -> HoldoutResult:
    y = feats.table.labels
    mask = stratified_holdout(y, cfg.holdout_fraction, cfg.holdout_max, cfg.seed)
    train, test = np.flatnonzero(~mask), np.flatnonzero(mask)
    y_tr, y_te = y[train], y[test]
    results: dict[str, Figures] = {}

    plain_contrast, z_tr, z_te = _knn_holdout(feats, train, test, cfg, None)
    results["knn"] = figures(y_te, plain_contrast)
    weights, column_weights, best_contrast = None, {}, plain_contrast
    if cfg.learn_weights and z_tr.shape[1]:
        weights = learn_weights(z_tr, y_tr, cfg.seed)
        best_contrast, _, _ = _knn_holdout(feats, train, test, cfg, weights)
        results["knn_learned"] = figures(y_te, best_contrast)
        columns = [*cfg.columns.cat_cols, *cfg.columns.num_cols]
        column_weights = {c: round(float(w), 4) for c, w in zip(columns, weights, strict=True)}

    coef, icpt = fit_lr(feats.text[train], z_tr, y_tr, cfg.seed)
    lr_logit = np.hstack([feats.text[test], z_te]) @ coef + icpt
    p_lr = sigmoid(lr_logit)
    results["logistic_regression"] = figures(y_te, p_lr, p_lr)
    try:
        p_gb = _boosting(feats, train, test, z_tr, z_te, cfg.seed)
        results["gradient_boosting"] = figures(y_te, p_gb, p_gb)
    except ValueError as exc:  # e.g. one class in a tiny table
        say(f"gradient boosting baseline skipped: {exc}")
    p_blend = _cross_fit_stack(lr_logit, best_contrast, y_te, cfg.seed)
    results["blend"] = figures(y_te, p_blend, p_blend)
    stack = (
        fit_stack(lr_logit, best_contrast, y_te, cfg.seed)
        if 0 < y_te.sum() < len(y_te)
        else (1.0, 0.0, 0.0)
    )
    knn_key = "knn_learned" if "knn_learned" in results else "knn"
    blend_better = _nz(results["blend"].auc) > _nz(results[knn_key].auc)
    return HoldoutResult(
        rows=len(test),
        positives=int(y_te.sum()),
        figures=results,
        weights=weights,
        column_weights=column_weights,
        stack=stack,
        headline="p_high_value" if blend_better else "contrast",
        headline_source="blend" if blend_better else knn_key,
        headline_scores=p_blend if blend_better else best_contrast,
        test_rows=test,
    )


def _knn_holdout(
    feats: Features,
    train: np.ndarray,
    test: np.ndarray,
    cfg: BuildConfig,
    weights: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(held-out contrasts, z of train, z of test) in a space fitted on `train`. Each (n, d)
    space is the build's largest matrix at scale: it is freed before the next is built."""
    fitted = fit_space(feats, train, cfg, weights)
    held = apply_space(fitted.transform, feats, test, cfg)
    y_tr = feats.table.labels[train]
    scores = knn_scores(fitted.vectors, y_tr, feats.table.ids[train], held.vectors, cfg.k)
    return scores.contrast, fitted.z, held.z


def knn_scores(
    vec_train: np.ndarray, y_train: np.ndarray, ids_train: np.ndarray, vec_test: np.ndarray, k: int
) -> KnnScores:
    """Scores of held-out rows against exact indices built without them."""
    idx_all, _ = ix.build_index(vec_train, "flat")
    idx_high, _ = ix.build_index(vec_train[y_train], "flat")
    high = search_neighbours(idx_high, ids_train[y_train], vec_test, k)
    everyone = search_neighbours(idx_all, ids_train, vec_test, k)
    return KnnScores.of(high, everyone)


def _boosting(
    feats: Features,
    train: np.ndarray,
    test: np.ndarray,
    z_tr: np.ndarray,
    z_te: np.ndarray,
    seed: int,
) -> np.ndarray:
    rows = sample_rows(len(train), LR_MAX_ROWS, seed)
    t_tr = feats.text[train]
    _, _, vt = np.linalg.svd(t_tr[rows] - t_tr[rows].mean(axis=0), full_matrices=False)
    comp = vt[:GB_TEXT_DIMS].T
    g_tr = np.hstack([t_tr @ comp, z_tr])
    g_te = np.hstack([feats.text[test] @ comp, z_te])
    return boosting_baseline(g_tr[rows], feats.table.labels[train][rows], g_te, seed)


def _cross_fit_stack(
    lr_logit: np.ndarray, contrast: np.ndarray, y: np.ndarray, seed: int
) -> np.ndarray:
    """Blend probabilities on the holdout, each half scored by a stack fitted on the other."""
    folds = np.random.default_rng(seed + 7).integers(0, 2, size=len(y))
    out = np.empty(len(y))
    for f in (0, 1):
        tr, te = folds != f, folds == f
        if y[tr].all() or not y[tr].any() or not te.any():
            out[te] = sigmoid(lr_logit[te])
            continue
        a, b, c = fit_stack(lr_logit[tr], contrast[tr], y[tr], seed)
        out[te] = sigmoid(a * lr_logit[te] + b * contrast[te] + c)
    return out


def _nz(x: float) -> float:
    return -1.0 if math.isnan(x) else x
