"""The text cache in front of the embedder: a cached vector is the embedder's own vector, under
concurrent requests and evictions; the service keeps one by default and LEADGEN_TEXT_CACHE
sizes or disables it."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from leadgen.config import EmbedderSettings, ServiceConfig
from leadgen.errors import ConfigError
from leadgen.model.embedders import HashingEmbedder, make_embedder
from leadgen.model.text_cache import CachedEmbedder
from leadgen.serve.schemas import clean_lead
from leadgen.serve.service import ScoringService


def test_concurrent_lookups_with_evictions_return_each_texts_own_vector() -> None:
    """Eight threads over 40 texts with room for 16: rows are evicted and refilled while other
    threads read; every answer must still be the text's own vector."""
    inner = HashingEmbedder()
    cached = CachedEmbedder(inner, capacity=16)
    texts = [f"title {i} of the sales team" for i in range(40)]
    truth = {t: inner.embed([t])[0] for t in texts}
    errors: list[str] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(150):
            batch = [texts[j] for j in rng.integers(0, len(texts), size=3)]
            got = cached.embed(batch)
            for text, row in zip(batch, got, strict=True):
                if not np.array_equal(row, truth[text]):
                    errors.append(text)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cached.hits > 0 and cached.misses > 16  # it did hit, and it did evict
    assert len(cached._slots) == 16


def test_long_texts_are_not_kept_by_the_cache() -> None:
    """A lead's text may be 10,000 characters: the cache keeps a digest per text, so what it
    holds is its vector matrix, not the texts (4,096 long bios would outweigh the vectors)."""
    import tracemalloc

    cached = CachedEmbedder(HashingEmbedder(), capacity=200)
    cached.embed(["warm up the matrix"])
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(100):
        texts = [f"{i:03d} " + "long bio about b2b sales " * 400]  # ~10,000 characters
        cached.embed(texts)
        del texts
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert len(cached._slots) == 101
    assert grown < 200_000, grown  # the 100 texts alone are ~1 MB


def test_cached_onnx_vectors_equal_fresh_ones(onnx_model_dir: Path, model_cache: Path) -> None:
    """The shipped int8 model embeds each text on its own, so a title cached from one request
    is exactly what another request with other texts would have computed."""
    settings = EmbedderSettings(kind="onnx", model_dir=str(onnx_model_dir), cache=model_cache)
    inner = make_embedder(settings)
    cached = CachedEmbedder(inner, capacity=8)
    first = cached.embed(["Head of Sales", "Scaling the IT team from 20 to 150 people."])
    again = cached.embed(["VP Marketing", "Head of Sales"])
    np.testing.assert_array_equal(again[1], first[0])
    np.testing.assert_array_equal(again[1], inner.embed(["Head of Sales"])[0])
    assert cached.hits == 1 and cached.misses == 3


def test_service_caches_texts_by_default_and_zero_turns_it_off(
    hashing_artifacts: Path, tmp_path: Path
) -> None:
    cfg = ServiceConfig(artifacts_uri=str(hashing_artifacts), cache_dir=tmp_path / "c")
    svc = ScoringService(cfg, HashingEmbedder(), None)
    assert svc.lifecycle.start()
    scorer = svc.scorer()
    lead = clean_lead({"job_title": "Head of Sales", "bio": "b2b saas"}, scorer.spec)
    first = svc.score_leads([lead], scorer=scorer)[0]
    second = svc.score_leads([lead], scorer=scorer)[0]
    cache = scorer.embedder
    assert isinstance(cache, CachedEmbedder) and cache.capacity == cfg.text_cache
    assert cache.hits >= 1 and first.s_look == second.s_look

    off = ServiceConfig.from_env(
        {"ARTIFACTS_URI": str(hashing_artifacts), "LEADGEN_TEXT_CACHE": "0"},
        default_cache=tmp_path / "c",
    )
    svc_off = ScoringService(off, HashingEmbedder(), None)
    assert svc_off.lifecycle.start()
    assert isinstance(svc_off.scorer().embedder, HashingEmbedder)


@pytest.mark.parametrize("value", ["-1", "2000000"])
def test_text_cache_size_out_of_range_is_refused_by_name(value: str) -> None:
    with pytest.raises(ConfigError, match="LEADGEN_TEXT_CACHE"):
        ServiceConfig.from_env({"ARTIFACTS_URI": "x", "LEADGEN_TEXT_CACHE": value})
