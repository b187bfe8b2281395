"""What goes in and out of the scoring API: requests, the cleaned lead, and the typed answers.

A request is validated here, once, at the edge: pydantic checks the envelope (lead id, email,
options, sizes) and `clean_lead` checks the feature columns against the served version's column
spec. Everything after the edge takes a `CleanLead` and trusts it. Answers are pydantic models
that refuse unknown fields, so openapi.json (generated from them) documents every field a client
can receive.

`clean_lead` is the one validation of a lead for every path (/score_lead, /score_leads, `score`,
`score-file`, the bulk job): a numeric value may be a JSON number or text as people write it
("1,200", "1.200,5", read with the decimal mark the version recorded), a date column's value a
date as the export wrote it, turned into days before the scoring time (leadgen.model.fields); a
refusal names the field and gives the same reason everywhere (never the value). A field that is
no column of the version is reported back (`warnings`, with the closest column's name), not
silently ignored. In a batch (`clean_batch`), a bad lead is its own error and the others go on.
"""

from __future__ import annotations

import difflib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from leadgen.config import IDENTITY_FIELDS, ColumnSpec
from leadgen.duplicates.check import DuplicateCheckStatus
from leadgen.duplicates.normalise import split_full_name
from leadgen.errors import LeadValidationError
from leadgen.model.dates import DateFormat
from leadgen.model.fields import FieldFormats, FieldProblem, date_field, number_field
from leadgen.model.numbers import DecimalMark

MAX_TEXT_CHARS = 10_000
MAX_IDENTITY_CHARS = 200
# Numeric columns beyond this are refused: the model computes in float32 (max 3.4e38), and its
# transforms of a value near that overflow into null scores instead of failing.
MAX_ABS_NUMBER = 1e35
CustomerId = int | str
Grade = Literal["A", "B", "C", "D"]


# ---- requests --------------------------------------------------------------------------------
def _band(grade: str) -> Any:
    return Field(default=None, ge=0, le=100, strict=True, description=f"floor of grade {grade}")


class GradeBandsOption(BaseModel):
    """Percentile floors of grades A, B, C (D is below C), 100 >= A >= B >= C >= 0; a grade left
    out keeps the build's floor."""

    model_config = ConfigDict(extra="forbid")
    A: float | None = _band("A")
    B: float | None = _band("B")
    C: float | None = _band("C")


