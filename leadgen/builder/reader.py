"""Reading the CRM export into the columns the build needs.

The export is parquet (a file, parts or a partitioned dataset) or CSV / CSV.gz, local or on S3
(leadgen.stores.exports opens and streams it). Its columns keep the CRM's own names: which one is
the id, the email, the SCD2 "current" flag and the high-value label is configuration (KeyColumns,
HighValueRule), and a configured column that is missing is named with the closest existing ones.

SCD2 history rows (current flag false) are dropped, as are rows without an id or a label and
repeated ids; every drop is counted with its reason for the build report. Ids are kept as given:
integers stay integers, text ids (Salesforce's "0015g00000XyZ...", a CSV's "00123") stay text.
Numeric and date columns are read as the export's people wrote them
(leadgen.builder.numeric_columns: "1.234,5", "05.03.2024"), dates as days before the export's
snapshot; values that are not numbers (dates) are counted per column with an example row, and
above `max_non_numeric` of a column the build stops with one line naming it. A numeric column
with no value at all, and a text column that is not text (binary that is not UTF-8, lists), are
refused by name instead of being built on. No message quotes a row's values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadgen.builder.identity_columns import PERSONAL_FIELDS, detect
from leadgen.builder.identity_columns import personal as personal_column
from leadgen.builder.numeric_columns import read_numeric_columns
from leadgen.config import (
    BuildConfig,
    ColumnSpec,
    CustomerRule,
    HighValueRule,
    IdentityColumns,
    KeyColumns,
    ReadSettings,
)
from leadgen.duplicates.normalise import split_full_name
from leadgen.errors import InputError
from leadgen.model.fields import FieldFormats
from leadgen.stores.conventions import read_numbers
from leadgen.stores.exports import (
    Export,
    is_nested_type,
    is_numeric_type,
    is_text_type,
    missing_column,
    open_export,
    shown_value,
)

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
DROP_REASONS = ("not_current", "missing_id", "duplicate_id", "missing_label", "non_numeric_values")


@dataclass
class CrmTable:
    """Current customers, column-wise: strings as lists, numbers as float64 arrays; ids int64 or
    fixed-width unicode (the export's own ids; no object arrays, so they save without pickles)."""

    ids: np.ndarray
    columns: dict[str, Any]
    labels: np.ndarray
    emails: list[str | None] | None
    rows_read: int
    dropped: dict[str, int] = field(default_factory=dict)
    non_numeric: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    email_col: str | None = None  # the export's email column, when it has one
    # Who each customer is (first_name, last_name, company, phone, country, street, city,
    # postcode, dob: leadgen.config.IDENTITY_FIELDS), by field, from the export's columns
    # `identity_cols` (field -> column): what the duplicate entries are made of. Not features.
    identity: dict[str, list[str | None]] = field(default_factory=dict)
    identity_cols: dict[str, str] = field(default_factory=dict)
    # Identity columns the export seems to have under a CRM's own names but that no flag maps
    # (field -> column): the build names them in a warning.
    unmapped_identity: dict[str, str] = field(default_factory=dict)
    # Which rows are customers (leadgen.config.CustomerRule; None: every row) and each row's
    # stage or label text where the rule has one: what the duplicate check reports of a match.
    customer: np.ndarray | None = None
    stage: list[str | None] | None = None
    # The export's arrow type of each feature column, for the report ("double", "string").
    types: dict[str, str] = field(default_factory=dict)
    # How numeric and date values are read (decimal marks, date forms, the dates' reference):
    # recorded in the manifest so leads are read alike; and the same in words, and the file's
    # dialect, for the build log.
    formats: FieldFormats = field(default_factory=FieldFormats)
    conventions: list[str] = field(default_factory=list)
    source: str = ""
    names: list[str] = field(default_factory=list)  # every column of the export, in its order

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: np.ndarray) -> CrmTable:
        cols: dict[str, Any] = {}
        for name, vals in self.columns.items():
            cols[name] = vals[idx] if isinstance(vals, np.ndarray) else [vals[i] for i in idx]
        emails = [self.emails[i] for i in idx] if self.emails is not None else None
        return CrmTable(self.ids[idx], cols, self.labels[idx], emails, len(idx))


