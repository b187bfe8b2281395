"""Text embedders used identically at build time and at serving time.

Serving must start fast and carry no torch: the default embedder runs an ONNX export of a
sentence-transformers model with onnxruntime + tokenizers. The static embedder
(leadgen.model.static_embedder) averages token vectors distilled from the same model, with
tokenizers + numpy. The hashing embedder needs nothing but numpy and is the zero-dependency
fallback. Each embedder has an `identity` that the manifest
records, so serving can refuse indices built by a different model.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from leadgen.config import EmbedderSettings
from leadgen.errors import ArtifactError, ConfigError

_WORD = re.compile(r"[a-z0-9]+")
# Texts per task when a per-text model embeds many texts on the worker pool: large enough that
# the pool's overhead is noise, small enough that both cores stay busy to the end.
_CHUNK = 64
_SERIAL_TOKENIZE = 16


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 rows."""

    @property
    def dim(self) -> int: ...

    @property
    def identity(self) -> dict[str, Any]: ...

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...


def _normalise_rows(mat: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (mat / norms).astype(np.float32, copy=False)


class HashingEmbedder:
    """Signed feature hashing of words and word bigrams: deterministic, offline, numpy only."""

    VERSION = 1

    def __init__(self, dim: int = 384) -> None:
        if dim < 8:
            raise ConfigError(f"hashing embedder dim must be >= 8, got {dim}")
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def identity(self) -> dict[str, Any]:
        return {"kind": "hashing", "dim": self._dim, "version": self.VERSION}

    def _row(self, text: str, out: np.ndarray) -> None:
        words = _WORD.findall(text.lower())
        feats = words + [a + " " + b for a, b in itertools.pairwise(words)]
        for feat in feats:
            h = zlib.crc32(feat.encode())
            out[h % self._dim] += 1.0 if (h >> 31) & 1 else -1.0

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        uniq, inverse = unique_texts(texts)
        mat = np.zeros((len(uniq), self._dim), dtype=np.float32)
        for i, text in enumerate(_progress(uniq, progress, "embed (hashing)")):
            self._row(text, mat[i])
        return _normalise_rows(mat)[inverse]


def unique_texts(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Real CRMs repeat titles and bios: embed each distinct text once."""
    index: dict[str, int] = {}
    inverse = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        inverse[i] = index.setdefault(text, len(index))
    return list(index), inverse


def _progress(items: Sequence[Any], enabled: bool, desc: str) -> Any:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="text", mininterval=1.0)


class OnnxEmbedder:
    """A sentence-transformers encoder exported to ONNX (see `leadgen.model.export`).

    The model directory holds model.onnx, tokenizer.json and leadgen_model.json (pooling, max
    length, and the sha256 computed at export time, so start-up need not re-hash the weights).

    A dynamically quantised (int8) model scales its activations per *tensor*, so a text batched
    with others gets a slightly different vector than alone (tests/unit/test_embedders.py):
    a customer's vector from the build would not match the same text scored as a lead. Such a
    model therefore embeds every text on its own (`per_text`), which makes vectors independent
    of batching by construction; many texts run in parallel on a small pool of single-threaded
    ORT runs instead (bench/RESULTS.md compares the throughput).
    """

    def __init__(
        self, model_dir: str | Path, threads: int | None = None, batch_size: int = 64
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        meta_path = self.model_dir / "leadgen_model.json"
        if not meta_path.is_file():
            raise ArtifactError(
                f"{self.model_dir}: not an exported ONNX model (no leadgen_model.json); "
                "run `leadgen export-model`"
            )
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        if self.meta.get("kind") == "static":
            raise ArtifactError(
                f"{self.model_dir}: a static model, not an ONNX one; use --embedder static"
            )
        self._tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=int(self.meta["max_length"]))
        # No tokenizer padding: `embed` tokenizes every distinct text once, sorts by token count
        # and pads each batch itself to its own longest row, so almost no compute goes to [PAD].
        self._pad_id = int(self.meta.get("pad_id", 0))
        self._tokenizer.no_padding()  # tokenizer.json may carry a padding setting of its own
        self.per_text = str(self.meta.get("quantized", "")).startswith("int8 dynamic")
        threads = threads or 0
        if threads < 0:
            raise ConfigError(f"ONNX threads must be >= 0 (0 = one per core), got {threads}")
        self._workers = max(1, threads or os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        opts = ort.SessionOptions()
        # Per-text models get their parallelism from the worker pool (one ORT thread each).
        opts.intra_op_num_threads = 1 if self.per_text else threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between ops: on a shared 2-core box (CodeBuild, a laptop running tests)
        # a spinning thread steals the core its peer needs; bench/RESULTS.md measured it.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(self.model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._batch_size = batch_size
        self._prefix = str(self.meta.get("prefix", ""))

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "kind": "onnx",
            "name": self.meta["name"],
            "sha256": self.meta["sha256"],
            "dim": self.dim,
            "max_length": self.meta["max_length"],
            "pooling": self.meta["pooling"],
            "prefix": self._prefix,
        }

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text (the same either way). A request's few texts are encoded one by
        one: encode_batch's thread pool costs more than it saves below a handful of texts
        (bench/RESULTS.md, "Where the time goes")."""
        prefixed = [self._prefix + t for t in texts]
        if len(prefixed) <= _SERIAL_TOKENIZE:
            return [self._tokenizer.encode(t).ids for t in prefixed]
        return [e.ids for e in self._tokenizer.encode_batch(prefixed)]

    def _run(self, rows: Sequence[list[int]]) -> np.ndarray:
        """Pad token rows to the batch's longest, run the model, pool, normalise."""
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        if self.meta["pooling"] == "cls":
            pooled = hidden[:, 0, :]
        else:
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        return _normalise_rows(np.asarray(pooled, dtype=np.float32))

    def _run_each(self, rows: Sequence[list[int]]) -> np.ndarray:
        return np.vstack([self._run([r]) for r in rows])

    def _workers_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="leadgen-embed")
        return self._pool

    def _parallel_runs(self, tokens: list[list[int]], chunks: list[range]) -> Iterator[np.ndarray]:
        """Each chunk's vectors, in order, computed on the worker pool. When there are no more
        chunks than workers (a request's title and bio), the first runs on the calling thread,
        which would otherwise only wait: one hand-off fewer per request."""

        def run(rng: range) -> np.ndarray:
            return self._run_each([tokens[i] for i in rng])

        pool = self._workers_pool()
        if len(chunks) > self._workers:
            yield from pool.map(run, chunks)
            return
        rest = [pool.submit(run, rng) for rng in chunks[1:]]
        yield run(chunks[0])
        for future in rest:
            yield future.result()

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        uniq, inverse = unique_texts(texts)
        if not uniq:
            return np.zeros((len(texts), self.dim), dtype=np.float32)
        tokens = self._tokenize(uniq)
        out = np.empty((len(uniq), self.dim), dtype=np.float32)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(uniq), desc="embed (onnx)", unit="text", mininterval=1.0)
        if self.per_text:
            if len(tokens) == 1 or self._workers == 1:
                chunks = [range(len(tokens))]
            else:
                size = min(_CHUNK, -(-len(tokens) // self._workers))
                chunks = [range(i, min(i + size, len(tokens))) for i in range(0, len(tokens), size)]
            if len(chunks) == 1:
                out[:] = self._run_each(tokens)
                if bar is not None:
                    bar.update(len(tokens))
            else:
                work = self._parallel_runs(tokens, chunks)
                for rng, vecs in zip(chunks, work, strict=True):
                    out[rng.start : rng.stop] = vecs
                    if bar is not None:
                        bar.update(len(rng))
        else:
            # Sorting by token count (not characters) keeps padding, i.e. wasted compute, ~zero.
            order = sorted(range(len(uniq)), key=lambda i: len(tokens[i]))
            for start in range(0, len(order), self._batch_size):
                idx = order[start : start + self._batch_size]
                out[idx] = self._run([tokens[i] for i in idx])
                if bar is not None:
                    bar.update(len(idx))
        if bar is not None:
            bar.close()
        return out[inverse]


def make_embedder(settings: EmbedderSettings) -> Embedder:
    """The configured embedder. For onnx and static, an exported `model_dir` (the image bakes
    one) wins; otherwise the model is exported once (needs torch) and cached: for onnx int8
    unless fp32 is asked, for static distilled with model2vec."""
    if settings.kind == "hashing":
        return HashingEmbedder()
    if settings.kind == "static":
        from leadgen.model.static_embedder import StaticEmbedder

        if settings.model_dir:
            return StaticEmbedder(settings.model_dir)
        from leadgen.model.export import ensure_static_model

        return StaticEmbedder(ensure_static_model(settings.model, cache=settings.cache))
    if settings.model_dir:
        return OnnxEmbedder(settings.model_dir, threads=settings.threads)
    from leadgen.model.export import ensure_onnx_model

    directory = ensure_onnx_model(
        settings.model, quantize=settings.precision == "int8", cache=settings.cache
    )
    return OnnxEmbedder(directory, threads=settings.threads)


def check_identity(built: dict[str, Any], serving: dict[str, Any]) -> None:
    """Refuse indices embedded by another model: their similarities would be meaningless."""
    keys = ("kind", "name", "sha256", "dim", "pooling", "prefix", "version")
    diff = [k for k in keys if built.get(k) != serving.get(k)]
    if diff:
        raise ArtifactError(
            "embedder mismatch: artifacts were built with "
            f"{_describe(built)} but serving is configured with {_describe(serving)} "
            f"(differs in {', '.join(diff)})"
        )


def _describe(identity: dict[str, Any]) -> str:
    if identity.get("kind") in ("onnx", "static"):
        kind, name, sha = identity.get("kind"), identity.get("name"), identity.get("sha256")
        return f"{kind}:{name}@{str(sha)[:12]}"
    return f"{identity.get('kind')}(dim={identity.get('dim')})"
