"""Bulk scoring: a lead file in (CSV in any dialect, .xlsx or parquet, local or s3://), the same
file scored out.

The first thing a sales-ops team does after a build is score the leads it already has, then load
the result back into the CRM. `score_file` streams the file in batches through the same scoring
service as the API (ScoringService + schemas.clean_lead: one definition of a valid lead and of
every score: a cell is read exactly as the same value in a JSON request), keeps every input
column and appends the scores, the grade, the duplicate flag, the nearest high-value customers'
ids and a one-line explanation. Memory is bounded by the batch size, not the file: batches are
read, scored and written one at a time, and the text cache is capped. A row that fails
validation is written to the rejects file with the field and the reason; it never stops the run.
Outputs appear whole or not at all (leadgen.stores.exports.TableWriter).

The file is read as its people wrote it: a first pass over its numeric and date columns decides
their decimal marks and date order from the file's own values (then the version's recorded ones;
leadgen.stores.conventions), and date columns count days before the run's start (the scoring
time). The output is written back in the input's form by default: a CSV in its delimiter,
encoding, byte-order mark and line endings, with the scores in its decimal mark (what Excel in
the user's locale opens as columns); an .xlsx as .xlsx; or as `out_format` says.

Every row gets the API's duplicate check, exact and fuzzy, with the identity columns the build
read (the manifest's key_columns: "First Name", "Company Name", ...; flags override them): a
known customer is flagged `duplicate` and not scored, a known person who is not a customer (or a
lead the API recorded) is scored and named in `known_as`. Bulk rows are not recorded:
re-running a file after a new build gives every row its scores again instead of marking it a
duplicate of itself.

The CLI (`leadgen score-file`) and the S3-triggered job (`python -m bulk_job`) call this; the
Lambda never imports it (pyarrow, tqdm).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from leadgen.config import IDENTITY_FIELDS, IdentityColumns, ReadSettings
from leadgen.errors import InputError, LeadValidationError
from leadgen.model.fields import FieldFormats
from leadgen.names import DEFAULT_EMAIL_COL, GRADES, OUT_FORMATS
from leadgen.serve.schemas import CleanLead, InputWarning, Score, clean_lead
from leadgen.serve.scorer import Scorer
from leadgen.serve.service import ScoringService
from leadgen.stores.conventions import (
    DELIMITER_MARK,
    date_evidence,
    decide_dates,
    decide_marks,
    number_evidence,
)
from leadgen.stores.dialect import EXCEL_EU_CSV, PLAIN_CSV, TSV, Dialect
from leadgen.stores.exports import (
    Export,
    TableWriter,
    detect_format,
    is_text_type,
    missing_column,
    open_export,
    split_suffix,
)

SCORE_COLUMNS = ("s_look", "s_all", "s_novel", "contrast", "p_high_value", "percentile")
KNOWN_COLUMNS = ("known_as", "known_as_kind", "known_as_stage")
OUTPUT_COLUMNS = (
    *SCORE_COLUMNS,
    "grade",
    "duplicate",
    "duplicate_ref",
    *KNOWN_COLUMNS,
    "top_neighbours",
    "explanation",
    "warnings",
    "drivers",
)
REJECT_COLUMNS = ("reject_field", "reject_reason")
LEAD_ID_COL = "lead_id"
_DIALECTS = {"csv": PLAIN_CSV, "csv-eu": EXCEL_EU_CSV, "tsv": TSV}


# ---- the run -----------------------------------------------------------------------------------
@dataclass
class BulkSummary:
    """What a run did, for the printed summary and the job's bulk_finished line."""

    source: str
    out: str
    rejects: str
    artifact_version: str
    rows: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # scored / duplicate / rejected
    grades: Counter[str] = field(default_factory=Counter)
    reject_fields: Counter[str] = field(default_factory=Counter)
    replaced_columns: list[str] = field(default_factory=list)
    missing_features: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # LATEST's version, when it was refused and an older verified one scored the file instead
    fallback_from: str | None = None
    read_as: str = ""  # how the file was read (its dialect, decimal marks, date forms)
    written_as: str = ""
    # Per feature column: leads with a value, and up to two of their values (one value for
    # every lead, or none, while customers vary: the column is not available for leads).
    filled: Counter[str] = field(default_factory=Counter)
    seen: dict[str, set[Any]] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)

    def observe(self, leads: Any, columns: Sequence[str]) -> None:
        for lead in leads:
            for c in columns:
                value = lead.features.get(c)
                if value is not None:
                    self.filled[c] += 1
                    kept = self.seen.setdefault(c, set())
                    if len(kept) < 2:
                        kept.add(value)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        grades = "  ".join(f"{g} {self.grades.get(g, 0):,}" for g in GRADES)
        outcomes = ", ".join(
            f"{k} {self.outcomes.get(k, 0):,}" for k in ("scored", "duplicate", "rejected")
        )
        out = [
            f"scored {self.source}: {self.rows:,} leads in {self.seconds:.1f} s "
            f"({self.rate:,.0f} leads/s) with artifact version {self.artifact_version}",
            f"  outcomes: {outcomes}",
            f"  grades:   {grades}",
            f"  wrote {self.out} and {self.rejects} ({self.outcomes.get('rejected', 0):,} rows)",
        ]
        if self.read_as:
            out.insert(1, f"  read as {self.read_as}; written as {self.written_as}")
        if self.reject_fields:
            out.append(
                "  rejected by field: "
                + ", ".join(f"{k} {v:,}" for k, v in self.reject_fields.most_common(5))
            )
        if self.missing_features:
            out.append(
                "  columns not in the file (scored as missing): " + ", ".join(self.missing_features)
            )
        if self.replaced_columns:
            out.append("  replaced the input's own " + ", ".join(self.replaced_columns))
        if self.unavailable:
            out.append("  not available for leads: " + "; ".join(self.unavailable))
        if self.fallback_from:
            out.append(
                f"  warning: LATEST's version {self.fallback_from} was refused; scored with the "
                f"older verified version {self.artifact_version}"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "out": self.out,
            "rejects": self.rejects,
            "artifact_version": self.artifact_version,
            "rows": self.rows,
            "outcomes": dict(self.outcomes),
            "grades": dict(self.grades),
            "rejected_by_field": dict(self.reject_fields),
            "columns_not_in_file": self.missing_features,
            "fallback_from": self.fallback_from,
            "read_as": self.read_as,
            "written_as": self.written_as,
            "seconds": round(self.seconds, 3),
            "leads_per_second": round(self.rate, 1),
        }