def _integral(value: Any) -> Any:
    """5.0 is the integer 5 (JSON Schema's `integer` is any number with no fraction)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# A whole number, strictly: 5 or 5.0, never `true` or "5" (pydantic's lax mode takes both).
WholeNumber = Annotated[int, BeforeValidator(_integral), Field(strict=True)]


class Options(BaseModel):
    """Per-request options; unknown keys are refused so typos do not pass silently. Values are
    strict: `"5"` or `true` is not a number of neighbours."""

    model_config = ConfigDict(extra="forbid")
    grade_bands: GradeBandsOption | None = Field(
        default=None, description='Percentile floors of grades, e.g. {"A": 90, "B": 70, "C": 40}'
    )
    neighbors: WholeNumber = Field(5, ge=0, le=50, description="Neighbours returned per index")
    log: bool = Field(
        True,
        strict=True,
        description="false: leave this lead (or, on a batch, every lead) out of the score log "
        "that later builds measure realised outcomes on; a lead's own false wins in a batch",
    )


LEAD_EXAMPLE: dict[str, Any] = {
    "lead_id": "web-123",
    "email": "jane.doe@example.com",
    "first_name": "Jane",
    "last_name": "Doe",
    "company": "Example Capital, Inc.",
    "phone": "+1 (555) 010-2030",
    "industry": "Finance",
    "company_size": 500,
    "country": "US",
    "job_title": "Portfolio Manager",
    "bio": "Works on trading strategies and allocator relationships.",
    "web_activity_score": 0.8,
    "email_engagement_score": 0.7,
}


# Numbers as text, as documented: plain ones with either decimal mark, and empty (missing).
# `clean_lead` reads more (thousands groups, currency, percent; an ambiguous "1,234" with the
# decimal mark the version recorded): leadgen.model.numbers.
NUMBER_TEXT_PATTERN = (
    r"^\s*(-?([0-9]+|[0-9]+[.,]([0-9]{1,2}|[0-9]{4,})|0[.,][0-9]+|[0-9]{4,}[.,][0-9]+))?\s*$"
)


def _document_columns(schema: dict[str, Any]) -> None:
    """The feature columns of the default layout, typed as `clean_lead` checks them. Validation
    itself is against the served version's columns (a build may configure others), so they are
    documented here rather than declared as fields."""
    spec = ColumnSpec()
    text = {"type": "string", "maxLength": MAX_TEXT_CHARS}
    for col in (*spec.text_cols, *spec.cat_cols):
        schema["properties"][col] = {"anyOf": [text, {"type": "number"}, {"type": "null"}]}
    number = {"type": "number", "minimum": -MAX_ABS_NUMBER, "maximum": MAX_ABS_NUMBER}
    as_text = {
        "type": "string",
        "pattern": NUMBER_TEXT_PATTERN,
        "description": "a number as people write it: 1234.5, 0,33, also 1,234.5, 1.234,5, "
        "1 234,5, $3,400, 12% (0.12); an ambiguous 1,234 is read with the decimal mark the "
        "version recorded for the column, or refused when it has none",
    }
    for col in spec.num_cols:
        schema["properties"][col] = {"anyOf": [number, as_text, {"type": "null"}]}
    schema["example"] = LEAD_EXAMPLE


class Lead(BaseModel):
    """A lead: the configured CRM columns (text, categorical, numeric, date), optional email,
    lead_id.

    Columns are checked against the served version's column spec; missing ones are missing
    values, other fields are reported back in the answer's `warnings`. The column properties
    documented are the default layout's: text and categorical columns take a string (or a
    number, read as text), numeric ones a finite number or a number as text; a build's date
    columns take a date as its export wrote them (2024-03-05, 05.03.2024, ...)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_document_columns)
    lead_id: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    # Identity fields: what the fuzzy duplicate check compares (docs/duplicates.md). A build
    # that read them from columns of other names (HubSpot's "First Name") takes those too.
    first_name: str | None = Field(default=None, max_length=MAX_IDENTITY_CHARS)
    last_name: str | None = Field(default=None, max_length=MAX_IDENTITY_CHARS)
    full_name: str | None = Field(
        default=None,
        max_length=MAX_IDENTITY_CHARS,
        description="split into first and last name when those are not given",
    )
    company: str | None = Field(default=None, max_length=MAX_IDENTITY_CHARS)
    phone: str | None = Field(default=None, max_length=50, description="any common format")
    street: str | None = Field(default=None, max_length=MAX_IDENTITY_CHARS)
    city: str | None = Field(default=None, max_length=MAX_IDENTITY_CHARS)
    postcode: str | None = Field(default=None, max_length=20)
    dob: str | None = Field(
        default=None, max_length=30, description="date of birth: 1990-02-15, 15/02/1990, ..."
    )
    options: Options | None = None


_BATCH_LEADS = (
    "Leads to score (1..{n}), each an object like the body of /score_lead (Lead). A lead that "
    "fails validation is answered in its place with a LeadError; the others are scored."
)
# A batch's leads are objects checked one by one (`clean_batch`), so one bad lead is refused on
# its own: as a schema they are any object, or one bad lead would refuse the whole request.
BatchLead = dict[str, Any]


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    leads: list[BatchLead] = Field(..., min_length=1, description=_BATCH_LEADS.format(n="N"))
    options: Options | None = None


def batch_request_model(max_batch: int) -> type[BatchRequest]:
    """BatchRequest with the deployment's MAX_BATCH_SIZE as the documented and enforced limit."""
    leads = Field(
        ..., min_length=1, max_length=max_batch, description=_BATCH_LEADS.format(n=max_batch)
    )
    model: type[BatchRequest] = create_model(
        "BatchRequest", __base__=BatchRequest, leads=(list[BatchLead], leads)
    )
    model.__doc__ = "Leads scored together; `options` apply to every one."
    return model


@dataclass(frozen=True)
class LeadIdentity:
    """Who the lead says it is, as typed (normalised by leadgen.duplicates.normalise; never
    logged)."""

    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    phone: str | None = None
    country: str | None = None
    street: str | None = None
    city: str | None = None
    postcode: str | None = None
    dob: str | None = None


