"""Featurising customers and leads: the text blob and the tabular block.

Fitted at build time on current customers and stored as plain JSON (no pickles), so serving applies
the very same transform with numpy only. Missing columns and missing values are zero-filled after
scaling, i.e. set to the customers' column mean: a missing value says nothing, so it moves the
lead neither way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.config import ColumnSpec


def text_blob(values: Sequence[Any]) -> str:
    """Join the configured text columns; empty and missing parts are skipped."""
    parts = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        s = str(v).strip()
        if s:
            parts.append(s)
    return ". ".join(parts)


def text_blobs(columns: Mapping[str, Sequence[Any]], spec: ColumnSpec, n: int) -> list[str]:
    cols = [columns.get(c) for c in spec.text_cols]
    present = [c for c in cols if c is not None]
    if not present:
        return [""] * n
    return [text_blob(vals) for vals in zip(*present, strict=True)]


# Up to this many texts (a scoring request), all text columns are embedded in one call.
_ONE_CALL_TEXTS = 4096


def _clean_text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


def embed_text(
    columns: Mapping[str, Sequence[Any]],
    spec: ColumnSpec,
    n: int,
    embedder: Any,
    mode: str = "columns",
    progress: bool = False,
) -> np.ndarray:
    """The text block: unit rows (n, embedder.dim).

    "columns" embeds each text column on its own and averages the present ones: a CRM repeats
    titles and bios in ever new combinations, so embedding every distinct value once costs ~2.5x
    fewer tokens than embedding each joined blob (measured on the generated CRM). "joint" embeds
    the joined blob: one vector of all the texts together. Build and serving read the mode from
    the manifest."""
    if mode == "joint" or len(spec.text_cols) <= 1:
        return np.asarray(embedder.embed(text_blobs(columns, spec, n), progress=progress))
    acc = np.zeros((n, embedder.dim), dtype=np.float32)
    present = np.zeros(n, dtype=np.int32)
    per_col: list[tuple[np.ndarray, list[str]]] = []
    for col in spec.text_cols:
        vals = columns.get(col)
        if vals is None:
            continue
        texts = [_clean_text(v) for v in vals]
        rows = np.fromiter((i for i, t in enumerate(texts) if t), dtype=np.int64)
        if len(rows):
            per_col.append((rows, [texts[i] for i in rows]))
    if sum(len(rows) for rows, _ in per_col) <= _ONE_CALL_TEXTS:
        # A request's few texts go in one call, so a per-text (int8) model runs them in parallel.
        vecs = embedder.embed([t for _, texts in per_col for t in texts], progress=progress)
        start = 0
        for rows, texts in per_col:
            acc[rows] += vecs[start : start + len(texts)]
            present[rows] += 1
            start += len(texts)
    else:  # a build: one column at a time keeps one column's vectors in memory, not all
        for rows, texts in per_col:
            acc[rows] += embedder.embed(texts, progress=progress)
            present[rows] += 1
    empty = present == 0
    if empty.any():
        acc[empty] = embedder.embed([""])[0]
    norms = np.linalg.norm(acc, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (acc / norms).astype(np.float32)


@dataclass
class TabularTransform:
    """Frequency-encoded categoricals + standardised numerics, weighted, then PCA.

    `weights` scale each standardised column before PCA so that columns which matter for value
    dominate the neighbourhoods (learned at build time; 1.0 means unweighted).
    """

    spec: ColumnSpec
    freq: dict[str, dict[str, float]] = field(default_factory=dict)
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    std: np.ndarray = field(default_factory=lambda: np.ones(0))
    weights: np.ndarray = field(default_factory=lambda: np.ones(0))
    pca_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    components: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    scale: float = 1.0
    log_cols: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [*self.spec.cat_cols, *self.spec.num_cols]

    @property
    def dims(self) -> int:
        return int(self.components.shape[0])

    # ---- raw matrix -------------------------------------------------------------------------
    def raw_matrix(self, columns: Mapping[str, Sequence[Any] | np.ndarray], n: int) -> np.ndarray:
        """Unscaled numeric matrix (n, n_cols): frequencies for cats, floats for nums (NaN kept)."""
        out = np.full((n, len(self.columns)), np.nan, dtype=np.float64)
        for j, col in enumerate(self.spec.cat_cols):
            vals = columns.get(col)
            if vals is None:
                continue
            table = self.freq.get(col, {})
            out[:, j] = [table.get(_cat_key(v), 0.0) if v is not None else np.nan for v in vals]
        offset = len(self.spec.cat_cols)
        for j, col in enumerate(self.spec.num_cols):
            vals = columns.get(col)
            if vals is None:
                continue
            num = _as_float(vals)
            if col in self.log_cols:
                num = np.log1p(np.clip(num, 0.0, None))
            out[:, offset + j] = num
        return out

    def fit_frequencies(self, columns: Mapping[str, Sequence[Any]]) -> None:
        for col in self.spec.cat_cols:
            vals = columns.get(col)
            counts: dict[str, int] = {}
            total = 0
            if vals is not None:
                for v in vals:
                    if v is None:
                        continue
                    key = _cat_key(v)
                    counts[key] = counts.get(key, 0) + 1
                    total += 1
            self.freq[col] = {k: c / total for k, c in counts.items()} if total else {}

    def standardise(self, raw: np.ndarray) -> np.ndarray:
        z = (raw - self.mean) / self.std
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)

    def fit(
        self,
        columns: Mapping[str, Sequence[Any]],
        n: int,
        dims: int,
        weights: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fit on customers; returns their tabular block (n, dims) and their z."""
        self.fit_frequencies(columns)
        self.log_cols = [c for c in self.spec.num_cols if heavy_tailed(columns.get(c))]
        raw = self.raw_matrix(columns, n)
        with np.errstate(all="ignore"):
            mean = np.nanmean(raw, axis=0) if n else np.zeros(raw.shape[1])
            std = np.nanstd(raw, axis=0) if n else np.ones(raw.shape[1])
        self.mean = np.nan_to_num(mean, nan=0.0)
        self.std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        z = self.standardise(raw)
        return self.fit_projection(z, dims, weights), z

    def fit_projection(self, z: np.ndarray, dims: int, weights: np.ndarray | None) -> np.ndarray:
        """PCA of the weighted standardised matrix, scaled so E||block||^2 is about 1."""
        n_cols = z.shape[1]
        self.weights = np.ones(n_cols) if weights is None else np.asarray(weights, dtype=np.float64)
        zw = z * self.weights
        self.pca_mean = zw.mean(axis=0) if len(zw) else np.zeros(n_cols)
        centred = zw - self.pca_mean
        k = max(0, min(dims, n_cols, len(zw)))
        if k == 0 or n_cols == 0:
            self.components = np.zeros((0, n_cols))
            self.scale = 1.0
            return np.zeros((len(zw), 0), dtype=np.float32)
        _, _, vt = np.linalg.svd(centred[: min(len(centred), 200_000)], full_matrices=False)
        self.components = vt[:k]
        proj = centred @ self.components.T
        energy = float(np.mean(np.sum(proj**2, axis=1))) if len(proj) else 1.0
        self.scale = 1.0 / math.sqrt(energy) if energy > 1e-12 else 1.0
        return (proj * self.scale).astype(np.float32)

    def standardised(self, columns: Mapping[str, Sequence[Any] | np.ndarray], n: int) -> np.ndarray:
        """z: the standardised column matrix (what the head reads), before weights and PCA."""
        return self.standardise(self.raw_matrix(columns, n))

    def project(self, z: np.ndarray) -> np.ndarray:
        if self.dims == 0:
            return np.zeros((len(z), 0), dtype=np.float32)
        return (((z * self.weights) - self.pca_mean) @ self.components.T * self.scale).astype(
            np.float32
        )

    # ---- storage (plain JSON) ---------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_json(),
            "freq": self.freq,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "weights": self.weights.tolist(),
            "pca_mean": self.pca_mean.tolist(),
            "components": self.components.tolist(),
            "scale": self.scale,
            "log_cols": self.log_cols,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TabularTransform:
        spec = ColumnSpec.from_json(data["spec"])
        n_cols = len(spec.cat_cols) + len(spec.num_cols)
        comps = np.asarray(data["components"], dtype=np.float64).reshape(-1, n_cols)
        return cls(
            spec=spec,
            freq={k: dict(v) for k, v in data["freq"].items()},
            mean=np.asarray(data["mean"], dtype=np.float64),
            std=np.asarray(data["std"], dtype=np.float64),
            weights=np.asarray(data["weights"], dtype=np.float64),
            pca_mean=np.asarray(data["pca_mean"], dtype=np.float64),
            components=comps,
            scale=float(data["scale"]),
            log_cols=list(data.get("log_cols", [])),
        )


