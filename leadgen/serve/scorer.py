"""One loaded artifact version scoring clean leads: embed, search both indices, score, explain.

Scores are defined once (leadgen.model.knn, docs/scores.md); this module applies them to leads and
adds what a sales tool shows: the percentile and grade of the headline score, the neighbours, and
an explanation (the text/tabular split of the similarity to the nearest high-value customers, the
attributes the lead shares with them, and the columns driving p_high_value).

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
from leadgen.model.calibration import percentile_of
from leadgen.model.embedders import Embedder, check_identity
from leadgen.model.features import embed_text, vectorise
from leadgen.model.knn import KnnScores, Neighbours, search_neighbours
from leadgen.serve.schemas import (
    CleanLead,
    Driver,
    Explanation,
    Neighbour,
    SharedAttribute,
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
        self._vocab_index = {
            c: {v: i for i, v in enumerate(vs)} for c, vs in bundle.high_attrs.vocab.items()
        }

    def vectorise(self, leads: Sequence[CleanLead]) -> tuple[np.ndarray, np.ndarray]:
        """(combined vectors, standardised tabular matrix z) of the leads."""
        columns = {c: [lead.features.get(c) for lead in leads] for c in self.spec.all_cols}
        m = self.manifest
        text = embed_text(columns, self.spec, len(leads), self.embedder, m.text_mode)
        return vectorise(text, self.bundle.transform, columns, m.w_text)

    def score(
        self, leads: Sequence[CleanLead], bands: GradeBands | None = None, n_neighbors: int = 5
    ) -> list[LeadScores]:
        if not leads:
            return []
        b = self.bundle
        vecs, z = self.vectorise(leads)
        high, everyone = self._search(vecs)
        scores = KnnScores.of(high, everyone)
        p_high = b.head.probability(vecs[:, : self.embedder.dim], z, scores)
        headline = b.head.headline(scores, p_high)
        pct = b.head.percentile(headline, percentile_of(b.calibration, scores.contrast))
        grading = bands or self.manifest.grade_bands
        return [
            LeadScores(
                s_look=_f(scores.s_look[r]),
                s_all=_f(scores.s_all[r]),
                s_novel=_f(scores.s_novel[r]),
                contrast=_f(scores.contrast[r]),
                p_high_value=_f(p_high[r]) if p_high is not None else None,
                percentile=round(float(pct[r]), 2),
                grade=grading.grade(float(pct[r])),
                graded_on=b.head.headline_name,
                neighbors=NeighbourLists(
                    high=_neighbours(b.ids_high, high, r, n_neighbors),
                    all=_neighbours(b.ids_all, everyone, r, n_neighbors),
                ),
                explanation=self._explain(lead, vecs[r], high.pos[r], z[r]),
            )
            for r, lead in enumerate(leads)
        ]

    def _search(self, vecs: np.ndarray) -> tuple[Neighbours, Neighbours]:
        """Neighbours in `high` and in `all`. A request's few leads search both at once, `high`
        on a helper thread (FAISS releases the GIL): one search's time instead of two
        (bench/RESULTS.md); a batch large enough for FAISS's own threads searches them in turn."""
        b = self.bundle
        if len(vecs) >= PARALLEL_SEARCH_BELOW:
            high = search_neighbours(b.index_high, b.ids_high, vecs, self.k)
            return high, search_neighbours(b.index_all, b.ids_all, vecs, self.k)
        pending = _helper().submit(search_neighbours, b.index_high, b.ids_high, vecs, self.k)
        everyone = search_neighbours(b.index_all, b.ids_all, vecs, self.k)
        return pending.result(), everyone

    # ---- explanation ---------------------------------------------------------------------------
    def _explain(
        self, lead: CleanLead, vec: np.ndarray, pos_high: np.ndarray, z: np.ndarray
    ) -> Explanation:
        pos = pos_high[pos_high >= 0]
        if len(pos) == 0:
            return Explanation(
                text_similarity=None,
                tabular_similarity=None,
                shared_attributes=[],
                drivers=[],
                summary="no high-value customers to compare with",
            )
        neigh = self.bundle.index_high.reconstruct(pos)
        d = self.embedder.dim
        text_part = float(np.mean(neigh[:, :d] @ vec[:d]))
        tab_part = float(np.mean(neigh[:, d:] @ vec[d:])) if vec.shape[0] > d else 0.0
        shared = self._shared_categories(lead, pos) + self._shared_numbers(lead, pos)
        shared.sort(key=lambda s: -s.shared_by)
        drivers = self.bundle.head.drivers(z, self.bundle.transform.columns)
        return Explanation(
            text_similarity=round(text_part, 4),
            tabular_similarity=round(tab_part, 4),
            shared_attributes=shared,
            drivers=[Driver(**d) for d in drivers],
            summary=_summary(len(pos), text_part, tab_part, shared),
        )

    def _shared_categories(self, lead: CleanLead, pos: np.ndarray) -> list[SharedAttribute]:
        codes = self.bundle.high_attrs.cat_codes
        out = []
        for j, col in enumerate(self.spec.cat_cols):
            v = lead.features.get(col)
            code = self._vocab_index.get(col, {}).get(str(v).strip()) if v is not None else None
            if code is None:
                continue
            count = int((codes[pos, j] == code).sum())
            if count * 2 >= len(pos):
                out.append(
                    SharedAttribute(
                        attribute=col, value=str(v).strip(), shared_by=count, of=len(pos)
                    )
                )
        return out

    def _shared_numbers(self, lead: CleanLead, pos: np.ndarray) -> list[SharedAttribute]:
        """Numeric columns within half a customer standard deviation of most high-value
        neighbours; heavy-tailed columns are compared on a log scale (TabularTransform.log_cols)."""
        attrs = self.bundle.high_attrs
        out = []
        for j, col in enumerate(self.spec.num_cols):
            v = lead.features.get(col)
            if v is None or attrs.num.shape[1] <= j:
                continue
            logged = col in self.bundle.transform.log_cols
            lead_v = math.log1p(max(float(v), 0.0)) if logged else float(v)
            neigh_v = np.log1p(np.clip(attrs.num[pos, j], 0, None)) if logged else attrs.num[pos, j]
            tol = 0.5 * float(attrs.num_std[j]) if attrs.num_std[j] > 0 else 0.0
            count = int((np.abs(neigh_v - lead_v) <= tol).sum())
            if count * 2 >= len(pos):
                out.append(
                    SharedAttribute(
                        attribute=col,
                        value=float(v),
                        shared_by=count,
                        of=len(pos),
                        within_factor=round(math.exp(tol), 3) if logged else None,
                        within=None if logged else round(tol, 4),
                    )
                )
        return out


def _neighbours(ids: np.ndarray, found: Neighbours, r: int, n: int) -> list[Neighbour]:
    return [
        Neighbour(customer_id=ids[p].item(), similarity=_f(s))
        for s, p in zip(found.sims[r][:n], found.pos[r][:n], strict=True)
        if p >= 0
    ]


def _summary(n: int, text_part: float, tab_part: float, shared: list[SharedAttribute]) -> str:
    lead_by = "text" if text_part >= tab_part else "tabular"
    summary = (
        f"similarity to the {n} nearest high-value customers is {text_part + tab_part:.3f}, "
        f"{text_part:.3f} from text and {tab_part:.3f} from tabular features (mostly {lead_by})"
    )
    if shared:
        summary += "; shares " + ", ".join(
            f"{s.attribute}={s.value} with {s.shared_by}/{s.of}" for s in shared[:3]
        )
    return summary


def _f(x: Any) -> float | None:
    v = float(x)
    return None if math.isnan(v) else round(v, 6)
