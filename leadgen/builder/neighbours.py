"""Out-of-fold neighbour features of customers: what serving's kNN scores would have said about
each one had it been a new lead, without its own label reaching its features.

Features are leadgen.model.knn.neighbour_features ([s_look, s_all, contrast, rate]), computed
for each customer against customers of the other folds only, in one of two ways:
  refit   for each fold, fit the space (column weights included: they are learned from labels)
          on the other folds, build exact indices over them and search the fold. Exact; costs
          K space fits, fine up to REFIT_MAX_ROWS customers.
  filter  search the indices the build has anyway (the published ones, flat or HNSW) for more
          than k neighbours and drop those of the query's own fold (itself included), and the
          held-out customers for every query (leadgen.builder.holdout). Above REFIT_MAX_ROWS
          the two agree (bench/QUALITY_REAL.md); on small tables a space fitted with the
          queries in it is not the one the others would publish, so small tables refit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from leadgen.builder.fitting import Features, apply_space, fit_space_learned
from leadgen.builder.progress import Note, silent
from leadgen.builder.workers import side_by_side
from leadgen.config import BuildConfig
from leadgen.model.index_backends import backend
from leadgen.model.knn import Neighbours, neighbour_features, search_neighbours
from leadgen.model.vector_index import IndexSpec, VectorIndex

REFIT_MAX_ROWS = 50_000
_FILTER_SLACK = 8


def features_against(
    vectors: np.ndarray, labels: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int
) -> np.ndarray:
    """Neighbour features of queries that are not among `vectors` (exact indices over them)."""
    flat = IndexSpec(kind="flat")
    idx_all, _ = backend().build(vectors, flat)
    idx_high, _ = backend().build(np.ascontiguousarray(vectors[labels]), flat)
    high = search_neighbours(idx_high, ids[labels], queries, k)
    everyone = search_neighbours(idx_all, ids, queries, k)
    return neighbour_features(high, everyone, labels)


def oof_refit(
    feats: Features, rows: np.ndarray, folds: np.ndarray, cfg: BuildConfig, note: Note = silent
) -> np.ndarray:
    """(len(rows), 4): each fold of `rows` scored in a space and indices fitted on the others."""
    out = np.zeros((len(rows), 4))
    table = feats.table
    parts = np.unique(folds)

    def fold(i: int) -> np.ndarray:
        tr, te = rows[folds != parts[i]], rows[folds == parts[i]]
        space = fit_space_learned(feats, tr, cfg)
        held = apply_space(space.transform, feats, te, cfg)
        y = table.labels[tr]
        found = features_against(space.vectors, y, table.ids[tr], held.vectors, cfg.k)
        note(f"neighbour features: fold {i + 1} of {len(parts)}")
        return found

    for f, found in zip(parts, side_by_side(fold, range(len(parts))), strict=True):
        out[folds == f] = found
    return out


def oof_filter(
    indices: tuple[Any, Any],
    labels: np.ndarray,
    folds: np.ndarray,
    queries: np.ndarray,
    query_pos: np.ndarray,
    k: int,
    left_out: int | None = None,
) -> np.ndarray:
    """(len(query_pos), 4) from indices (all, high) over every customer: `labels` and `folds`
    per position of the `all` index (fold -1: not in the head's sample, always kept; fold
    `left_out`: kept by no query), the queries are the customers at `query_pos`. Rows that keep
    fewer than k neighbours are searched again with twice as many."""
    high_pos = np.flatnonzero(labels)
    out = np.zeros((len(query_pos), 4))
    todo = np.arange(len(query_pos))
    dropped = folds if left_out is None else np.where(folds == left_out, -2, folds)
    kk = _first_depth(dropped, folds[query_pos], k)
    while len(todo):
        own = folds[query_pos[todo]][:, None]
        everyone, done_all = _kept(indices[0], queries[todo], kk, own, dropped, None, k)
        high, done_high = _kept(indices[1], queries[todo], kk, own, dropped, high_pos, k)
        done = (done_all & done_high) | (kk >= len(labels))
        out[todo[done]] = neighbour_features(high, everyone, labels)[done]
        todo = todo[~done]
        kk *= 2
    return out


def _first_depth(dropped: np.ndarray, own: np.ndarray, k: int) -> int:
    """How many neighbours to ask for first: enough that the query whose fold (with the
    left-out one) removes the most customers still keeps k of them, plus slack. Asking for
    fewer sends most queries round again at twice the depth, the whole search repeated."""
    n = len(dropped)
    counts = np.bincount(dropped[dropped >= 0]) if (dropped >= 0).any() else np.zeros(0, int)
    left_out = int((dropped == -2).sum())
    worst = max((int(counts[f]) for f in np.unique(own) if 0 <= f < len(counts)), default=0)
    kept = max(1, n - left_out - worst) / n
    return math.ceil(k / kept) + _FILTER_SLACK


def _kept(
    index: VectorIndex,
    queries: np.ndarray,
    kk: int,
    own: np.ndarray,
    folds: np.ndarray,
    to_customer: np.ndarray | None,
    k: int,
) -> tuple[Neighbours, np.ndarray]:
    """The first k neighbours outside the query's fold (and outside fold -2, left out for all),
    positions in the index's own order; and whether each row found k of them (or the index
    has no more)."""
    sims, pos = index.search(queries, kk)
    customer = pos if to_customer is None else np.where(pos >= 0, to_customer[pos], -1)
    fold = folds[np.clip(customer, 0, None)]
    keep = (pos >= 0) & (fold != own) & (fold != -2)
    keep &= np.cumsum(keep, axis=1) <= k
    out_s = np.full((len(queries), k), np.nan, dtype=np.float32)
    out_p = np.full((len(queries), k), -1, dtype=np.int64)
    for r in range(len(queries)):
        s, p = sims[r][keep[r]], pos[r][keep[r]]
        out_s[r, : len(s)], out_p[r, : len(p)] = s, p
    enough = (keep.sum(axis=1) >= k) | (pos.shape[1] >= index.size)
    return Neighbours(out_s, out_p), enough
