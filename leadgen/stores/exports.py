"""Tabular files in and out: CRM exports and lead files, parquet, CSV or .xlsx, local or on S3.

The build reads a CRM export and bulk scoring reads a lead file and writes the scored one; both go
through here so a file is opened, streamed and spelled the same way everywhere:

- parquet: a file, a folder/prefix of parts or a hive-partitioned dataset (pyarrow datasets);
- CSV / TSV / text (also .gz): one file in any dialect people save: its encoding, delimiter and
  line endings are read off its first bytes (leadgen.stores.dialect, or as `--encoding` /
  `--delimiter` say), then pyarrow's streaming CSV reader reads every column as text (a CRM's
  "Id" may look numeric in the first block and not later, and "1,234" is a number to a person),
  empty cells as missing values and nothing else (a country "NA" is Namibia, not null);
- .xlsx: one sheet (the first or `--sheet`), streamed row by row as text columns
  (leadgen.stores.xlsx);
- a file with no known ending is recognised by its first bytes (parquet, .xlsx, else text);
- numbers and dates as people write them are read by leadgen.stores.conventions with the one
  parser serving uses (leadgen.model.numbers, leadgen.model.dates);
- outputs are written to a local temporary file and only then moved into place or uploaded (with
  S3 object metadata), so nobody ever reads half a scored file; CSV in a given dialect (the
  input's, by default: delimiter, decimal mark of the scores, byte-order mark, line endings,
  encoding), or .xlsx, or parquet.

Errors name the file and, for a bad row, its number and the header's column names: never a
row's values (they may be personal data). Build time and CLI only: the Lambda never imports this
module (it would pull in pyarrow).
"""

from __future__ import annotations

import difflib
import os
import tempfile
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
from leadgen.stores.dialect import (
    PLAIN_CSV,
    SAMPLE_BYTES,
    Dialect,
    header_names,
    not_utf8,
    ragged_row,
    sniff,
)
from leadgen.stores.temp_outputs import temp_output

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
XLSX_SUFFIXES = (".xlsx",)
# Every ending a lead or export file may have, longest first so ".csv.gz" wins over ".csv".
TABLE_SUFFIXES = (
    ".csv.gz",
    ".tsv.gz",
    ".txt.gz",
    ".csv",
    ".tsv",
    ".txt",
    ".parquet",
    ".xlsx",
)
# Bytes per CSV block: the reader's unit of streaming (and of memory), a few thousand CRM rows.
CSV_BLOCK_BYTES = 1 << 20
_MAGIC = {b"PAR1": "parquet", b"PK\x03\x04": "xlsx"}
_OLD_EXCEL = b"\xd0\xcf\x11\xe0"  # .xls (Excel 97-2003): a format openpyxl does not read


def detect_format(path: str, fmt: str = "auto") -> str:
    """'csv', 'xlsx' or 'parquet': the explicit format, else the extension (.csv, .tsv, .txt,
    their .gz; .xlsx; anything else parquet). open_export also looks at the first bytes of a file
    whose ending says nothing."""
    if fmt not in INPUT_FORMATS:
        raise InputError(f"format must be one of {', '.join(INPUT_FORMATS)}, got {fmt!r}")
    if fmt != "auto":
        return fmt
    lowered = path.lower()
    if lowered.endswith(CSV_SUFFIXES):
        return "csv"
    return "xlsx" if lowered.endswith(XLSX_SUFFIXES) else "parquet"


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
    """An opened export: its columns and a way to stream record batches of some of them.
    `dialect`: how a CSV is written (None for parquet and .xlsx); `sheet`: the .xlsx sheet."""

    path: str
    format: str  # csv | parquet | xlsx
    schema: Any  # pyarrow schema (CSV, .xlsx: every column a string)
    _dataset: Any = None  # parquet
    dialect: Dialect | None = None
    sheet: str | None = None
    _workbook: Any = None  # .xlsx

    @property
    def names(self) -> list[str]:
        return list(self.schema.names)

    def count_rows(self) -> int | None:
        """Rows in the file when known without reading it (parquet metadata); None otherwise."""
        return int(self._dataset.count_rows()) if self._dataset is not None else None

    def describe(self) -> str:
        """How the file was read, for inspect and the build log."""
        if self.dialect is not None:
            return f"csv ({self.dialect.describe()})"
        if self.sheet is not None:
            return f"xlsx (sheet {self.sheet!r})"
        return self.format

    def batches(
        self, columns: Sequence[str] | None = None, batch_rows: int = 65_536
    ) -> Iterator[Any]:
        """Record batches of `columns` (all when None); read errors become InputError."""
        import pyarrow as pa

        cols = list(self.names if columns is None else columns)
        if self._workbook is not None:
            yield from self._workbook.batches(cols, batch_rows)
            return
        try:
            if self._dataset is not None:
                yield from self._dataset.scanner(columns=cols, batch_size=batch_rows).to_batches()
            else:
                with _open_csv(self.path, self.dialect or PLAIN_CSV, cols, self.names) as reader:
                    yield from reader
        except (OSError, pa.ArrowInvalid) as exc:
            raise _read_failure(self, exc) from None
        except UnicodeDecodeError as exc:
            encoding = self.dialect.encoding if self.dialect else "utf-8"
            raise InputError(
                f"{self.path}: not {encoding} throughout (a byte cannot be decoded: {exc.reason}); "
                "pass the export's encoding with --encoding"
            ) from None