@dataclass(frozen=True)
class CleanLead:
    """A lead after validation: feature values typed per the column spec (None = missing)."""

    features: dict[str, str | float | None]
    email: str | None = None
    lead_id: str | None = None
    who: LeadIdentity = LeadIdentity()
    warnings: tuple[FieldWarning, ...] = ()  # fields that are no column of the version
    log: bool = True  # false: the lead's options.log asked to keep it out of the score log


def clean_lead(
    lead: Mapping[str, Any],
    spec: ColumnSpec,
    where: str = "",
    formats: FieldFormats | None = None,
    now: float | None = None,
    *,
    identity: Mapping[str, str] | None = None,
) -> CleanLead:
    """Check the feature columns of a lead (a parsed `Lead` dump or a raw mapping): text and
    categorical values are strings (numbers are accepted and stringified), numeric values are
    finite numbers or numbers as text (read with `formats`' decimal marks), date values dates
    (as days before `now`, the scoring time); a wrong value is refused with the field named
    (`where` prefixes it, e.g. 'leads[3].'). Missing columns are allowed. Every string that flows
    on is valid Unicode (a lone surrogate from a JSON escape would break the tokenizer and the
    email hash). The identity fields are read by their own names (first_name, ...) or by the
    export's columns the build read them from (`identity`: field -> column, the manifest's
    key_columns)."""
    formats = formats or FieldFormats()
    features: dict[str, str | float | None] = {}
    for col in (*spec.text_cols, *spec.cat_cols):
        features[col] = _text_value(lead.get(col), where + col)
    for col in spec.plain_num_cols:
        features[col] = _number_value(lead.get(col), where + col, formats.mark(col))
    moment = time.time() if now is None else now
    for col in spec.date_cols:
        features[col] = _date_value(lead.get(col), where + col, formats.date_format(col), moment)
    email = lead.get("email")
    if email is not None and not isinstance(email, str):
        raise LeadValidationError(where + "email", "expected a string")
    lead_id = lead.get("lead_id")
    if lead_id is not None and not isinstance(lead_id, str | int):
        raise LeadValidationError(where + "lead_id", "expected a string")
    ref = None if lead_id is None else _unicode(str(lead_id), where + "lead_id")
    who = _identity(lead, where, identity or {})
    unknown = _unknown_fields(lead, spec, where, identity or {})
    options = lead.get("options")
    log = not (isinstance(options, Mapping) and options.get("log") is False)
    return CleanLead(features, _unicode(email, where + "email") or None, ref, who, unknown, log)


def clean_batch(
    leads: Sequence[Mapping[str, Any]],
    spec: ColumnSpec,
    formats: FieldFormats | None = None,
    now: float | None = None,
    *,
    identity: Mapping[str, str] | None = None,
) -> list[CleanLead | LeadError]:
    """Each lead of a batch validated alone (the envelope as `Lead`, then `clean_lead`), at one
    scoring time: a clean lead, or its error by index, field and reason."""
    moment = time.time() if now is None else now
    out: list[CleanLead | LeadError] = []
    for i, raw in enumerate(leads):
        where = f"leads[{i}]."
        try:
            parsed = Lead.model_validate(raw).model_dump()
            out.append(clean_lead(parsed, spec, where, formats, moment, identity=identity))
        except ValidationError as exc:
            field, reason = _first_error(exc)
            out.append(
                LeadError(index=i, error="validation_error", field=where + field, reason=reason)
            )
        except LeadValidationError as exc:
            out.append(
                LeadError(index=i, error="validation_error", field=exc.field, reason=exc.reason)
            )
    return out


def _first_error(exc: ValidationError) -> tuple[str, str]:
    """(field, reason) of pydantic's first complaint, as the API's 422 names them."""
    for error in exc.errors():
        return ".".join(str(p) for p in error["loc"]), str(error["msg"])
    return "", "invalid lead"


# Fields a lead may carry besides the version's columns.
KNOWN_FIELDS = frozenset({"lead_id", "email", "options", *IDENTITY_FIELDS})


