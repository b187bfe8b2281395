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

Each model is fitted once per fold in a build. The holdout's head (leadgen.builder.holdout) runs
steps 1-5 on the training customers and scores the held-out ones with its level-1 models; the
published head reuses all of it (`refit_rows`): the training customers' out-of-fold logits and
neighbour features, and the held-out customers' logits and features from models that never saw
them, are the out-of-fold values of every row (the holdout one more fold). Only the two level-1
models are fitted again, on every row with the choice made, and the cheap stack and Platt steps
run on those values.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from leadgen.builder.boosting import SHAPES, Boosted, boost, refit_boosted
from leadgen.builder.fitting import Features, sample_rows
from leadgen.builder.neighbours import REFIT_MAX_ROWS, oof_refit
from leadgen.builder.progress import Note, silent
from leadgen.builder.quality import roc_auc
from leadgen.builder.reader import CrmTable
from leadgen.builder.workers import side_by_side
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
    rounds: int = 0  # the boosting's rounds (early stopping on the folds)
    # where the final logistic regression starts (the holdout's: same features, nearly the
    # same rows); compared by value only through lr_c
    lr_start: Solution | None = field(default=None, compare=False, repr=False)


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
    level1: np.ndarray  # (n, 2) out-of-fold [lr, gb] logits of the fitted rows


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
    # out-of-fold [lr, gb] logits when they are known already (the holdout's fits, reused)
    level1: np.ndarray | None = None

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
    data: HeadData, spec: ColumnSpec, seed: int, choice: HeadChoice | None = None,
    note: Note = silent,
) -> HeadFit:  # fmt: skip
    """The head of these rows (their out-of-fold neighbour features in `data.nb`); with
    `choice` and the rows' out-of-fold level-1 logits in `data.level1`, nothing is
    cross-validated again: the level-1 models are fitted once on every row. BLAS runs on one
    thread: every step of it is a small matrix product (an lbfgs iteration, a scatter matrix),
    where thread hand-offs cost more than the work, by an order of magnitude on a loaded 2-core
    machine. `note` hears which model and fold is being fitted."""
    with threadpool_limits(limits=1, user_api="blas"):
        if data.level1 is not None and choice is not None:
            return _refit(data, spec, seed, choice, note)
        return _fit(data, spec, seed, note)


def _fit(data: HeadData, spec: ColumnSpec, seed: int, note: Note) -> HeadFit:
    """Every candidate cross-validated on the folds, the choice made, the level-1 models
    refitted on all rows."""
    assert data.nb is not None
    columns, text, y, folds, nb = data.columns, data.text, data.labels, data.folds, data.nb
    n = len(y)
    features, target = fit_features(columns, n, spec, text, y, folds)
    x_lr, x_trees = _design(features, columns, n, text, target)
    c, lr_oof, start = lr_cv(x_lr, y, folds, seed, note)
    note(f"logistic regression C={c}: every row")
    coef, icpt = fit_lr(x_lr, y, c, seed, start)
    sample = _stratified_sample(y, C_MAX_ROWS, seed)
    boosted = boost(x_trees, y, folds, seed, note=note, choose_on=sample)
    level1 = np.column_stack([lr_oof, boosted.oof])
    stacks = {"stack": stack_cv(level1, y, folds, seed)}
    stacks["stack_neighbours"] = stack_cv(np.hstack([level1, nb]), y, folds, seed)
    use_nb = _neighbours_help(stacks)
    head, oof_p = _stacked_head(features, coef, icpt, x_lr, boosted, stacks, use_nb, data)
    cv = {
        "logistic_regression": {"auc": roc_auc(y, lr_oof), "C": c},
        "gradient_boosting": {"auc": roc_auc(y, boosted.oof), "log_loss": boosted.log_loss},
        **{name: {"auc": s.auc} for name, s in stacks.items()},
        **{f"knn_{f}": {"auc": roc_auc(y, nb[:, j])} for j, f in enumerate(NEIGHBOUR_FEATURES)},
    }
    choice = HeadChoice(c, boosted.shape, use_nb, boosted.rounds, (coef, icpt))
    why = _why(choice, boosted, stacks)
    return HeadFit(head, choice, cv, stacks, boosted, oof_p, why, level1)