def open_export(
    path: str,
    fmt: str = "auto",
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> Export:
    """Open a parquet file/folder/dataset, a CSV/TSV/text(.gz) file or an .xlsx sheet, local or
    s3://; a missing, empty or unreadable input is an InputError naming it. `delimiter` and
    `encoding` force what a CSV's first bytes would say; `sheet` picks an .xlsx sheet."""
    kind = detect_format(path, fmt)
    if fmt == "auto" and not path.lower().endswith(TABLE_SUFFIXES):
        kind = _format_by_content(path) or kind
    if kind == "parquet":
        dataset = open_dataset(path)
        return Export(path, kind, _unique_names(path, dataset.schema), dataset)
    if kind == "xlsx":
        return _open_xlsx(path, sheet)
    return _open_csv_export(path, delimiter, encoding)


def _open_csv_export(path: str, delimiter: str | None, encoding: str | None) -> Export:
    import pyarrow as pa

    fs_, location = filesystem(path)
    files = _check_files(path, fs_, location)
    if len(files) != 1 or files[0].path.rstrip("/") != location.rstrip("/"):
        raise InputError(f"{path}: a CSV input must be one file (a folder of parts: use parquet)")
    head, complete = _head(path)
    dialect = sniff(path, head, complete, delimiter=delimiter, encoding=encoding)
    try:
        with _open_csv(path, dialect, None, None) as reader:
            names = reader.schema.names
    except (OSError, pa.ArrowInvalid, UnicodeDecodeError) as exc:
        names = header_names(head, dialect)
        probe = Export(path, "csv", pa.schema([(n, pa.string()) for n in names]), dialect=dialect)
        raise _read_failure(probe, exc) from None
    schema = _unique_names(path, pa.schema([(n, pa.string()) for n in names]))
    return Export(path, "csv", schema, dialect=dialect)


def _open_xlsx(path: str, sheet: str | None) -> Export:
    import pyarrow as pa

    from leadgen.stores.xlsx import Workbook

    fs_, location = filesystem(path)
    _check_files(path, fs_, location)
    book = Workbook(path, _local_copy(path), sheet)
    schema = _unique_names(path, pa.schema([(n, pa.string()) for n in book.names]))
    return Export(path, "xlsx", schema, sheet=book.sheet, _workbook=book)


def _local_copy(path: str) -> Path:
    """The file itself when local; an S3 workbook is downloaded once (a zip needs seeking), into
    a temporary file removed when the process ends."""
    if not path.startswith("s3://"):
        return Path(path)
    import atexit

    fs_, location = filesystem(path)
    fd, name = tempfile.mkstemp(prefix=".leadgen-in-", suffix=".xlsx")
    atexit.register(Path(name).unlink, missing_ok=True)
    with os.fdopen(fd, "wb") as out, fs_.open_input_stream(location) as src:
        while chunk := src.read(CSV_BLOCK_BYTES):
            out.write(chunk)
    return Path(name)


def _format_by_content(path: str) -> str | None:
    """A single file's format by its magic bytes: parquet, xlsx, else csv (text); None for a
    folder or prefix (a dataset of parts) or what cannot be looked at."""
    from pyarrow import fs

    fs_, location = filesystem(path)
    try:
        info = (fs_ or fs.LocalFileSystem()).get_file_info(location)
        if info.type != fs.FileType.File:
            return None
        with (fs_ or fs.LocalFileSystem()).open_input_stream(location) as stream:
            magic = bytes(stream.read(4))
    except OSError:
        return None
    if magic == _OLD_EXCEL:
        raise InputError(f"{path}: an .xls (Excel 97-2003) workbook: save it as .xlsx or CSV")
    return _MAGIC.get(magic, "csv")


def _head(path: str) -> tuple[bytes, bool]:
    """The first SAMPLE_BYTES of the (decompressed) file, and whether that is all of it."""
    with _stream(path) as stream:
        head = bytes(stream.read(SAMPLE_BYTES))
    return head, len(head) < SAMPLE_BYTES


def _stream(path: str) -> Any:
    from pyarrow import fs

    fs_, location = filesystem(path)
    return (fs_ or fs.LocalFileSystem()).open_input_stream(location, compression="detect")


def _chunks(path: str) -> Iterator[bytes]:
    with _stream(path) as stream:
        while chunk := stream.read(CSV_BLOCK_BYTES):
            yield bytes(chunk)


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


def _open_csv(
    path: str, dialect: Dialect, columns: list[str] | None, names: list[str] | None
) -> _CsvBatches:
    """pyarrow.csv.open_csv over the (decompressed) file in `dialect`: a non-UTF-8 encoding is
    transcoded in a stream; `names` given = every column a string."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    stream = _stream(path)
    convert = pcsv.ConvertOptions(
        column_types={n: pa.string() for n in names} if names else None,
        include_columns=columns or [],
        strings_can_be_null=True,
        null_values=[""],
    )
    encoding = "utf8" if dialect.encoding in ("utf-8", "utf_8") else dialect.encoding
    try:
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES, encoding=encoding),
            parse_options=pcsv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=True),
            convert_options=convert,
        )
    except BaseException:
        stream.close()
        raise
    return _CsvBatches(stream, reader)


def _read_failure(export: Export, exc: BaseException) -> InputError:
    """One line for a file that stopped reading: a ragged row by its number, a byte that is not
    UTF-8 by its offset; never a row's content (pyarrow quotes the row in its message)."""
    line = first_line(exc)
    if "Expected" in line and "columns, got" in line:
        return ragged_row(
            export.path, lambda: _chunks(export.path), export.dialect or PLAIN_CSV, export.names
        )
    if "UTF8" in line or "UTF-8" in line:
        return _utf8_failure(export.path)
    return InputError(f"{export.path}: read failed ({line.split(': ', 2)[0]})")


def _utf8_failure(path: str) -> InputError:
    """Streams the file to the first byte that is not UTF-8 (only ever on this error path)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    seen = 0
    for chunk in _chunks(path):
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            return not_utf8(path, exc.start, base=seen - pending)
        seen += len(chunk)
    return not_utf8(path, 0, base=seen)


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


# ---- column types --------------------------------------------------------------------------------
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


def is_nested_type(t: Any) -> bool:
    """Lists, structs, maps (also behind a dictionary): no scalar a build can read."""
    import pyarrow as pa

    value_type = t.value_type if pa.types.is_dictionary(t) else t
    return bool(pa.types.is_nested(value_type))


def shown_value(value: Any, limit: int = 30) -> str:
    """A cell quoted for a message: shortened, and never an email address (logs carry no PII)."""
    text = str(value)
    if "@" in text:
        return "<an email address>"
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# ---- writing -------------------------------------------------------------------------------------
class TableWriter:
    """Writes record batches to parquet, CSV(.gz) in a dialect, or .xlsx, in a local temporary
    file; `commit` moves it into place (local) or uploads it with object metadata (s3://),
    `abort` removes it. Until the commit the destination keeps what it had: a failed run never
    leaves half a file there."""

    def __init__(
        self,
        path: str,
        schema: Any,
        fmt: str = "auto",
        metadata: Mapping[str, str] | None = None,
        dialect: Dialect | None = None,
    ) -> None:
        self.path, self.format = path, detect_format(path, fmt)
        self.metadata = dict(metadata or {})
        local_dir = None if path.startswith("s3://") else Path(path).resolve().parent
        if local_dir is not None:
            local_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_output(local_dir)
        self.rows = 0
        self.schema = schema
        self._writer: Any
        if self.format == "parquet":
            import pyarrow.parquet as pq

            tagged = schema.with_metadata({f"leadgen.{k}": v for k, v in self.metadata.items()})
            self.schema = tagged
            self._writer = pq.ParquetWriter(self._tmp, tagged, compression="zstd")
        elif self.format == "xlsx":
            from leadgen.stores.xlsx import SheetWriter

            self._writer = SheetWriter(self._tmp, schema.names)
        else:
            self.schema = csv_schema(schema)  # lists and structs as JSON text
            gz = path.lower().endswith(".gz")
            self._writer = CsvWriter(self._tmp, self.schema, dialect or PLAIN_CSV, gz)

    def write(self, batch: Any) -> None:
        if not batch.num_rows:
            return
        try:
            if self.format == "parquet":
                self._writer.write_batch(batch)
            else:
                self._writer.write(csv_batch(batch))
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
            writer, self._writer = self._writer, None
            writer.close()


class CsvWriter:
    """CSV in a dialect: its delimiter, line endings, byte-order mark and encoding, and float
    columns written with its decimal mark (pyarrow writes UTF-8 with '.'; the rest is done here,
    batch by batch)."""

    def __init__(self, target: str, schema: Any, dialect: Dialect, gz: bool) -> None:
        import gzip

        self.schema, self.dialect = schema, dialect
        self._file: Any = gzip.open(target, "wb") if gz else open(target, "wb")  # noqa: SIM115
        self._codec = _output_codec(dialect.encoding)
        if dialect.bom:
            self._file.write("\ufeff".encode(self._codec))
        self._header = True

    def write(self, batch: Any) -> None:
        import io

        import pyarrow.csv as pcsv

        buf = io.BytesIO()
        options = pcsv.WriteOptions(  # type: ignore[call-arg]  # eol: pyarrow >= 16, stubs older
            include_header=self._header, delimiter=self.dialect.delimiter, eol=self.dialect.eol
        )
        pcsv.write_csv(_with_decimal(batch, self.dialect.decimal), buf, options)
        self._header = False
        raw = buf.getvalue()
        if self._codec != "utf-8":
            raw = raw.decode("utf-8").encode(self._codec, errors="replace")
        self._file.write(raw)

    def close(self) -> None:
        if self._header:  # no row at all: the header alone
            self.write(_empty_batch(self.schema))
        self._file.close()


def _empty_batch(schema: Any) -> Any:
    import pyarrow as pa

    return pa.record_batch([pa.array([], f.type) for f in schema], schema=schema)


def _output_codec(encoding: str) -> str:
    """UTF-16 is written little-endian after its byte-order mark; other codecs as named."""
    import codecs

    name = codecs.lookup(encoding).name
    return "utf-16-le" if name in ("utf-16", "utf-16-be") else name


def _with_decimal(batch: Any, mark: str) -> Any:
    """Float columns as positional text (0.000013, never 1.3e-05, which a spreadsheet may take
    for text) with `mark` as decimal mark."""
    import pyarrow as pa

    columns, fields = [], []
    for field_, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_floating(field_.type):
            column = pa.array([_positional(v, mark) for v in column.to_pylist()], pa.string())
            field_ = pa.field(field_.name, pa.string())
        columns.append(column)
        fields.append(field_)
    return pa.record_batch(columns, schema=pa.schema(fields))


def _positional(value: float | None, mark: str) -> str | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    text = np.format_float_positional(value, trim="-")
    return text.replace(".", mark) if mark != "." else text


def umask_mode() -> int:
    """The mode a plainly created file gets (0666 less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _upload(local: Path, uri: str, metadata: Mapping[str, str], fmt: str) -> None:
    """One streamed (multipart) upload: the object appears whole or not at all."""
    from leadgen.stores.blob import parse_s3, s3_client

    bucket, key = parse_s3(uri)
    content_type = {
        "parquet": "application/vnd.apache.parquet",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }.get(fmt, "text/csv")
    extra = {"Metadata": dict(metadata), "ContentType": content_type}
    try:
        s3_client().upload_file(str(local), bucket, key, ExtraArgs=extra)
    except Exception as exc:  # boto3 raises several families (ClientError, S3UploadFailedError)
        raise InputError(f"{uri}: upload failed ({first_line(exc)})") from None
