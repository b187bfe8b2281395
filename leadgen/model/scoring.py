"""A loaded version scoring leads' feature columns: the one implementation of a lead's scores.

Serving (leadgen.serve.scorer) adds the answer's neighbours and explanation around it; the build's
challenger gate (leadgen.builder.challenger) scores logged leads with it, through the candidate
and through the serving version, so both are scored exactly as a request would be. The steps:
embed the text columns and vectorise (leadgen.model.features), search both indices, the kNN
scores (leadgen.model.knn), the head's p_high_value (leadgen.model.head), the headline (p, or
contrast without a head) and its percentile among the customers'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadgen.config import ColumnSpec
from leadgen.model.bundle import Bundle
from leadgen.model.embedders import Embedder
from leadgen.model.features import embed_text, vectorise
from leadgen.model.head import HeadOutput, percentile_of
from leadgen.model.knn import KnnScores, Neighbours, neighbour_features, search_neighbours

# (high, everyone, the `high` neighbours' stored vectors when the search gathered them)
Searched = tuple[Neighbours, Neighbours, np.ndarray | None]
Search = Callable[[np.ndarray], Searched]


@dataclass(frozen=True)
class BatchScores:
    """The scores of n leads, column-wise, with what the explanation needs of their making."""

    vectors: np.ndarray
    high: Neighbours
    everyone: Neighbours
    stored: np.ndarray | None
    knn: KnnScores
    head: HeadOutput | None
    headline: np.ndarray
    percentile: np.ndarray

    @property
    def p_high_value(self) -> np.ndarray | None:
        return self.head.p if self.head is not None else None


def neighbour_labels(bundle: Bundle) -> np.ndarray | None:
    """High-value flag per position of the `all` index, when the head reads its neighbours'
    labels (its `rate` feature); computed once per loaded version."""
    if not bundle.head.uses_neighbours:
        return None
    return np.isin(bundle.ids_all, bundle.ids_high)


def feature_columns(
    features: Sequence[Mapping[str, Any]], spec: ColumnSpec
) -> dict[str, list[Any]]:
    """Leads' feature values as the version's columns (a column a lead lacks is None)."""
    return {c: [f.get(c) for f in features] for c in spec.all_cols}


def exact_search(bundle: Bundle, exclude_ids: np.ndarray | None = None) -> Search:
    """Both indices searched one after the other; `exclude_ids` leaves each query's own id out
    (None entries exclude nothing)."""

    def search(vecs: np.ndarray) -> Searched:
        k = bundle.manifest.k
        high = search_neighbours(bundle.index_high, bundle.ids_high, vecs, k, exclude_ids)
        everyone = search_neighbours(bundle.index_all, bundle.ids_all, vecs, k, exclude_ids)
        return high, everyone, None

    return search


def score_columns(
    bundle: Bundle,
    embedder: Embedder,
    columns: Mapping[str, Sequence[Any]],
    n: int,
    labels_all: np.ndarray | None,
    search: Search | None = None,
) -> BatchScores:
    """Score `n` leads given as the version's feature columns."""
    m = bundle.manifest
    text = embed_text(dict(columns), m.columns, n, embedder, m.text_mode)
    vecs, _ = vectorise(text, bundle.transform, dict(columns), m.w_text)
    high, everyone, stored = (search or exact_search(bundle))(vecs)
    knn = KnnScores.of(high, everyone)
    nb = neighbour_features(high, everyone, labels_all, knn)
    head = bundle.head.score(dict(columns), n, text, nb)
    headline = head.p if head is not None else knn.contrast
    percentile = bundle.head.percentile(headline, percentile_of(bundle.calibration, knn.contrast))
    return BatchScores(vecs, high, everyone, stored, knn, head, headline, percentile)
