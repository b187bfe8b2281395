"""A text -> vector cache in front of an embedder.

Leads repeat their texts: a stream of API requests repeats job titles, a lead file repeats titles
and descriptions. A text seen recently is not embedded again. The vectors are the embedder's
own, so a cached answer is the answer: every text's vector is independent of what it was embedded
with (the int8 ONNX model embeds each text on its own, leadgen.model.embedders).

The API keeps a small cache (ServiceConfig.text_cache), bulk scoring a large one
(leadgen.serve.assemble.BULK_TEXT_CACHE); bench/WARM.md and bench/BULK.md measure them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from leadgen.model.embedders import Embedder


class CachedEmbedder:
    """An embedder that remembers the vectors of the last `capacity` distinct texts (LRU).

    The vectors live in one preallocated (capacity, dim) matrix, each text owning a row: caching
    rows of the embedder's output arrays instead kept every batch's whole array alive as long as
    one of its texts stayed cached, and memory grew with the file (bench/BULK.md). Pages of the
    matrix are only touched as rows fill, so an idle cache costs no memory.

    Texts are remembered by a 16-byte digest, not kept: a lead's text may be 10,000 characters
    (a bulk file's cells have no limit), and keeping 4,096 of them would cost more than the
    vectors. A collision of two texts needs a 128-bit coincidence.

    Thread-safe (`leadgen serve` answers requests on several threads): the bookkeeping runs
    under a lock, the inner embedder outside it, so two threads may embed the same new text
    at once; both get its vector and the cache keeps one row."""

    def __init__(self, inner: Embedder, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.inner, self.capacity = inner, capacity
        self._slots: OrderedDict[bytes, int] = OrderedDict()  # digest -> row, least recent first
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        self.seconds = 0.0  # time spent in the inner embedder

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def identity(self) -> dict[str, Any]:
        return self.inner.identity

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        keys = [_digest(t) for t in texts]
        with self._lock:
            missing = self._read(keys, out)
        if not missing:
            return out
        first = {key: i for i, key in reversed(list(enumerate(keys)))}
        t0 = time.perf_counter()
        fresh = self.inner.embed([texts[first[key]] for key in missing], progress)
        with self._lock:
            self.seconds += time.perf_counter() - t0
            vectors = self._matrix()
            for key, row in zip(missing, fresh, strict=True):
                slot = self._slots.get(key)
                vectors[self._slot_for(key) if slot is None else slot] = row
        for i, key in enumerate(keys):
            j = missing.get(key)
            if j is not None:
                out[i] = fresh[j]
        return out

    def _read(self, keys: Sequence[bytes], out: np.ndarray) -> dict[bytes, int]:
        """Fill `out` with the cached rows; the distinct missing keys, in first-seen order."""
        missing: dict[bytes, int] = {}
        vectors = self._vectors
        for i, key in enumerate(keys):
            slot = self._slots.get(key)
            if slot is None or vectors is None:
                missing.setdefault(key, len(missing))
                continue
            self._slots.move_to_end(key)
            out[i] = vectors[slot]
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)  # a text twice in one call is embedded once
        return missing

    def _matrix(self) -> np.ndarray:
        if self._vectors is None:
            self._vectors = np.empty((self.capacity, self.dim), dtype=np.float32)
        return self._vectors

    def _slot_for(self, key: bytes) -> int:
        """A free row, or the least recently used text's."""
        if len(self._slots) < self.capacity:
            slot = len(self._slots)
        else:
            _, slot = self._slots.popitem(last=False)
        self._slots[key] = slot
        return slot


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
