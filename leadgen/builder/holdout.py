"""Quality on a stratified holdout, scored exactly as leads would be by what the other customers
would publish: their space, their indices, their head.

Every candidate is measured on the same held-out customers: plain kNN, learned-weight kNN, and
the head's candidates (logistic regression, gradient boosting, their stack with and without the
neighbour features), all fitted on the training customers only. The headline is the head's
calibrated p_high_value (the chosen stack), or the kNN contrast when there are too few
high-value customers to learn from; its holdout figures are the ones the quality gate reads.
The report (leadgen.builder.report) adds calibration, grades and score distributions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.builder import report
from leadgen.builder.fitting import Features, apply_space, fit_space, learn_weights
from leadgen.builder.head_fit import (
    MIN_POSITIVES,
    HeadChoice,
    HeadData,
    HeadFit,
    candidate_logits,
    filtered,
    fit_head,
    head_data,
)
from leadgen.builder.neighbours import features_against
from leadgen.builder.quality import Figures, figures, stratified_holdout
from leadgen.config import BuildConfig
from leadgen.model.head import percentile_of, sigmoid
from leadgen.model.index_backends import backend
from leadgen.model.knn import neighbour_features, search_neighbours
from leadgen.model.vector_index import IndexSpec, choose_kind

HEADLINE = "p_high_value"


@dataclass
class HoldoutResult:
    """The holdout's labels and every candidate's scores on it (arrays, for curves), their
    figures, and what the final fit reuses (column weights, the head's choice)."""

    labels: np.ndarray = field(repr=False)
    scores: dict[str, np.ndarray] = field(repr=False)
    figures: dict[str, Figures]
    weights: np.ndarray | None  # learned column weights (None: plain kNN)
    column_weights: dict[str, float]
    headline: str  # "p_high_value" | "contrast"
    headline_source: str  # which of `scores` the headline is
    reason: str = ""  # why the headline is contrast
    choice: HeadChoice | None = None
    head: dict[str, Any] = field(default_factory=dict)  # cv figures, choice, why
    grades: list[dict[str, Any]] = field(default_factory=list)
    # the held-out rows (builder/serving_path.py scores them again through the published indices)
    test_rows: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))

    @property
    def rows(self) -> int:
        return len(self.labels)

    @property
    def positives(self) -> int:
        return int(self.labels.sum())

    @property
    def headline_figures(self) -> Figures:
        return self.figures[self.headline_source]

    @property
    def headline_scores(self) -> np.ndarray:
        return self.scores[self.headline_source]

    def to_json(self) -> dict[str, Any]:
        """report["quality"]: stable keys (docs/scores.md), plain JSON."""
        out: dict[str, Any] = {"holdout_rows": self.rows, "holdout_positives": self.positives}
        if self.column_weights:
            out["column_weights"] = self.column_weights
        out["scores"] = {name: f.to_json() for name, f in self.figures.items()}
        out["headline"] = {
            "score": self.headline,
            "source": self.headline_source,
            **self.headline_figures.to_json(),
        }
        if self.reason:
            out["headline"]["reason"] = self.reason
        out["head"] = self.head
        out["grades"] = self.grades
        contrast = "knn_learned" if "knn_learned" in self.scores else "knn"
        out.update(report.holdout_tables(self.labels, self.scores, self.headline_source, contrast))
        return out


def evaluate_holdout(
    feats: Features, cfg: BuildConfig, say: Callable[[str], None]
) -> HoldoutResult:
    y = feats.table.labels
    mask = stratified_holdout(y, cfg.holdout_fraction, cfg.holdout_max, cfg.seed)
    train, test = np.flatnonzero(~mask), np.flatnonzero(mask)
    y_tr, y_te = y[train], y[test]
    scores: dict[str, np.ndarray] = {}
    plain, z_tr = _plain_knn(feats, train, test, cfg)
    scores["knn"] = plain
    weights, column_weights = None, {}
    if cfg.learn_weights and z_tr.shape[1]:
        weights = learn_weights(z_tr, y_tr, cfg.seed)
        columns = [*cfg.columns.cat_cols, *cfg.columns.num_cols]
        column_weights = {c: round(float(w), 4) for c, w in zip(columns, weights, strict=True)}
    del z_tr
    data, nb_te = _neighbours(feats, train, test, cfg, weights)
    scores["knn_learned" if weights is not None else "knn"] = nb_te[:, 2]
    result = HoldoutResult(y_te, scores, {}, weights, column_weights, "contrast", "knn")
    result.test_rows = test
    if weights is not None:
        result.headline_source = "knn_learned"
    if data.positives < MIN_POSITIVES:
        result.reason = too_few(data.positives)
        say(f"no supervised head: {result.reason}")
        assert data.nb is not None
        calibration = np.sort(data.nb[:, 2])
    else:
        calibration = _head_holdout(result, data, feats, test, nb_te, cfg)
    result.figures = {
        name: figures(y_te, s, s if name not in ("knn", "knn_learned") else None)
        for name, s in scores.items()
    }
    pct = percentile_of(calibration, result.headline_scores)
    result.grades = report.grade_table(y_te, pct, cfg.grade_bands)
    return result