def rejects_path(out: str) -> str:
    """`scored/leads.parquet` -> `scored/leads.rejects.parquet` (also .csv, .csv.gz, .tsv; a
    dotted name keeps its dots: `q3.leads.csv` -> `q3.leads.rejects.csv`)."""
    head, _, name = out.rpartition("/")
    stem, suffix = split_suffix(name)
    rejected = f"{stem}.rejects{suffix}" if suffix else f"{name}.rejects"
    return f"{head}/{rejected}" if head else rejected


@dataclass(frozen=True)
class _Layout:
    """Which file columns feed the lead (by the build's names) and which pass through."""

    features: tuple[str, ...]  # spec columns present in the file
    numeric: tuple[str, ...]  # numeric columns (not dates) present
    dates: tuple[str, ...]  # date columns present
    email: str | None
    lead_id: str | None
    passthrough: tuple[str, ...]
    # identity field -> the file's column: what the fuzzy duplicate check compares (as in the API)
    identity: dict[str, str] = field(default_factory=dict)
    # how this file's numbers and dates read, and the scoring time its dates count days before
    formats: FieldFormats = field(default_factory=FieldFormats)
    now: float = 0.0


def score_file(
    service: ScoringService,
    source: str,
    out: str,
    *,
    rejects: str | None = None,
    fmt: str = "auto",
    out_format: str = "auto",
    email_col: str | None = None,
    id_col: str | None = None,
    identity: IdentityColumns | None = None,
    batch_rows: int = 2_000,
    neighbours: int = 3,
    progress: bool = True,
    reading: ReadSettings | None = None,
) -> BulkSummary:
    """Score every lead of `source` into `out` (+ the rejects file); see the module doc.
    `reading` forces what the file's bytes and values would say (delimiter, encoding, sheet,
    decimal mark, date order or format)."""
    started = time.perf_counter()
    reading = reading or ReadSettings()
    _check_run(source, out, rejects or rejects_path(out), batch_rows, neighbours, out_format)
    scorer = service.scorer()  # one version for the whole file
    export = open_export(
        source, fmt, delimiter=reading.delimiter, encoding=reading.encoding, sheet=reading.sheet
    )
    layout = _layout(export, scorer, email_col, id_col, identity or IdentityColumns())
    layout, read_as = _read_conventions(export, layout, scorer, reading)
    summary = BulkSummary(source, out, rejects or rejects_path(out), scorer.version)
    summary.fallback_from = service.lifecycle.fallback_from
    summary.replaced_columns = [c for c in OUTPUT_COLUMNS if c in export.names]
    summary.missing_features = [c for c in scorer.spec.all_cols if c not in layout.features]
    form, dialect = output_form(export, out, out_format, _file_mark(export, layout))
    summary.read_as = read_as
    summary.written_as = dialect.describe() if dialect else form
    writers = _writers(export, layout, (out, summary.rejects), (form, dialect), scorer.version)
    try:
        with _progress_bar(export, progress) as bar:
            for batch in _chunks(export, batch_rows):
                _score_batch(service, scorer, batch, layout, writers, summary, neighbours)
                bar.update(batch.num_rows)
        writers[1].commit()  # rejects first: the scored file appearing means the run is complete
        writers[0].commit()
    except BaseException:
        for w in writers:
            w.abort()
        raise
    summary.unavailable = unavailable_columns(summary, scorer, layout.features)
    summary.seconds = time.perf_counter() - started
    return summary


