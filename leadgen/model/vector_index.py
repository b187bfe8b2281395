"""The customer index as the build and serving use it: one interface, engines behind it.

The pipeline (indices, calibration), the holdout and the scorer only call the methods below, so
where the vectors live is a backend's business: FAISS in-process (leadgen.model.faiss_index)
today, a managed vector engine (docs/scale.md) tomorrow, added as another backend (registered in
leadgen.model.index_backends) rather than by rewriting the scorer or the pipeline. A version's
manifest names the backend of each index. This module imports no backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

DEFAULT_BACKEND = "faiss"


class VectorIndex(Protocol):
    """Customers' vectors, searchable by inner product (vectors are unit: it is the cosine)."""

    @property
    def size(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, positions) of the top-k per query, k capped at the size; a position
        of -1 means no result."""
        ...

    def reconstruct(self, positions: np.ndarray) -> np.ndarray:
        """The vectors at `positions` in the query space, exactly as the index scores them: a
        query's inner product with one is the similarity `search` returned, so the explanation's
        text/tabular split adds up to the served score even when storage is compressed."""
        ...

    def write(self, path: Path) -> None:
        """Persist into one file of the version (the bundle checksums it)."""
        ...


@dataclass(frozen=True)
class IndexSpec:
    """What the build asks of an index. `text_dims` is the size of the text block at the front
    of each vector (a compact index may reduce it); `compression` is "auto" (the backend picks
    the smallest storage meeting `recall_target`) or "none"."""

    kind: str  # flat | hnsw | ivf
    k: int = 20
    seed: int = 0
    recall_target: float = 0.96
    text_dims: int | None = None
    compression: str = "none"
    measure_recall: bool = True
    # one line per stage of a long build (rows added, rungs tried): a 1M-row graph takes minutes
    note: Callable[[str], None] | None = field(default=None, compare=False)


@dataclass
class IndexInfo:
    """What was built and measured, recorded in the manifest (`indices`)."""

    kind: str
    size: int
    dim: int
    params: dict[str, Any]
    recall_at_k: float | None = None
    recall_queries: int = 0
    build_seconds: float = 0.0
    backend: str = DEFAULT_BACKEND
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "kind": self.kind,
            "size": self.size,
            "dim": self.dim,
            "params": self.params,
            "recall_at_k": self.recall_at_k,
            "recall_queries": self.recall_queries,
            "build_seconds": round(self.build_seconds, 3),
            **self.extra,
        }


class IndexBackend(Protocol):
    """Builds indices at build time and opens them at serving time."""

    name: str

    def build(self, vectors: np.ndarray, spec: IndexSpec) -> tuple[VectorIndex, IndexInfo]: ...

    def load(self, path: Path, entry: Mapping[str, Any]) -> VectorIndex: ...

    def exact(self, vectors: np.ndarray) -> VectorIndex:
        """Exact search over `vectors` as they are, without copying them and never persisted:
        the yardstick an approximate or compressed index is measured against."""
        ...

    def for_batches(self, index: VectorIndex) -> VectorIndex:
        """`index` as a build's large batch of queries is best served: the same answers, maybe
        faster for more memory (a compressed index decoded), held for a step only."""
        ...


def choose_kind(n: int, requested: str, threshold: int) -> str:
    """Exact below `threshold` customers (fast enough, and exact), approximate above it."""
    if requested != "auto":
        return requested
    return "flat" if n < threshold else "hnsw"
