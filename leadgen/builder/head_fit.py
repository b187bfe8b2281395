"""Fitting the supervised head (leadgen.model.head) on a whole set of customers.

Method (bench/QUALITY_REAL.md measures it on real tables against the models a user would write):
  1. K stratified folds with a fixed seed, shared by the out-of-fold neighbour features
     (leadgen.builder.neighbours), every candidate's out-of-fold predictions and the stacker's:
     no row's own label reaches its own features or the choice of model.
  2. Own features (leadgen.model.head_features): the encoder is fitted on all rows; target
     encodings are cross-fitted over the folds for the rows themselves.
  3. Level 1: a logistic regression (C from a small grid by out-of-fold AUC) and LightGBM
     (leadgen.builder.boosting). Each is refitted on all rows; their out-of-fold logits stay.
  4. Stack (always: a single model chosen on a noisy CV picked the wrong one on unseen tables):
     a logistic regression on the out-of-fold [lr, gb] logits, plus the four neighbour
     features when they raise its out-of-fold AUC by more than NEIGHBOUR_GAIN.
  5. Platt scaling on the stack's out-of-fold logit (isotonic calibrates no better and would
     break additive drivers); grades rank leads among the customers' out-of-fold probabilities.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from leadgen.builder.boosting import SHAPES, Boosted, boost
from leadgen.builder.fitting import Features, sample_rows
from leadgen.builder.neighbours import REFIT_MAX_ROWS, oof_filter, oof_refit
from leadgen.builder.quality import roc_auc
from leadgen.config import BuildConfig, ColumnSpec
from leadgen.model.head import NEIGHBOUR_FEATURES, Head, sigmoid
from leadgen.model.head_features import (
    MAX_LEVELS,
    Columns,
    HeadEncoder,
    HeadFeatures,
    TargetEncoding,
    cat_key,
)

K_FOLDS = 5
MIN_POSITIVES = 30  # fewer high-value customers: no head, grades on contrast
HEAD_MAX_ROWS = 100_000  # the head is fitted on a stratified sample of at most this many
LR_GRID = (0.01, 0.1, 1.0, 10.0)
C_MAX_ROWS = 20_000  # C is chosen on a sample of at most this many rows
NEIGHBOUR_GAIN = 0.002
SVD_DIMS = 16
TARGET_SMOOTHING = 20.0


@dataclass(frozen=True)
class HeadChoice:
    """What cross-validation chose; the final fit on every customer reuses it."""

    lr_c: float
    shape: int
    neighbours: bool


@dataclass
class Stacked:
    weights: np.ndarray  # over [lr, gb, *nb], raw scale
    bias: float
    oof: np.ndarray
    auc: float


@dataclass
class HeadFit:
    head: Head
    choice: HeadChoice
    cv: dict[str, dict[str, float]]  # candidate -> out-of-fold figures
    stacks: dict[str, Stacked]  # "stack" and (when cross-validated) "stack_neighbours"
    boosted: Boosted
    oof_p: np.ndarray  # calibrated out-of-fold p of the fitted rows
    why: str


@dataclass
class HeadData:
    """The rows a head is fitted on (a stratified sample of at most HEAD_MAX_ROWS), their folds,
    columns, text and labels, and their out-of-fold neighbour features once computed."""

    rows: np.ndarray  # positions in the build's table
    folds: np.ndarray
    columns: dict[str, Any]
    text: np.ndarray
    labels: np.ndarray
    nb: np.ndarray | None = None
    oof_p: np.ndarray | None = None  # the final head's out-of-fold p (each customer's grade)

    @property
    def positives(self) -> int:
        return int(self.labels.sum())


def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id per row, each fold with the table's positive rate."""
    rng = np.random.default_rng(seed)
    folds = np.empty(len(y), dtype=np.int64)
    for cls in (False, True):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        folds[idx] = np.arange(len(idx)) % k
    return folds