@dataclass(frozen=True)
class _Roles:
    """The export's column for each role (email/current None when the export has none)."""

    id: str
    email: str | None
    current: str | None
    wanted: list[str]
    identity: dict[str, str] = field(default_factory=dict)  # field -> column
    # identity columns the export seems to have under a CRM's names, not configured
    unmapped: dict[str, str] = field(default_factory=dict)


def read_crm(
    path: str,
    spec: ColumnSpec,
    rule: HighValueRule,
    keys: KeyColumns | None = None,
    *,
    fmt: str = "auto",
    max_non_numeric: float = 0.05,
    batch_rows: int = 65_536,
    progress: Callable[[int], None] | None = None,
    reading: ReadSettings | None = None,
    as_of: str | None = None,
    who: IdentityColumns | None = None,
    customers: CustomerRule | None = None,
    max_rows: int | None = None,
) -> CrmTable:
    """Stream the export batch by batch, keeping only the needed columns of current rows.
    `reading` forces what the file's bytes and values would say; `as_of` is the time the date
    columns count days before (default: the export's newest date); `max_rows`: only the first
    rows (inspect's leak checks read what it profiled)."""
    reading = reading or ReadSettings()
    export = open_export(
        path, fmt, delimiter=reading.delimiter, encoding=reading.encoding, sheet=reading.sheet
    )
    customers = customers or CustomerRule()
    roles = _roles(export, spec, rule, keys or KeyColumns(), who or IdentityColumns(), customers)
    scan = _scan(export, roles, batch_rows, progress, max_rows)
    ids, keep_pos = _unique_ids(scan, roles.id, rule, path)
    table = CrmTable(ids[keep_pos], {}, np.zeros(0, bool), None, scan.rows_read, scan.dropped)
    table.source = export.describe()
    table.names = list(export.names)
    for c in (*spec.text_cols, *spec.cat_cols):
        texts = _texts(scan.column(c), c, path, table.warnings)
        table.columns[c] = [texts[i] for i in keep_pos]
    value_col = rule.column if rule.quantile is not None else None
    numeric = read_numeric_columns(
        export,
        scan,
        keep_pos,
        spec,
        value_col=value_col,
        reading=reading,
        as_of=as_of,
        max_share=max_non_numeric,
    )
    table.columns.update(numeric.values)
    table.dropped["non_numeric_values"] += numeric.counts.dropped
    table.non_numeric.update(numeric.counts.per_column)
    table.warnings += numeric.counts.warnings
    table.formats, table.conventions = numeric.formats, numeric.conventions
    mark = numeric.marks[value_col].mark if value_col else None
    table.labels = _labels(scan.column(rule.column), rule, path, mark)[keep_pos]
    if roles.email is not None:
        emails = _texts(scan.column(roles.email), roles.email, path, table.warnings)
        table.emails = [emails[i] for i in keep_pos]
        table.email_col = roles.email
    _read_identity(table, scan, roles.identity, keep_pos, path)
    table.unmapped_identity = roles.unmapped
    _read_customers(table, scan, rule, customers, keep_pos, path)
    table.types = {c: str(export.schema.field(c).type) for c in spec.all_cols}
    return table


def read_export(
    cfg: BuildConfig, spec: ColumnSpec, *, identity: bool = True, max_rows: int | None = None
) -> CrmTable:
    """`cfg`'s export read as its settings say (format, reading, snapshot, label and customer
    rules), with the columns of `spec`: the build's table, or the first `max_rows` rows of
    other columns (the unconfigured columns' leak checks, `identity` False: no person read)."""
    if not cfg.input_path:
        raise InputError("no input: pass --input PATH (or set LEADGEN_INPUT_PATH)")
    return read_crm(
        cfg.input_path,
        spec,
        cfg.high_value,
        cfg.keys,
        fmt=cfg.input_format,
        max_non_numeric=cfg.max_non_numeric,
        reading=cfg.reading,
        as_of=cfg.as_of,
        who=cfg.identity if identity else None,
        customers=cfg.customers,
        max_rows=max_rows,
    )


