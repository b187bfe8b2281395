"""The static embedder: a token-embedding table distilled from a sentence-transformers model.

`leadgen export-model --embedder static` (leadgen.model.export) distills the table once with the
model2vec package: one forward pass of the transformer per vocabulary token, then PCA and
frequency weighting baked into the rows. A text's vector is then the mean of its tokens' rows,
so serving needs only tokenizers and numpy: no ONNX session, no torch, no model2vec. It embeds
far faster than the transformer and its vectors are coarser; bench/STATIC_EMBEDDER.md measures
both sides and the README says when to choose it.

The encoding reproduces model2vec's `StaticModel.encode` for the models the export writes (a
test compares the two): each text is cut to max_length x the vocabulary's median token length in
characters, tokenized without [CLS]/[SEP] and truncated to max_length tokens, [UNK] dropped, and
the remaining rows averaged. A text with no known token (empty, emoji only) gets a zero vector,
as with the hashing embedder, so it is near to nothing.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leadgen.errors import ArtifactError
from leadgen.model.embedders import unique_texts

# safetensors dtype -> numpy dtype (little-endian, as the format stores it)
_DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8"}
# Texts per tokenizer call when many are embedded: the progress bar moves per batch and the
# gathered (texts, tokens, dim) block of one bucket stays small.
_BATCH = 1024
_SERIAL_TOKENIZE = 16
META = "leadgen_model.json"


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The float tensors of a .safetensors file: an 8-byte little-endian header length, a JSON
    header (name -> dtype, shape, byte range), then the raw data. Read here rather than with the
    safetensors package so that serving carries nothing the ONNX path does not already have."""
    raw = path.read_bytes()
    if len(raw) < 8:
        raise ArtifactError(f"{path}: not a safetensors file (too short)")
    (size,) = struct.unpack("<Q", raw[:8])
    try:
        header: dict[str, Any] = json.loads(raw[8 : 8 + size])
    except ValueError:
        raise ArtifactError(f"{path}: not a safetensors file (bad header)") from None
    data = memoryview(raw)[8 + size :]
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ArtifactError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(info["shape"])
    return out


class StaticEmbedder:
    """Mean of distilled token embeddings (see the module docstring). Every text is pooled on
    its own rows, so a text's vector does not depend on what it was embedded with."""

    def __init__(self, model_dir: str | Path) -> None:
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.meta = _read_meta(self.model_dir)
        config = json.loads((self.model_dir / "config.json").read_text())
        tensors = read_safetensors(self.model_dir / "model.safetensors")
        if set(tensors) != {"embeddings"}:
            raise ArtifactError(
                f"{self.model_dir}: expected one 'embeddings' tensor, found {sorted(tensors)}"
            )
        # float32 once at load: the mean is taken in float32 and the rows are small (vocab x dim)
        self._table = np.ascontiguousarray(tensors["embeddings"], dtype=np.float32)
        self._tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()  # the saved tokenizer.json carries a padding setting
        max_length = config.get("max_length", 512)
        if max_length is None:
            self._tokenizer.no_truncation()
            self._char_limit: int | None = None
        else:
            self._tokenizer.enable_truncation(int(max_length))
            self._char_limit = int(max_length) * _median_token_length(self._tokenizer)
        vocab_size = self._tokenizer.get_vocab_size()
        if self._table.shape[0] != vocab_size:
            raise ArtifactError(
                f"{self.model_dir}: {self._table.shape[0]} embedding rows for {vocab_size} tokens"
            )
        self._unk = _unk_id(self._tokenizer)

    @property
    def dim(self) -> int:
        return int(self._table.shape[1])

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "kind": "static",
            "name": self.meta["name"],
            "sha256": self.meta["sha256"],
            "dim": self.dim,
            "pooling": "mean",
        }

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids without [UNK]; a request's few texts one by one (the batch
        call's thread pool costs more than it saves there)."""
        if self._char_limit is not None:
            texts = [t[: self._char_limit] for t in texts]
        if len(texts) <= _SERIAL_TOKENIZE:
            encoded = [self._tokenizer.encode(t, add_special_tokens=False) for t in texts]
        else:
            encoded = self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        return [[i for i in e.ids if i != self._unk] for e in encoded]

    def _pool(self, ids: list[list[int]]) -> np.ndarray:
        """Unit-length mean rows. Texts of equal token count are gathered as one dense block;
        numpy sums each text's rows in the same order whatever else is in the block."""
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for i, row in enumerate(ids):
            if row:
                by_length.setdefault(len(row), []).append(i)
        for members in by_length.values():
            block = np.array([ids[i] for i in members], dtype=np.int64)
            out[members] = self._table[block].mean(axis=1)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        out /= norms
        return out

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        uniq, inverse = unique_texts(texts)
        out = np.empty((len(uniq), self.dim), dtype=np.float32)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(uniq), desc="embed (static)", unit="text", mininterval=1.0)
        for start in range(0, len(uniq), _BATCH):
            chunk = uniq[start : start + _BATCH]
            out[start : start + len(chunk)] = self._pool(self._token_ids(chunk))
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        return out[inverse]


def _read_meta(model_dir: Path) -> dict[str, Any]:
    path = model_dir / META
    if not path.is_file():
        raise ArtifactError(
            f"{model_dir}: not a static model (no {META}); "
            "run `leadgen export-model --embedder static`"
        )
    meta: dict[str, Any] = json.loads(path.read_text())
    if meta.get("kind") != "static":
        raise ArtifactError(
            f"{model_dir}: an ONNX model, not a static one; use --embedder onnx for it, or "
            "`leadgen export-model --embedder static` for a static model"
        )
    return meta


def _unk_id(tokenizer: Any) -> int | None:
    """The id model2vec drops from every text: a WordPiece/BPE model names its unknown token,
    a Unigram model gives its id in the serialised model."""
    model = tokenizer.model
    if hasattr(model, "unk_token"):
        token = model.unk_token
        return None if token is None else tokenizer.token_to_id(token)
    unk: int | None = json.loads(tokenizer.to_str())["model"].get("unk_id")
    return unk


def _median_token_length(tokenizer: Any) -> int:
    """model2vec cuts each text to max_length x this many characters before tokenizing (cheap
    insurance against a huge text); the same cut keeps the vectors equal to its own."""
    lengths = [len(token) for token in tokenizer.get_vocab()]
    return int(np.median(lengths))
