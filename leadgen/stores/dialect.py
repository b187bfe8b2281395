"""How a text export is written: its encoding, delimiter and line endings, read off its first
bytes, and the one-line errors for a file that cannot be read as one.

What people hand over is rarely plain UTF-8 with commas: Excel in Europe saves `;`-separated
files with a byte-order mark and CRLF, its "Unicode Text" is UTF-16 with tabs, older tools
write Windows-1252. So, from a sample of the (decompressed) file:

- encoding: a byte-order mark says UTF-8 or UTF-16; without one, strict UTF-8 is tried, and
  Windows-1252 (a superset of Latin-1's letters) only when the bytes say so: the sample is not
  UTF-8 and charset-normalizer finds Windows-1252 a plausible reading of it. Anything else is
  refused in one line naming the file, the byte offset of the first byte that is not UTF-8, what
  was tried and what to pass (`--encoding`);
- delimiter: each of `,` `;` tab `|` splits the sample with the csv module's parser (quotes and
  quoted newlines included); the one under which the header has more than one column and the
  rows have the header's width wins. A tie or no winner is refused naming the file, with
  `--delimiter` to say it;
- line endings: CRLF or LF, kept for writing a scored file back in the same dialect.

pyarrow's CSV reader then streams the file, transcoding from a non-UTF-8 encoding in a stream
(its ReadOptions.encoding), so a 1M-row file in any encoding never sits in memory whole.
Build time and CLI only (never the Lambda).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leadgen.config import DELIMITER_NAMES
from leadgen.errors import InputError

DELIMITERS = tuple(DELIMITER_NAMES)
SAMPLE_BYTES = 1 << 20
SNIFF_RECORDS = 2_000
WINDOWS_1252 = "cp1252"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class Dialect:
    """How a text file is written, as read or as asked. `encoding` is a Python codec name
    ("utf-8", "utf-16", "cp1252"); `bom` whether the file starts with a byte-order mark;
    `detected` what was read off the file rather than given."""

    delimiter: str = ","
    encoding: str = "utf-8"
    bom: bool = False
    eol: str = "\n"
    detected: tuple[str, ...] = ()
    # The decimal mark numbers are written with (reading decides it per column instead:
    # leadgen.stores.conventions); score-file writes the scores with the input's.
    decimal: str = "."

    def describe(self) -> str:
        enc = self.encoding.upper().replace("CP1252", "Windows-1252") + (
            " with BOM" if self.bom else ""
        )
        ends = "CRLF" if self.eol == "\r\n" else "LF"
        sep = DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))
        return f"{sep}-separated, {enc}, {ends}"


# What score-file writes with --out-format; "auto" writes the input's own dialect.
PLAIN_CSV = Dialect()
EXCEL_EU_CSV = Dialect(delimiter=";", encoding="utf-8", bom=True, eol="\r\n", decimal=",")
TSV = Dialect(delimiter="\t")


def sniff(
    path: str,
    head: bytes,
    complete: bool,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> Dialect:
    """The dialect of a text file from its first bytes `head` (`complete`: the whole file)."""
    detected: list[str] = []
    bom, enc = _bom(head)
    if encoding is not None:
        enc = codecs.lookup(encoding).name
    elif enc is None:
        enc = _encoding_without_bom(path, head, complete)
        detected.append("encoding")
    else:
        detected.append("encoding")
    text = _decode_sample(path, head, enc, complete)
    if delimiter is None:
        delimiter = _delimiter(path, text, complete)
        detected.append("delimiter")
    eol = "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"
    return Dialect(delimiter, enc, bom, eol, tuple(detected))


def _bom(head: bytes) -> tuple[bool, str | None]:
    for mark, name in _BOMS:
        if head.startswith(mark):
            return True, name
    return False, None


def _encoding_without_bom(path: str, head: bytes, complete: bool) -> str:
    """UTF-8 when the sample decodes strictly; Windows-1252 when it does not and the bytes
    read plausibly as such; otherwise a refusal naming the offset of the first bad byte."""
    if b"\x00" in head:
        order = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
        raise InputError(
            f"{path}: holds NUL bytes: UTF-16 without a byte-order mark? pass --encoding {order} "
            "(or save the export as UTF-8 CSV)"
        )
    offset = first_bad_utf8(head, complete)
    if offset is None:
        return "utf-8"
    if _plausibly_1252(head):
        return WINDOWS_1252
    raise not_utf8(path, offset, _best_guess(head))


def first_bad_utf8(data: bytes, complete: bool) -> int | None:
    """The offset of the first byte of `data` that is not UTF-8 (a sequence cut at the end of
    an incomplete sample is not a fault)."""
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=complete)
    except UnicodeDecodeError as exc:
        return int(exc.start)
    return None


def _plausibly_1252(head: bytes) -> bool:
    from charset_normalizer import from_bytes

    sample = head[:65_536]
    return any(WINDOWS_1252 in m.could_be_from_charset for m in from_bytes(sample))


def _best_guess(head: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(head[:65_536]).best()
    return None if best is None else str(best.encoding)


def not_utf8(path: str, offset: int, guess: str | None = None, base: int = 0) -> InputError:
    """The one line for a file that is not in the encoding tried, at byte `base + offset`."""
    hint = f"it looks like {guess}: pass --encoding {guess}" if guess else "pass --encoding NAME"
    return InputError(
        f"{path}: not UTF-8 at byte {base + offset} (tried UTF-8, UTF-8/UTF-16 byte-order marks "
        f"and Windows-1252); {hint}, or save the export as UTF-8 CSV"
    )


def _decode_sample(path: str, head: bytes, encoding: str, complete: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        return str(decoder.decode(head, final=complete))
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not {encoding} at byte {exc.start} (as --encoding or the byte-order mark "
            "says); pass the export's real encoding with --encoding"
        ) from None


def _delimiter(path: str, text: str, complete: bool) -> str:
    """The delimiter under which the header has several columns and the rows its width."""
    scores: dict[str, float] = {}
    for candidate in DELIMITERS:
        widths = _widths(text, candidate, complete)
        if widths and widths[0] > 1:
            scores[candidate] = sum(w == widths[0] for w in widths) / len(widths)
    if not scores:
        return ","  # one column: no delimiter in the header at all
    best = max(scores.values())
    winners = [d for d, s in scores.items() if s == best]
    if best < 0.9 or len(winners) > 1:
        tried = ", ".join(f"{DELIMITER_NAMES[d]} {s:.0%}" for d, s in scores.items())
        raise InputError(
            f"{path}: cannot tell the delimiter (rows with the header's width: {tried}); "
            "pass --delimiter (comma, semicolon, tab or pipe)"
        )
    return winners[0]


def _widths(text: str, delimiter: str, complete: bool) -> list[int]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    widths = []
    try:
        for record in reader:
            if record:
                widths.append(len(record))
            if len(widths) >= SNIFF_RECORDS:
                return widths
    except csv.Error:
        return []
    return widths if complete or len(widths) < 2 else widths[:-1]  # the last may be cut


def header_names(head: bytes, dialect: Dialect) -> list[str]:
    """The header row of a sample, for a message about a file that would not open."""
    text = codecs.getincrementaldecoder(dialect.encoding)("replace").decode(head)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=dialect.delimiter)
    return next((row for row in reader if row), [])


# ---- errors found while streaming ---------------------------------------------------------------
def ragged_row(
    path: str, chunks: Callable[[], Any], dialect: Dialect, names: list[str]
) -> InputError:
    """The first row whose width is not the header's, by number and column names only: a
    row's values never go into a message (they may be personal data)."""
    text = codecs.iterdecode(chunks(), dialect.encoding, errors="replace")
    lines = _Lines(text)
    reader = csv.reader(lines, delimiter=dialect.delimiter, strict=False)
    width, number = None, 0
    for record in reader:
        if not record:
            continue
        if width is None:
            width = len(record)
            continue
        number += 1
        if len(record) != width:
            shown = ", ".join(repr(n) for n in names[:4]) + (", ..." if len(names) > 4 else "")
            return InputError(
                f"{path}: row {number} (line {lines.line}) has {len(record)} cells, the header "
                f"{width} columns ({shown}); a delimiter or a quote inside an unquoted cell?"
            )
    return InputError(f"{path}: a row's width differs from the header's; check the quoting")


class _Lines:
    """Lines of a decoded stream for csv.reader, counting physical lines for the message."""

    def __init__(self, chunks: Any) -> None:
        self._pending = ""
        self._chunks = iter(chunks)
        self.line = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        while "\n" not in self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                if not self._pending:
                    raise StopIteration
                out, self._pending = self._pending, ""
                self.line += 1
                return out
            self._pending += chunk
        out, _, self._pending = self._pending.partition("\n")
        self.line += 1
        return out + "\n"
