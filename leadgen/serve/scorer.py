"""Scores of a lead against the customer indices, exactly as DESIGN.md defines them.

- s_look = mean top-k similarity to `high`; s_all = mean top-k similarity to `all`
- s_novel = 1 - s_all; contrast = s_look - s_all
- percentile of contrast among leave-one-out contrasts of customers (computed at build time)
- grade from percentile bands; neighbours; explanation (text/tabular split of the similarity to
  the nearest high-value customers, and the attributes the lead shares with them).

Serving needs numpy + faiss + the embedder only: no pandas, no sklearn, no torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leadgen.config import ColumnSpec, GradeBands
from leadgen.errors import ArtifactError
from leadgen.model import index as ix
from leadgen.model.calibration import percentile_of
from leadgen.model.embedders import Embedder, check_identity
from leadgen.model.features import TabularTransform, combine, embed_text, validate_lead
from leadgen.model.head import Head


def neighbour_sims(
    index: Any,
    ids: np.ndarray,
    queries: np.ndarray,
    k: int,
    exclude_ids: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k similarities and positions; with `exclude_ids`, each query's own id is left out
    (leave-one-out). Missing slots are NaN / -1."""
    extra = 1 if exclude_ids is not None else 0
    sims, pos = ix.search(index, queries, k + extra)
    out_s = np.full((len(queries), k), np.nan, dtype=np.float32)
    out_p = np.full((len(queries), k), -1, dtype=np.int64)
    for r in range(len(queries)):
        keep = pos[r] >= 0
        if exclude_ids is not None:
            keep &= ids[np.clip(pos[r], 0, None)] != exclude_ids[r]
        s, p = sims[r][keep][:k], pos[r][keep][:k]
        out_s[r, : len(s)] = s
        out_p[r, : len(p)] = p
    return out_s, out_p