def _unknown_fields(
    lead: Mapping[str, Any], spec: ColumnSpec, where: str, identity: Mapping[str, str]
) -> tuple[FieldWarning, ...]:
    """The lead's fields that are no column of this version, with the column nearest each name
    (a misspelt "Engagment Score" would otherwise be scored as missing without a word)."""
    columns = [*spec.all_cols, *KNOWN_FIELDS, *identity.values()]
    out = []
    for name in lead:
        if name in columns or not isinstance(name, str):
            continue
        near = difflib.get_close_matches(name.lower(), [c.lower() for c in columns], 1, 0.6)
        closest = next((c for c in columns if near and c.lower() == near[0]), None)
        hint = f"; did you mean {closest!r}?" if closest else ""
        out.append(
            FieldWarning(
                field=where + name[:MAX_IDENTITY_CHARS],
                warning="unknown_field",
                closest=closest,
                message=f"not a column of this model: ignored{hint}",
            )
        )
    return tuple(out)


def _identity(lead: Mapping[str, Any], where: str, columns: Mapping[str, str]) -> LeadIdentity:
    values: dict[str, str | None] = {}
    for f in IDENTITY_FIELDS:
        name = f if lead.get(f) is not None or f not in columns else columns[f]
        values[f] = _identity_value(lead.get(name), where + name)
    full = values.pop("full_name")
    if full and not (values["first_name"] or values["last_name"]):
        values["first_name"], values["last_name"] = split_full_name(full)
    return LeadIdentity(**values)


def _identity_value(v: Any, field: str) -> str | None:
    """A string (numbers are stringified, as for categorical columns); anything else is refused
    with the field. A value too long to be a name, company, phone or country is no identity
    evidence: ignored, not refused (`country` is also a feature column, which allows long text;
    the other fields' lengths are already capped by the request schema)."""
    if v is None or v == "":
        return None
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise LeadValidationError(field, f"expected a string, got {type(v).__name__}")
    text = _unicode(str(v), field) or ""
    return text if len(text) <= MAX_IDENTITY_CHARS else None


