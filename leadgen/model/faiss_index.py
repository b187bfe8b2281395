"""The FAISS backend of the customer index: exact below a size threshold, HNSW above it.

Vectors are L2-normalised, so inner product is cosine. Flat search is memory-bound and grows with
the number of customers; HNSW answers far faster at scale for a small loss of recall
(bench/RESULTS.md), so above `ann_threshold` we pay the build time for it and record the recall
we measured.

Recall is measured the way leads meet the index: the last rows of the input are held back, the
index is built over the others, and those rows are queried as new points against exact search over
the UNCOMPRESSED vectors; then they are added. HNSW's efSearch is the smallest rung meeting the
recall target, so a graph that is easy to search is not searched harder than needed.

Compact storage (`compression="auto"`, the build's default): the 384-dim text block is rotated
onto its principal axes (fitted on the customers, uncentred, so inner products are what is kept)
and cut to the fewest dims whose exact-search recall still clears the target by a margin; the
tabular dims are kept whole; the result is stored as float16 under an HNSW graph of degree 16.
float16 and not 8-bit codes: neighbours 20 and 21 of a lead are often closer in similarity than
8-bit rounding error (bench/RESULTS.md). The projection lives inside the index file (a FAISS
IndexPreTransform), so queries and reconstructions stay in the full space: a query's inner product
with a reconstructed neighbour is exactly the similarity the search returned.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from leadgen.config import INDEX_COMPRESSIONS
from leadgen.errors import ArtifactError, ConfigError
from leadgen.model.vector_index import IndexInfo, IndexSpec, VectorIndex

HNSW_M = 32  # the uncompressed graph (compression "none")
COMPACT_M = 16  # the compact graph: half the links, the graph is half of what a customer costs
HNSW_EF_CONSTRUCTION = 80
# efSearch is tuned per build: the smallest of these whose measured recall@k meets the target.
# Search time grows ~linearly with efSearch: a graph meeting the target at 48 should not pay 96.
HNSW_EF_LADDER = (24, 32, 48, 64, 96, 128, 192, 256)
# Text dims a compact index may keep (the first principal axes); the first whose exact-search
# recall reaches target + CEILING_MARGIN wins, leaving the margin to the graph.
TEXT_DIMS_LADDER = (64, 96, 128, 160, 192, 256)
CEILING_MARGIN = 0.01
DEFAULT_RECALL_TARGET = 0.96
RECALL_QUERIES = 500
PCA_SAMPLE = 50_000
# Rows per batch added to a graph: small enough that a large build notes its progress every few
# seconds, large enough that FAISS's threads have work.
ADD_ROWS = 25_000

Note = Callable[[str], None]


def _silent(_message: str) -> None:
    """No progress: the default of a direct build_index call."""


CHUNK_ROWS = 100_000  # rows per block transformed for exact scoring, or added to a graph
# Below this many queries a search runs on the calling thread only. Serving searches one lead (or
# a small batch): an OpenMP team costs more than it saves there, and its spinning workers fight the
# ONNX Runtime threads for the same cores (bench/RESULTS.md measured it inside the handler).
# Build-time batches keep them all.
SINGLE_THREAD_BELOW = 20


class FaissIndex:
    """A FAISS index behind leadgen.model.vector_index.VectorIndex."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    @property
    def size(self) -> int:
        return int(self.raw.ntotal)

    @property
    def dim(self) -> int:
        return int(self.raw.d)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, positions), k capped at the index size; -1 positions are dropped by
        callers (HNSW can return fewer than k on tiny graphs)."""
        kk = max(1, min(k, self.size))
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if len(q) >= SINGLE_THREAD_BELOW:
            return self.raw.search(q, kk)  # type: ignore[no-any-return]
        import faiss

        # omp_set_num_threads changes the calling thread's setting only, so this is thread-safe.
        previous = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.raw.search(q, kk)  # type: ignore[no-any-return]
        finally:
            faiss.omp_set_num_threads(previous)

    def reconstruct(self, positions: np.ndarray) -> np.ndarray:
        pos = np.asarray(positions, dtype=np.int64)
        return self.raw.reconstruct_batch(pos)  # type: ignore[no-any-return]

    def write(self, path: Path) -> None:
        import faiss

        try:
            faiss.write_index(self.raw, str(path))
        except RuntimeError as exc:  # FAISS reports a failed write (full disk) as RuntimeError
            raise OSError(0, _write_cause(str(exc)), str(path)) from None

    def apply_params(self, params: Mapping[str, Any]) -> None:
        """Set the search-time parameters the build recorded (HNSW efSearch, IVF nprobe)."""
        inner = _inner(self.raw)
        if "efSearch" in params:
            inner.hnsw.efSearch = int(params["efSearch"])
        if "nprobe" in params:
            inner.nprobe = int(params["nprobe"])


def _write_cause(message: str) -> str:
    """The cause FAISS puts last in parentheses ("... (No space left on device)")."""
    found = re.search(r"\(([^()]*)\)\s*$", message)
    return found.group(1) if found else "write failed"


class ExactScan:
    """Exact search over an array, without copying it: the yardstick a compressed index is
    measured against (FaissBackend.exact). Not persisted: build-time only."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    @property
    def size(self) -> int:
        return len(self.vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(queries, dtype=np.float32)
        return exact_top_k(self.vectors, q, max(1, min(k, self.size)))

    def reconstruct(self, positions: np.ndarray) -> np.ndarray:
        return np.asarray(self.vectors[np.asarray(positions, dtype=np.int64)], dtype=np.float32)

    def write(self, path: Path) -> None:
        raise ArtifactError("an exact scan is a build-time yardstick, not a stored index")


class FaissBackend:
    """leadgen.model.vector_index.IndexBackend over FAISS files."""

    name = "faiss"

    def build(self, vectors: np.ndarray, spec: IndexSpec) -> tuple[FaissIndex, IndexInfo]:
        return build_index(
            vectors,
            spec.kind,
            spec.k,
            spec.seed,
            measure_recall=spec.measure_recall,
            recall_target=spec.recall_target,
            text_dims=spec.text_dims,
            compression=spec.compression,
            note=spec.note,
        )

    def load(self, path: Path, entry: Mapping[str, Any]) -> FaissIndex:
        index = load_index(path)
        index.apply_params(entry.get("params", {}))
        return index

    def exact(self, vectors: np.ndarray) -> ExactScan:
        return ExactScan(vectors)

    def for_batches(self, index: VectorIndex) -> VectorIndex:
        return decoded_twin(index) if isinstance(index, FaissIndex) else index


FAISS = FaissBackend()


def decoded_twin(index: FaissIndex) -> FaissIndex:
    """A compact index's twin for a build's large batches of queries: the same graph over its
    float16 rows decoded once into float32, under the same projection. It answers exactly what
    the compact index answers (the same walk over the same values), a few times faster: FAISS
    decodes float16 at every distance it computes (bench/BUILD_SPEED.md). It holds the rows in
    float32 for as long as it is kept, so it is made for a step and dropped after. Any other
    index is its own twin."""
    import faiss

    raw: Any = index.raw
    if not isinstance(raw, faiss.IndexPreTransform):
        return index
    inner = faiss.downcast_index(raw.index)
    if not isinstance(inner, faiss.IndexHNSWSQ):
        return index
    flat = _regraphed(inner, faiss.IndexHNSWFlat(inner.d, COMPACT_M, faiss.METRIC_INNER_PRODUCT))
    chain: Any = raw.chain
    transform: Any = faiss.downcast_VectorTransform(chain.at(0))
    rotation = faiss.vector_to_array(transform.A).reshape(transform.d_out, transform.d_in)
    return FaissIndex(faiss.IndexPreTransform(_linear(rotation), flat))


def build_index(
    vectors: np.ndarray,
    kind: str,
    k: int = 20,
    seed: int = 0,
    measure_recall: bool = True,
    recall_target: float = DEFAULT_RECALL_TARGET,
    text_dims: int | None = None,
    compression: str = "none",
    note: Note | None = None,
) -> tuple[FaissIndex, IndexInfo]:
    """Build `kind` (flat | hnsw | ivf) over the vectors. For ANN kinds the last rows are held
    back, queried against the index of the others and exact search over the uncompressed
    vectors (recall@k, efSearch tuned to `recall_target`), then added. With `compression`
    "auto" and a text block of `text_dims`, HNSW stores the compact form (module docstring).
    `note` hears each stage of an ANN build."""
    note = note or _silent
    if compression not in INDEX_COMPRESSIONS:
        raise ConfigError(f"index compression must be auto|none, got {compression!r}")
    t0 = time.perf_counter()
    n, dim = vectors.shape
    if kind == "flat" or n == 0:
        index, info = _flat(vectors), IndexInfo(kind="flat", size=n, dim=dim, params={})
        info.recall_at_k = 1.0
    elif kind in ("hnsw", "ivf"):
        held = _held_back(n, k, measure_recall)
        note(f"{kind} over {n:,} rows: exact neighbours of {held} held-back rows")
        probe = _Probe.of(vectors, held, k)
        if kind == "hnsw":
            compact = compression == "auto" and text_dims is not None
            raw, params = _hnsw(vectors, probe, recall_target, text_dims if compact else None, note)
        else:
            raw, params = _ivf(vectors, held, seed, note)
        info = IndexInfo(kind=kind, size=n, dim=dim, params=params)
        _measure_and_finish(raw, vectors, probe, recall_target, info, note)
        index = FaissIndex(raw)
    else:
        raise ConfigError(f"unknown index kind {kind!r}")
    info.build_seconds = time.perf_counter() - t0
    return index, info


def _flat(vectors: np.ndarray) -> FaissIndex:
    import faiss

    raw = faiss.IndexFlatIP(vectors.shape[1])
    raw.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return FaissIndex(raw)


def _held_back(n: int, k: int, measure: bool) -> int:
    """How many of the last rows are queried as new points: none when not measuring or when the
    index is too small to spare them."""
    if not measure or n < 4 * k:
        return 0
    return min(RECALL_QUERIES, n // 4)


class _Probe:
    """Held-back rows as queries, and their exact top-k among the other rows (uncompressed)."""

    def __init__(self, queries: np.ndarray, truth: np.ndarray, base: int) -> None:
        self.queries = queries
        self.truth = truth
        self.base = base  # rows [0, base) are in the index while measuring

    @classmethod
    def of(cls, vectors: np.ndarray, held: int, k: int) -> _Probe:
        base = len(vectors) - held
        q = np.ascontiguousarray(vectors[base:], dtype=np.float32)
        if held == 0:
            return cls(q, np.zeros((0, k), dtype=np.int64), base)
        _, truth = exact_top_k(vectors[:base], q, min(k, base))
        return cls(q, truth, base)

    @property
    def empty(self) -> bool:
        return len(self.queries) == 0

    def recall(self, search: Any) -> float:
        _, got = search(self.queries, self.truth.shape[1])
        return overlap(self.truth, got)


def overlap(truth: np.ndarray, got: np.ndarray) -> float:
    """recall@k: the share of each exact top-k set found, averaged over queries."""
    hits = sum(len(set(t.tolist()) & set(g.tolist())) for t, g in zip(truth, got, strict=True))
    return round(hits / float(truth.size), 4) if truth.size else 1.0


def exact_top_k(
    base: np.ndarray, queries: np.ndarray, k: int, transform: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k of `queries` over `base` (FAISS's brute force: BLAS blocks
    and a heap, no copy of `base`, which is gigabytes at 1M customers). With `transform`, the
    rows are transformed block by block and the blocks' results merged."""
    import faiss

    q = np.ascontiguousarray(queries, dtype=np.float32)
    k = max(1, min(k, len(base)))
    if transform is None:
        xb = np.ascontiguousarray(base, dtype=np.float32)
        return faiss.knn(q, xb, k, metric=faiss.METRIC_INNER_PRODUCT)  # type: ignore[no-any-return]
    best_s = np.full((len(q), k), -np.inf, dtype=np.float32)
    best_p = np.full((len(q), k), -1, dtype=np.int64)
    for start in range(0, len(base), CHUNK_ROWS):
        block = np.ascontiguousarray(transform(base[start : start + CHUNK_ROWS]))
        sims, pos = faiss.knn(q, block, min(k, len(block)), metric=faiss.METRIC_INNER_PRODUCT)
        s = np.concatenate([best_s, sims], axis=1)
        p = np.concatenate([best_p, pos + start], axis=1)
        keep = np.argsort(-s, axis=1, kind="stable")[:, :k]
        best_s, best_p = np.take_along_axis(s, keep, axis=1), np.take_along_axis(p, keep, axis=1)
    return best_s, best_p


def _hnsw(
    vectors: np.ndarray, probe: _Probe, target: float, text_dims: int | None, note: Note
) -> tuple[Any, dict[str, Any]]:
    """An HNSW graph over rows [0, probe.base): compact (float16, reduced text block) when
    `text_dims` is given and some rung of TEXT_DIMS_LADDER clears the target, else float32."""
    import faiss

    plan = _compact_plan(vectors, probe, target, text_dims, note) if text_dims else None
    params: dict[str, Any] = {"efConstruction": HNSW_EF_CONSTRUCTION}
    if plan is None:
        raw = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        raw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        _add(raw, vectors, 0, probe.base, note)
        params.update({"M": HNSW_M, "storage": "float32"})
        return raw, params
    rotation, kept, tried = plan
    params.update({"M": COMPACT_M, "storage": "float16", "text_dims": kept})
    params.update({"stored_dim": int(rotation.shape[0]), "text_dims_recall": tried})
    return _compact_graph(vectors, rotation, probe.base, note), params


def _compact_graph(vectors: np.ndarray, rotation: np.ndarray, stop: int, note: Note) -> Any:
    """HNSW over rows [0, stop) rotated, stored as float16. The graph is built over float32
    copies of the rotated rows (FAISS links them several times faster than float16 ones:
    bench/REFRESH.md), then handed to float16 storage, which is what is kept."""
    import faiss

    dim = rotation.shape[0]
    graph = faiss.IndexHNSWFlat(dim, COMPACT_M, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    _add(faiss.IndexPreTransform(_linear(rotation), graph), vectors, 0, stop, note)
    fp16: Any = faiss.ScalarQuantizer.QT_fp16
    compact = _regraphed(graph, faiss.IndexHNSWSQ(dim, fp16, COMPACT_M, faiss.METRIC_INNER_PRODUCT))
    del graph
    return faiss.IndexPreTransform(_linear(rotation), compact)


def _regraphed(source: Any, target: Any) -> Any:
    """`target` (an empty HNSW index of another storage) holding `source`'s graph (copied) and
    its rows, re-encoded block by block into the target's storage."""
    target.hnsw = source.hnsw
    n = int(source.ntotal)
    for start in range(0, n, CHUNK_ROWS):
        target.storage.add(source.storage.reconstruct_n(start, min(CHUNK_ROWS, n - start)))
    target.ntotal = n
    return target


def _compact_plan(
    vectors: np.ndarray, probe: _Probe, target: float, text_dims: int, note: Note
) -> tuple[np.ndarray, int, dict[str, float]] | None:
    """(rotation (stored_dim, dim), text dims kept, recall per rung tried): the smallest rung
    whose exact search over the float16 compact vectors reaches target + margin; None if none
    does (or there is nothing to measure with), and the index stays uncompressed."""
    rungs = [r for r in TEXT_DIMS_LADDER if r < text_dims]
    if probe.empty or not rungs:
        return None
    axes = _principal_axes(vectors, text_dims, max(rungs))
    tried: dict[str, float] = {}
    for r in rungs:
        rotation = _rotation(axes[:, :r], text_dims, vectors.shape[1])

        def compact(block: np.ndarray, a: np.ndarray = rotation) -> np.ndarray:
            return (block @ a.T).astype(np.float16).astype(np.float32)

        q = probe.queries @ rotation.T
        _, got = exact_top_k(vectors[: probe.base], q, probe.truth.shape[1], compact)
        tried[str(r)] = overlap(probe.truth, got)
        note(f"compact storage, {r} text dims: exact recall {tried[str(r)]}")
        if tried[str(r)] >= min(1.0, target + CEILING_MARGIN):
            return rotation, r, tried
    return None


def _principal_axes(vectors: np.ndarray, text_dims: int, r: int) -> np.ndarray:
    """The first `r` principal axes (text_dims, r) of the text block, uncentred: the projection
    keeps as much of every inner product as r dims can."""
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(vectors), size=min(len(vectors), PCA_SAMPLE), replace=False))
    sample = np.asarray(vectors[rows, :text_dims], dtype=np.float64)
    # the right singular vectors are the eigenvectors of the (d, d) scatter matrix: the same
    # axes for a small fraction of an SVD of the rows (bench/BUILD_SPEED.md, "Where the time went")
    values, axes = np.linalg.eigh(sample.T @ sample)
    return np.ascontiguousarray(axes[:, np.argsort(values)[::-1][:r]])


def _rotation(axes: np.ndarray, text_dims: int, dim: int) -> np.ndarray:
    """The (r + tabular, dim) block matrix: text block onto `axes`, tabular dims as they are.
    Its rows are orthonormal, so its transpose maps stored vectors back to the full space."""
    r = axes.shape[1]
    out = np.zeros((r + dim - text_dims, dim), dtype=np.float32)
    out[:r, :text_dims] = axes.T
    out[r:, text_dims:] = np.eye(dim - text_dims, dtype=np.float32)
    return out


def _linear(rotation: np.ndarray) -> Any:
    import faiss

    d_out, d_in = rotation.shape
    lt = faiss.LinearTransform(d_in, d_out, False)
    faiss.copy_array_to_vector(np.ascontiguousarray(rotation).ravel(), lt.A)
    lt.is_orthonormal = True
    lt.is_trained = True
    return lt


def _add(raw: Any, vectors: np.ndarray, start: int, stop: int, note: Note = _silent) -> None:
    """Add rows [start, stop) block by block (a transform copies what it is given), noting
    the rows added after each block when there is more than one."""
    for s in range(start, stop, ADD_ROWS):
        end = min(stop, s + ADD_ROWS)
        raw.add(np.ascontiguousarray(vectors[s:end], dtype=np.float32))
        if stop - start > ADD_ROWS:
            note(f"{end - start:,} of {stop - start:,} rows added")


def _ivf(vectors: np.ndarray, held: int, seed: int, note: Note) -> tuple[Any, dict[str, Any]]:
    import faiss

    n, dim = vectors.shape
    nlist = max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))
    raw = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    raw.train(vectors[np.sort(rng.choice(n, size=min(n, nlist * 64), replace=False))])
    _add(raw, vectors, 0, n - held, note)
    raw.nprobe = max(1, min(nlist, nlist // 16 or 1, 64))
    return raw, {"nlist": nlist, "nprobe": raw.nprobe}


def _measure_and_finish(
    raw: Any, vectors: np.ndarray, probe: _Probe, target: float, info: IndexInfo, note: Note
) -> None:
    """Recall of the held-back rows (efSearch tuned for HNSW), then add them."""
    if not probe.empty:
        index = FaissIndex(raw)
        if info.kind == "hnsw":
            ef, info.recall_at_k, tried = tune_ef_search(index, probe, target)
            info.params.update({"efSearch": ef, "efSearch_recall": tried})
            note(f"efSearch {ef}: recall@{probe.truth.shape[1]} {info.recall_at_k}")
        else:
            info.recall_at_k = probe.recall(index.search)
        info.recall_queries = len(probe.queries)
    elif info.kind == "hnsw":
        info.params["efSearch"] = HNSW_EF_LADDER[-1]
    _add(raw, vectors, probe.base, len(vectors), note)
    if info.kind == "ivf":
        raw.make_direct_map()


def tune_ef_search(
    index: FaissIndex, probe: _Probe, target: float
) -> tuple[int, float, dict[str, float]]:
    """(efSearch, its recall, recall per efSearch tried): the first rung of the ladder whose
    recall meets `target`, else the top rung (its recall is recorded, so a miss is visible)."""
    tried: dict[str, float] = {}
    hnsw = _inner(index.raw).hnsw
    for ef in HNSW_EF_LADDER:
        hnsw.efSearch = ef
        tried[str(ef)] = probe.recall(index.raw.search)
        if tried[str(ef)] >= target:
            return ef, tried[str(ef)], tried
    return HNSW_EF_LADDER[-1], tried[str(HNSW_EF_LADDER[-1])], tried


def _inner(raw: Any) -> Any:
    """The index under a transform (compact HNSW), or the index itself."""
    import faiss

    if isinstance(raw, faiss.IndexPreTransform):
        return faiss.downcast_index(raw.index)
    return raw


def load_index(path: Path) -> FaissIndex:
    import faiss

    try:
        raw = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise ArtifactError(f"{path.name}: not a readable FAISS index ({exc})") from None
    if isinstance(raw, faiss.IndexIVF):
        raw.make_direct_map()
    return FaissIndex(raw)
