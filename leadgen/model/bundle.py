"""One artifact version: its files, its manifest, and how it is written and loaded.

The build writes a `Bundle` into a version directory and serving loads it back from one; nothing
else spells a file name or a manifest key. The manifest records the settings serving must
reproduce (columns, k, text weight, text mode, grade bands, embedder identity, index parameters)
and the sha256 and size of every file, so a truncated, corrupted or tampered file is refused.
Everything is JSON or .npy/.npz/.faiss: no pickles (text customer ids are fixed-width unicode).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leadgen.config import IDENTITY_FIELDS, ColumnSpec, GradeBands
from leadgen.errors import ArtifactError
from leadgen.model.checksums import sha256_bytes, sha256_files
from leadgen.model.features import TabularTransform
from leadgen.model.fields import FieldFormats
from leadgen.model.head import Head
from leadgen.model.index_backends import backend
from leadgen.model.ranges import NO_RANGES, TrainingRanges
from leadgen.model.trees import TreeEnsemble
from leadgen.model.vector_index import DEFAULT_BACKEND, VectorIndex

# 2: the head fitted on every customer (head.json + head_trees.npz); format 1 had a linear head.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
REPORT = "build_report.json"  # written beside the version after publishing (not checksummed)


class Files:
    """The data files of a version."""

    INDEX_ALL = "index_all.faiss"
    INDEX_HIGH = "index_high.faiss"
    IDS_ALL = "ids_all.npy"
    IDS_HIGH = "ids_high.npy"
    CALIBRATION = "calibration.npy"
    TRANSFORM = "transform.json"
    HEAD = "head.json"
    HEAD_TREES = "head_trees.npz"  # the head's tree ensemble (present when there is a head)
    HIGH_ATTRS = "high_attrs.npz"
    HIGH_VOCAB = "high_vocab.json"
    RANGES = "ranges.json"  # numeric inputs' training ranges (leadgen.model.ranges)
    # Written by the build for people and the next build, never loaded by serving (but verified
    # with the rest): the self-contained HTML report and the profile drift is measured against.
    REPORT_HTML = "report.html"
    PROFILE = "profile.json"


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """What a version is: settings serving must reproduce, build figures, and file checksums."""

    version: str
    created_at: str
    columns: ColumnSpec
    high_value_rule: dict[str, Any]
    embedder: dict[str, Any]
    k: int
    w_text: float
    text_mode: str
    grade_bands: GradeBands
    indices: dict[str, dict[str, Any]]
    quality: dict[str, Any]
    rows: dict[str, Any]
    files: dict[str, FileEntry] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # leadgen.duplicates.normalise.key_fingerprint of the email hash key the build hashed customers
    # with (never the key); None in versions built before it was recorded.
    hash_key_fingerprint: str | None = None
    # The export's id and email column names and the identity columns the build read (field ->
    # column: first_name -> "First Name"); bulk scoring reads lead files by them and the API takes
    # them as request fields. Older manifests have none: the defaults of leadgen.names apply.
    key_columns: dict[str, str | None] = field(default_factory=dict)
    # How raw values of the numeric and date columns are read (decimal marks, date forms, the
    # customers' reference time): leads are read the way the export was.
    formats: FieldFormats = field(default_factory=FieldFormats)

    @property
    def customers(self) -> int:
        return int(self.rows["current_customers"])

    @property
    def identity_columns(self) -> dict[str, str]:
        """Identity field -> the export's column the build read it from."""
        return {f: c for f, c in self.key_columns.items() if f in IDENTITY_FIELDS and c}

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "version": self.version,
            "created_at": self.created_at,
            "columns": self.columns.to_json(),
            "high_value_rule": self.high_value_rule,
            "embedder": self.embedder,
            "k": self.k,
            "w_text": self.w_text,
            "text_mode": self.text_mode,
            "grade_bands": self.grade_bands.to_json(),
            "indices": self.indices,
            "quality": self.quality,
            "rows": self.rows,
            "files": {n: {"sha256": f.sha256, "size": f.size} for n, f in self.files.items()},
            "hash_key_fingerprint": self.hash_key_fingerprint,
            **({"key_columns": self.key_columns} if self.key_columns else {}),
            "formats": self.formats.to_json(),
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), indent=2, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes, where: str) -> Manifest:
        """Parse a manifest; anything malformed or of another format is an ArtifactError."""
        try:
            data = json.loads(raw)
        except ValueError:
            raise ArtifactError(f"{where}: not a valid manifest (not JSON)") from None
        if not isinstance(data, dict):
            raise ArtifactError(f"{where}: not a valid manifest")
        if data.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(
                f"{where}: artifact format {data.get('format_version')} is not supported "
                f"(this code reads format {FORMAT_VERSION}; rebuild the version with this code)"
            )
        try:
            return cls._from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{where}: not a valid manifest ({exc!r})") from None

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Manifest:
        return cls(
            version=str(data["version"]),
            created_at=str(data["created_at"]),
            columns=ColumnSpec.from_json(data["columns"]),
            high_value_rule=dict(data["high_value_rule"]),
            embedder=dict(data["embedder"]),
            k=int(data["k"]),
            w_text=float(data["w_text"]),
            text_mode=str(data["text_mode"]),
            grade_bands=GradeBands.from_json(data["grade_bands"]),
            indices={str(k): dict(v) for k, v in data["indices"].items()},
            quality=dict(data["quality"]),
            rows=dict(data["rows"]),
            files={
                str(n): FileEntry(sha256=str(f["sha256"]), size=int(f["size"]))
                for n, f in data["files"].items()
            },
            format_version=int(data["format_version"]),
            hash_key_fingerprint=data.get("hash_key_fingerprint"),
            key_columns=dict(data.get("key_columns", {})),
            formats=FieldFormats.from_json(data.get("formats")),
        )

    def seal(self, directory: Path) -> tuple[Manifest, str]:
        """Checksum every data file in `directory`, write manifest.json beside them; returns the
        sealed manifest and the sha256 of its bytes (what LATEST records)."""
        files = {
            p.name: FileEntry(sha256_files(p), p.stat().st_size)
            for p in sorted(directory.iterdir())
            if p.is_file() and p.name != MANIFEST
        }
        sealed = Manifest(**{**self.__dict__, "files": files})
        raw = sealed.to_bytes()
        (directory / MANIFEST).write_bytes(raw)
        return sealed, sha256_bytes(raw)

    def check_present(self, directory: Path) -> None:
        """Every listed file is there with its recorded size (cheap; before any hashing)."""
        for name, entry in self.files.items():
            path = directory / name
            if not path.is_file():
                raise ArtifactError(f"{self.version}/{name}: listed in the manifest but missing")
            size = path.stat().st_size
            if size != entry.size:
                raise ArtifactError(
                    f"{self.version}/{name}: size mismatch ({size} bytes, the manifest says "
                    f"{entry.size}: truncated or replaced?)"
                )

    def verify(self, directory: Path) -> None:
        """Every listed file hashes to its recorded sha256."""
        for name, entry in self.files.items():
            if sha256_files(directory / name) != entry.sha256:
                raise ArtifactError(
                    f"{self.version}/{name}: checksum mismatch (corrupted or tampered)"
                )


