"""Tabular files in and out: CRM exports and lead files, parquet or CSV, local or on S3.

The build reads a CRM export and bulk scoring reads a lead file and writes the scored one; both go
through here so a file is opened, streamed and spelled the same way everywhere:

- parquet: a file, a folder/prefix of parts or a hive-partitioned dataset (pyarrow datasets);
- CSV / CSV.gz: one file, pyarrow's streaming CSV reader, every column read as text (a CRM's "Id"
  may look numeric in the first block and not later, and "1,234" is a number to a person), empty
  cells as missing values and nothing else (a country "NA" is Namibia, not null);
- numbers as people write them in exports (`parse_numbers`): thousands separators, a currency
  sign, surrounding spaces; anything else is counted as "not a number", never silently zero;
- outputs are written to a local temporary file and only then moved into place or uploaded (with
  S3 object metadata), so nobody ever reads half a scored file.

Build time and CLI only: the Lambda never imports this module (it would pull in pyarrow).
"""

from __future__ import annotations

import difflib
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leadgen.config import AwsSettings
from leadgen.errors import InputError
from leadgen.names import INPUT_FORMATS
from leadgen.stores.csv_cells import csv_batch, csv_schema
from leadgen.stores.temp_outputs import temp_output

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
# Every ending a lead or export file may have, longest first so ".csv.gz" wins over ".csv".
TABLE_SUFFIXES = (".csv.gz", ".tsv.gz", ".csv", ".tsv", ".parquet")
# Bytes per CSV block: the reader's unit of streaming (and of memory), a few thousand CRM rows.
CSV_BLOCK_BYTES = 1 << 20


def detect_format(path: str, fmt: str = "auto") -> str:
    """'csv' or 'parquet': the explicit format, else the extension (.csv, .csv.gz; else parquet)."""
    if fmt not in INPUT_FORMATS:
        raise InputError(f"format must be one of {', '.join(INPUT_FORMATS)}, got {fmt!r}")
    if fmt != "auto":
        return fmt
    return "csv" if path.lower().endswith(CSV_SUFFIXES) else "parquet"


def split_suffix(name: str) -> tuple[str, str]:
    """(stem, known table ending) of a file name: "q3.leads.csv.gz" -> ("q3.leads", ".csv.gz");
    ending "" when the name has none of TABLE_SUFFIXES (any case)."""
    for suffix in TABLE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)], name[-len(suffix) :]
    return name, ""


def filesystem(path: str) -> tuple[Any, str]:
    """(pyarrow filesystem or None for local, location without the scheme). S3 honours the
    endpoint and region variables boto3 reads (moto in tests, a region in CodeBuild)."""
    if path.startswith("s3://"):
        from pyarrow import fs

        aws = AwsSettings.from_env()
        kwargs: dict[str, Any] = {}
        if aws.s3_endpoint:
            scheme, _, host = aws.s3_endpoint.partition("://")
            kwargs.update(endpoint_override=host, scheme=scheme)
        if aws.region:
            kwargs["region"] = aws.region
        return fs.S3FileSystem(**kwargs), path[len("s3://") :]
    return None, path


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ---- reading -------------------------------------------------------------------------------------
@dataclass
class Export:
    """An opened export: its columns and a way to stream record batches of some of them."""

    path: str
    format: str  # csv | parquet
    schema: Any  # pyarrow schema (CSV: every column a string)
    _dataset: Any = None  # parquet

    @property
    def names(self) -> list[str]:
        return list(self.schema.names)

    def count_rows(self) -> int | None:
        """Rows in the file when known without reading it (parquet metadata); None for CSV."""
        return int(self._dataset.count_rows()) if self._dataset is not None else None

    def batches(
        self, columns: Sequence[str] | None = None, batch_rows: int = 65_536
    ) -> Iterator[Any]:
        """Record batches of `columns` (all when None); read errors become InputError."""
        import pyarrow as pa

        cols = list(self.names if columns is None else columns)
        try:
            if self._dataset is not None:
                yield from self._dataset.scanner(columns=cols, batch_size=batch_rows).to_batches()
            else:
                with _open_csv(self.path, cols, self.names) as reader:
                    yield from reader
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(f"{self.path}: read failed ({_csv_hint(exc)})") from None


def open_export(path: str, fmt: str = "auto") -> Export:
    """Open a parquet file/folder/dataset or a CSV(.gz) file, local or s3://; a missing, empty or
    unreadable input is an InputError naming it."""
    kind = detect_format(path, fmt)
    if kind == "parquet":
        dataset = open_dataset(path)
        return Export(path, kind, _unique_names(path, dataset.schema), dataset)
    import pyarrow as pa

    fs_, location = filesystem(path)
    files = _check_files(path, fs_, location)
    if len(files) != 1 or files[0].path.rstrip("/") != location.rstrip("/"):
        raise InputError(f"{path}: a CSV input must be one file (a folder of parts: use parquet)")
    try:
        with _open_csv(path, None, None) as reader:
            names = reader.schema.names
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: cannot read as CSV ({_csv_hint(exc)})") from None
    return Export(path, kind, _unique_names(path, pa.schema([(n, pa.string()) for n in names])))