MIN_LEADS_FOR_AVAILABILITY = 20  # fewer leads: one value for all of them says little


def unavailable_columns(summary: BulkSummary, scorer: Scorer, columns: Sequence[str]) -> list[str]:
    """Feature columns the file has but that are empty, or one value, for every lead while the
    customers the version was built on vary in them (their categories; for numbers the
    high-value customers' values): "Lost reason" is empty for every new lead. The model reads
    them as customers had them, the leads cannot."""
    if summary.rows < MIN_LEADS_FOR_AVAILABILITY:
        return []
    attrs, spec = scorer.bundle.high_attrs, scorer.spec
    out = []
    for c in columns:
        if c in spec.cat_cols:  # the categories of every customer
            varies = len(scorer.bundle.transform.freq.get(c, {})) >= 2
        elif c in spec.num_cols:
            j = spec.num_cols.index(c)
            values = attrs.num[:, j] if j < attrs.num.shape[1] else np.zeros(0)
            varies = len(np.unique(values[np.isfinite(values)])) >= 2
        else:
            varies = True  # text: customers' texts differ
        if not varies:
            continue
        if summary.filled[c] == 0:
            out.append(f"{c} (empty for every lead)")
        elif len(summary.seen.get(c, ())) == 1:
            out.append(f"{c} (one value for every lead)")
    return out


def _check_run(
    source: str, out: str, rejects: str, batch_rows: int, neighbours: int, out_format: str
) -> None:
    """Settings a run must refuse before it reads anything: an output that would overwrite the
    lead file (it is read while the output is written), batch and neighbour counts out of range,
    an unknown output format."""
    if out_format not in OUT_FORMATS:
        raise InputError(
            f"--out-format must be one of {', '.join(OUT_FORMATS)}, got {out_format!r}"
        )

    def where(path: str) -> str:
        return path if path.startswith("s3://") else os.path.realpath(path)

    for name, path in (("--out", out), ("--rejects", rejects)):
        if where(path) == where(source):
            raise InputError(f"{name} {path} is the lead file itself: write the scores elsewhere")
    if not 1 <= batch_rows <= 100_000:
        raise InputError(f"--batch-rows must be in [1, 100000], got {batch_rows}")
    if not 0 <= neighbours <= 100:
        raise InputError(f"--neighbours must be in [0, 100], got {neighbours}")