def too_few(positives: int) -> str:
    return (
        f"only {positives} high-value customers to learn from (a supervised head needs at least "
        f"{MIN_POSITIVES}): grades rank the kNN contrast"
    )


def _head_holdout(
    result: HoldoutResult,
    data: HeadData,
    feats: Features,
    test: np.ndarray,
    nb_te: np.ndarray,
    cfg: BuildConfig,
) -> np.ndarray:
    """Fit the head on the training customers and score the holdout with every candidate;
    returns the customers' probabilities the holdout's grades are taken against."""
    fit: HeadFit = fit_head(data, cfg.columns, cfg.seed)
    sub = feats.table.subset(test)
    text = feats.text[test]
    for name, logit in candidate_logits(fit, sub.columns, len(test), text, nb_te).items():
        result.scores[name] = sigmoid(logit)
    out = fit.head.score(sub.columns, len(test), text, nb_te)
    assert out is not None
    result.scores[HEADLINE] = out.p
    result.headline, result.headline_source, result.choice = HEADLINE, HEADLINE, fit.choice
    result.head = head_summary(fit)
    return np.sort(fit.oof_p)


def head_summary(fit: HeadFit) -> dict[str, Any]:
    """The report's account of the head: what was chosen and why, every candidate's CV figures."""
    return {
        "chosen": "stack_neighbours" if fit.choice.neighbours else "stack",
        "why": fit.why,
        "C": fit.choice.lr_c,
        "gradient_boosting": fit.boosted.to_json(),
        "leaves": fit.boosted.trees.leaves,
        "platt": [round(v, 6) for v in fit.head.platt],
        "cv": {k: {m: round(float(v), 5) for m, v in f.items()} for k, f in fit.cv.items()},
    }


def _plain_knn(
    feats: Features, train: np.ndarray, test: np.ndarray, cfg: BuildConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out contrasts in an unweighted space of the training customers, and their z (the
    weights are learned from it). The space is freed before the next one is built."""
    fitted = fit_space(feats, train, cfg, None)
    held = apply_space(fitted.transform, feats, test, cfg)
    table = feats.table
    nb = features_against(
        fitted.vectors, table.labels[train], table.ids[train], held.vectors, cfg.k
    )
    return nb[:, 2], fitted.z


def _neighbours(
    feats: Features,
    train: np.ndarray,
    test: np.ndarray,
    cfg: BuildConfig,
    weights: np.ndarray | None,
) -> tuple[HeadData, np.ndarray]:
    """The head's training rows with their out-of-fold neighbour features, and the holdout's
    neighbour features, in the space and indices the training customers would publish."""
    data = head_data(feats, train, cfg)
    space = fit_space(feats, train, cfg, weights)
    held = apply_space(space.transform, feats, test, cfg)
    y, ids = feats.table.labels[train], feats.table.ids[train]
    kind = choose_kind(len(train), cfg.index_type, cfg.ann_threshold)
    spec = IndexSpec(kind=kind, k=cfg.k, seed=cfg.seed, measure_recall=False)
    idx_all, _ = backend().build(space.vectors, spec)
    idx_high, _ = backend().build(np.ascontiguousarray(space.vectors[y]), spec)
    high = search_neighbours(idx_high, ids[y], held.vectors, cfg.k)
    everyone = search_neighbours(idx_all, ids, held.vectors, cfg.k)
    nb_te = neighbour_features(high, everyone, y)
    if data.nb is None:
        positions = np.searchsorted(train, data.rows)
        data.nb = filtered(data, (idx_all, idx_high), y, positions, space.vectors[positions], cfg.k)
    return data, nb_te