def _read_identity(
    table: CrmTable, scan: _Scan, columns: dict[str, str], keep_pos: np.ndarray, path: str
) -> None:
    """The identity fields of the kept rows; a full name fills the first and last names the
    export does not have apart."""
    for f, col in columns.items():
        texts = _texts(scan.column(col), col, path, table.warnings)
        table.identity[f] = [texts[i] for i in keep_pos]
    table.identity_cols = dict(columns)
    full = table.identity.pop("full_name", None)
    if full is not None and not ("first_name" in columns and "last_name" in columns):
        parts = [split_full_name(v) for v in full]
        table.identity.setdefault("first_name", [p[0] for p in parts])
        table.identity.setdefault("last_name", [p[1] for p in parts])


def _read_customers(
    table: CrmTable,
    scan: _Scan,
    rule: HighValueRule,
    customers: CustomerRule,
    keep_pos: np.ndarray,
    path: str,
) -> None:
    """Which kept rows are customers, and their stage text (leadgen.config.CustomerRule)."""
    column = customers.column or (rule.column if rule.values else None)
    if column is None:
        return  # every row is a customer; no stage to report
    raw = _texts(scan.column(column), column, path, table.warnings)
    table.stage = [None if raw[i] is None else raw[i].strip()[:40] or None for i in keep_pos]
    if customers.column is None:
        table.customer = table.labels.copy()
        return
    if customers.values:
        wanted = {v.strip().lower() for v in customers.values}
        table.customer = np.array([(s or "").lower() in wanted for s in table.stage], dtype=bool)
    else:
        table.customer = _flags(scan.column(column), column, path)[keep_pos]
        table.stage = None  # a true/false flag is no stage


def _roles(
    export: Export,
    spec: ColumnSpec,
    rule: HighValueRule,
    keys: KeyColumns,
    who: IdentityColumns,
    customers: CustomerRule,
) -> _Roles:
    """Check every configured column exists (naming the missing ones with the closest existing
    names) and has a usable type; the columns to read."""
    import pyarrow as pa

    names, path = export.names, export.path
    label_flag = "--value-col" if rule.quantile is not None else "--high-value-col"
    required = [
        (keys.id, "--id-col"),
        *((c, "--text-cols") for c in spec.text_cols),
        *((c, "--cat-cols") for c in spec.cat_cols),
        *((c, "--num-cols") for c in spec.plain_num_cols),
        *((c, "--date-cols") for c in spec.date_cols),
        (rule.column, label_flag),
        *([(keys.email, "--email-col")] if keys.email else []),
        *([(keys.current, "--current-col")] if keys.current else []),
        *((c, f"--{f.replace('_', '-')}-col") for f, c in who.configured().items()),
        *([(customers.column, "--customer-col")] if customers.column else []),
    ]
    missing = [missing_column(path, c, role, names) for c, role in required if c not in names]
    if missing:
        raise InputError(
            "; ".join([str(missing[0]), *(str(m).split(": ", 1)[1] for m in missing[1:])])
        )
    identity = who.resolve(names)
    _refuse_personal_features(spec, keys, identity, path)
    schema = export.schema
    for col in spec.num_cols:
        kind = schema.field(col).type
        temporal = pa.types.is_date(kind) or pa.types.is_timestamp(kind)
        if col in spec.date_cols and not (temporal or is_text_type(kind) or is_numeric_type(kind)):
            raise InputError(f"{path}: date column {col!r} has type {kind}")
        if col not in spec.date_cols and not is_numeric_type(kind) and not is_text_type(kind):
            raise InputError(f"{path}: numeric column {col!r} has type {kind}")
    for col in (*spec.text_cols, *spec.cat_cols):
        _check_text_type(schema.field(col).type, col, path)
    email = keys.email_name if keys.email_name in names else None
    current = keys.current_name if keys.current_name in names else None
    wanted = [keys.id, *spec.all_cols, rule.column, *(c for c in (email, current) if c)]
    wanted += [*identity.values(), *([customers.column] if customers.column else [])]
    unmapped = {f: c for f, c in detect(names).items() if f not in identity and c != f}
    return _Roles(keys.id, email, current, list(dict.fromkeys(wanted)), identity, unmapped)


