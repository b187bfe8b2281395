"""Build-side tasks, run in a child process: one full `leadgen.build` at a given size, and the
ONNX embedding throughput table (batch size, threads, length sorting).

The embedder dedupes texts, so what costs time is the number of DISTINCT texts; for the big sizes
the CRM's text columns come from a fixed pool (a separately generated `pool_rows`-row CRM), and
the result says how many distinct texts were embedded.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import dir_bytes

TEXT_COLS = ("job_title", "bio")


class RecordingEmbedder:
    """Delegates to the real embedder and keeps (distinct text -> vector), so a later, bigger
    build with the same text pool can reuse them (MemoEmbedder) instead of re-embedding."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts: list[str] = []
        self.vectors = np.zeros((0, 0), dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @property
    def identity(self) -> dict[str, Any]:
        return dict(self.inner.identity)

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        out: np.ndarray = self.inner.embed(texts, progress)
        uniq = dict.fromkeys(texts)
        first = {t: i for i, t in reversed(list(enumerate(texts)))}
        self.texts = list(uniq)
        self.vectors = out[[first[t] for t in self.texts]]
        return out


class MemoEmbedder:
    """The ONNX embedder's identity and vectors, looked up from a previous run's embeddings of the
    same text pool (texts not in the memo are embedded for real)."""

    def __init__(self, inner: Any, memo_path: Path) -> None:
        self.inner = inner
        data = np.load(memo_path, allow_pickle=False)
        self.memo = {str(t): i for i, t in enumerate(data["texts"])}
        self.vectors = data["vectors"]
        self.missing = 0

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @property
    def identity(self) -> dict[str, Any]:
        return dict(self.inner.identity)

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        miss = sorted({t for t in texts if t not in self.memo})
        self.missing = len(miss)
        if miss:
            extra = self.inner.embed(miss)
            base = len(self.vectors)
            self.vectors = np.vstack([self.vectors, extra])
            self.memo.update({t: base + i for i, t in enumerate(miss)})
        return np.asarray(self.vectors[[self.memo[t] for t in texts]], dtype=np.float32)


def make_crm(rows: int, seed: int, pool_rows: int | None) -> tuple[Any, int]:
    """(table, distinct text blobs among current customers). With `pool_rows`, the text columns
    of row j are those of row j mod pool_rows of a separately generated pool CRM."""
    from leadgen.config import ColumnSpec
    from leadgen.data import generate_crm
    from leadgen.features import text_blobs

    table = generate_crm(rows, seed)
    if pool_rows is not None and pool_rows < table.num_rows:
        pool = generate_crm(pool_rows, seed + 1000)
        take = np.arange(table.num_rows) % pool.num_rows
        for col in TEXT_COLS:
            i = table.schema.get_field_index(col)
            table = table.set_column(i, col, pool.column(col).take(take))
    cur = table.filter(table.column("is_current"))
    spec = ColumnSpec()
    blobs = text_blobs({c: cur.column(c).to_pylist() for c in spec.text_cols}, spec, cur.num_rows)
    return table, len(set(blobs))


def task_build(args: dict[str, Any]) -> dict[str, Any]:
    from leadgen.build import build
    from leadgen.config import BuildConfig
    from leadgen.data import write_crm
    from leadgen.embedders import OnnxEmbedder

    work = Path(args["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    table, distinct = make_crm(int(args["rows"]), int(args.get("seed", 0)), args.get("pool_rows"))
    crm = work / "crm.parquet"
    write_crm(table, crm)
    gen_seconds = time.perf_counter() - t0
    del table
    inner = OnnxEmbedder(args["model_dir"])
    embedder: Any
    if args.get("memo"):
        embedder = MemoEmbedder(inner, Path(args["memo"]))
    else:
        embedder = RecordingEmbedder(inner)
    out_uri = str(work / "artifacts")
    messages: list[str] = []
    result = build(
        str(crm), out_uri, BuildConfig(seed=0), embedder=embedder, progress=False,
        say=messages.append,
    )  # fmt: skip
    if isinstance(embedder, RecordingEmbedder) and args.get("save_memo"):
        np.savez(
            args["save_memo"], texts=np.array(embedder.texts, dtype=str), vectors=embedder.vectors
        )
    vdir = Path(out_uri) / result.version
    rep = result.report
    return {
        "rows": rep["rows"],
        "distinct_texts": distinct,
        "memo_missing": getattr(embedder, "missing", None),
        "embedded_from_memo": bool(args.get("memo")),
        "generate_seconds": round(gen_seconds, 3),
        "steps_seconds": rep["steps_seconds"],
        "indices": rep["indices"],
        "published": result.published,
        "version": result.version,
        "artifacts_uri": out_uri,
        "artifact_bytes": dir_bytes(vdir),
        "artifact_files": {p.name: p.stat().st_size for p in sorted(vdir.iterdir())},
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "headline": rep.get("quality", {}).get("headline"),
    }


def distinct_texts(n: int, seed: int = 7) -> list[str]:
    """`n` distinct CRM text blobs, in generation order (unsorted), for the throughput table."""
    from leadgen.config import ColumnSpec
    from leadgen.data import generate_crm
    from leadgen.features import text_blobs

    table = generate_crm(int(n * 1.3) + 50, seed)
    spec = ColumnSpec()
    blobs = text_blobs({c: table.column(c).to_pylist() for c in spec.text_cols}, spec, len(table))
    return list(dict.fromkeys(blobs))[:n]


def task_embed(args: dict[str, Any]) -> dict[str, Any]:
    """Texts/s of the ONNX embedder per setting; padding waste computed from the tokenizer."""
    from leadgen.embedders import OnnxEmbedder

    texts = distinct_texts(int(args["texts"]))
    rows: list[dict[str, Any]] = []
    # sort: "tokens" (what OnnxEmbedder.embed does), "chars" (the old way), "none"
    configs: list[tuple[int, int, str]] = [
        (2, 16, "tokens"), (2, 32, "tokens"), (2, 64, "tokens"), (2, 128, "tokens"),
        (2, 64, "chars"), (2, 64, "none"), (1, 64, "tokens"), (0, 64, "tokens"),
    ]  # fmt: skip
    probe = OnnxEmbedder(args["model_dir"])
    tok_lens = [len(ids) for ids in probe._tokenize(texts)]
    for threads, bs, sort in configs:
        emb = OnnxEmbedder(args["model_dir"], threads=threads or None, batch_size=bs)
        order = list(range(len(texts)))
        if sort == "tokens":
            order.sort(key=lambda i: tok_lens[i])
        elif sort == "chars":
            order.sort(key=lambda i: len(texts[i]))
        emb._encode_batch(texts[:bs])  # warm-up (graph, allocator)
        real = padded = 0
        t0 = time.perf_counter()
        for s in range(0, len(order), bs):
            idx = order[s : s + bs]
            emb._encode_batch([texts[i] for i in idx])
            lens = [tok_lens[i] for i in idx]
            real += sum(lens)
            padded += max(lens) * len(lens)
        dt = time.perf_counter() - t0
        rows.append(
            {
                "intra_op_threads": threads or "default(0)",
                "batch_size": bs,
                "sorted_by_length": sort,
                "texts_per_s": round(len(texts) / dt, 1),
                "padding_fraction": round(1 - real / padded, 3),
            }
        )
    single: dict[str, float] = {}
    for threads in (1, 2):
        emb = OnnxEmbedder(args["model_dir"], threads=threads)
        lat = []
        for t in texts[:70]:
            t0 = time.perf_counter()
            emb.embed([t])
            lat.append(time.perf_counter() - t0)
        single[str(threads)] = round(1000 * float(np.median(lat[10:])), 2)
    return {
        "texts": len(texts),
        "tokens_mean": round(float(np.mean(tok_lens)), 1),
        "tokens_max": int(np.max(tok_lens)),
        "rows": rows,
        "single_text_ms_p50_by_threads": single,
    }
