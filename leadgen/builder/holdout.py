"""Quality on a stratified holdout, scored exactly as leads would be by what the other customers
would publish: their space, their indices, their head.

Every candidate is measured on the same held-out customers: plain kNN, learned-weight kNN, and
the head's candidates (logistic regression, gradient boosting, their stack with and without the
neighbour features), all fitted on the training customers only. The headline is the head's
calibrated p_high_value (the chosen stack), or the kNN contrast when there are too few
high-value customers to learn from; its holdout figures are the ones the quality gate reads.
The report (leadgen.builder.report) adds calibration, grades and score distributions.

The neighbour features come one of two ways (leadgen.builder.neighbours). Up to REFIT_MAX_ROWS
head rows, the space and exact indices are refitted per fold, all in `evaluate_holdout`. Above,
building an index over the training customers would cost as much as the published one, which
holds the same customers plus the held-out ones in nearly the same space (fitted with the same
column weights, on 2% more rows): so `evaluate_holdout` leaves the head's part `pending`, and
`complete_holdout` searches the published indices once they exist, leaving out the held-out
customers for every query and the query's own fold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.builder import report
from leadgen.builder.fitting import Features, Space, apply_space, fit_space, learn_weights, reweight
from leadgen.builder.head_fit import (
    MIN_POSITIVES,
    HeadChoice,
    HeadData,
    HeadFit,
    OutOfFold,
    candidate_logits,
    fit_head,
    head_data,
)
from leadgen.builder.neighbours import features_against, oof_filter
from leadgen.builder.progress import Note, silent
from leadgen.builder.quality import Figures, figures, stratified_holdout
from leadgen.builder.reader import CrmTable
from leadgen.config import BuildConfig
from leadgen.model.head import percentile_of, sigmoid
from leadgen.model.vector_index import VectorIndex

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
    # the head's training rows (with their text), kept for the published head
    head_rows: HeadData | None = field(repr=False, default=None)
    out_of_fold: OutOfFold | None = field(repr=False, default=None)  # the published head's
    pending: bool = False  # the head's part waits for the published indices (complete_holdout)

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
    feats: Features, cfg: BuildConfig, say: Callable[[str], None], note: Note = silent
) -> HoldoutResult:
    """Split, score plain kNN, learn the column weights; with few enough head rows, the
    neighbour features and the head's candidates too (else `pending`: complete_holdout)."""
    table = feats.table
    y = table.labels
    mask = stratified_holdout(y, cfg.holdout_fraction, cfg.holdout_max, cfg.seed)
    train, test = np.flatnonzero(~mask), np.flatnonzero(mask)
    note("plain kNN")
    plain, space = _plain_knn(feats, train, test, cfg)
    weights, column_weights = None, {}
    if cfg.learn_weights and space.z.shape[1]:
        weights = learn_weights(space.z, y[train], cfg.seed)
        columns = [*cfg.columns.cat_cols, *cfg.columns.num_cols]
        column_weights = {c: round(float(w), 4) for c, w in zip(columns, weights, strict=True)}
    result = HoldoutResult(y[test], {"knn": plain}, {}, weights, column_weights, "contrast", "knn")
    result.test_rows = test
    if weights is not None:
        result.headline_source = "knn_learned"
    result.head_rows = data = head_data(feats, train, cfg, note)
    if data.nb is None:
        result.pending = True
        return result
    note("neighbour features of the held-out customers")
    weighted = reweight(space, feats, train, cfg, weights)
    del space
    held = apply_space(weighted.transform, feats, test, cfg)
    nb_te = features_against(weighted.vectors, y[train], table.ids[train], held.vectors, cfg.k)
    del weighted, held
    _score(result, table.subset(test), feats.text[test], nb_te, cfg, say, note)
    return result