def raw_scores(sims_high: np.ndarray, sims_all: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(all="ignore"):
        s_look = np.nanmean(sims_high, axis=1) if sims_high.size else np.zeros(len(sims_high))
        s_all = np.nanmean(sims_all, axis=1) if sims_all.size else np.zeros(len(sims_all))
    return {"s_look": s_look, "s_all": s_all, "s_novel": 1.0 - s_all, "contrast": s_look - s_all}


@dataclass
class HighAttributes:
    """Raw attributes of the high-value customers, in `high` index order, for explanations."""

    cat_codes: np.ndarray  # (n_high, n_cat) int32, -1 = missing
    vocab: dict[str, list[str]]
    num: np.ndarray  # (n_high, n_num) float32, NaN = missing
    num_std: np.ndarray  # (n_num,) customer std, for "similar value" tolerance


class Model:
    """One loaded, verified artifact version."""

    def __init__(self, directory: Path, manifest: dict[str, Any], embedder: Embedder) -> None:
        check_identity(manifest["embedder"], embedder.identity)
        self.directory = directory
        self.manifest = manifest
        self.version = str(manifest["version"])
        self.embedder = embedder
        self.spec = ColumnSpec.from_json(manifest["columns"])
        self.k = int(manifest["k"])
        self.w_text = float(manifest["w_text"])
        self.text_mode = str(manifest.get("text_mode", "joint"))
        self.bands = GradeBands.from_json(manifest["grade_bands"])
        try:
            self.transform = TabularTransform.from_json(
                json.loads((directory / "transform.json").read_text())
            )
            self.index_all = ix.load_index(directory / "index_all.faiss")
            self.index_high = ix.load_index(directory / "index_high.faiss")
            self.ids_all = np.load(directory / "ids_all.npy", allow_pickle=False)
            self.ids_high = np.load(directory / "ids_high.npy", allow_pickle=False)
            self.calibration = np.load(directory / "calibration.npy", allow_pickle=False)
            attrs = np.load(directory / "high_attrs.npz", allow_pickle=False)
            self.high_attrs = HighAttributes(
                cat_codes=attrs["cat_codes"],
                num=attrs["num"],
                num_std=attrs["num_std"],
                vocab=json.loads((directory / "high_vocab.json").read_text()),
            )
            self.head = Head.from_json(json.loads((directory / "head.json").read_text()))
        except (OSError, KeyError, ValueError) as exc:
            raise ArtifactError(f"{directory}: cannot load artifact ({exc})") from None
        for name, index in (("all", self.index_all), ("high", self.index_high)):
            params = manifest["indices"][name]["params"]
            if "efSearch" in params:
                index.hnsw.efSearch = int(params["efSearch"])
            if "nprobe" in params:
                index.nprobe = int(params["nprobe"])
        self._vocab_index = {
            c: {v: i for i, v in enumerate(vs)} for c, vs in self.high_attrs.vocab.items()
        }

    # ---- featurising ------------------------------------------------------------------------
    def vectorise(self, leads: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """(combined vectors, standardised tabular matrix z) for validated leads."""
        n = len(leads)
        columns = {c: [lead.get(c) for lead in leads] for c in self.spec.all_cols}
        text = embed_text(columns, self.spec, n, self.embedder, self.text_mode)
        z = self.transform.standardise(self.transform.raw_matrix(columns, n))
        tab = self.transform.project(z)
        return combine(text, tab, self.w_text), z

    # ---- scoring ----------------------------------------------------------------------------
    def score(
        self,
        leads: Sequence[Mapping[str, Any]],
        bands: GradeBands | None = None,
        n_neighbors: int = 5,
    ) -> list[dict[str, Any]]:
        clean = [validate_lead(lead, self.spec) for lead in leads]
        if not clean:
            return []
        vecs, z = self.vectorise(clean)
        text_emb = vecs[:, : self.embedder.dim]
        sims_h, pos_h = neighbour_sims(self.index_high, self.ids_high, vecs, self.k)
        sims_a, pos_a = neighbour_sims(self.index_all, self.ids_all, vecs, self.k)
        scores = raw_scores(sims_h, sims_a)
        pct = percentile_of(self.calibration, scores["contrast"])
        p_high = self.head.probability(text_emb, z, scores)
        headline = self.head.headline(scores, p_high)
        headline_pct = self.head.percentile(headline, pct)
        grading = bands or self.bands
        out = []
        for r, lead in enumerate(clean):
            out.append(
                {
                    "s_look": _f(scores["s_look"][r]),
                    "s_all": _f(scores["s_all"][r]),
                    "s_novel": _f(scores["s_novel"][r]),
                    "contrast": _f(scores["contrast"][r]),
                    "p_high_value": _f(p_high[r]) if p_high is not None else None,
                    "percentile": round(float(headline_pct[r]), 2),
                    "grade": grading.grade(float(headline_pct[r])),
                    "graded_on": self.head.headline_name,
                    "neighbors": {
                        "high": self._neighbours(self.ids_high, sims_h[r], pos_h[r], n_neighbors),
                        "all": self._neighbours(self.ids_all, sims_a[r], pos_a[r], n_neighbors),
                    },
                    "explanation": self._explain(lead, vecs[r], pos_h[r], z[r]),
                }
            )
        return out

    @staticmethod
    def _neighbours(
        ids: np.ndarray, sims: np.ndarray, pos: np.ndarray, n: int
    ) -> list[dict[str, Any]]:
        return [
            {"customer_id": int(ids[p]), "similarity": _f(s)}
            for s, p in zip(sims[:n], pos[:n], strict=True)
            if p >= 0
        ]

    def _explain(
        self, lead: Mapping[str, Any], vec: np.ndarray, pos_high: np.ndarray, z: np.ndarray
    ) -> dict[str, Any]:
        pos = pos_high[pos_high >= 0]
        if len(pos) == 0:
            return {
                "text_similarity": None,
                "tabular_similarity": None,
                "shared_attributes": [],
                "drivers": [],
                "summary": "no high-value customers to compare with",
            }
        neigh = ix.reconstruct(self.index_high, pos)
        d = self.embedder.dim
        text_part = float(np.mean(neigh[:, :d] @ vec[:d]))
        tab_part = float(np.mean(neigh[:, d:] @ vec[d:])) if vec.shape[0] > d else 0.0
        shared = self._shared(lead, pos)
        drivers = self.head.drivers(z, self.transform.columns)
        total = text_part + tab_part
        lead_by = "text" if text_part >= tab_part else "tabular"
        summary = (
            f"similarity to the {len(pos)} nearest high-value customers is {total:.3f}, "
            f"{text_part:.3f} from text and {tab_part:.3f} from tabular features "
            f"(mostly {lead_by})"
        )
        if shared:
            summary += "; shares " + ", ".join(
                f"{s['attribute']}={s['value']} with {s['shared_by']}/{s['of']}" for s in shared[:3]
            )
        return {
            "text_similarity": round(text_part, 4),
            "tabular_similarity": round(tab_part, 4),
            "shared_attributes": shared,
            "drivers": drivers,
            "summary": summary,
        }

    def _shared(self, lead: Mapping[str, Any], pos: np.ndarray) -> list[dict[str, Any]]:
        attrs = self.high_attrs
        out: list[dict[str, Any]] = []
        for j, col in enumerate(self.spec.cat_cols):
            v = lead.get(col)
            code = self._vocab_index.get(col, {}).get(str(v).strip()) if v is not None else None
            if code is None:
                continue
            count = int((attrs.cat_codes[pos, j] == code).sum())
            if count * 2 >= len(pos):
                out.append(
                    {"attribute": col, "value": str(v).strip(), "shared_by": count, "of": len(pos)}
                )
        for j, col in enumerate(self.spec.num_cols):
            v = lead.get(col)
            if v is None or attrs.num.shape[1] <= j:
                continue
            # heavy-tailed columns are compared on a log scale (see TabularTransform.log_cols)
            logged = col in self.transform.log_cols
            lead_v = math.log1p(max(float(v), 0.0)) if logged else float(v)
            neigh_v = np.log1p(np.clip(attrs.num[pos, j], 0, None)) if logged else attrs.num[pos, j]
            tol = 0.5 * float(attrs.num_std[j]) if attrs.num_std[j] > 0 else 0.0
            count = int((np.abs(neigh_v - lead_v) <= tol).sum())
            if count * 2 >= len(pos):
                item: dict[str, Any] = {
                    "attribute": col,
                    "value": float(v),
                    "shared_by": count,
                    "of": len(pos),
                }
                if logged:
                    item["within_factor"] = round(math.exp(tol), 3)
                else:
                    item["within"] = round(tol, 4)
                out.append(item)
        out.sort(key=lambda s: -int(s["shared_by"]))
        return out


def _f(x: Any) -> float | None:
    v = float(x)
    return None if math.isnan(v) else round(v, 6)
