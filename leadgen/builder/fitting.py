"""Fitting the vector space and the supervised pieces on a set of customers.

The holdout evaluation and the final fit call the same functions on different rows, so the
figures the gate reads describe exactly what gets published.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from leadgen.builder.reader import CrmTable
from leadgen.config import BuildConfig
from leadgen.model.features import TabularTransform, combine, vectorise

# The column weights' fit sees at most this many sampled rows: at 1M customers the full float64
# design matrix alone would take gigabytes, and the fit gains nothing measurable beyond it.
LR_MAX_ROWS = 200_000


@dataclass
class Features:
    """Everything derived from the table that the holdout and the final fit share."""

    text: np.ndarray  # (n, d) unit rows
    table: CrmTable


@dataclass
class Space:
    """A fitted tabular transform and the vectors and z of the rows it was fitted or applied on."""

    transform: TabularTransform
    vectors: np.ndarray
    z: np.ndarray


def fit_space(
    feats: Features, rows: np.ndarray, cfg: BuildConfig, weights: np.ndarray | None
) -> Space:
    """Fit the tabular transform on `rows`; the vectors and z of those rows."""
    sub = feats.table.subset(rows)
    transform = TabularTransform(cfg.columns)
    tab, z = transform.fit(sub.columns, len(sub), cfg.tab_dims, weights)
    return Space(transform, combine(_text_rows(feats.text, rows), tab, cfg.w_text), z)


def fit_space_learned(feats: Features, rows: np.ndarray, cfg: BuildConfig) -> Space:
    """A space whose column weights are learned from `rows`' own labels (cfg.learn_weights):
    what a build on exactly these customers would publish (the head's out-of-fold features)."""
    space = fit_space(feats, rows, cfg, None)
    if not cfg.learn_weights or space.z.shape[1] == 0:
        return space
    weights = learn_weights(space.z, feats.table.labels[rows], cfg.seed)
    return reweight(space, feats, rows, cfg, weights)


def reweight(
    space: Space, feats: Features, rows: np.ndarray, cfg: BuildConfig, weights: np.ndarray | None
) -> Space:
    """`space` (unweighted, fitted on `rows`) with column weights: the same encoding, only the
    projection refitted, exactly what `fit_space(feats, rows, cfg, weights)` fits."""
    if weights is None:
        return space
    transform = copy.deepcopy(space.transform)
    tab = transform.fit_projection(space.z, cfg.tab_dims, weights)
    return Space(transform, combine(_text_rows(feats.text, rows), tab, cfg.w_text), space.z)


def apply_space(
    transform: TabularTransform, feats: Features, rows: np.ndarray, cfg: BuildConfig
) -> Space:
    """Place other rows (held-out customers) in a fitted space, as serving places a lead."""
    sub = feats.table.subset(rows)
    vectors, z = vectorise(feats.text[rows], transform, sub.columns, cfg.w_text)
    return Space(transform, vectors, z)


def _text_rows(text: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """text[rows], without the copy when `rows` is every row in order (the final fit: the
    largest matrix of a 1M-customer build)."""
    if len(rows) == len(text) and np.array_equal(rows, np.arange(len(text))):
        return text
    return text[rows]


def sample_rows(n: int, max_rows: int, seed: int) -> np.ndarray:
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def learn_weights(z: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Per-column weights from an L2 logistic model on standardised columns: |coef| scaled to
    RMS 1, so informative columns shape the neighbourhoods and noise columns fade out."""
    from sklearn.linear_model import LogisticRegression

    if z.shape[1] == 0:
        return np.ones(0)
    rows = sample_rows(len(z), LR_MAX_ROWS, seed)
    model = LogisticRegression(C=0.1, max_iter=300, random_state=seed)
    model.fit(z[rows], y[rows])
    w = np.abs(model.coef_[0])
    rms = math.sqrt(float(np.mean(w**2))) or 1.0
    return np.asarray(w / rms, dtype=np.float64)