def _unique_names(path: str, schema: Any) -> Any:
    """A header naming a column twice cannot be read by name: refused, naming it."""
    counts = Counter(schema.names)
    twice = sorted(n for n, c in counts.items() if c > 1)
    if twice:
        listed = ", ".join(repr(n) for n in twice[:5])
        raise InputError(f"{path}: column {listed} appears more than once in the header")
    return schema


class _CsvBatches:
    """The streaming CSV reader and the file stream under it, closed together."""

    def __init__(self, stream: Any, reader: Any) -> None:
        self.stream, self.reader = stream, reader
        self.schema = reader.schema

    def __enter__(self) -> Any:
        return self.reader

    def __exit__(self, *exc: object) -> None:
        self.stream.close()


def _open_csv(path: str, columns: list[str] | None, names: list[str] | None) -> _CsvBatches:
    """pyarrow.csv.open_csv over the (decompressed) file: `names` given = every column a string."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    from pyarrow import fs

    fs_, location = filesystem(path)
    stream: Any = (fs_ or fs.LocalFileSystem()).open_input_stream(location, compression="detect")
    delimiter = "\t" if path.lower().endswith((".tsv", ".tsv.gz")) else ","
    convert = pcsv.ConvertOptions(
        column_types={n: pa.string() for n in names} if names else None,
        include_columns=columns or [],
        strings_can_be_null=True,
        null_values=[""],
    )
    try:
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=convert,
        )
    except BaseException:
        stream.close()
        raise
    return _CsvBatches(stream, reader)


def _csv_hint(exc: BaseException) -> str:
    line = first_line(exc)
    if "UTF8" in line or "UTF-8" in line:
        return f"{line}; save the export as UTF-8 CSV"
    return line


def open_dataset(path: str) -> Any:
    """A pyarrow dataset over a parquet file, a folder of parts or a hive-partitioned tree."""
    import pyarrow.dataset as ds

    filesystem_, location = filesystem(path)
    _check_files(path, filesystem_, location)
    try:
        dataset = ds.dataset(
            location, filesystem=filesystem_, format="parquet", partitioning="hive"
        )
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read as parquet ({first_line(exc)})") from None
    if not dataset.files:
        raise InputError(f"{path}: no parquet files found")
    return dataset


def _check_files(path: str, filesystem_: Any, location: str) -> list[Any]:
    """The files at `path`. Names the usual broken exports before pyarrow meets them with a cryptic
    message: a missing file/object/prefix, and zero-byte files (an export that failed half-way)
    even among good parts, since building from part of a table would publish a silently smaller
    index."""
    from pyarrow import fs

    filesystem_ = filesystem_ or fs.LocalFileSystem()
    try:
        info = filesystem_.get_file_info(location)
        if info.type == fs.FileType.NotFound:
            raise InputError(f"{path}: not found (no such file, object or prefix)")
        if info.type == fs.FileType.File:
            files = [info]
        else:
            listing = filesystem_.get_file_info(fs.FileSelector(location, recursive=True))
            files = [
                f
                for f in listing
                if f.type == fs.FileType.File and not _hidden(f.path, location.rstrip("/"))
            ]
    except OSError as exc:
        raise InputError(f"{path}: cannot access ({first_line(exc)})") from None
    scheme = "s3://" if path.startswith("s3://") else ""
    empty = [scheme + f.path for f in files if f.size == 0]
    if empty:
        more = f" and {len(empty) - 1} more" if len(empty) > 1 else ""
        raise InputError(
            f"{path}: empty file (0 bytes): {empty[0]}{more}; an export is never empty "
            "(a failed or interrupted export?)"
        )
    return files


def _hidden(file_path: str, base: str) -> bool:
    """pyarrow datasets skip names starting with '.' or '_' (_SUCCESS, .crc); so do we."""
    rel = file_path[len(base) :] if file_path.startswith(base) else file_path
    return any(part.startswith((".", "_")) for part in rel.split("/") if part)


# ---- columns -------------------------------------------------------------------------------------
def closest(name: str, names: Sequence[str], n: int = 3) -> list[str]:
    """The existing column names nearest to `name`: a case-insensitive match first, then difflib."""
    same_case = [c for c in names if c.lower() == name.lower()]
    lowered = {c.lower(): c for c in names}
    near = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    return list(dict.fromkeys([*same_case, *(lowered[c] for c in near)]))[:n]


def missing_column(path: str, column: str, role: str, names: Sequence[str]) -> InputError:
    """'column X not found (role); closest: ...' — what a user needs to fix a typo."""
    near = closest(column, names)
    hint = f"closest: {', '.join(repr(c) for c in near)}" if near else f"columns: {_few(names)}"
    return InputError(f"{path}: column {column!r} not found ({role}); {hint}")


def _few(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(c) for c in list(names)[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# ---- numbers as exports spell them ---------------------------------------------------------------
_CURRENCY = r"^[$€£¥]\s*"
_GROUPED = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"  # 1,234 and 12,345,678.90
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


def is_numeric_type(t: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_null(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
    )


def is_text_type(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def parse_numbers(arr: Any) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN for missing, which cells held something that is not a number).

    Numeric columns pass through; text is trimmed, a leading currency sign and thousands
    separators ("1,234.5") are removed, and what is left must be a plain decimal number. An empty
    cell is missing, not "not a number". Raises TypeError for other column types."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_null(arr.type):
        return np.full(len(arr), np.nan), np.zeros(len(arr), dtype=bool)
    if is_numeric_type(arr.type):
        as_float = pc.cast(arr, pa.float64())
        out = np.asarray(as_float.to_numpy(zero_copy_only=False), dtype=np.float64)
        return out, np.zeros(len(arr), dtype=bool)
    if not is_text_type(arr.type):
        raise TypeError(f"{arr.type}")
    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(arr), _CURRENCY, "")
    grouped = pc.fill_null(pc.match_substring_regex(text, _GROUPED), False)
    text = pc.if_else(grouped, pc.replace_substring(text, ",", ""), text)
    ok: Any = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    empty = pc.fill_null(pc.equal(text, pa.scalar("")), True)
    values: Any = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())
    out = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    bad = np.asarray(pc.and_(pc.invert(ok), pc.invert(empty)).to_numpy(zero_copy_only=False))
    return out, bad.astype(bool)


def shown_value(value: Any, limit: int = 30) -> str:
    """A cell quoted for a message: shortened, and never an email address (logs carry no PII)."""
    text = str(value)
    if "@" in text:
        return "<an email address>"
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# ---- writing -------------------------------------------------------------------------------------
class TableWriter:
    """Writes record batches to parquet or CSV(.gz) in a local temporary file; `commit` moves it
    into place (local) or uploads it with object metadata (s3://), `abort` removes it. Until the
    commit the destination keeps what it had: a failed run never leaves half a file there."""

    def __init__(
        self, path: str, schema: Any, fmt: str = "auto", metadata: Mapping[str, str] | None = None
    ) -> None:
        import pyarrow as pa

        self.path, self.format = path, detect_format(path, fmt)
        self.metadata = dict(metadata or {})
        local_dir = None if path.startswith("s3://") else Path(path).resolve().parent
        if local_dir is not None:
            local_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_output(local_dir)
        self.rows = 0
        if self.format == "parquet":
            import pyarrow.parquet as pq

            tagged = schema.with_metadata({f"leadgen.{k}": v for k, v in self.metadata.items()})
            self.schema = tagged
            self._writer: Any = pq.ParquetWriter(self._tmp, tagged, compression="zstd")
            self._sink: Any = None
        else:
            import pyarrow.csv as pcsv

            self.schema = csv_schema(schema)  # lists and structs as JSON text
            gz = path.lower().endswith(".gz")
            self._sink = pa.CompressedOutputStream(self._tmp, "gzip") if gz else None
            self._writer = pcsv.CSVWriter(self._sink or self._tmp, self.schema)

    def write(self, batch: Any) -> None:
        if batch.num_rows:
            try:
                self._writer.write_batch(batch if self.format == "parquet" else csv_batch(batch))
            except OSError as exc:  # a full disk or a file-size limit, named with the output
                raise InputError(f"{self.path}: cannot write ({first_line(exc)})") from None
            self.rows += batch.num_rows

    def commit(self) -> None:
        self._close()
        try:
            if self.path.startswith("s3://"):
                _upload(Path(self._tmp), self.path, self.metadata, self.format)
            else:
                os.chmod(self._tmp, umask_mode())  # mkstemp's 0600 is not what a user expects
                os.replace(self._tmp, self.path)
        finally:
            Path(self._tmp).unlink(missing_ok=True)

    def abort(self) -> None:
        try:
            self._close()
        finally:
            Path(self._tmp).unlink(missing_ok=True)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None


def umask_mode() -> int:
    """The mode a plainly created file gets (0666 less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _upload(local: Path, uri: str, metadata: Mapping[str, str], fmt: str) -> None:
    """One streamed (multipart) upload: the object appears whole or not at all."""
    from leadgen.stores.blob import parse_s3, s3_client

    bucket, key = parse_s3(uri)
    content_type = "application/vnd.apache.parquet" if fmt == "parquet" else "text/csv"
    extra = {"Metadata": dict(metadata), "ContentType": content_type}
    try:
        s3_client().upload_file(str(local), bucket, key, ExtraArgs=extra)
    except Exception as exc:  # boto3 raises several families (ClientError, S3UploadFailedError)
        raise InputError(f"{uri}: upload failed ({first_line(exc)})") from None