def fit_head(
    data: HeadData, spec: ColumnSpec, seed: int, choice: HeadChoice | None = None
) -> HeadFit:
    """The head of these rows (their out-of-fold neighbour features in `data.nb`); with
    `choice`, the hyper-parameters are not searched again. BLAS runs on one thread: every step
    of it is a small matrix product (an lbfgs iteration, a scatter matrix), where thread
    hand-offs cost more than the work, by an order of magnitude on a loaded 2-core machine."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(data, spec, seed, choice)


def _fit(data: HeadData, spec: ColumnSpec, seed: int, choice: HeadChoice | None) -> HeadFit:
    assert data.nb is not None
    columns, text, y, folds, nb = data.columns, data.text, data.labels, data.folds, data.nb
    n = len(y)
    features, target = fit_features(columns, n, spec, text, y, folds)
    x_lr, x_trees = features.matrices(columns, n, text, target)
    c, lr_oof = lr_cv(x_lr, y, folds, seed, None if choice is None else choice.lr_c)
    coef, icpt = fit_lr(x_lr, y, c, seed)
    shape = None if choice is None else choice.shape
    boosted = boost(x_trees, y, folds, seed, shape)
    level1 = np.column_stack([lr_oof, boosted.oof])
    stacks = {"stack": stack_cv(level1, y, folds, seed)}
    if choice is None or choice.neighbours:
        stacks["stack_neighbours"] = stack_cv(np.hstack([level1, nb]), y, folds, seed)
    use_nb = choice.neighbours if choice else _neighbours_help(stacks)
    chosen = stacks["stack_neighbours" if use_nb else "stack"]
    a, b = platt(chosen.oof, y)
    oof_p = sigmoid(a * chosen.oof + b)
    head = Head(
        headline_name="p_high_value",
        features=features,
        lr_coef=coef,
        lr_intercept=icpt,
        lr_mean=x_lr.mean(axis=0),
        trees=boosted.trees,
        stack=chosen.weights,
        stack_bias=chosen.bias,
        nb_mean=nb.mean(axis=0),
        platt=(a, b),
    )
    cv = {
        "logistic_regression": {"auc": roc_auc(y, lr_oof), "C": c},
        "gradient_boosting": {"auc": roc_auc(y, boosted.oof), "log_loss": boosted.log_loss},
        **{name: {"auc": s.auc} for name, s in stacks.items()},
        **{f"knn_{f}": {"auc": roc_auc(y, nb[:, j])} for j, f in enumerate(NEIGHBOUR_FEATURES)},
    }
    choice = HeadChoice(c, boosted.shape, use_nb)
    return HeadFit(head, choice, cv, stacks, boosted, oof_p, _why(choice, boosted, stacks))


def _neighbours_help(stacks: dict[str, Stacked]) -> bool:
    return stacks["stack_neighbours"].auc > stacks["stack"].auc + NEIGHBOUR_GAIN


def _why(choice: HeadChoice, boosted: Boosted, stacks: dict[str, Stacked]) -> str:
    shape = SHAPES[choice.shape]
    text = (
        f"stack of logistic regression (C={choice.lr_c}) and gradient boosting "
        f"({shape['num_leaves']} leaves, depth {shape['max_depth']}, {boosted.rounds} rounds), "
        "fitted on every training customer with out-of-fold predictions; "
    )
    if "stack_neighbours" not in stacks:
        return text + f"neighbour features {'in' if choice.neighbours else 'out'} as chosen before"
    gain = stacks["stack_neighbours"].auc - stacks["stack"].auc
    verdict = "added" if choice.neighbours else "not added"
    return text + (
        f"neighbour features {verdict}: {gain:+.4f} out-of-fold AUC (they need more than "
        f"+{NEIGHBOUR_GAIN})"
    )


def fit_features(
    columns: Columns, n: int, spec: ColumnSpec, text: np.ndarray, y: np.ndarray, folds: np.ndarray
) -> tuple[HeadFeatures, np.ndarray]:
    """The fitted features, and the cross-fitted target encodings of these rows."""
    encoder = HeadEncoder(list(spec.num_cols), list(spec.cat_cols))
    frequent = encoder.fit(columns, n)
    oof = []
    for col in spec.cat_cols:
        if frequent[col] > MAX_LEVELS:
            values, full = target_encode_oof(columns[col], y, folds, col)
            encoder.target.append(full)
            oof.append(values)
    features = HeadFeatures(encoder)
    if spec.text_cols and text.shape[1]:
        rows = sample_rows(n, 50_000, 0)
        features.text_dims = text.shape[1]
        features.text_scale = math.sqrt(text.shape[1])  # a unit row's dimension ~ a z column
        features.svd_mean = text[rows].astype(np.float64).mean(axis=0)
        centred = text[rows] - features.svd_mean
        # top right singular vectors from the (d, d) scatter matrix: far cheaper than an SVD of
        # the (n, d) rows, and the same subspace
        values, vectors = np.linalg.eigh(centred.T @ centred)
        features.svd = vectors[:, np.argsort(values)[::-1][:SVD_DIMS]]
    return features, np.column_stack(oof) if oof else np.zeros((n, 0))


def target_encode_oof(
    values: Sequence[Any] | np.ndarray, y: np.ndarray, folds: np.ndarray, column: str
) -> tuple[np.ndarray, TargetEncoding]:
    """Each row's log-odds from the other folds' rows; and the map of all rows (for leads)."""
    keys = [cat_key(v) for v in values]
    out = np.empty(len(keys))
    for f in np.unique(folds):
        tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        enc = _target_map([keys[i] for i in tr], y[tr], column)
        out[te] = enc.apply([keys[i] for i in te], len(te))
    return out, _target_map(keys, y, column)


def _target_map(keys: list[str], y: np.ndarray, column: str) -> TargetEncoding:
    prior = float(np.clip(y.mean(), 1e-4, 1 - 1e-4))
    count, pos = Counter(keys), Counter(k for k, t in zip(keys, y, strict=True) if t)
    m = TARGET_SMOOTHING
    rates = {k: (pos[k] + m * prior) / (c + m) for k, c in count.items()}
    return TargetEncoding(column, rates, prior)


def fit_lr(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=1000, random_state=seed)
    model.fit(x, y)
    return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])


def lr_cv(
    x: np.ndarray, y: np.ndarray, folds: np.ndarray, seed: int, c: float | None
) -> tuple[float, np.ndarray]:
    """(C, out-of-fold logits): C by out-of-fold AUC on at most C_MAX_ROWS rows unless given."""
    if c is None:
        rows = _stratified_sample(y, C_MAX_ROWS, seed)
        scored = [
            (roc_auc(y[rows], _oof(x[rows], y[rows], folds[rows], g, seed)), g) for g in LR_GRID
        ]
        c = max(scored, key=lambda t: (t[0], -t[1]))[1]
    return c, _oof(x, y, folds, c, seed)


def _oof(x: np.ndarray, y: np.ndarray, folds: np.ndarray, c: float, seed: int) -> np.ndarray:
    out = np.zeros(len(y))
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        coef, icpt = fit_lr(x[tr], y[tr], c, seed)
        out[te] = x[te] @ coef + icpt
    return out


def _stratified_sample(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    if len(y) <= size:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    parts = [
        rng.choice(idx, size=round(size * len(idx) / len(y)), replace=False)
        for idx in (np.flatnonzero(y), np.flatnonzero(~y))
    ]
    return np.sort(np.concatenate(parts))


def stack_cv(level1: np.ndarray, y: np.ndarray, folds: np.ndarray, seed: int) -> Stacked:
    """A logistic regression on standardised out-of-fold level-1 scores, cross-fitted for its own
    out-of-fold logits; weights returned on the raw scale."""
    mu, sd = level1.mean(axis=0), level1.std(axis=0) + 1e-12
    z = (level1 - mu) / sd
    oof = _oof(z, y, folds, 1.0, seed)
    w, b = fit_lr(z, y, 1.0, seed)
    return Stacked(w / sd, b - float(np.sum(w * mu / sd)), oof, roc_auc(y, oof))


def platt(logit: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of p = sigmoid(a * logit + b), fitted without shrinkage."""
    w, b = fit_lr(logit[:, None], y, 1e4, 0)
    return float(w[0]), b