def _refit(data: HeadData, spec: ColumnSpec, seed: int, choice: HeadChoice, note: Note) -> HeadFit:
    """The chosen level-1 models fitted once on every row; stack and Platt on the rows' known
    out-of-fold logits (`data.level1`) and neighbour features."""
    assert data.nb is not None and data.level1 is not None
    columns, text, y, folds, nb = data.columns, data.text, data.labels, data.folds, data.nb
    n = len(y)
    features, target = fit_features(columns, n, spec, text, y, folds)
    x_lr, x_trees = _design(features, columns, n, text, target)
    note(f"logistic regression C={choice.lr_c}: every row")
    coef, icpt = fit_lr(x_lr, y, choice.lr_c, seed, choice.lr_start)
    note(f"gradient boosting ({SHAPES[choice.shape]['num_leaves']} leaves): every row")
    boosted = refit_boosted(x_trees, y, seed, choice.shape, choice.rounds, data.level1[:, 1])
    name = "stack_neighbours" if choice.neighbours else "stack"
    level = np.hstack([data.level1, nb]) if choice.neighbours else data.level1
    stacks = {name: stack_cv(level, y, folds, seed)}
    head, oof_p = _stacked_head(
        features, coef, icpt, x_lr, boosted, stacks, choice.neighbours, data
    )
    cv = {name: {"auc": stacks[name].auc}}
    why = _why(choice, boosted, stacks)
    return HeadFit(head, choice, cv, stacks, boosted, oof_p, why, data.level1)


def _design(
    features: HeadFeatures, columns: Columns, n: int, text: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The linear model's matrix in float32 (its fits read it hundreds of times: half the
    memory traffic, no measurable change of the optimum) and the trees' matrix."""
    return features.matrices(columns, n, text, target, linear_dtype=np.float32)


def _stacked_head(
    features: HeadFeatures,
    coef: np.ndarray,
    icpt: float,
    x_lr: np.ndarray,
    boosted: Boosted,
    stacks: dict[str, Stacked],
    use_nb: bool,
    data: HeadData,
) -> tuple[Head, np.ndarray]:
    """The head over the fitted level-1 models and the chosen stack, Platt-calibrated on the
    stack's out-of-fold logit; and the rows' calibrated out-of-fold p."""
    assert data.nb is not None
    chosen = stacks["stack_neighbours" if use_nb else "stack"]
    a, b = platt(chosen.oof, data.labels)
    head = Head(
        headline_name="p_high_value",
        features=features,
        lr_coef=coef,
        lr_intercept=icpt,
        lr_mean=x_lr.mean(axis=0, dtype=np.float64),
        trees=boosted.trees,
        stack=chosen.weights,
        stack_bias=chosen.bias,
        nb_mean=data.nb.mean(axis=0),
        platt=(a, b),
    )
    return head, sigmoid(a * chosen.oof + b)


def _neighbours_help(stacks: dict[str, Stacked]) -> bool:
    return stacks["stack_neighbours"].auc > stacks["stack"].auc + NEIGHBOUR_GAIN


def _why(choice: HeadChoice, boosted: Boosted, stacks: dict[str, Stacked]) -> str:
    shape = SHAPES[choice.shape]
    text = (
        f"stack of logistic regression (C={choice.lr_c}) and gradient boosting "
        f"({shape['num_leaves']} leaves, depth {shape['max_depth']}, {boosted.rounds} rounds), "
        "fitted on every training customer with out-of-fold predictions; "
    )
    if len(stacks) < 2:  # the published head: only the chosen stack is fitted again
        chosen = "in" if choice.neighbours else "out"
        return text + f"neighbour features {chosen} as chosen on the holdout's training customers"
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


Solution = tuple[np.ndarray, float]  # a logistic regression's coefficients and intercept


def fit_lr(
    x: np.ndarray, y: np.ndarray, c: float, seed: int, start: Solution | None = None
) -> Solution:
    """An L2 logistic regression. lbfgs begins at `start` when given (a nearby problem's
    solution): the problem is convex, so it ends at the same optimum in fewer iterations."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=1000, random_state=seed, warm_start=True)
    if start is not None and len(start[0]) == x.shape[1]:
        model.coef_ = np.asarray(start[0], dtype=np.float64)[None, :].copy()
        model.intercept_ = np.array([start[1]])
    model.fit(x, y)
    return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])


def lr_cv(
    x: np.ndarray, y: np.ndarray, folds: np.ndarray, seed: int, note: Note = silent
) -> tuple[float, np.ndarray, Solution]:
    """(C, out-of-fold logits, a start for the fit on all rows). C by out-of-fold AUC on at most
    C_MAX_ROWS rows, walking the grid from the strongest penalty up, each fold's fit starting
    from its solution at the previous C, and stopping at the first C that ranks worse than the
    best so far (the weaker penalties cost the most iterations and rarely win after a drop).
    When those rows are all the rows, the chosen C's out-of-fold logits are already there;
    else each fold on all rows starts from its solution on the sample."""
    rows = _stratified_sample(y, C_MAX_ROWS, seed)
    xs, ys, fs = x[rows], y[rows], folds[rows]
    best: tuple[float, float, np.ndarray, list[Solution]] | None = None
    starts: list[Solution] | None = None
    for g in sorted(LR_GRID):
        logits, starts = _oof(xs, ys, fs, g, seed, note, starts)
        auc = roc_auc(ys, logits)
        if best is not None and auc < best[0]:
            break
        if best is None or auc > best[0]:
            best = (auc, g, logits, starts)
    assert best is not None
    _, c, logits, solutions = best
    if len(rows) < len(y):
        logits, solutions = _oof(x, y, folds, c, seed, note, solutions)
    return c, logits, _mean(solutions)


def _oof(
    x: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    c: float,
    seed: int,
    note: Note = silent,
    starts: Sequence[Solution] | None = None,
) -> tuple[np.ndarray, list[Solution]]:
    """Out-of-fold logits of a logistic regression at `c` (each fold from its `starts`), the
    folds side by side; and each fold's solution."""
    parts = np.unique(folds)

    def fold(i: int) -> Solution:
        note(f"logistic regression C={c}: fold {i + 1} of {len(parts)}")
        train = folds != parts[i]
        return fit_lr(x[train], y[train], c, seed, None if starts is None else starts[i])

    solutions = side_by_side(fold, range(len(parts)))
    return _logits(x, folds, parts, solutions), solutions


