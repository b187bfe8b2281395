"""Build-side tasks, run in a child process: one full build at a given size, and the
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

from bench.common import dir_bytes, distinct_column_texts

TEXT_COLS = ("job_title", "bio")


class RecordingEmbedder:
    """Delegates to the real embedder and keeps (distinct text -> vector), so a later, bigger
    build with the same text pool can reuse them (MemoEmbedder) instead of re-embedding."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen: dict[str, int] = {}
        self.rows: list[np.ndarray] = []

    @property
    def texts(self) -> list[str]:
        return list(self.seen)

    @property
    def vectors(self) -> np.ndarray:
        return np.vstack(self.rows) if self.rows else np.zeros((0, self.dim), dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @property
    def identity(self) -> dict[str, Any]:
        return dict(self.inner.identity)

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Every call's distinct texts are kept (the build embeds one text column per call)."""
        out: np.ndarray = self.inner.embed(texts, progress)
        first: dict[str, int] = {}
        for i, t in enumerate(texts):
            first.setdefault(t, i)
        new = [t for t in first if t not in self.seen]
        if new:
            self.rows.append(out[[first[t] for t in new]])
            self.seen.update({t: len(self.seen) + i for i, t in enumerate(new)})
        return out


class MemoEmbedder:
    """The ONNX embedder's identity and vectors, looked up from a previous run's embeddings of the
    same text pool (texts not in the memo are embedded for real)."""

    def __init__(self, inner: Any, memo_path: Path) -> None:
        self.inner = inner
        data = np.load(memo_path, allow_pickle=False)
        self.memo: dict[str, int] = {}
        self.vectors = np.zeros((0, inner.dim), dtype=np.float32)
        # A memo from another model (fp32 vs int8, another export) is ignored, not mixed in.
        if str(data["model_sha256"]) == str(inner.identity.get("sha256")):
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
        self.missing += len(miss)
        if miss:
            extra = self.inner.embed(miss)
            base = len(self.vectors)
            self.vectors = np.vstack([self.vectors, extra])
            self.memo.update({t: base + i for i, t in enumerate(miss)})
        return np.asarray(self.vectors[[self.memo[t] for t in texts]], dtype=np.float32)


def make_crm(rows: int, seed: int, pool_rows: int | None) -> tuple[Any, int]:
    """(table, distinct texts among current customers: what the column-mode build embeds, i.e.
    distinct values per text column, summed). With `pool_rows`, the text columns of row j are
    those of row j mod pool_rows of a separately generated pool CRM."""
    from leadgen.synthetic.crm import generate_crm

    table = generate_crm(rows, seed)
    if pool_rows is not None and pool_rows < table.num_rows:
        pool = generate_crm(pool_rows, seed + 1000)
        take = np.arange(table.num_rows) % pool.num_rows
        for col in TEXT_COLS:
            i = table.schema.get_field_index(col)
            table = table.set_column(i, col, pool.column(col).take(take))
    return table, distinct_column_texts(table.filter(table.column("is_current")))


def task_build(args: dict[str, Any]) -> dict[str, Any]:
    from leadgen.builder.pipeline import build
    from leadgen.config import BuildConfig
    from leadgen.model.embedders import OnnxEmbedder
    from leadgen.synthetic.crm import write_crm

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
    cfg = BuildConfig(
        input_path=str(crm),
        artifacts_uri=out_uri,
        seed=0,
        index_compression=args.get("index_compression", "auto"),
    )
    result = build(cfg, embedder, progress=False, say=messages.append)
    if isinstance(embedder, RecordingEmbedder) and args.get("save_memo"):
        np.savez(
            args["save_memo"],
            texts=np.array(embedder.texts, dtype=str),
            vectors=embedder.vectors,
            model_sha256=np.array(str(inner.identity.get("sha256"))),
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
        "published": bool(rep["published"]),
        "version": result.version,
        "artifacts_uri": out_uri,
        "artifact_bytes": dir_bytes(vdir),
        "artifact_files": {p.name: p.stat().st_size for p in sorted(vdir.iterdir())},
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "headline": rep.get("quality", {}).get("headline"),
        "serving_path": rep.get("quality", {}).get("serving_path"),
        "serving_requirements": rep.get("serving_requirements"),
        "index_compression": cfg.index_compression,
    }


def distinct_texts(n: int, seed: int = 7) -> list[str]:
    """`n` distinct CRM text values (titles and bios, what the column-mode build embeds), in
    generation order (unsorted), for the throughput table."""
    from leadgen.config import ColumnSpec
    from leadgen.synthetic.crm import generate_crm

    table = generate_crm(int(n * 1.3) + 50, seed)
    values: dict[str, None] = {}
    for i in range(len(table)):
        for c in ColumnSpec().text_cols:
            v = table.column(c)[i].as_py()
            if v and str(v).strip():
                values[str(v).strip()] = None
        if len(values) >= n:
            break
    return list(values)[:n]


def _p50_ms(fn: Any, items: Sequence[Any], warm: int = 10) -> float:
    lat = []
    for x in items:
        t0 = time.perf_counter()
        fn(x)
        lat.append(time.perf_counter() - t0)
    return round(1000 * float(np.median(lat[warm:])), 2)


def task_embed(args: dict[str, Any]) -> dict[str, Any]:
    """fp32 vs int8: texts/s as the build embeds (and the alternatives), one text and one lead
    (title + bio) latency, and how far int8 moves the vectors."""
    from leadgen.config import ColumnSpec
    from leadgen.model.embedders import OnnxEmbedder
    from leadgen.model.features import embed_text
    from leadgen.synthetic.crm import example_lead

    texts = distinct_texts(int(args["texts"]))
    fp32 = OnnxEmbedder(args["fp32_dir"])
    int8 = OnnxEmbedder(args["model_dir"])
    tokens = fp32._tokenize(texts)
    tok_lens = [len(t) for t in tokens]
    rows: list[dict[str, Any]] = []

    def rate(label: str, emb: OnnxEmbedder, how: str) -> np.ndarray:
        emb.embed(texts[:64])  # warm-up (graph, allocator, worker pool)
        t0 = time.perf_counter()
        if how == "unsorted":  # batches of 64 in generation order: the padding the sort avoids
            out = np.vstack(
                [emb._run(emb._tokenize(texts[s : s + 64])) for s in range(0, len(texts), 64)]
            )
        elif how == "batched":
            emb.per_text, saved = False, emb.per_text
            out = emb.embed(texts)
            emb.per_text = saved
        else:
            out = emb.embed(texts)
        dt = time.perf_counter() - t0
        rows.append({"setting": label, "texts_per_s": round(len(texts) / dt, 1)})
        return out

    v_fp32 = rate("fp32, batches of 64 sorted by token count (fp32 build)", fp32, "as built")
    rate("fp32, batches of 64 unsorted", fp32, "unsorted")
    v_int8 = rate("int8, one text per run on 2 workers (int8 build, the default)", int8, "as built")
    v_int8_b = rate("int8, batches of 64 sorted (not used: batch-dependent)", int8, "batched")
    cos = np.sum(v_fp32 * v_int8, axis=1)
    drift = np.sum(v_int8 * v_int8_b, axis=1)
    leads = [example_lead(s) for s in range(90)]
    spec = ColumnSpec()

    def one_lead(emb: OnnxEmbedder) -> Any:
        return lambda lead: embed_text({c: [lead[c]] for c in spec.text_cols}, spec, 1, emb)

    return {
        "texts": len(texts),
        "tokens_mean": round(float(np.mean(tok_lens)), 1),
        "tokens_max": int(np.max(tok_lens)),
        "rows": rows,
        "single_text_ms_p50": {
            "fp32": _p50_ms(lambda t: fp32.embed([t]), texts[:90]),
            "int8": _p50_ms(lambda t: int8.embed([t]), texts[:90]),
        },
        "lead_ms_p50": {
            "fp32": _p50_ms(one_lead(fp32), leads),
            "int8": _p50_ms(one_lead(int8), leads),
        },
        "int8_vs_fp32_cosine": {
            "mean": round(float(cos.mean()), 4),
            "min": round(float(cos.min()), 4),
        },
        "int8_batched_vs_alone_cosine_min": round(float(drift.min()), 4),
    }