def candidate_logits(
    fit: HeadFit, columns: Columns, n: int, text: np.ndarray, nb: np.ndarray
) -> dict[str, np.ndarray]:
    """Every candidate's logit of new rows (the holdout), from the same fitted level-1 models."""
    lr, gb = fit.head.level1(columns, n, text)
    level1 = np.column_stack([lr, gb])
    out = {"logistic_regression": lr, "gradient_boosting": gb}
    out["stack"] = level1 @ fit.stacks["stack"].weights + fit.stacks["stack"].bias
    if "stack_neighbours" in fit.stacks:
        s = fit.stacks["stack_neighbours"]
        out["stack_neighbours"] = np.hstack([level1, nb]) @ s.weights + s.bias
    return out


def head_data(feats: Features, rows: np.ndarray, cfg: BuildConfig) -> HeadData:
    """The head's rows among `rows`; refit-mode neighbour features when they are few enough
    (above, the caller filters the indices it builds anyway: leadgen.builder.neighbours)."""
    y_all = feats.table.labels
    rows = rows[_stratified_sample(y_all[rows], HEAD_MAX_ROWS, cfg.seed + 5)]
    folds = stratified_folds(y_all[rows], K_FOLDS, cfg.seed + 1)
    sub = feats.table.subset(rows)
    data = HeadData(rows, folds, sub.columns, feats.text[rows], sub.labels)
    if len(rows) <= REFIT_MAX_ROWS:
        data.nb = oof_refit(feats, rows, folds, cfg)
    return data


def filtered(
    data: HeadData,
    indices: tuple[Any, Any],
    labels: np.ndarray,
    positions: np.ndarray,
    vectors: np.ndarray,
    k: int,
) -> np.ndarray:
    """Filter-mode neighbour features of the head's rows, at `positions` of indices over
    customers labelled `labels` (every other customer is a neighbour from no fold)."""
    folds = np.full(len(labels), -1, dtype=np.int64)
    folds[positions] = data.folds
    return oof_filter(indices, labels, folds, vectors, positions, k)


def final_head(
    data: HeadData | None,
    choice: HeadChoice | None,
    reason: str,
    indices: tuple[Any, Any],
    labels: np.ndarray,
    vectors: np.ndarray,
    cfg: BuildConfig,
) -> Head:
    """The published head: fitted on every customer (or the head's sample of them) with the
    holdout's choice, its neighbour features filtered from the published indices when they were
    not refitted; grades rank leads among a sample of its customers' out-of-fold p."""
    if data is None or choice is None:
        return Head(headline_name="contrast", reason=reason)
    if data.nb is None:
        data.nb = filtered(data, indices, labels, data.rows, vectors[data.rows], cfg.k)
    fit = fit_head(data, cfg.columns, cfg.seed, choice)
    data.oof_p = fit.oof_p
    sample = sample_rows(len(fit.oof_p), cfg.calibration_max, cfg.seed + 3)
    fit.head.calibration = np.sort(fit.oof_p[sample])
    return fit.head