def complete_holdout(
    result: HoldoutResult,
    indices: tuple[VectorIndex, VectorIndex],
    vectors: np.ndarray,
    table: CrmTable,
    text_held: np.ndarray,
    cfg: BuildConfig,
    say: Callable[[str], None],
    note: Note = silent,
) -> None:
    """The pending head part: neighbour features of the head's rows and of the held-out rows
    from the published indices (all, high) over every customer (`vectors`: their rows in the
    published space), every held-out customer and the query's own fold left out."""
    data = result.head_rows
    assert data is not None and result.pending
    note("neighbour features from the published indices")
    test = result.test_rows
    folds = np.full(len(table), -1, dtype=np.int64)
    folds[data.rows] = data.folds
    held_out = int(data.folds.max()) + 1
    folds[test] = held_out
    positions = np.concatenate([data.rows, test])
    nb = oof_filter(indices, table.labels, folds, vectors[positions], positions, cfg.k, held_out)
    data.nb, nb_te = nb[: len(data.rows)], nb[len(data.rows) :]
    result.pending = False
    _score(result, table.subset(test), text_held, nb_te, cfg, say, note)


def _score(
    result: HoldoutResult,
    held: CrmTable,
    text: np.ndarray,
    nb_te: np.ndarray,
    cfg: BuildConfig,
    say: Callable[[str], None],
    note: Note,
) -> None:
    """The held-out customers' learned kNN contrast and the head's candidates (or why there is
    no head); every score's figures and the grades."""
    data = result.head_rows
    assert data is not None and data.nb is not None
    result.scores["knn_learned" if result.weights is not None else "knn"] = nb_te[:, 2]
    if data.positives < MIN_POSITIVES:
        result.reason = too_few(data.positives)
        say(f"no supervised head: {result.reason}")
        calibration = np.sort(data.nb[:, 2])
    else:
        calibration = _head_holdout(result, data, held, text, nb_te, cfg, note)
    y_te = result.labels
    result.figures = {
        name: figures(y_te, s, s if name not in ("knn", "knn_learned") else None)
        for name, s in result.scores.items()
    }
    pct = percentile_of(calibration, result.headline_scores)
    result.grades = report.grade_table(y_te, pct, cfg.grade_bands)


def too_few(positives: int) -> str:
    return (
        f"only {positives} high-value customers to learn from (a supervised head needs at least "
        f"{MIN_POSITIVES}): grades rank the kNN contrast"
    )


def _head_holdout(
    result: HoldoutResult,
    data: HeadData,
    held: CrmTable,
    text: np.ndarray,
    nb_te: np.ndarray,
    cfg: BuildConfig,
    note: Note,
) -> np.ndarray:
    """Fit the head on the training customers and score the holdout with every candidate;
    returns the customers' probabilities the holdout's grades are taken against. The fits'
    out-of-fold values and the holdout's logits are kept for the published head."""
    fit: HeadFit = fit_head(data, cfg.columns, cfg.seed, note=note)
    n = len(held)
    logits = candidate_logits(fit, held.columns, n, text, nb_te)
    for name, logit in logits.items():
        result.scores[name] = sigmoid(logit)
    out = fit.head.score(held.columns, n, text, nb_te)
    assert out is not None
    result.scores[HEADLINE] = out.p
    result.headline, result.headline_source, result.choice = HEADLINE, HEADLINE, fit.choice
    result.head = head_summary(fit)
    level1 = np.column_stack([logits["logistic_regression"], logits["gradient_boosting"]])
    result.out_of_fold = OutOfFold.of(fit, data, result.test_rows, level1, nb_te)
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
) -> tuple[np.ndarray, Space]:
    """Held-out contrasts in an unweighted space of the training customers, and that space (its
    z: the weights are learned from it, and the weighted space reuses its encoding)."""
    fitted = fit_space(feats, train, cfg, None)
    held = apply_space(fitted.transform, feats, test, cfg)
    table = feats.table
    nb = features_against(
        fitted.vectors, table.labels[train], table.ids[train], held.vectors, cfg.k
    )
    return nb[:, 2], fitted
