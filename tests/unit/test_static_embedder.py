"""The static embedder: model2vec's own encode reproduced with numpy + tokenizers, batch-free
vectors, texts without a known token, and its identity enforced like any embedder's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadgen.config import ColumnSpec, EmbedderSettings
from leadgen.errors import ArtifactError
from leadgen.model.embedders import OnnxEmbedder, StaticEmbedder, check_identity, make_embedder
from leadgen.model.features import embed_text

# Titles and bios as CRMs hold them, and the edges of model2vec's encode: a text past the
# character cut and past 512 tokens, a word longer than WordPiece's 100 characters ([UNK]),
# the unknown token itself, emoji and zero-width characters only, other scripts, nothing.
TEXTS = [
    "VP of Engineering",
    "Leads the global rollout of an enterprise data platform.",
    "Portfolio Manager. Works on trading strategies and allocator relationships.",
    "Directeur financier, groupe agroalimentaire à Lyon",
    "Geschäftsführerin eines mittelständischen Maschinenbauers",
    "数据平台负责人",
    "internationalization " * 400,
    "Head of Sales. " + "Built and ran the EMEA team; " * 300,
    "x" * 170,
    "[UNK]",
    "🙂🙃😀",
    "\u200b\u200b",
    "",
    "   ",
    "CTO",
]


def _model2vec(model_dir: Path) -> Any:
    """model2vec's StaticModel over the very rows and tokenizer the embedder reads."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    meta = json.loads((model_dir / "leadgen_model.json").read_text())
    return StaticModel(
        vectors=np.load(model_dir / "embeddings.npy"),
        tokenizer=Tokenizer.from_file(str(model_dir / "tokenizer.json")),
        normalize=meta["normalize"],
        max_length=meta["max_length"],
    )


def test_vectors_equal_model2vec_encode(
    static_embedder: StaticEmbedder, static_model_dir: Path
) -> None:
    model = _model2vec(static_model_dir)
    expected = model.encode(TEXTS).astype(np.float32)
    got = static_embedder.embed(TEXTS)
    assert got.shape == (len(TEXTS), 256) and got.dtype == np.float32
    zero = ~expected.any(axis=1)
    np.testing.assert_array_equal(zero, ~got.any(axis=1))
    # model2vec returns float16 (the rows' dtype); the embedder averages in float32
    cos = np.sum(expected[~zero] * got[~zero], axis=1) / np.linalg.norm(expected[~zero], axis=1)
    assert cos.min() > 1 - 1e-4, cos
    # the cut and the truncation bind: the long texts are not their untruncated mean
    whole = model.encode(TEXTS[6:8], max_length=None).astype(np.float32)
    assert (np.sum(whole * got[6:8], axis=1) / np.linalg.norm(whole, axis=1)).max() < 0.9999
    assert set(np.flatnonzero(zero)) == {8, 9, 10, 11, 12, 13}


def test_a_vector_does_not_depend_on_its_batch(static_embedder: StaticEmbedder) -> None:
    many = [f"{t} #{i}" for i, t in enumerate(TEXTS * 400)]  # past one tokenizer call
    batch = static_embedder.embed(many)
    alone = np.vstack([static_embedder.embed([t]) for t in many[:: len(TEXTS) * 37]])
    np.testing.assert_array_equal(batch[:: len(TEXTS) * 37], alone)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, rtol=1e-5)


def test_a_text_without_a_known_token_counts_as_no_text(static_embedder: StaticEmbedder) -> None:
    """Emoji alone embed to a zero row: the lead's text block is the one of its other texts
    (or none), never NaN."""
    spec = ColumnSpec()
    cols = {"job_title": ["CTO", "🙂🙃😀", "🙂"], "bio": ["🙂🙃😀", "", "\u200b"]}
    text = embed_text(cols, spec, 3, static_embedder)
    assert np.isfinite(text).all()
    alone = embed_text({"job_title": ["CTO"], "bio": [""]}, spec, 1, static_embedder)
    np.testing.assert_allclose(text[0], alone[0], atol=1e-6)
    assert not text[1:].any()


def test_identity_is_enforced_against_other_models(
    static_embedder: StaticEmbedder, onnx_embedder: Any, static_model_dir: Path, model_cache: Path
) -> None:
    identity = static_embedder.identity
    assert identity["kind"] == "static" and identity["dim"] == 256
    assert identity["name"] == "all-MiniLM-L6-v2-static256"
    with pytest.raises(ArtifactError, match="embedder mismatch.*static:all-MiniLM.*onnx:all-Mini"):
        check_identity(identity, onnx_embedder.identity)
    settings = EmbedderSettings.from_env(
        {"LEADGEN_EMBEDDER": "static", "LEADGEN_MODEL_CACHE": str(model_cache)}
    )
    assert make_embedder(settings).identity == identity  # the cached model, not distilled again
    with pytest.raises(ArtifactError, match="not an ONNX export.*--embedder static"):
        OnnxEmbedder(static_model_dir)


def test_an_onnx_folder_is_not_taken_for_a_static_model(onnx_model_dir: Path) -> None:
    with pytest.raises(ArtifactError, match="not a distilled static model.*--embedder static"):
        make_embedder(EmbedderSettings(kind="static", model_dir=str(onnx_model_dir)))


def test_the_model_folder_is_readable_and_hashed(static_model_dir: Path) -> None:
    from leadgen.model.checksums import sha256_files

    meta = json.loads((static_model_dir / "leadgen_model.json").read_text())
    files = [static_model_dir / "embeddings.npy", static_model_dir / "tokenizer.json"]
    assert meta["sha256"] == sha256_files(*files)
    assert all(f.stat().st_mode & 0o044 == 0o044 for f in files)  # readable by the function's user
    assert str(Path.home()) not in json.dumps(meta)  # no build machine's path in the model