def _refuse_personal_features(
    spec: ColumnSpec, keys: KeyColumns, identity: dict[str, str], path: str
) -> None:
    """An email, a name or a phone number is never a feature, whether configured as the
    duplicate check's column or named like one ("E-mail", "First Name", "Phone Number"): a
    feature's values are stored in the version (its transform, profile and report)."""
    personal = {keys.email_name: "email"}
    personal.update({c: f for f, c in identity.items() if f in PERSONAL_FIELDS})
    for flag, cols in (("--text-cols", spec.text_cols), ("--cat-cols", spec.cat_cols),
                       ("--num-cols", spec.num_cols)):  # fmt: skip
        for col in cols:
            what = personal.get(col) or personal_column(col)
            if what is not None:
                raise InputError(
                    f"{path}: column {col!r} holds a person's {what.replace('_', ' ')}: it cannot "
                    f"be a feature (remove it from {flag}); the duplicate check reads it"
                )


def _check_text_type(kind: Any, col: str, path: str) -> None:
    """A text or categorical column must hold scalars: a list or struct would be embedded as its
    Python repr ("[1, 2]"), which means nothing to the model."""
    if is_nested_type(kind):
        raise InputError(
            f"{path}: text/categorical column {col!r} has type {kind}; it must hold text values"
        )


@dataclass
class _Scan:
    """The current rows of the wanted columns, as chunks, their row numbers in the export, and
    what was dropped on the way."""

    schema: Any
    parts: dict[str, list[Any]]
    row_numbers: list[np.ndarray]
    rows_read: int
    dropped: dict[str, int]

    def column(self, name: str) -> Any:
        import pyarrow as pa

        return pa.chunked_array(self.parts[name], type=self.schema.field(name).type)

    def row_number(self, pos: int) -> int:
        """The 1-based data row (after the header) of the pos-th current row."""
        return int(np.concatenate(self.row_numbers)[pos]) + 1


def _scan(
    export: Export,
    roles: _Roles,
    batch_rows: int,
    progress: Callable[[int], None] | None,
    max_rows: int | None = None,
) -> _Scan:
    scan = _Scan(
        export.schema, {c: [] for c in roles.wanted}, [], 0, dict.fromkeys(DROP_REASONS, 0)
    )
    for batch in export.batches(roles.wanted, batch_rows):
        if max_rows is not None and scan.rows_read + batch.num_rows > max_rows:
            batch = batch.slice(0, max_rows - scan.rows_read)
        start = scan.rows_read
        scan.rows_read += batch.num_rows
        rows = np.arange(start, scan.rows_read, dtype=np.int64)
        if roles.current is not None:
            keep = _flags(batch.column(roles.current), roles.current, export.path, start)
            scan.dropped["not_current"] += batch.num_rows - int(keep.sum())
            batch, rows = batch.filter(keep), rows[keep]
        for c in roles.wanted:
            scan.parts[c].append(batch.column(c))
        scan.row_numbers.append(rows)
        if progress is not None:
            progress(batch.num_rows)
        if max_rows is not None and scan.rows_read >= max_rows:
            break
    if scan.rows_read == 0:
        raise InputError(f"{export.path}: the export has no rows")
    return scan


def _flags(arr: Any, col: str, path: str, first_row: int = 0) -> np.ndarray:
    """A true/false column as booleans: booleans, numbers (non-zero = true) or text such as
    true/false, yes/no, 1/0 (any case); missing = false. Other text is an error naming it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(arr.type):
        return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)
    if is_numeric_type(arr.type):
        values, _ = read_numbers(arr, None)
        return np.nan_to_num(values, nan=0.0) != 0
    words = [None if v is None else str(v).strip().lower() for v in arr.to_pylist()]
    unknown = [i for i, w in enumerate(words) if w and w not in TRUE_WORDS | FALSE_WORDS]
    if unknown:
        raise InputError(
            f"{path}: column {col!r} must be true/false (yes/no, 1/0); row "
            f"{first_row + unknown[0] + 1} holds something else"
        )
    return np.array([w in TRUE_WORDS for w in words], dtype=bool)


def _unique_ids(
    scan: _Scan, id_col: str, rule: HighValueRule, path: str
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, positions kept): rows without an id or a label are dropped, and of a repeated id
    the first occurrence is kept (a broken export, reported not fatal)."""
    import pyarrow.compute as pc

    ids, valid = _id_values(scan.column(id_col), id_col, path)
    scan.dropped["missing_id"] = int((~valid).sum())
    labels_raw = scan.column(rule.column)
    label_null = np.asarray(pc.is_null(labels_raw).to_numpy(zero_copy_only=False), dtype=bool)
    scan.dropped["missing_label"] = int((label_null & valid).sum())
    valid &= ~label_null
    _, first = np.unique(ids[valid], return_index=True)
    keep_pos = np.flatnonzero(valid)[np.sort(first)]
    scan.dropped["duplicate_id"] = int(valid.sum() - len(keep_pos))
    return ids, keep_pos