def _text_value(v: Any, field: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise LeadValidationError(field, f"expected a string, got {type(v).__name__}")
    if isinstance(v, str) and len(v) > MAX_TEXT_CHARS:
        raise LeadValidationError(field, f"longer than {MAX_TEXT_CHARS} characters")
    if isinstance(v, float) and not math.isfinite(v):
        raise LeadValidationError(field, "must be a finite number or a string")
    return _unicode(str(v), field)


def _unicode(v: str | None, field: str) -> str | None:
    if v is not None and not v.isascii():
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise LeadValidationError(field, "not valid Unicode (a lone surrogate)") from None
    return v


def _number_value(v: Any, field: str, mark: DecimalMark | None) -> float | None:
    try:
        number = number_field(v, mark)
    except FieldProblem as exc:
        raise LeadValidationError(field, exc.reason) from None
    if number is None:
        return None
    if not math.isfinite(number):
        raise LeadValidationError(field, "must be a finite number")
    if abs(number) > MAX_ABS_NUMBER:
        raise LeadValidationError(field, f"out of range (at most {MAX_ABS_NUMBER:g} either way)")
    return number


def _date_value(v: Any, field: str, fmt: DateFormat, now: float) -> float | None:
    """A date as the days from it to `now` (the scoring time), so "days since last activity"
    means at scoring what it meant for the customers at their snapshot."""
    if isinstance(v, str) and len(v) > MAX_TEXT_CHARS:
        raise LeadValidationError(field, f"longer than {MAX_TEXT_CHARS} characters")
    try:
        return date_field(v, fmt, now)
    except FieldProblem as exc:
        raise LeadValidationError(field, exc.reason) from None


# ---- answers ---------------------------------------------------------------------------------
class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Neighbour(_Answer):
    customer_id: CustomerId
    similarity: float | None


class Neighbours(_Answer):
    high: list[Neighbour] = Field(..., description="nearest high-value customers")
    all: list[Neighbour] = Field(..., description="nearest customers of any value")


class SharedAttribute(_Answer):
    attribute: str
    value: str | float
    shared_by: int = Field(..., description="how many of the nearest high-value customers")
    of: int
    between: list[float] | None = Field(
        default=None,
        description="a number's share: the tenth of the high-value customers' values [low, high] "
        "that holds the lead's value and the neighbours'",
    )


class Driver(_Answer):
    feature: str = Field(..., description='a configured column, "text" or "lookalike"')
    effect: Literal["raises", "lowers"]
    contribution: float = Field(..., description="its exact part of the logit of p_high_value")


class Explanation(_Answer):
    text_similarity: float | None = Field(
        ..., description="text part of the similarity to the high-value neighbours"
    )
    tabular_similarity: float | None = Field(
        ..., description="tabular part (text + tabular = s_look)"
    )
    shared_attributes: list[SharedAttribute]
    drivers: list[Driver] = Field(..., description="columns driving p_high_value the most")
    drivers_base: float | None = Field(
        default=None,
        description="the logit of p_high_value before any column's contribution: drivers_base "
        "+ the drivers' contributions + drivers_rest = logit(p_high_value) exactly",
    )
    drivers_rest: float | None = Field(
        default=None, description="the summed contributions of the columns not listed"
    )
    summary: str


KnownKind = Literal["customer", "non_customer", "lead"]


class Duplicate(_Answer):
    """Who the lead already is (`duplicate_match`, `known_as`) or may be
    (`possible_duplicate`): a customer, a record of the CRM export that is not a customer, or
    the lead scored first."""

    kind: Literal["email", "fuzzy"] = Field(
        ...,
        description="email: the normalised email is known; fuzzy: another email, but name, "
        "company, email domain, phone, country, address and birth-date evidence point at a "
        "known person",
    )
    of: KnownKind = Field(
        ...,
        description="customer | non_customer (a record of the CRM export that is not a customer: "
        "an open lead, a prospect, a lost deal) | lead (a lead scored before)",
    )
    customer_id: str | None = Field(
        default=None, description="the CRM record's id (a customer or a non-customer)"
    )
    lead_ref: str | None = Field(default=None, description="the lead scored first")
    stage: str | None = Field(
        default=None,
        description="the CRM record's stage or label in the export (e.g. salesqualifiedlead), "
        "where the build's customer rule has one",
    )
    confidence: float = Field(
        ..., ge=0.0, le=1.0, description="1.0 for an email match, else the matcher's probability"
    )
    matched_on: list[str] = Field(
        ...,
        description='the evidence: ["email"], or fuzzy ones among "name", "name:nickname", '
        '"name:typo", "name:swapped", "name:similar", "surname", "first_name", "company", '
        '"company:similar", "email_domain", "phone", "phone:shared", "country", "street", '
        '"street:number_near", "street:name", "postcode", "postcode:near", "city", '
        '"city:similar", "dob", "dob:near"',
    )


class FieldWarning(_Answer):
    """Something about a lead that did not stop it from being scored."""

    field: str = Field(..., description="the lead's field, e.g. Engagment Score")
    warning: Literal["unknown_field"] = Field(
        ..., description="unknown_field: not a column of the served version (ignored)"
    )
    closest: str | None = Field(
        default=None, description="the version's column (or lead field) nearest its name"
    )
    message: str


class InputWarning(_Answer):
    """An input the model never saw the like of: a numeric value outside the training range,
    scored as the nearest end of it (leadgen.model.ranges)."""

    warning: Literal["out_of_range"] = Field(
        default="out_of_range", description="out_of_range: outside the training range (clipped)"
    )
    column: str
    value: float = Field(..., description="the value sent")
    low: float = Field(..., description="the training range's lower end")
    high: float = Field(..., description="its upper end; the value was scored as clipped to it")


class Score(_Answer):
    """The answer for one lead. A duplicate (a known customer, or with LEADGEN_SHORT_CIRCUIT=known
    any known person) is not scored: its score fields are null. A known person who is not a
    customer, or a lead scored before, is scored and says so in `known_as`."""

    duplicate: bool
    artifact_version: str
    duplicate_check: DuplicateCheckStatus = Field(
        ...,
        description="done | skipped (store unavailable, or built with another hash key) | "
        "no_email (neither an email nor a name with a company, email domain or phone)",
    )
    s_look: float | None = Field(
        default=None, description="mean similarity to the k nearest high-value"
    )
    s_all: float | None = Field(
        default=None, description="mean similarity to the k nearest customers"
    )
    s_novel: float | None = Field(default=None, description="1 - s_all")
    contrast: float | None = Field(default=None, description="s_look - s_all")
    p_high_value: float | None = Field(
        default=None, description="calibrated probability of high value"
    )
    percentile: float | None = Field(
        default=None, description="rank among customers' scores (0-100)"
    )
    grade: Grade | None = None
    graded_on: str | None = Field(
        default=None, description="the score the grade ranks: contrast | p_high_value"
    )
    graded_on_reason: str | None = Field(
        default=None,
        description="why the grade ranks contrast (e.g. too few high-value customers to learn a "
        "head); null when it ranks p_high_value",
    )
    customer_id: str | None = Field(
        default=None, description="the known CRM record, for a duplicate"
    )
    lead_ref: str | None = Field(
        default=None, description="this lead's reference, or the first one's"
    )
    duplicate_of: KnownKind | None = None
    duplicate_match: Duplicate | None = Field(
        default=None, description="who the lead is, when duplicate is true"
    )
    known_as: Duplicate | None = Field(
        default=None,
        description="the known person this scored lead is: a CRM record that is not a customer "
        "(an open lead, a prospect, a lost deal) or a lead scored before, how it matched, and "
        "the record's stage",
    )
    possible_duplicate: Duplicate | None = Field(
        default=None,
        description="a fuzzy match below the duplicate threshold (LEADGEN_FUZZY_THRESHOLD) and at "
        "or above LEADGEN_POSSIBLE_THRESHOLD: the lead is scored anyway; worth a look before "
        "working it as new",
    )
    neighbors: Neighbours | None = None
    explanation: Explanation | None = None
    warnings: list[FieldWarning | InputWarning] = Field(
        default_factory=list,
        description="fields of the lead that were ignored (unknown_field), and numeric inputs "
        "outside the customers' range, scored clipped to it (out_of_range)",
    )


class LeadError(_Answer):
    """A lead of a batch that was refused on its own (the others are scored): its index in
    `leads`, the field at fault and why, as /score_lead would refuse it with 422."""

    index: int = Field(..., description="the lead's position in `leads`")
    error: Literal["validation_error"]
    field: str | None = Field(default=None, description="e.g. leads[2].company_size")
    reason: str


class BatchResult(_Answer):
    """`results[i]` answers `leads[i]`: its Score, or a LeadError when that lead was refused."""

    results: list[Score | LeadError]


DuplicateStoreStatus = Literal[
    "ok",
    "disabled",
    "hash_key_mismatch",
    "unverified",
    "read_only",
    "missing",
    "locked",
    "corrupt",
]


class RefusedVersion(_Answer):
    """A version the service refused to load (LATEST's, at start-up or on a refresh)."""

    version: str
    reason: str = Field(..., description="why, in one line (checksum, format, embedder, ...)")
    since: str = Field(..., description="when it was first refused (ISO 8601, UTC)")


class GradeRow(_Answer):
    """How one grade did on the build's holdout customers (scored like leads)."""

    grade: Grade
    min_percentile: float
    customers: int = Field(..., description="holdout customers in this grade")
    share: float | None = Field(..., description="their share of the holdout")
    high_value_rate: float | None = Field(..., description="measured high-value rate among them")


class Health(_Answer):
    status: Literal["ok"]
    artifact_version: str
    artifact_age_seconds: float
    embedder: dict[str, Any]
    customers: int
    k: int
    graded_on: str
    graded_on_reason: str | None = None
    grades: list[GradeRow] = Field(
        default_factory=list,
        description="per grade, the build's holdout customers in it and their high-value rate",
    )
    duplicate_store: DuplicateStoreStatus = Field(
        ...,
        description="ok | disabled (no store configured) | hash_key_mismatch (the version was "
        "built with another email hash key: the duplicate check is skipped until a build with "
        "this key) | unverified (a version that records no key fingerprint) | read_only, "
        "missing, locked, corrupt (the local SQLite file: the check is skipped while so)",
    )
    fallback_from: str | None = Field(
        default=None,
        description="the version LATEST names when it could not be loaded at start-up and this "
        "older verified version serves instead; null when LATEST's version serves",
    )
    refused: RefusedVersion | None = Field(
        default=None,
        description="the last version refused (at start-up or on a refresh) while an older one "
        "serves; null once a version newer than the refusal loads",
    )


class ErrorBody(_Answer):
    """Every error answer; documented so clients see the real shape, not Powertools' default."""

    error: str = Field(
        ...,
        description="invalid_json | invalid_body | validation_error | payload_too_large | "
        "unsupported_media_type | not_found | method_not_allowed | unavailable | internal_error",
    )
    reason: str
    field: str | None = Field(
        default=None, description="the field at fault, e.g. leads[2].company_size"
    )
