"""Indices: exact search is exact, ANN recall is measured against exact search over the
uncompressed vectors with held-back rows, compact storage is chosen per build and stays exact about
its own vectors, kinds are chosen by size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadgen.model import faiss_index as ix
from leadgen.model.index_backends import backend
from leadgen.model.vector_index import IndexSpec, choose_kind


def _clustered(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, d))
    x = centres[rng.integers(0, 50, n)] + 0.3 * rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def _text_and_tab(n: int, text_dims: int = 96, tab: int = 5, seed: int = 0) -> np.ndarray:
    """Vectors shaped like the service's: a low-rank text block, then a few tabular dims."""
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(n, 12)) @ rng.normal(size=(12, text_dims))
    text += 0.05 * rng.normal(size=(n, text_dims))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    t = rng.normal(size=(n, tab))
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    x = np.hstack([0.7 * text, 0.714 * t])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_flat_is_exact() -> None:
    x = _clustered(500)
    index, info = ix.build_index(x, "flat")
    sims, pos = index.search(x[:3], 5)
    brute = x[:3] @ x.T
    np.testing.assert_allclose(sims, -np.sort(-brute, axis=1)[:, :5], rtol=1e-5)
    assert info.recall_at_k == 1.0 and info.kind == "flat"
    assert list(pos[:, 0]) == [0, 1, 2]


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_ann_recall_is_measured_on_held_back_rows_and_high(kind: str) -> None:
    x = _clustered(5000)
    index, info = ix.build_index(x, kind, k=20)
    assert info.kind == kind and index.size == 5000  # the held-back rows were added after
    assert info.recall_at_k is not None and info.recall_at_k >= 0.9
    assert info.recall_queries == 500
    # the rows keep their positions: row i is found at position i
    _, pos = index.search(x[[0, 4999]], 1)
    assert pos[:, 0].tolist() == [0, 4999]


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
    assert index.raw.hnsw.efSearch == chosen


def test_compact_index_picks_the_fewest_text_dims_meeting_the_target(tmp_path: Path) -> None:
    x = _text_and_tab(6000)
    index, info = ix.build_index(x, "hnsw", k=20, text_dims=96, compression="auto")
    p = info.params
    assert p["storage"] == "float16" and p["M"] == ix.COMPACT_M
    kept, tried = p["text_dims"], p["text_dims_recall"]
    assert kept < 96 and p["stored_dim"] == kept + 5
    target = ix.DEFAULT_RECALL_TARGET + ix.CEILING_MARGIN
    assert tried[str(kept)] >= target
    assert all(v < target for r, v in tried.items() if int(r) < kept)
    assert info.recall_at_k is not None and info.recall_at_k >= ix.DEFAULT_RECALL_TARGET
    # stored smaller than float32 HNSW over the same vectors
    full, _ = ix.build_index(x, "hnsw", k=20, text_dims=96, compression="none")
    index.write(tmp_path / "compact.faiss")
    full.write(tmp_path / "full.faiss")
    compact_bytes = (tmp_path / "compact.faiss").stat().st_size
    assert compact_bytes < 0.6 * (tmp_path / "full.faiss").stat().st_size


def test_compact_index_is_exact_about_its_own_vectors(tmp_path: Path) -> None:
    """What the explanation relies on: q . reconstruct(p) is the similarity search returned,
    and the text block and the tabular block of that product add up to it."""
    x = _text_and_tab(4000, seed=1)
    built, info = ix.build_index(x, "hnsw", k=20, text_dims=96, compression="auto")
    built.write(tmp_path / "i.faiss")
    index = backend().load(tmp_path / "i.faiss", info.to_json())
    q = _text_and_tab(3, seed=2)
    sims, pos = index.search(q, 20)
    for r in range(3):
        neigh = index.reconstruct(pos[r])
        assert neigh.shape == (20, 101)
        np.testing.assert_allclose(neigh @ q[r], sims[r], atol=2e-6)
        split = neigh[:, :96] @ q[r, :96] + neigh[:, 96:] @ q[r, 96:]
        np.testing.assert_allclose(split, sims[r], atol=2e-6)
    assert info.params["efSearch"] in ix.HNSW_EF_LADDER