def _layout(
    export: Export,
    scorer: Scorer,
    email_col: str | None,
    id_col: str | None,
    identity: IdentityColumns,
) -> _Layout:
    names = set(export.names)
    spec = scorer.spec
    features = tuple(c for c in spec.all_cols if c in names)
    if not features:
        raise InputError(
            f"{export.path}: none of the model's columns is in the file "
            f"(expected some of {', '.join(repr(c) for c in spec.all_cols)}); "
            f"it has {', '.join(repr(c) for c in export.names[:10])}"
        )
    given = [(email_col, "--email-col"), (id_col, "--id-col")]
    given += [(c, f"--{f.replace('_', '-')}-col") for f, c in identity.configured().items()]
    for col, flag in given:
        if col is not None and col not in names:
            raise missing_column(export.path, col, flag, export.names)
    keys = scorer.manifest.key_columns
    email = email_col or next(
        (c for c in (keys.get("email"), DEFAULT_EMAIL_COL) if c and c in names), None
    )
    lead_id = id_col or next((c for c in (keys.get("id"), LEAD_ID_COL) if c and c in names), None)
    numeric = tuple(c for c in spec.plain_num_cols if c in names)
    dates = tuple(c for c in spec.date_cols if c in names)
    passthrough = tuple(c for c in export.names if c not in OUTPUT_COLUMNS)
    who = identity_layout(identity, scorer.manifest.identity_columns, export.names)
    return _Layout(features, numeric, dates, email, lead_id, passthrough, who)


def identity_layout(
    flags: IdentityColumns, built: dict[str, str], names: list[str]
) -> dict[str, str]:
    """Identity field -> the lead file's column: a flag's column, else the column the build read
    the field from, else a column named like the field."""
    present = set(names)
    out = dict(flags.configured())
    for f, col in built.items():
        if f not in out and col in present:
            out[f] = col
    out.update({f: f for f in IDENTITY_FIELDS if f not in out and f in present})
    return out


def _writers(
    export: Export,
    layout: _Layout,
    paths: tuple[str, str],
    form: tuple[str, Dialect | None],
    version: str,
) -> tuple[TableWriter, TableWriter]:
    """The scored file's and the rejects file's writers, both in the output's form."""
    import pyarrow as pa

    base = [export.schema.field(c) for c in layout.passthrough]
    scored = pa.schema([*base, *_output_fields()])
    rejected = pa.schema([*base, *(pa.field(c, pa.string()) for c in REJECT_COLUMNS)])
    meta = {"artifact-version": version}
    first = TableWriter(paths[0], scored, form[0], meta, form[1])
    try:
        return first, TableWriter(paths[1], rejected, form[0], meta, form[1])
    except BaseException:
        first.abort()
        raise


def output_form(
    export: Export, out: str, out_format: str, decimal: str = "."
) -> tuple[str, Dialect | None]:
    """(csv | xlsx | parquet, the CSV dialect) of the output. auto: the input's own form (a CSV
    in its dialect with the scores in its decimal mark, .xlsx for .xlsx), unless OUT's ending
    names another format (a .tsv ending: tabs)."""
    if out_format in ("xlsx", "parquet"):
        return out_format, None
    if out_format in _DIALECTS:
        return "csv", _DIALECTS[out_format]
    form = detect_format(out) if split_suffix(out.rpartition("/")[2])[1] else export.format
    if form != "csv":
        return form, None
    base = export.dialect or PLAIN_CSV
    if out.lower().removesuffix(".gz").endswith(".tsv"):
        base = replace(base, delimiter="\t")
    return "csv", replace(base, decimal=decimal if export.dialect else ".")


def _file_mark(export: Export, layout: _Layout) -> str:
    """The decimal mark this file writes numbers with: its numeric columns' (when they agree),
    else its delimiter's, else '.'."""
    marks = {layout.formats.mark(c) for c in layout.numeric} - {None}
    if len(marks) == 1:
        return str(marks.pop())
    delimiter = export.dialect.delimiter if export.dialect else ""
    return DELIMITER_MARK.get(delimiter, ".")