def _id_values(arr: Any, id_col: str, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, present): integers as int64, text as a fixed-width unicode array, trimmed (an empty
    cell is a missing id). Whole-number floats (a pandas export with a gap) are integers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    present = ~np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        raw = np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False))
        if pa.types.is_floating(arr.type) and not np.all(raw[present] == np.round(raw[present])):
            raise InputError(f"{path}: id column {id_col!r} holds fractional numbers")
        return np.where(present, np.nan_to_num(raw, nan=-1), -1).astype(np.int64), present
    if not is_text_type(arr.type):
        raise InputError(f"{path}: id column {id_col!r} must hold integers or text, is {arr.type}")
    text = [None if v is None else v.strip() for v in arr.to_pylist()]
    present &= np.array([bool(t) for t in text], dtype=bool)
    return np.array([t or "" for t in text], dtype=str), present


def _texts(arr: Any, col: str, path: str, warnings: list[str]) -> list[str | None]:
    """A text/categorical column's values as str (None = missing). Binary that is UTF-8 text is
    decoded (with a warning naming the column); binary that is not is refused, never embedded as
    its Python repr "b'...'"."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        try:
            arr = pc.cast(arr, pa.string())
        except pa.ArrowInvalid:
            raise InputError(
                f"{path}: text column {col!r} holds binary data that is not UTF-8 text"
            ) from None
        warnings.append(f"text column {col!r} is stored as binary; decoded as UTF-8 text")
    if is_text_type(arr.type):
        return list(arr.to_pylist())
    return [None if v is None else str(v) for v in arr.to_pylist()]


def _labels(arr: Any, rule: HighValueRule, path: str, mark: Any = None) -> np.ndarray:
    """High-value flags: the top quantile of a value column (read with its decimal `mark`), or
    a flag column."""
    if rule.quantile is not None:
        try:
            vals, _ = read_numbers(arr, mark)
        except TypeError:
            raise InputError(
                f"{path}: value column {rule.column!r} must be numeric, is {arr.type}"
            ) from None
        if not np.isfinite(vals).any():
            raise InputError(f"{path}: value column {rule.column!r} has no numbers")
        threshold = np.nanquantile(vals, rule.quantile)
        return np.asarray(vals >= threshold, dtype=bool) & ~np.isnan(vals)
    return _flag_labels(arr, rule, path)


def _flag_labels(arr: Any, rule: HighValueRule, path: str) -> np.ndarray:
    """A boolean column as is; text or numbers against `rule.values` (case-insensitive); without
    values, text/numbers must be a true/false flag. Anything else names the column and shows its
    most common values, which is what --high-value-values needs."""
    import pyarrow as pa

    if pa.types.is_boolean(arr.type):
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)
    if not (
        is_text_type(arr.type) or pa.types.is_integer(arr.type) or pa.types.is_dictionary(arr.type)
    ):
        raise InputError(
            f"{path}: high-value column {rule.column!r} has type {arr.type}; for a numeric value "
            "column use --value-col with --value-quantile"
        )
    words = [None if v is None else str(v).strip().lower() for v in arr.to_pylist()]
    if rule.values:
        wanted = {v.strip().lower() for v in rule.values}
        return np.array([w in wanted for w in words], dtype=bool)
    seen = {w for w in words if w is not None}
    if seen <= TRUE_WORDS | FALSE_WORDS:
        return np.array([w in TRUE_WORDS for w in words], dtype=bool)
    common = ", ".join(
        f"{shown_value(v)} ({c})" for v, c in Counter(w for w in words if w).most_common(5)
    )
    raise InputError(
        f"{path}: high-value column {rule.column!r} is not a true/false flag (most common values: "
        f"{common}); say which values mean high value with --high-value-values, e.g. "
        '"Closed Won", or use --value-col for a numeric value column'
    )
