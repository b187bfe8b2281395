"""kNN scores of a vector against the customer indices, as docs/scores.md defines them.

s_look is the mean top-k similarity to the high-value customers, s_all the mean top-k similarity
to all customers; s_novel = 1 - s_all and contrast = s_look - s_all. The build computes them for
held-out and leave-one-out customers, serving for leads: one definition for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadgen.model.vector_index import VectorIndex


@dataclass(frozen=True)
class Neighbours:
    """Top-k similarities and index positions per query; missing slots are NaN / -1."""

    sims: np.ndarray  # (n, k) float32
    pos: np.ndarray  # (n, k) int64


def search_neighbours(
    index: VectorIndex,
    ids: np.ndarray,
    queries: np.ndarray,
    k: int,
    exclude_ids: np.ndarray | None = None,
) -> Neighbours:
    """Top-k neighbours; with `exclude_ids`, each query's own id is left out (leave-one-out)."""
    extra = 1 if exclude_ids is not None else 0
    sims, pos = index.search(queries, k + extra)
    out_s = np.full((len(queries), k), np.nan, dtype=np.float32)
    out_p = np.full((len(queries), k), -1, dtype=np.int64)
    for r in range(len(queries)):
        keep = pos[r] >= 0
        if exclude_ids is not None:
            keep &= ids[np.clip(pos[r], 0, None)] != exclude_ids[r]
        s, p = sims[r][keep][:k], pos[r][keep][:k]
        out_s[r, : len(s)] = s
        out_p[r, : len(p)] = p
    return Neighbours(out_s, out_p)


@dataclass(frozen=True)
class KnnScores:
    """The lookalike scores of n queries (arrays of length n)."""

    s_look: np.ndarray
    s_all: np.ndarray

    @property
    def s_novel(self) -> np.ndarray:
        return 1.0 - self.s_all

    @property
    def contrast(self) -> np.ndarray:
        return self.s_look - self.s_all

    @classmethod
    def of(cls, high: Neighbours, everyone: Neighbours) -> KnnScores:
        return cls(s_look=_mean(high.sims), s_all=_mean(everyone.sims))


def _mean(sims: np.ndarray) -> np.ndarray:
    """Row means over the neighbours found (NaN slots are missing ones; NaN if none)."""
    if not sims.size:
        return np.zeros(len(sims))
    found = ~np.isnan(sims)
    with np.errstate(all="ignore"):
        mean = np.where(found, sims, 0).sum(axis=1) / found.sum(axis=1)
    return mean.astype(sims.dtype, copy=False)


def neighbour_features(
    high: Neighbours,
    everyone: Neighbours,
    labels_all: np.ndarray | None,
    scores: KnnScores | None = None,
) -> np.ndarray:
    """(n, 4) [s_look, s_all, contrast, rate] of n queries: what the head's stack reads beside
    the lead's own features. `rate` is the share of high-value customers among the k nearest of
    everyone (`labels_all`: high-value flag per position of the `all` index; None: 0). Missing
    values (no neighbours) are 0, as the build fills them. `scores`: KnnScores.of(high, everyone)
    when the caller has it already (the scorer does, per request)."""
    scores = scores or KnnScores.of(high, everyone)
    rate = np.zeros(len(everyone.pos))
    if labels_all is not None and everyone.pos.size:
        found = everyone.pos >= 0
        hits = np.where(found, labels_all[np.clip(everyone.pos, 0, None)], False)
        with np.errstate(all="ignore"):
            rate = hits.sum(axis=1) / found.sum(axis=1)
    out = np.column_stack([scores.s_look, scores.s_all, scores.contrast, rate])
    return np.nan_to_num(out.astype(np.float64), nan=0.0)