def test_no_compact_form_meeting_the_target_keeps_the_vectors_whole() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 101)).astype(np.float32)  # no low-rank text block to keep
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    _, info = ix.build_index(x, "hnsw", k=20, text_dims=96, compression="auto")
    assert info.params["storage"] == "float32" and info.params["M"] == ix.HNSW_M


def test_auto_choice_uses_the_threshold() -> None:
    assert choose_kind(999, "auto", 1000) == "flat"
    assert choose_kind(1000, "auto", 1000) == "hnsw"
    assert choose_kind(10, "ivf", 1000) == "ivf"


def test_search_caps_k_at_index_size(tmp_path: Path) -> None:
    x = _clustered(3)
    index, info = backend().build(x, IndexSpec(kind="flat"))
    index.write(tmp_path / "i.faiss")
    loaded = backend().load(tmp_path / "i.faiss", info.to_json())
    sims, pos = loaded.search(x[:1], 20)
    assert pos.shape == (1, 3)
    np.testing.assert_allclose(loaded.reconstruct(np.array([2])), x[2:3], rtol=1e-6)


@pytest.mark.parametrize("transform", [None, lambda block: 2.0 * block])
def test_exact_top_k_matches_brute_force_across_blocks(
    monkeypatch: pytest.MonkeyPatch, transform: Any
) -> None:
    monkeypatch.setattr(ix, "CHUNK_ROWS", 97)  # blocks are merged when transformed
    x = _clustered(1000)
    sims, pos = ix.exact_top_k(x, x[:4], 7, transform)
    brute = x[:4] @ (x if transform is None else transform(x)).T
    np.testing.assert_allclose(sims, -np.sort(-brute, axis=1)[:, :7], rtol=1e-5)
    np.testing.assert_array_equal(pos, np.argsort(-brute, axis=1, kind="stable")[:, :7])


def test_a_large_graph_notes_each_stage_of_its_build() -> None:
    """A build of minutes says where it is: the probe, each compact rung tried, each batch of
    rows linked into the graph, the efSearch chosen."""
    x = _text_and_tab(ix.ADD_ROWS + ix.ADD_ROWS // 2, text_dims=96)
    notes: list[str] = []
    _, info = ix.build_index(x, "hnsw", k=20, text_dims=96, compression="auto", note=notes.append)
    base = len(x) - ix.RECALL_QUERIES
    assert notes[0] == f"hnsw over {len(x):,} rows: exact neighbours of 500 held-back rows"
    rungs = [n for n in notes if n.startswith("compact storage, ")]
    assert rungs and rungs[-1].endswith(
        str(info.params["text_dims_recall"][str(info.params["text_dims"])])
    )
    added = [n for n in notes if n.endswith("rows added")]
    assert added == [f"{ix.ADD_ROWS:,} of {base:,} rows added", f"{base:,} of {base:,} rows added"]
    assert notes[-1] == f"efSearch {info.params['efSearch']}: recall@20 {info.recall_at_k}"


def test_a_compact_index_decoded_for_batches_answers_what_it_answers(tmp_path: Path) -> None:
    """The build's large batches of queries (the head's neighbour features) go to a decoded
    twin of the published compact index: the same graph over the same values in float32. It
    must answer exactly what the published index answers, read back from its file as serving
    reads it, efSearch included."""
    x = _text_and_tab(6000, seed=3)
    built, info = backend().build(x, IndexSpec(kind="hnsw", k=20, text_dims=96, compression="auto"))
    assert info.params["storage"] == "float16"
    built.write(tmp_path / "i.faiss")
    published = backend().load(tmp_path / "i.faiss", info.to_json())
    twin = backend().for_batches(published)
    assert twin is not published and twin.size == published.size
    queries = x[::7] + 0.01 * np.random.default_rng(4).normal(size=x[::7].shape).astype(np.float32)
    sims, pos = published.search(queries, 29)
    twin_sims, twin_pos = twin.search(queries, 29)
    np.testing.assert_array_equal(twin_pos, pos)
    np.testing.assert_allclose(twin_sims, sims, atol=1e-5)
    np.testing.assert_allclose(twin.reconstruct(pos[:3, 0]), published.reconstruct(pos[:3, 0]))


def test_an_uncompressed_index_is_its_own_batch_twin() -> None:
    x = _clustered(2000)
    for spec in (IndexSpec(kind="flat"), IndexSpec(kind="hnsw", compression="none")):
        index, _ = backend().build(x, spec)
        assert backend().for_batches(index) is index
