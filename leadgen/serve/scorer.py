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
from leadgen.model.head import HeadOutput, top_drivers
from leadgen.model.knn import KnnScores, Neighbours, neighbour_features, search_neighbours
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
        self._vocab_index = {
            c: {v: i for i, v in enumerate(vs)} for c, vs in bundle.high_attrs.vocab.items()
        }
        # The head's `rate` feature reads the labels of a lead's nearest customers.
        self._labels_all = (
            np.isin(bundle.ids_all, bundle.ids_high) if bundle.head.uses_neighbours else None
        )

    def columns_and_text(self, leads: Sequence[CleanLead]) -> tuple[dict[str, Any], np.ndarray]:
        """The leads' configured columns and their text block (what the head reads)."""
        columns = {c: [lead.features.get(c) for lead in leads] for c in self.spec.all_cols}
        m = self.manifest
        return columns, embed_text(columns, self.spec, len(leads), self.embedder, m.text_mode)

    def vectorise(self, leads: Sequence[CleanLead]) -> tuple[np.ndarray, np.ndarray]:
        """(combined vectors, standardised tabular matrix z) of the leads."""
        columns, text = self.columns_and_text(leads)
        return vectorise(text, self.bundle.transform, columns, self.manifest.w_text)

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
        explanations = self._explanations(leads, vecs, high.pos, head, stored)
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
        return high, self._stored_high(np.where(high.pos >= 0, high.pos, 0))

    def _stored_high(self, positions: np.ndarray) -> np.ndarray:
        """(*positions.shape, dim): the vectors the `high` index holds at these positions."""
        flat = self.bundle.index_high.reconstruct(positions.ravel())
        return flat.reshape(*positions.shape, -1)

    def _explanations(
        self,
        leads: Sequence[CleanLead],
        vecs: np.ndarray,
        pos_high: np.ndarray,
        head: HeadOutput | None,
        stored: np.ndarray | None = None,
    ) -> list[Explanation]:
        """The explanation of every lead, computed for the whole batch at once (a bulk run scores
        thousands of leads per batch; per-lead Python loops were most of its time). `stored`:
        the high-value neighbours' vectors when the search already gathered them."""
        valid = pos_high >= 0
        safe = np.where(valid, pos_high, 0)
        text_part, tab_part = self._split(vecs, safe, valid, stored)
        shared = self._shared(leads, safe, valid)
        out = []
        for r, found in enumerate(valid.sum(axis=1).tolist()):
            drivers = _drivers(head, r)
            if found == 0:
                out.append(
                    Explanation(
                        text_similarity=None,
                        tabular_similarity=None,
                        shared_attributes=[],
                        **drivers,
                        summary="no high-value customers to compare with",
                    )
                )
                continue
            out.append(
                Explanation(
                    text_similarity=round(text_part[r], 4),
                    tabular_similarity=round(tab_part[r], 4),
                    shared_attributes=shared[r],
                    **drivers,
                    summary=_summary(found, text_part[r], tab_part[r], shared[r]),
                )
            )
        return out

    def _split(
        self, vecs: np.ndarray, safe: np.ndarray, valid: np.ndarray, stored: np.ndarray | None
    ) -> tuple[list[float], list[float]]:
        """Mean similarity to the found high-value neighbours, split into its text part and its
        tabular part (they add up to s_look); in slices, so the gathered neighbour vectors stay a
        few MB whatever the batch size."""
        d, n = self.embedder.dim, len(vecs)
        text, tab = np.zeros(n), np.zeros(n)
        count = np.maximum(valid.sum(axis=1), 1)
        for start in range(0, n, _SLICE):
            rows = slice(start, start + _SLICE)
            neigh = stored[rows] if stored is not None else self._stored_high(safe[rows])
            mask = valid[rows]
            t = np.einsum("rkd,rd->rk", neigh[:, :, :d], vecs[rows, :d])
            text[rows] = (t * mask).sum(axis=1) / count[rows]
            if neigh.shape[2] > d:
                b = np.einsum("rkd,rd->rk", neigh[:, :, d:], vecs[rows, d:])
                tab[rows] = (b * mask).sum(axis=1) / count[rows]
        return text.tolist(), tab.tolist()

    def _shared(
        self, leads: Sequence[CleanLead], safe: np.ndarray, valid: np.ndarray
    ) -> list[list[SharedAttribute]]:
        """Attributes each lead shares with at least half of its high-value neighbours,
        categorical first then numeric, most shared first."""
        cats = self._shared_categories(leads, safe, valid)
        nums = self._shared_numbers(leads, safe, valid)
        out = []
        for c, m in zip(cats, nums, strict=True):
            both = c + m
            both.sort(key=lambda s: -s.shared_by)
            out.append(both)
        return out

    def _shared_categories(
        self, leads: Sequence[CleanLead], safe: np.ndarray, valid: np.ndarray
    ) -> list[list[SharedAttribute]]:
        cols = self.spec.cat_cols
        found = valid.sum(axis=1)
        out: list[list[SharedAttribute]] = [[] for _ in leads]
        if not cols:
            return out
        lead_codes = np.array(
            [[self._code(col, lead.features.get(col)) for col in cols] for lead in leads],
            dtype=np.int64,
        ).reshape(len(leads), len(cols))
        neigh = self.bundle.high_attrs.cat_codes[safe]  # (n, k, n_cat)
        counts = ((neigh == lead_codes[:, None, :]) & valid[:, :, None]).sum(axis=1)
        for r, j in zip(
            *np.nonzero((counts * 2 >= found[:, None]) & (lead_codes >= 0)), strict=True
        ):
            value = str(leads[r].features.get(cols[j])).strip()
            out[r].append(
                SharedAttribute(
                    attribute=cols[j], value=value, shared_by=int(counts[r, j]), of=int(found[r])
                )
            )
        return out

    def _code(self, col: str, value: Any) -> int:
        """The lead's category code in the high-value vocabulary; -2 = none (never matches)."""
        if value is None:
            return -2
        code = self._vocab_index.get(col, {}).get(str(value).strip())
        return -2 if code is None else code

    def _shared_numbers(
        self, leads: Sequence[CleanLead], safe: np.ndarray, valid: np.ndarray
    ) -> list[list[SharedAttribute]]:
        """Numeric columns within half a customer standard deviation of most high-value
        neighbours; heavy-tailed columns are compared on a log scale (TabularTransform.log_cols)."""
        attrs = self.bundle.high_attrs
        cols = self.spec.num_cols[: attrs.num.shape[1]]
        found = valid.sum(axis=1)
        out: list[list[SharedAttribute]] = [[] for _ in leads]
        if not cols:
            return out
        raw = np.array(
            [[_num(lead.features.get(c)) for c in cols] for lead in leads], dtype=np.float64
        ).reshape(len(leads), len(cols))
        logged = np.array([c in self.bundle.transform.log_cols for c in cols])
        lead_v = np.where(logged, np.log1p(np.clip(raw, 0.0, None)), raw).astype(np.float32)
        neigh = attrs.num[safe][:, :, : len(cols)]  # (n, k, n_num) float32
        neigh = np.where(logged, np.log1p(np.clip(neigh, 0, None)), neigh).astype(np.float32)
        std = attrs.num_std[: len(cols)]
        tol = np.where(std > 0, 0.5 * std, 0.0).astype(np.float32)
        with np.errstate(invalid="ignore"):
            close = (np.abs(neigh - lead_v[:, None, :]) <= tol) & valid[:, :, None]
        counts = close.sum(axis=1)
        hits = (counts * 2 >= found[:, None]) & ~np.isnan(raw)
        for r, j in zip(*np.nonzero(hits), strict=True):
            t = float(tol[j])
            out[r].append(
                SharedAttribute(
                    attribute=cols[j],
                    value=float(raw[r, j]),
                    shared_by=int(counts[r, j]),
                    of=int(found[r]),
                    within_factor=round(math.exp(t), 3) if logged[j] else None,
                    within=None if logged[j] else round(t, 4),
                )
            )
        return out


_SLICE = 256  # leads per slice of gathered neighbour vectors
TOP_DRIVERS = 5


def _drivers(head: HeadOutput | None, r: int) -> dict[str, Any]:
    """The columns moving lead r's p_high_value the most, and the base and the rest, so that
    drivers_base + their contributions + drivers_rest is the logit of p_high_value exactly."""
    if head is None:
        return {"drivers": [], "drivers_base": None, "drivers_rest": None}
    listed, rest = top_drivers(head.contributions[r], head.groups, TOP_DRIVERS)
    return {
        "drivers": [
            Driver(feature=g, effect="raises" if c > 0 else "lowers", contribution=c)
            for g, c in listed
        ],
        "drivers_base": float(head.base[r]),
        "drivers_rest": rest,
    }


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


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


def _floats(values: Any) -> list[float | None]:
    """Scores as answered: rounded to 6 decimals, NaN (nothing to compare with) as null."""
    return [
        None if math.isnan(v) else round(v, 6)
        for v in np.asarray(values, dtype=np.float64).tolist()
    ]


def _float_rows(values: np.ndarray) -> list[list[float | None]]:
    rows = np.asarray(values, dtype=np.float64).tolist()
    return [[None if math.isnan(v) else round(v, 6) for v in row] for row in rows]
