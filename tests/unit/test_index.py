"""Indices: exact search is exact, ANN recall is measured and high, kinds are chosen by size."""

from __future__ import annotations

import numpy as np
import pytest

from leadgen.model import index as ix


def _clustered(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, d))
    x = centres[rng.integers(0, 50, n)] + 0.3 * rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def test_flat_is_exact() -> None:
    x = _clustered(500)
    index, info = ix.build_index(x, "flat")
    sims, pos = ix.search(index, x[:3], 5)
    brute = x[:3] @ x.T
    np.testing.assert_allclose(sims, -np.sort(-brute, axis=1)[:, :5], rtol=1e-5)
    assert info.recall_at_k == 1.0 and info.kind == "flat"
    assert list(pos[:, 0]) == [0, 1, 2]


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_ann_recall_is_measured_and_high(kind: str) -> None:
    x = _clustered(5000)
    index, info = ix.build_index(x, kind, k=20)
    assert info.kind == kind
    assert info.recall_at_k is not None and info.recall_at_k >= 0.9
    assert info.recall_queries == 500


def test_hnsw_ef_search_is_the_smallest_rung_meeting_the_recall_target() -> None:
    x = _clustered(5000, d=64)
    _, loose = ix.build_index(x, "hnsw", k=20, recall_target=0.9)
    index, strict = ix.build_index(x, "hnsw", k=20, recall_target=0.999)
    tried = strict.params["efSearch_recall"]
    rungs = [int(r) for r in tried]
    assert rungs == list(ix.HNSW_EF_LADDER[: len(rungs)])
    # every rung below the chosen one missed the target; the chosen one met it (or is the top)
    chosen = strict.params["efSearch"]
    assert all(tried[str(r)] < 0.999 for r in rungs if r < chosen)
    assert tried[str(chosen)] >= 0.999 or chosen == ix.HNSW_EF_LADDER[-1]
    assert strict.recall_at_k == tried[str(chosen)]
    assert loose.params["efSearch"] <= chosen and loose.recall_at_k >= 0.9
    assert index.hnsw.efSearch == chosen


def test_auto_choice_uses_the_threshold() -> None:
    assert ix.choose_kind(999, "auto", 1000) == "flat"
    assert ix.choose_kind(1000, "auto", 1000) == "hnsw"
    assert ix.choose_kind(10, "ivf", 1000) == "ivf"


def test_search_caps_k_at_index_size(tmp_path) -> None:
    x = _clustered(3)
    index, _ = ix.build_index(x, "flat")
    ix.save_index(index, tmp_path / "i.faiss")
    loaded = ix.load_index(tmp_path / "i.faiss")
    sims, pos = ix.search(loaded, x[:1], 20)
    assert pos.shape == (1, 3)
    np.testing.assert_allclose(ix.reconstruct(loaded, np.array([2])), x[2:3], rtol=1e-6)
