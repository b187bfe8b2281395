"""FAISS indices: exact below a size threshold, ANN above it, recall measured at build time.

Vectors are L2-normalised, so inner product is cosine. Flat search is memory-bound and grows with
the number of customers; HNSW answers far faster at scale for a small loss of recall
(bench/RESULTS.md), so above `ann_threshold` we pay the build time for it and record the recall
we measured. HNSW's
efSearch is tuned per build to the smallest value that meets the recall target (0.99 by default)
on a sample of customers, so a graph that is easy to search is not searched harder than needed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leadgen.errors import ArtifactError, ConfigError

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
# efSearch is tuned per build: the smallest of these whose measured recall@k meets the target.
# Search time grows ~linearly with efSearch: a graph meeting the target at 48 should not pay 96.
HNSW_EF_LADDER = (24, 32, 48, 64, 96, 128, 192, 256)
DEFAULT_RECALL_TARGET = 0.99


@dataclass
class IndexInfo:
    kind: str
    size: int
    dim: int
    params: dict[str, Any]
    recall_at_k: float | None = None
    recall_queries: int = 0
    build_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "size": self.size,
            "dim": self.dim,
            "params": self.params,
            "recall_at_k": self.recall_at_k,
            "recall_queries": self.recall_queries,
            "build_seconds": round(self.build_seconds, 3),
        }


def choose_kind(n: int, requested: str, threshold: int) -> str:
    if requested != "auto":
        return requested
    return "flat" if n < threshold else "hnsw"


def build_index(
    vectors: np.ndarray,
    kind: str,
    k: int = 20,
    seed: int = 0,
    measure_recall: bool = True,
    recall_target: float = DEFAULT_RECALL_TARGET,
) -> tuple[Any, IndexInfo]:
    """Build `kind` (flat | hnsw | ivf) over the vectors; for ANN, measure recall@k against exact
    search on a sample of the vectors themselves (queries that look like real customers). HNSW's
    efSearch is the smallest that meets `recall_target` on that sample."""
    import faiss

    n, dim = vectors.shape
    t0 = time.perf_counter()
    params: dict[str, Any] = {}
    index: Any
    if kind == "flat" or n == 0:
        kind = "flat"
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(vectors)
        index.hnsw.efSearch = HNSW_EF_LADDER[-1]
        params = {
            "M": HNSW_M,
            "efConstruction": HNSW_EF_CONSTRUCTION,
            "efSearch": HNSW_EF_LADDER[-1],
        }
    elif kind == "ivf":
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        train = vectors[rng.choice(n, size=min(n, nlist * 64), replace=False)]
        index.train(train)
        index.add(vectors)
        index.nprobe = max(1, min(nlist, nlist // 16 or 1, 64))
        index.make_direct_map()
        params = {"nlist": nlist, "nprobe": index.nprobe}
    else:
        raise ConfigError(f"unknown index kind {kind!r}")
    info = IndexInfo(kind=kind, size=n, dim=dim, params=params)
    info.build_seconds = time.perf_counter() - t0
    if kind != "flat" and measure_recall:
        q, truth = _recall_sample(vectors, k, seed)
        if kind == "hnsw":
            ef, info.recall_at_k, tried = tune_ef_search(index, q, truth, recall_target)
            params["efSearch"] = ef
            params["efSearch_recall"] = tried
        else:
            info.recall_at_k = _recall(index, q, truth)
        info.recall_queries = len(q)
    elif kind == "flat":
        info.recall_at_k = 1.0
    return index, info


def _recall_sample(
    vectors: np.ndarray, k: int, seed: int, queries: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Sampled rows as queries and their exact top-k (positions)."""
    import faiss

    n, dim = vectors.shape
    rng = np.random.default_rng(seed + 1)
    q = vectors[rng.choice(n, size=min(queries, n), replace=False)]
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    _, truth = exact.search(q, min(k, n))
    return q, truth


def _recall(index: Any, q: np.ndarray, truth: np.ndarray) -> float:
    _, got = index.search(q, truth.shape[1])
    hits = sum(len(set(t.tolist()) & set(g.tolist())) for t, g in zip(truth, got, strict=True))
    return round(hits / float(truth.size), 4)


def tune_ef_search(
    index: Any, q: np.ndarray, truth: np.ndarray, target: float
) -> tuple[int, float, dict[str, float]]:
    """(efSearch, its recall, recall per efSearch tried): the first rung of the ladder whose
    recall meets `target`, else the top rung (its recall is recorded, so a miss is visible)."""
    tried: dict[str, float] = {}
    for ef in HNSW_EF_LADDER:
        index.hnsw.efSearch = ef
        tried[str(ef)] = _recall(index, q, truth)
        if tried[str(ef)] >= target:
            return ef, tried[str(ef)], tried
    return HNSW_EF_LADDER[-1], tried[str(HNSW_EF_LADDER[-1])], tried


# Below this many queries a search runs on the calling thread only. Serving searches one lead (or
# a small batch): an OpenMP team costs more than it saves there, and its spinning workers fight the
# ONNX Runtime threads for the same cores (bench/RESULTS.md measured it inside the handler).
# Build-time batches keep them all.
SINGLE_THREAD_BELOW = 20


def search(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, positions), with k capped at the index size; -1 positions are dropped by
    callers (HNSW can return fewer than k on tiny graphs)."""
    kk = max(1, min(k, int(index.ntotal)))
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if len(q) >= SINGLE_THREAD_BELOW:
        return index.search(q, kk)  # type: ignore[no-any-return]
    import faiss

    # omp_set_num_threads changes the calling thread's setting only, so this is thread-safe.
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(q, kk)  # type: ignore[no-any-return]
    finally:
        faiss.omp_set_num_threads(previous)


def save_index(index: Any, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load_index(path: Path) -> Any:
    import faiss

    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise ArtifactError(f"{path.name}: not a readable FAISS index ({exc})") from None
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()
    return index


def apply_search_params(index: Any, params: dict[str, Any]) -> None:
    """Set the search-time parameters the build recorded (HNSW efSearch, IVF nprobe)."""
    if "efSearch" in params:
        index.hnsw.efSearch = int(params["efSearch"])
    if "nprobe" in params:
        index.nprobe = int(params["nprobe"])


def reconstruct(index: Any, positions: np.ndarray) -> np.ndarray:
    """The stored vectors at `positions` (for the exact text/tabular split of a similarity)."""
    return index.reconstruct_batch(np.asarray(positions, dtype=np.int64))  # type: ignore[no-any-return]
