"""The holdout scored the way serving scores it: through the published indices.

The holdout (builder/holdout.py) measures the method with exact indices. The published indices may
be approximate and compressed (leadgen.model.faiss_index), so this step scores the same held-out
customers through them, each leaving itself out, and through exact search over the uncompressed
vectors, and records the headline's AUC both ways: their difference is what the index costs.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from leadgen.builder.fitting import Space
from leadgen.builder.quality import roc_auc
from leadgen.builder.reader import CrmTable
from leadgen.model.head import Head, HeadOutput
from leadgen.model.index_backends import backend
from leadgen.model.knn import KnnScores, neighbour_features, search_neighbours
from leadgen.model.vector_index import IndexInfo, VectorIndex


class PublishedIndices(Protocol):
    all: VectorIndex
    high: VectorIndex
    info: dict[str, IndexInfo]


def serving_path_quality(
    space: Space,
    table: CrmTable,
    indices: PublishedIndices,
    head: Head,
    k: int,
    rows: np.ndarray,
    text_rows: np.ndarray,
) -> tuple[dict[str, Any], HeadOutput | None]:
    """AUC of the headline on the held-out `rows`, served (published indices) and exact
    (uncompressed vectors, exact search), and served minus exact; and the head's output for
    the rows as served (their drivers: the report's column importance), None without a head."""
    if not len(rows):
        return {}, None
    y = table.labels[rows]
    served, out = _headline(space, table, (indices.all, indices.high), head, k, rows, text_rows)
    if all(info.kind == "flat" for info in indices.info.values()):
        exact = served  # exact indices over the uncompressed vectors: nothing to compare
    else:
        high_rows = np.flatnonzero(table.labels)
        engine = backend()
        yardstick = (engine.exact(space.vectors), engine.exact(space.vectors[high_rows]))
        exact, _ = _headline(space, table, yardstick, head, k, rows, text_rows)
    auc_served, auc_exact = roc_auc(y, served), roc_auc(y, exact)
    return {
        "rows": len(rows),
        "score": head.headline_name,
        "auc_served": round(auc_served, 4),
        "auc_exact": round(auc_exact, 4),
        "auc_delta": round(auc_served - auc_exact, 4),
    }, out


def _headline(
    space: Space,
    table: CrmTable,
    indices: tuple[VectorIndex, VectorIndex],
    head: Head,
    k: int,
    rows: np.ndarray,
    text_rows: np.ndarray,
) -> tuple[np.ndarray, HeadOutput | None]:
    """Leave-one-out headline scores of `rows` against `indices` (all, high), read the way the
    scorer reads them (leadgen.serve.scorer): the head over the neighbour features found; and
    the head's output (None without a head: the scores are the kNN contrast)."""
    ids, labels = table.ids, table.labels
    q = space.vectors[rows]
    high = search_neighbours(indices[1], ids[labels], q, k, exclude_ids=ids[rows])
    everyone = search_neighbours(indices[0], ids, q, k, exclude_ids=ids[rows])
    out = head.score(
        table.subset(rows).columns,
        len(rows),
        text_rows,
        neighbour_features(high, everyone, labels if head.uses_neighbours else None),
    )
    if out is None:
        return KnnScores.of(high, everyone).contrast, None
    return out.p, out