def _read_conventions(
    export: Export, layout: _Layout, scorer: Scorer, reading: ReadSettings
) -> tuple[_Layout, str]:
    """How this file's numeric and date columns read: its own values first, then the version's
    recorded marks and date forms (a first pass over those columns); and the scoring time."""
    cols = [*layout.numeric, *layout.dates]
    arrays = _columns(export, cols)
    recorded = scorer.manifest.formats
    marks = decide_marks(
        export.path,
        {c: number_evidence(arrays[c]) for c in layout.numeric if is_text_type(arrays[c].type)},
        forced=reading.decimal,  # type: ignore[arg-type]  # ReadSettings checked it is . or ,
        delimiter=export.dialect.delimiter if export.dialect else None,
        use_file=export.format != "xlsx",
        recorded=recorded.decimal,
    )
    dates = decide_dates(
        export.path,
        {c: date_evidence(arrays[c]) for c in layout.dates if is_text_type(arrays[c].type)},
        dayfirst=reading.dayfirst,
        strptime=reading.date_format,
        recorded=recorded.dates,
    )
    formats = FieldFormats(
        decimal={c: marks[c].mark if c in marks else recorded.mark(c) for c in layout.numeric},
        dates={c: dates[c].format if c in dates else recorded.date_format(c) for c in layout.dates},
    )
    said = [export.describe()]
    said += [f"{c!r} {m.describe()}" for c, m in marks.items() if m.ambiguous]
    said += [f"{c!r} {d.describe()}" for c, d in dates.items()]
    return replace(layout, formats=formats, now=time.time()), "; ".join(said)


def _columns(export: Export, cols: list[str]) -> dict[str, Any]:
    """Whole columns of the file (a first pass reading only them)."""
    import pyarrow as pa

    if not cols:
        return {}
    parts: dict[str, list[Any]] = {c: [] for c in cols}
    for batch in export.batches(cols):
        for c in cols:
            parts[c].append(batch.column(c))
    return {c: pa.chunked_array(parts[c], type=export.schema.field(c).type) for c in cols}


def _output_fields() -> list[Any]:
    import pyarrow as pa

    return [
        *(pa.field(c, pa.float64()) for c in SCORE_COLUMNS),
        pa.field("grade", pa.string()),
        pa.field("duplicate", pa.bool_()),
        pa.field("duplicate_ref", pa.string()),
        *(pa.field(c, pa.string()) for c in KNOWN_COLUMNS),
        pa.field("top_neighbours", pa.string()),
        pa.field("explanation", pa.string()),
        pa.field("warnings", pa.string()),
        pa.field("drivers", pa.string()),
    ]


def _chunks(export: Export, batch_rows: int) -> Iterator[Any]:
    """The file's record batches cut to at most `batch_rows` rows (CSV blocks vary in size)."""
    for batch in export.batches(None, batch_rows):
        for start in range(0, batch.num_rows, batch_rows):
            yield batch.slice(start, batch_rows)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _progress_bar(export: Export, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=export.count_rows(), unit="lead", desc="score-file", mininterval=1.0)


# ---- one batch ---------------------------------------------------------------------------------
def _score_batch(
    service: ScoringService,
    scorer: Scorer,
    batch: Any,
    layout: _Layout,
    writers: tuple[TableWriter, TableWriter],
    summary: BulkSummary,
    neighbours: int,
) -> None:
    leads, problems = _leads(batch, layout, scorer)
    summary.observe(leads.values(), layout.features)
    good = [i for i in range(batch.num_rows) if i not in problems]
    scores = service.score_leads([leads[i] for i in good], scorer=scorer, n_neighbors=neighbours)
    writers[0].write(_scored_batch(batch, layout, good, scores))
    if problems:
        writers[1].write(_rejected_batch(batch, layout, problems))
    summary.rows += batch.num_rows
    summary.outcomes["rejected"] += len(problems)
    summary.reject_fields.update(f for f, _ in problems.values())
    for s in scores:
        summary.outcomes["duplicate" if s.duplicate else "scored"] += 1
        if s.grade is not None:
            summary.grades[s.grade] += 1