@dataclass
class HighAttributes:
    """Raw attributes of the high-value customers, in `high` index order, for explanations."""

    cat_codes: np.ndarray  # (n_high, n_cat) int32, -1 = missing
    vocab: dict[str, list[str]]
    num: np.ndarray  # (n_high, n_num) float32, NaN = missing
    num_std: np.ndarray  # (n_num,) customer spread, for the "similar value" tolerance

    @classmethod
    def of(
        cls,
        columns: Mapping[str, Sequence[Any] | np.ndarray],
        spec: ColumnSpec,
        high_rows: np.ndarray,
        log_cols: Sequence[str],
    ) -> HighAttributes:
        vocab: dict[str, list[str]] = {}
        codes = np.full((len(high_rows), len(spec.cat_cols)), -1, dtype=np.int32)
        for j, col in enumerate(spec.cat_cols):
            vals = [columns[col][i] for i in high_rows]
            uniq = sorted({str(v).strip() for v in vals if v is not None})
            lookup = {v: i for i, v in enumerate(uniq)}
            codes[:, j] = [lookup[str(v).strip()] if v is not None else -1 for v in vals]
            vocab[col] = uniq
        num = np.full((len(high_rows), len(spec.num_cols)), np.nan, dtype=np.float32)
        std = np.ones(len(spec.num_cols), dtype=np.float32)
        for j, col in enumerate(spec.num_cols):
            allv = np.asarray(columns[col], dtype=np.float64)
            num[:, j] = allv[high_rows]
            spread = np.log1p(np.clip(allv, 0, None)) if col in log_cols else allv
            s = float(np.nanstd(spread)) if np.isfinite(allv).any() else 1.0
            std[j] = s if np.isfinite(s) and s > 0 else 1.0
        return cls(cat_codes=codes, vocab=vocab, num=num, num_std=std)