def heavy_tailed(vals: Sequence[Any] | np.ndarray | None) -> bool:
    """Non-negative and strongly right-skewed (company size, revenue): compared on a log scale,
    so that 10 vs 100 employees matters as much as 1,000 vs 10,000."""
    if vals is None:
        return False
    x = _as_float(vals)
    x = x[np.isfinite(x)]
    if len(x) < 10 or x.min() < 0:
        return False
    sd = x.std()
    if sd == 0:
        return False
    skew = float(np.mean(((x - x.mean()) / sd) ** 3))
    return skew > 2.0


def _as_float(vals: Sequence[Any] | np.ndarray) -> np.ndarray:
    if isinstance(vals, np.ndarray) and vals.dtype.kind in "fiub":
        return vals.astype(np.float64)
    return np.array([np.nan if v is None else v for v in vals], dtype=np.float64)


def _cat_key(value: Any) -> str:
    return str(value).strip()


def combine(text: np.ndarray, tab: np.ndarray, w_text: float) -> np.ndarray:
    """[w_text * text, w_tab * tab], L2-normalised: inner product = cosine, and the score splits
    exactly into a text part and a tabular part (sum over each block)."""
    # Written in place into one float32 block: at 1M rows each (n, d) temporary is gigabytes, and
    # the hstack/astype/divide chain held four of them (one float64) at the build's peak.
    w_tab = math.sqrt(max(0.0, 1.0 - w_text**2))
    n, d_text = text.shape
    vec = np.empty((n, d_text + tab.shape[1]), dtype=np.float32)
    np.multiply(text, w_text, out=vec[:, :d_text], casting="same_kind")
    np.multiply(tab, w_tab, out=vec[:, d_text:], casting="same_kind")
    norms = np.sqrt(np.einsum("ij,ij->i", vec, vec))
    norms[norms == 0] = 1.0
    vec /= norms[:, None]
    return vec


def vectorise(
    text: np.ndarray,
    transform: TabularTransform,
    columns: Mapping[str, Sequence[Any] | np.ndarray],
    w_text: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(combined vectors, z) of rows whose text block is `text`: how a lead, a held-out customer
    and a customer are all placed in the one vector space."""
    z = transform.standardised(columns, len(text))
    return combine(text, transform.project(z), w_text), z