def _leads(
    batch: Any, layout: _Layout, scorer: Scorer
) -> tuple[dict[int, CleanLead], dict[int, tuple[str, str]]]:
    """Each row as a clean lead, or its (field, reason): every cell through the API's own
    validation (clean_lead), read with this file's decimal marks and date forms; the identity
    fields under their own names (first_name, ...), from the columns the layout maps them to."""
    columns: dict[str, list[Any]] = {c: batch.column(c).to_pylist() for c in layout.features}
    sources = [("email", layout.email), ("lead_id", layout.lead_id), *layout.identity.items()]
    for key, source in sources:
        if source is not None:
            values = batch.column(source).to_pylist()
            columns[key] = [None if v is None else str(v) for v in values]
    leads: dict[int, CleanLead] = {}
    problems: dict[int, tuple[str, str]] = {}
    for i in range(batch.num_rows):
        row = {k: v[i] for k, v in columns.items()}
        try:
            leads[i] = clean_lead(row, scorer.spec, "", layout.formats, layout.now)
        except LeadValidationError as exc:
            problems[i] = (exc.field, exc.reason)
    return leads, problems


def _scored_batch(batch: Any, layout: _Layout, good: list[int], scores: list[Score]) -> Any:
    import pyarrow as pa

    rows = batch.select(list(layout.passthrough)).take(pa.array(good, pa.int64()))
    appended = [
        *([getattr(s, c) for s in scores] for c in SCORE_COLUMNS),
        [s.grade for s in scores],
        [s.duplicate for s in scores],
        [_duplicate_ref(s) for s in scores],
        *_known_columns(scores),
        [_top_ids(s) for s in scores],
        [s.explanation.summary if s.explanation else _duplicate_note(s) for s in scores],
        [_warnings(s) for s in scores],
        [drivers_in_words(s.explanation) for s in scores],
    ]
    fields = _output_fields()
    arrays = [*rows.columns, *(pa.array(v, f.type) for v, f in zip(appended, fields, strict=True))]
    return pa.record_batch(arrays, schema=pa.schema([*rows.schema, *fields]))


TOP_DRIVERS_IN_FILE = 3


def drivers_in_words(explanation: Any) -> str | None:
    """The API's top drivers of p_high_value as a cell: "Industry raises (+0.84); text lowers
    (-0.31)" (None: no head, or a duplicate that was not scored)."""
    if explanation is None or not explanation.drivers:
        return None
    return "; ".join(
        f"{d.feature} {d.effect} ({d.contribution:+.2f})"
        for d in explanation.drivers[:TOP_DRIVERS_IN_FILE]
    )


def _rejected_batch(batch: Any, layout: _Layout, problems: dict[int, tuple[str, str]]) -> Any:
    import pyarrow as pa

    order = sorted(problems)
    rows = batch.select(list(layout.passthrough)).take(pa.array(order, pa.int64()))
    field_names = pa.array([problems[i][0] for i in order], pa.string())
    reasons = pa.array([problems[i][1] for i in order], pa.string())
    names = [*rows.schema.names, *REJECT_COLUMNS]
    return pa.record_batch([*rows.columns, field_names, reasons], names=names)


def _duplicate_ref(score: Score) -> str | None:
    if not score.duplicate:
        return None
    return score.customer_id or score.lead_ref


def _known_columns(scores: list[Score]) -> list[list[str | None]]:
    """known_as (the CRM id or the earlier lead's reference), its kind and stage: a known person
    who is scored all the same (not a customer)."""
    known = [s.known_as for s in scores]
    return [
        [None if k is None else (k.customer_id or k.lead_ref) for k in known],
        [None if k is None else k.of for k in known],
        [None if k is None else k.stage for k in known],
    ]


def _duplicate_note(score: Score) -> str | None:
    if score.duplicate:
        return f"already known ({score.duplicate_of}): not scored"
    return None


def _warnings(score: Score) -> str | None:
    """The inputs scored clipped to the training range, one `column=value outside [low, high]`
    per input (the API's `warnings`, flattened for a table)."""
    parts = [
        f"{w.column}={w.value:g} outside [{w.low:g}, {w.high:g}]"
        for w in score.warnings
        if isinstance(w, InputWarning)
    ]
    return "; ".join(parts) or None


def _top_ids(score: Score) -> str | None:
    if score.neighbors is None:
        return None
    return ";".join(str(n.customer_id) for n in score.neighbors.high) or None
