"""Reading the CRM export: a parquet file, a folder/prefix of parts or a partitioned dataset,
locally or on S3, streamed in record batches and reduced to the columns the build needs.

SCD2 history rows (is_current false) are dropped, as are rows without an id and repeated ids; every
drop is counted with its reason for the build report.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.config import (
    CURRENT_COL,
    EMAIL_COL,
    ID_COL,
    IDENTITY_COLS,
    ColumnSpec,
    HighValueRule,
)
from leadgen.errors import InputError


@dataclass
class CrmTable:
    """Current customers, column-wise: strings as lists, numbers as float64 arrays."""

    ids: np.ndarray
    columns: dict[str, Any]
    labels: np.ndarray
    emails: list[str | None] | None
    rows_read: int
    dropped: dict[str, int] = field(default_factory=dict)
    # The identity columns present in the export (first_name, last_name, company, phone,
    # country): what the fuzzy duplicate entries are made of. Not features.
    identity: dict[str, list[Any]] = field(default_factory=dict)
    # The export's arrow type of each feature column, for the report ("double", "string").
    types: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: np.ndarray) -> CrmTable:
        cols: dict[str, Any] = {}
        for name, vals in self.columns.items():
            cols[name] = vals[idx] if isinstance(vals, np.ndarray) else [vals[i] for i in idx]
        emails = [self.emails[i] for i in idx] if self.emails is not None else None
        return CrmTable(self.ids[idx], cols, self.labels[idx], emails, len(idx))


def _filesystem(path: str) -> tuple[Any, str]:
    if path.startswith("s3://"):
        from pyarrow import fs

        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        kwargs: dict[str, Any] = {}
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            kwargs.update(endpoint_override=host, scheme=scheme)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            kwargs["region"] = region
        return fs.S3FileSystem(**kwargs), path[len("s3://") :]
    return None, path


def open_dataset(path: str) -> Any:
    """A pyarrow dataset over a file, a folder of parts or a hive-partitioned tree."""
    import pyarrow.dataset as ds

    filesystem, location = _filesystem(path)
    _check_files(path, filesystem, location)
    try:
        dataset = ds.dataset(location, filesystem=filesystem, format="parquet", partitioning="hive")
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read as parquet ({_first_line(exc)})") from None
    if not dataset.files:
        raise InputError(f"{path}: no parquet files found")
    return dataset


def _check_files(path: str, filesystem: Any, location: str) -> None:
    """Name the usual broken exports before pyarrow meets them with a cryptic message: a missing
    file/object/prefix, and zero-byte files (an export that failed half-way) even among good
    parts, since building from part of a table would publish a silently smaller index."""
    from pyarrow import fs

    filesystem = filesystem or fs.LocalFileSystem()
    try:
        info = filesystem.get_file_info(location)
        if info.type == fs.FileType.NotFound:
            raise InputError(f"{path}: not found (no such file, object or prefix)")
        if info.type == fs.FileType.File:
            files = [info]
        else:
            listing = filesystem.get_file_info(fs.FileSelector(location, recursive=True))
            files = [
                f
                for f in listing
                if f.type == fs.FileType.File and not _hidden(f.path, location.rstrip("/"))
            ]
    except OSError as exc:
        raise InputError(f"{path}: cannot access ({_first_line(exc)})") from None
    scheme = "s3://" if path.startswith("s3://") else ""
    empty = [scheme + f.path for f in files if f.size == 0]
    if empty:
        more = f" and {len(empty) - 1} more" if len(empty) > 1 else ""
        raise InputError(
            f"{path}: empty file (0 bytes): {empty[0]}{more}; a parquet file is never empty "
            "(a failed or interrupted export?)"
        )


def _hidden(file_path: str, base: str) -> bool:
    """pyarrow datasets skip names starting with '.' or '_' (_SUCCESS, .crc); so do we."""
    rel = file_path[len(base) :] if file_path.startswith(base) else file_path
    return any(part.startswith((".", "_")) for part in rel.split("/") if part)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_crm(
    path: str,
    spec: ColumnSpec,
    rule: HighValueRule,
    batch_rows: int = 65_536,
    progress: Callable[[int], None] | None = None,
) -> CrmTable:
    """Stream the export batch by batch, keeping only the needed columns of current rows."""
    dataset = open_dataset(path)
    wanted = _wanted_columns(dataset.schema, spec, rule, path)
    scan = _scan(dataset, wanted, path, batch_rows, progress)
    ids, keep_pos = _unique_ids(scan, rule, path)
    columns: dict[str, Any] = {}
    for c in (*spec.text_cols, *spec.cat_cols):
        vals = scan.column(c).to_pylist()
        columns[c] = [None if vals[i] is None else str(vals[i]) for i in keep_pos]
    for c in spec.num_cols:
        values, bad = _numbers(scan.column(c))
        scan.dropped["non_numeric_values"] += int(bad[keep_pos].sum()) if len(bad) else 0
        columns[c] = values[keep_pos]
    labels = _labels(scan.column(rule.column), rule, path)[keep_pos]
    emails = None
    if EMAIL_COL in scan.parts:
        ev = scan.column(EMAIL_COL).to_pylist()
        emails = [ev[i] for i in keep_pos]
    identity = {c: _strings_at(scan.column(c), keep_pos) for c in IDENTITY_COLS if c in scan.parts}
    types = {c: str(dataset.schema.field(c).type) for c in spec.all_cols}
    return CrmTable(
        ids[keep_pos], columns, labels, emails, scan.rows_read, scan.dropped, identity, types
    )


def _strings_at(arr: Any, positions: np.ndarray) -> list[str | None]:
    values = arr.to_pylist()
    return [None if values[i] is None else str(values[i]) for i in positions]


def _wanted_columns(schema: Any, spec: ColumnSpec, rule: HighValueRule, path: str) -> list[str]:
    """The columns to read; a configured column that is missing or of the wrong kind is an
    error naming it."""
    import pyarrow as pa

    names = set(schema.names)
    required = [ID_COL, *spec.all_cols, rule.column]
    missing = [c for c in dict.fromkeys(required) if c not in names]
    if missing:
        raise InputError(
            f"{path}: column(s) {', '.join(repr(c) for c in missing)} not found "
            f"(available: {', '.join(sorted(names))})"
        )
    for col in spec.num_cols:
        kind = schema.field(col).type
        if not _numeric_or_null(kind) and not pa.types.is_string(kind):
            raise InputError(f"{path}: numeric column {col!r} has type {kind}")
    optional = [c for c in (EMAIL_COL, *IDENTITY_COLS) if c in names]
    wanted = list(dict.fromkeys([*required, *optional]))
    if CURRENT_COL in names:
        wanted.append(CURRENT_COL)
    return wanted


@dataclass
class _Scan:
    """The current rows of the wanted columns, as chunks, and what was dropped on the way."""

    schema: Any
    parts: dict[str, list[Any]]
    rows_read: int
    dropped: dict[str, int]

    def column(self, name: str) -> Any:
        import pyarrow as pa

        return pa.chunked_array(self.parts[name], type=self.schema.field(name).type)


def _scan(
    dataset: Any,
    wanted: list[str],
    path: str,
    batch_rows: int,
    progress: Callable[[int], None] | None,
) -> _Scan:
    import pyarrow as pa
    import pyarrow.compute as pc

    reasons = ("not_current", "missing_id", "duplicate_id", "missing_label", "non_numeric_values")
    scan = _Scan(dataset.schema, {c: [] for c in wanted}, 0, dict.fromkeys(reasons, 0))
    try:
        for batch in dataset.scanner(columns=wanted, batch_size=batch_rows).to_batches():
            scan.rows_read += batch.num_rows
            if CURRENT_COL in scan.parts:
                kept = batch.filter(pc.fill_null(batch.column(CURRENT_COL), False))
                scan.dropped["not_current"] += batch.num_rows - kept.num_rows
                batch = kept
            for c in wanted:
                scan.parts[c].append(batch.column(c))
            if progress is not None:
                progress(batch.num_rows)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: read failed ({_first_line(exc)})") from None
    if scan.rows_read == 0:
        raise InputError(f"{path}: the export has no rows")
    return scan


def _unique_ids(scan: _Scan, rule: HighValueRule, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, positions kept): rows without an id or a label are dropped, and of a repeated id
    the first occurrence is kept (a broken export, reported not fatal)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids_arr = scan.column(ID_COL)
    if not pa.types.is_integer(ids_arr.type):
        raise InputError(f"{path}: id column {ID_COL!r} must be integer, is {ids_arr.type}")
    ids = ids_arr.to_numpy(zero_copy_only=False)
    valid = ~np.asarray(pc.is_null(ids_arr).to_numpy(zero_copy_only=False), dtype=bool)
    scan.dropped["missing_id"] = int((~valid).sum())
    labels_raw = scan.column(rule.column)
    label_null = np.asarray(pc.is_null(labels_raw).to_numpy(zero_copy_only=False), dtype=bool)
    scan.dropped["missing_label"] = int((label_null & valid).sum())
    valid &= ~label_null
    ids = np.where(valid, np.nan_to_num(ids.astype(np.float64), nan=-1), -1).astype(np.int64)
    _, first = np.unique(ids[valid], return_index=True)
    keep_pos = np.flatnonzero(valid)[np.sort(first)]
    scan.dropped["duplicate_id"] = int(valid.sum() - len(keep_pos))
    return ids, keep_pos


def _numbers(arr: Any) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, which were present but not a number): strings that do not parse become
    missing (zero-filled), counted for the report."""
    import pyarrow as pa

    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        raw = arr.to_pylist()
        values = np.array([_to_float(v) for v in raw], dtype=np.float64)
        bad = np.array([v is not None and np.isnan(x) for v, x in zip(raw, values, strict=True)])
        return values, bad
    return arr.to_numpy(zero_copy_only=False).astype(np.float64), np.zeros(0, dtype=bool)


def _to_float(v: Any) -> float:
    if v is None:
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _numeric_or_null(t: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_null(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
    )


def _labels(arr: Any, rule: HighValueRule, path: str) -> np.ndarray:
    import pyarrow as pa

    if rule.quantile is None:
        if pa.types.is_boolean(arr.type):
            return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)
        if pa.types.is_integer(arr.type):
            vals = arr.to_numpy(zero_copy_only=False)
            if set(np.unique(vals[~np.isnan(vals.astype(float))]).tolist()) <= {0, 1}:
                return np.asarray(vals == 1, dtype=bool)
        raise InputError(
            f"{path}: high-value column {rule.column!r} must be boolean (or 0/1); for a numeric "
            "value column use --value-col with --value-quantile"
        )
    if not _numeric_or_null(arr.type):
        raise InputError(f"{path}: value column {rule.column!r} must be numeric, is {arr.type}")
    vals = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    threshold = np.nanquantile(vals, rule.quantile)
    return np.asarray(vals >= threshold, dtype=bool) & ~np.isnan(vals)
