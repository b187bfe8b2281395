"""Why a lead scored as it did, for a whole batch at once (a bulk run explains thousands of leads
per batch: per-lead Python loops would be most of its time).

Three parts (docs/scores.md): the text and tabular parts of the similarity to the nearest
high-value customers, read from the vectors the `high` index stores exactly as it scored them
(VectorIndex.reconstruct), so they add up to s_look; the attributes the lead shares with most of
those customers; and the columns driving p_high_value (drivers_base + their contributions +
drivers_rest is its logit, exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from leadgen.model.bundle import Bundle
from leadgen.model.head import HeadOutput, top_drivers
from leadgen.model.vector_index import VectorIndex
from leadgen.serve.schemas import CleanLead, Driver, Explanation, SharedAttribute


def stored_vectors(index: VectorIndex, positions: np.ndarray) -> np.ndarray:
    """(*positions.shape, dim): the vectors the index holds at these positions."""
    flat = index.reconstruct(positions.ravel())
    return flat.reshape(*positions.shape, -1)


class Explainer:
    """The explanations of one loaded version; `text_dim` is the text block's size at the front
    of each vector (the embedder's dimension)."""

    def __init__(self, bundle: Bundle, text_dim: int) -> None:
        self.bundle = bundle
        self.text_dim = text_dim
        self.spec = bundle.manifest.columns
        self._vocab_index = {
            c: {v: i for i, v in enumerate(vs)} for c, vs in bundle.high_attrs.vocab.items()
        }
        num = bundle.high_attrs.num.astype(np.float64)
        self._edges = [_deciles(num[:, j]) for j in range(num.shape[1])]
        self._num_bins = (
            np.stack([_decile(e, num[:, j]) for j, e in enumerate(self._edges)], axis=1)
            if num.shape[1]
            else np.zeros((len(num), 0), dtype=np.int64)
        )

    def explain(
        self,
        leads: Sequence[CleanLead],
        vecs: np.ndarray,
        pos_high: np.ndarray,
        head: HeadOutput | None,
        stored: np.ndarray | None = None,
    ) -> list[Explanation]:
        """The explanation of every lead: `pos_high` holds the positions of its high-value
        neighbours (-1: none); `stored` their vectors when the search already gathered them."""
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
                    summary=_summary(
                        found, text_part[r], tab_part[r], shared[r], bool(self.spec.text_cols)
                    ),
                )
            )
        return out

    def _split(
        self, vecs: np.ndarray, safe: np.ndarray, valid: np.ndarray, stored: np.ndarray | None
    ) -> tuple[list[float], list[float]]:
        """Mean similarity to the found high-value neighbours, split into its text part and its
        tabular part (they add up to s_look); in slices, so the gathered neighbour vectors stay a
        few MB whatever the batch size."""
        d, n = self.text_dim, len(vecs)
        text, tab = np.zeros(n), np.zeros(n)
        count = np.maximum(valid.sum(axis=1), 1)
        for start in range(0, n, _SLICE):
            rows = slice(start, start + _SLICE)
            index = self.bundle.index_high
            neigh = stored[rows] if stored is not None else stored_vectors(index, safe[rows])
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
        """A number is shared with a neighbour when both fall in the same tenth of the
        high-value customers' values (deciles; equal values always do). A lead value outside
        their range, or in a tenth no neighbour is in, is shared with none."""
        cols = self.spec.num_cols[: self.bundle.high_attrs.num.shape[1]]
        found = valid.sum(axis=1)
        out: list[list[SharedAttribute]] = [[] for _ in leads]
        if not cols:
            return out
        raw = np.array(
            [[_num(lead.features.get(c)) for c in cols] for lead in leads], dtype=np.float64
        ).reshape(len(leads), len(cols))
        lead_bins = np.stack(
            [_decile(self._edges[j], raw[:, j]) for j in range(len(cols))], axis=1
        ).reshape(len(leads), len(cols))
        neigh = self._num_bins[safe]  # (n, k, n_num)
        counts = ((neigh == lead_bins[:, None, :]) & valid[:, :, None]).sum(axis=1)
        hits = (counts * 2 >= found[:, None]) & (lead_bins >= 0)
        for r, j in zip(*np.nonzero(hits), strict=True):
            b = int(lead_bins[r, j])
            out[r].append(
                SharedAttribute(
                    attribute=cols[j],
                    value=float(raw[r, j]),
                    shared_by=int(counts[r, j]),
                    of=int(found[r]),
                    between=_tenth(self._edges[j], b),
                )
            )
        return out


def _deciles(values: np.ndarray) -> np.ndarray:
    """The edges of the tenths of a column's present values (empty: none present)."""
    present = values[np.isfinite(values)]
    if not len(present):
        return np.zeros(0)
    return np.unique(np.quantile(present, np.linspace(0.0, 1.0, 11)))


def _decile(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The tenth each value falls in (a value on an inner edge: the upper one; the largest
    value: the last); -1 outside [min, max] of the edges or missing."""
    if len(edges) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    inner = np.searchsorted(edges[1:-1], values, side="right") if len(edges) > 2 else 0
    bins = np.asarray(np.zeros(len(values), dtype=np.int64) + inner, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        inside = (values >= edges[0]) & (values <= edges[-1])
    return np.where(inside, bins, -1)


def _tenth(edges: np.ndarray, b: int) -> list[float]:
    """[low, high] of tenth b (one value when every high-value customer has the same)."""
    return [_round(edges[b]), _round(edges[min(b + 1, len(edges) - 1)])]


def _round(x: float) -> float:
    return float(f"{x:.6g}")


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


def _summary(
    n: int, text_part: float, tab_part: float, shared: list[SharedAttribute], has_text: bool
) -> str:
    """The explanation in one line; the text/tabular split only when the version has text
    columns (without them all of the similarity is the tabular part)."""
    summary = f"similarity to the {n} nearest high-value customers is {text_part + tab_part:.3f}"
    if has_text:
        lead_by = "text" if text_part >= tab_part else "tabular"
        summary += (
            f", {text_part:.3f} from text and {tab_part:.3f} from tabular features "
            f"(mostly {lead_by})"
        )
    if shared:
        summary += "; shares " + ", ".join(
            f"{s.attribute}={s.value} with {s.shared_by}/{s.of}" for s in shared[:3]
        )
    return summary
