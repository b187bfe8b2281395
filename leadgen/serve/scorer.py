"""One loaded artifact version scoring clean leads: embed, search both indices, score, explain.

Scores are defined once (leadgen.model.knn, docs/scores.md); this module applies them to leads and
adds what a sales tool shows: the percentile and grade of the headline score, the neighbours, and
the explanation (leadgen.serve.explanation).

Serving needs numpy + faiss + the embedder only: no pandas, no sklearn, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadgen.config import GradeBands
from leadgen.model.bundle import Bundle
from leadgen.model.embedders import Embedder, check_identity
from leadgen.model.features import embed_text, vectorise
from leadgen.model.head import percentile_of
from leadgen.model.knn import KnnScores, Neighbours, neighbour_features, search_neighbours
from leadgen.serve.explanation import Explainer, stored_vectors
from leadgen.serve.schemas import (
    CleanLead,
    Explanation,
    Neighbour,
)
from leadgen.serve.schemas import (
    Neighbours as NeighbourLists,
)

# Below this many leads the two index searches run side by side; from it, each search is a batch
# that FAISS spreads over its own threads.
PARALLEL_SEARCH_BELOW = 20
_HELPER: list[ThreadPoolExecutor] = []  # one helper thread for the process, shared by versions


def _helper() -> ThreadPoolExecutor:
    if not _HELPER:
        _HELPER.append(ThreadPoolExecutor(1, thread_name_prefix="leadgen-search"))
    return _HELPER[0]


@dataclass(frozen=True)
class LeadScores:
    """The scoring part of one answer (the service adds the duplicate check's part)."""

    s_look: float | None
    s_all: float | None
    s_novel: float | None
    contrast: float | None
    p_high_value: float | None
    percentile: float
    grade: str
    graded_on: str
    graded_on_reason: str | None
    neighbors: NeighbourLists
    explanation: Explanation

    def fields(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Scorer:
    """A verified artifact version and the embedder it was built with."""

    def __init__(self, bundle: Bundle, embedder: Embedder) -> None:
        check_identity(bundle.manifest.embedder, embedder.identity)
        self.bundle = bundle
        self.embedder = embedder
        self.manifest = bundle.manifest
        self.version = bundle.manifest.version
        self.spec = bundle.manifest.columns
        self.k = bundle.manifest.k
        self.explainer = Explainer(bundle, embedder.dim)
        # The head's `rate` feature reads the labels of a lead's nearest customers.
        self._labels_all = (
            np.isin(bundle.ids_all, bundle.ids_high) if bundle.head.uses_neighbours else None
        )

    def columns_and_text(self, leads: Sequence[CleanLead]) -> tuple[dict[str, Any], np.ndarray]:
        """The leads' configured columns and their text block (what the head reads)."""
        columns = {c: [lead.features.get(c) for lead in leads] for c in self.spec.all_cols}
        m = self.manifest
        return columns, embed_text(columns, self.spec, len(leads), self.embedder, m.text_mode)

    def score(
        self, leads: Sequence[CleanLead], bands: GradeBands | None = None, n_neighbors: int = 5
    ) -> list[LeadScores]:
        if not leads:
            return []
        b = self.bundle
        columns, text = self.columns_and_text(leads)
        vecs, _ = vectorise(text, b.transform, columns, self.manifest.w_text)
        high, everyone, stored = self._search(vecs)
        scores = KnnScores.of(high, everyone)
        nb = neighbour_features(high, everyone, self._labels_all, scores)
        head = b.head.score(columns, len(leads), text, nb)
        p_high = head.p if head is not None else None
        headline = p_high if p_high is not None else scores.contrast
        pct = b.head.percentile(headline, percentile_of(b.calibration, scores.contrast))
        grading = bands or self.manifest.grade_bands
        explanations = self.explainer.explain(leads, vecs, high.pos, head, stored)
        # Whole columns to Python at once: per-element numpy scalars were a bulk run's hot spot.
        s_look, s_all = _floats(scores.s_look), _floats(scores.s_all)
        s_novel, contrast = _floats(scores.s_novel), _floats(scores.contrast)
        p_list = _floats(p_high) if p_high is not None else [None] * len(leads)
        pct_list = np.asarray(pct, dtype=np.float64).tolist()
        near_high = _neighbour_lists(b.ids_high, high, n_neighbors)
        near_all = _neighbour_lists(b.ids_all, everyone, n_neighbors)
        return [
            LeadScores(
                s_look=s_look[r],
                s_all=s_all[r],
                s_novel=s_novel[r],
                contrast=contrast[r],
                p_high_value=p_list[r],
                percentile=round(pct_list[r], 2),
                grade=grading.grade(pct_list[r]),
                graded_on=b.head.headline_name,
                graded_on_reason=b.head.reason or None,
                neighbors=NeighbourLists(high=near_high[r], all=near_all[r]),
                explanation=explanations[r],
            )
            for r in range(len(leads))
        ]

    def _search(self, vecs: np.ndarray) -> tuple[Neighbours, Neighbours, np.ndarray | None]:
        """Neighbours in `high` and in `all`, and for a request's few leads the stored vectors of
        the `high` ones. Those leads search both at once, `high` on a helper thread (FAISS
        releases the GIL), which then gathers the vectors the explanation needs while `all`, the
        larger index, is still being searched: one search's time instead of two
        (bench/RESULTS.md, bench/WARM.md). A batch large enough for FAISS's own threads searches
        them in turn, and the explanation gathers its vectors slice by slice."""
        b = self.bundle
        if len(vecs) >= PARALLEL_SEARCH_BELOW:
            high = search_neighbours(b.index_high, b.ids_high, vecs, self.k)
            return high, search_neighbours(b.index_all, b.ids_all, vecs, self.k), None
        pending = _helper().submit(self._high_and_stored, vecs)
        everyone = search_neighbours(b.index_all, b.ids_all, vecs, self.k)
        high, stored = pending.result()
        return high, everyone, stored

    def _high_and_stored(self, vecs: np.ndarray) -> tuple[Neighbours, np.ndarray]:
        high = search_neighbours(self.bundle.index_high, self.bundle.ids_high, vecs, self.k)
        index = self.bundle.index_high
        return high, stored_vectors(index, np.where(high.pos >= 0, high.pos, 0))


def _neighbour_lists(ids: np.ndarray, found: Neighbours, n: int) -> list[list[Neighbour]]:
    """The first `n` neighbours of every query, with the customers' ids as exported."""
    pos = found.pos[:, :n]
    id_rows = ids[np.clip(pos, 0, None)].tolist() if len(ids) else [[] for _ in pos]
    sim_rows = _float_rows(found.sims[:, :n])
    return [
        [
            Neighbour(customer_id=i, similarity=s)
            for i, s, p in zip(i_row, s_row, p_row, strict=False)
            if p >= 0
        ]
        for i_row, s_row, p_row in zip(id_rows, sim_rows, pos.tolist(), strict=True)
    ]


def _floats(values: Any) -> list[float | None]:
    """Scores as answered: rounded to 6 decimals, NaN (nothing to compare with) as null."""
    return [
        None if math.isnan(v) else round(v, 6)
        for v in np.asarray(values, dtype=np.float64).tolist()
    ]


def _float_rows(values: np.ndarray) -> list[list[float | None]]:
    rows = np.asarray(values, dtype=np.float64).tolist()
    return [[None if math.isnan(v) else round(v, 6) for v in row] for row in rows]