@dataclass
class Bundle:
    """The content of a version: indices over the customers' vectors, their ids, the fitted
    transform and head, the calibration of percentiles, and the high-value attributes."""

    manifest: Manifest
    transform: TabularTransform
    index_all: VectorIndex
    index_high: VectorIndex
    ids_all: np.ndarray
    ids_high: np.ndarray
    calibration: np.ndarray  # sorted leave-one-out contrasts of customers
    head: Head
    high_attrs: HighAttributes
    profile: dict[str, Any] | None = None  # leadgen.builder.drift.profile
    report_html: bytes | None = None  # leadgen.builder.report_html.render
    ranges: TrainingRanges = NO_RANGES  # what serving clips numeric inputs to

    def write(self, directory: Path) -> tuple[Manifest, str]:
        """Write every file and seal the manifest; returns it and its sha256."""
        self.index_all.write(directory / Files.INDEX_ALL)
        self.index_high.write(directory / Files.INDEX_HIGH)
        np.save(directory / Files.IDS_ALL, _ids(self.ids_all))
        np.save(directory / Files.IDS_HIGH, _ids(self.ids_high))
        np.save(directory / Files.CALIBRATION, self.calibration.astype(np.float64))
        _write_json(directory / Files.TRANSFORM, self.transform.to_json())
        _write_json(directory / Files.HEAD, self.head.to_json())
        if self.head.trees is not None:
            with (directory / Files.HEAD_TREES).open("wb") as fh:
                np.savez(fh, **self.head.trees.arrays())  # type: ignore[arg-type]
        attrs = self.high_attrs
        with (directory / Files.HIGH_ATTRS).open("wb") as fh:
            np.savez(fh, cat_codes=attrs.cat_codes, num=attrs.num, num_std=attrs.num_std)
        _write_json(directory / Files.HIGH_VOCAB, attrs.vocab)
        _write_json(directory / Files.RANGES, self.ranges.to_json())
        if self.profile is not None:
            _write_json(directory / Files.PROFILE, self.profile)
        if self.report_html is not None:
            (directory / Files.REPORT_HTML).write_bytes(self.report_html)
        return self.manifest.seal(directory)

    @classmethod
    def load(cls, directory: Path, manifest: Manifest) -> Bundle:
        """Load a version's files (the caller verifies checksums, see stores.artifacts)."""
        try:
            attrs = np.load(directory / Files.HIGH_ATTRS, allow_pickle=False)
            bundle = cls(
                manifest=manifest,
                transform=TabularTransform.from_json(_read_json(directory / Files.TRANSFORM)),
                index_all=_load_index(directory / Files.INDEX_ALL, manifest.indices["all"]),
                index_high=_load_index(directory / Files.INDEX_HIGH, manifest.indices["high"]),
                ids_all=np.load(directory / Files.IDS_ALL, allow_pickle=False),
                ids_high=np.load(directory / Files.IDS_HIGH, allow_pickle=False),
                calibration=np.load(directory / Files.CALIBRATION, allow_pickle=False),
                head=Head.from_json(_read_json(directory / Files.HEAD), _trees(directory)),
                high_attrs=HighAttributes(
                    cat_codes=attrs["cat_codes"],
                    num=attrs["num"],
                    num_std=attrs["num_std"],
                    vocab=_read_json(directory / Files.HIGH_VOCAB),
                ),
                ranges=_ranges(directory / Files.RANGES),
            )
        except (OSError, KeyError, ValueError) as exc:
            raise ArtifactError(f"{directory}: cannot load artifact ({exc})") from None
        return bundle


def _ranges(path: Path) -> TrainingRanges:
    """A version built before ranges were stored clips nothing."""
    return TrainingRanges.from_json(_read_json(path)) if path.is_file() else NO_RANGES


def _trees(directory: Path) -> TreeEnsemble | None:
    path = directory / Files.HEAD_TREES
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as arrays:
        return TreeEnsemble.from_arrays({k: arrays[k] for k in arrays.files})


def _ids(ids: np.ndarray) -> np.ndarray:
    """Customer ids as the export gave them: int64, or fixed-width unicode for text ids (both
    load with allow_pickle=False; an object array would need a pickle)."""
    return ids if ids.dtype.kind == "U" else ids.astype(np.int64)


def _load_index(path: Path, entry: Mapping[str, Any]) -> VectorIndex:
    """Open an index with the backend its manifest entry names, search parameters applied."""
    return backend(str(entry.get("backend", DEFAULT_BACKEND))).load(path, entry)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())