def _logits(
    x: np.ndarray, folds: np.ndarray, parts: np.ndarray, solutions: Sequence[Solution]
) -> np.ndarray:
    """Each fold's rows scored by the model fitted without them."""
    out = np.zeros(len(x))
    for f, (coef, icpt) in zip(parts, solutions, strict=True):
        held = folds == f
        out[held] = x[held] @ coef + icpt
    return out


def _mean(solutions: Sequence[Solution]) -> Solution:
    return np.mean([c for c, _ in solutions], axis=0), float(np.mean([b for _, b in solutions]))


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
    oof, _ = _oof(z, y, folds, 1.0, seed)
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


def head_data(feats: Features, rows: np.ndarray, cfg: BuildConfig, note: Note = silent) -> HeadData:
    """The head's rows among `rows`; refit-mode neighbour features when they are few enough
    (above, the caller filters the indices it builds anyway: leadgen.builder.neighbours)."""
    y_all = feats.table.labels
    rows = rows[_stratified_sample(y_all[rows], HEAD_MAX_ROWS, cfg.seed + 5)]
    folds = stratified_folds(y_all[rows], K_FOLDS, cfg.seed + 1)
    sub = feats.table.subset(rows)
    data = HeadData(rows, folds, sub.columns, feats.text[rows], sub.labels)
    if len(rows) <= REFIT_MAX_ROWS:
        data.nb = oof_refit(feats, rows, folds, cfg, note)
    return data


@dataclass
class OutOfFold:
    """What the published head reuses from the holdout's: the holdout head's rows with their
    out-of-fold level-1 logits and neighbour features, and the held-out rows as one more fold
    (their logits and features from the training customers' models and indices, which never
    saw them)."""

    rows: np.ndarray  # positions in the build's table
    folds: np.ndarray
    level1: np.ndarray  # (n, 2) [lr, gb]
    nb: np.ndarray  # (n, 4)

    @classmethod
    def of(
        cls, fit: HeadFit, data: HeadData, held: np.ndarray, level1: np.ndarray, nb: np.ndarray
    ) -> OutOfFold:
        assert data.nb is not None
        return cls(
            rows=np.concatenate([data.rows, held]),
            folds=np.concatenate([data.folds, np.full(len(held), data.folds.max() + 1)]),
            level1=np.vstack([fit.level1, level1]),
            nb=np.vstack([data.nb, nb]),
        )


def refit_rows(data: HeadData, held: CrmTable, text_held: np.ndarray, oof: OutOfFold) -> HeadData:
    """The published head's rows: the holdout head's (`data`) and the held-out customers
    (`held`, their text), with their out-of-fold values known."""
    columns: dict[str, Any] = {}
    for name, values in data.columns.items():
        more = held.columns[name]
        both = [*values, *more] if isinstance(values, list) else np.concatenate([values, more])
        columns[name] = both
    return HeadData(
        oof.rows,
        oof.folds,
        columns,
        np.vstack([data.text, text_held]),
        np.concatenate([data.labels, held.labels]),
        nb=oof.nb,
        level1=oof.level1,
    )


def final_head(
    data: HeadData | None,
    choice: HeadChoice | None,
    reason: str,
    cfg: BuildConfig,
    note: Note = silent,
) -> Head:
    """The published head: fitted on every customer (or the head's sample of them and the
    holdout, `refit_rows`) with the holdout's choice and its out-of-fold values; grades rank
    leads among a sample of its customers' out-of-fold p."""
    if data is None or choice is None:
        return Head(headline_name="contrast", reason=reason)
    fit = fit_head(data, cfg.columns, cfg.seed, choice, note)
    data.oof_p = fit.oof_p
    sample = sample_rows(len(fit.oof_p), cfg.calibration_max, cfg.seed + 3)
    fit.head.calibration = np.sort(fit.oof_p[sample])
    return fit.head
