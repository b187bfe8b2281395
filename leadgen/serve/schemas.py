"""What goes in and out of the scoring API: requests, the cleaned lead, and the typed answers.

A request is validated here, once, at the edge: pydantic checks the envelope (lead id, email,
options, sizes) and `clean_lead` checks the feature columns against the served version's column
spec. Everything after the edge takes a `CleanLead` and trusts it. Answers are pydantic models
that refuse unknown fields, so openapi.json (generated from them) documents every field a client
can receive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from leadgen.config import ColumnSpec
from leadgen.duplicates.check import DuplicateCheckStatus
from leadgen.errors import LeadValidationError

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


def _document_columns(schema: dict[str, Any]) -> None:
    """The feature columns of the default layout, typed as `clean_lead` checks them. Validation
    itself is against the served version's columns (a build may configure others), so they are
    documented here rather than declared as fields."""
    spec = ColumnSpec()
    text = {"type": "string", "maxLength": MAX_TEXT_CHARS}
    for col in (*spec.text_cols, *spec.cat_cols):
        schema["properties"][col] = {"anyOf": [text, {"type": "number"}, {"type": "null"}]}
    number = {"type": "number", "minimum": -MAX_ABS_NUMBER, "maximum": MAX_ABS_NUMBER}
    for col in spec.num_cols:
        schema["properties"][col] = {"anyOf": [number, {"type": "null"}]}
    schema["example"] = LEAD_EXAMPLE


class Lead(BaseModel):
    """A lead: the configured CRM columns (text, categorical, numeric), optional email, lead_id.

    Columns are checked against the served version's column spec; missing ones are zero-filled,
    other fields are ignored. The column properties documented are the default layout's: text
    and categorical columns take a string (or a number, read as text), numeric ones a finite
    number."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_document_columns)
    lead_id: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    # Identity fields: what the fuzzy duplicate check compares (docs/duplicates.md).
    first_name: str | None = Field(default=None, max_length=MAX_IDENTITY_CHARS)
    last_name: str | None = Field(default=None, max_length=MAX_IDENTITY_CHARS)
    company: str | None = Field(default=None, max_length=MAX_IDENTITY_CHARS)
    phone: str | None = Field(default=None, max_length=50, description="any common format")
    options: Options | None = None


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    leads: list[Lead] = Field(..., min_length=1, description="Leads to score (1..MAX_BATCH_SIZE)")
    options: Options | None = None


def batch_request_model(max_batch: int) -> type[BatchRequest]:
    """BatchRequest with the deployment's MAX_BATCH_SIZE as the documented and enforced limit."""
    leads = Field(
        ..., min_length=1, max_length=max_batch, description=f"Leads to score (1..{max_batch})"
    )
    model: type[BatchRequest] = create_model(
        "BatchRequest", __base__=BatchRequest, leads=(list[Lead], leads)
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


@dataclass(frozen=True)
class CleanLead:
    """A lead after validation: feature values typed per the column spec (None = missing)."""

    features: dict[str, str | float | None]
    email: str | None = None
    lead_id: str | None = None
    who: LeadIdentity = LeadIdentity()


def clean_lead(lead: Mapping[str, Any], spec: ColumnSpec, where: str = "") -> CleanLead:
    """Check the feature columns of a lead (a parsed `Lead` dump or a raw mapping): text and
    categorical values are strings (numbers are accepted and stringified), numeric values are
    finite numbers; a wrong type is refused with the field named (`where` prefixes it, e.g.
    'leads[3].'). Missing columns are allowed. Every string that flows on is valid Unicode (a lone
    surrogate from a JSON escape would break the tokenizer and the email hash)."""
    features: dict[str, str | float | None] = {}
    for col in (*spec.text_cols, *spec.cat_cols):
        features[col] = _text_value(lead.get(col), where + col)
    for col in spec.num_cols:
        features[col] = _number_value(lead.get(col), where + col)
    email = lead.get("email")
    if email is not None and not isinstance(email, str):
        raise LeadValidationError(where + "email", "expected a string")
    lead_id = lead.get("lead_id")
    if lead_id is not None and not isinstance(lead_id, str | int):
        raise LeadValidationError(where + "lead_id", "expected a string")
    ref = None if lead_id is None else _unicode(str(lead_id), where + "lead_id")
    who = LeadIdentity(**{f: _identity_value(lead.get(f), where + f) for f in _IDENTITY_FIELDS})
    return CleanLead(features, _unicode(email, where + "email") or None, ref, who)


_IDENTITY_FIELDS = ("first_name", "last_name", "company", "phone", "country")


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


def _number_value(v: Any, field: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise LeadValidationError(field, f"expected a number, got {type(v).__name__}")
    try:
        number = float(v)
    except OverflowError:  # an int beyond float's range
        number = math.inf
    if not math.isfinite(number):
        raise LeadValidationError(field, "must be a finite number")
    if abs(number) > MAX_ABS_NUMBER:
        raise LeadValidationError(field, f"out of range (at most {MAX_ABS_NUMBER:g} either way)")
    return number


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
    within: float | None = Field(default=None, description="tolerance of a numeric match (+/-)")
    within_factor: float | None = Field(
        default=None, description="tolerance of a numeric match on a log scale (x or / this factor)"
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


class Duplicate(_Answer):
    """Who the lead already is (`duplicate_match`) or may be (`possible_duplicate`): the known
    customer or the lead scored first."""

    kind: Literal["email", "fuzzy"] = Field(
        ...,
        description="email: the normalised email is known; fuzzy: another email, but name, "
        "company, email domain, phone and country evidence point at a known person",
    )
    customer_id: str | None = Field(default=None, description="the known customer")
    lead_ref: str | None = Field(default=None, description="the lead scored first")
    confidence: float = Field(
        ..., ge=0.0, le=1.0, description="1.0 for an email match, else the matcher's probability"
    )
    matched_on: list[str] = Field(
        ...,
        description='the evidence: ["email"], or fuzzy ones among "name", "name:nickname", '
        '"name:typo", "name:swapped", "company", "company:similar", "email_domain", "phone", '
        '"phone:shared", "country"',
    )


class InputWarning(_Answer):
    """An input the model never saw the like of: a numeric value outside the training range,
    scored as the nearest end of it (leadgen.model.ranges)."""

    column: str
    value: float = Field(..., description="the value sent")
    low: float = Field(..., description="the training range's lower end")
    high: float = Field(..., description="its upper end; the value was scored as clipped to it")


class Score(_Answer):
    """The answer for one lead. A duplicate is not scored: its score fields are null."""

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
    customer_id: str | None = Field(default=None, description="the known customer, for a duplicate")
    lead_ref: str | None = Field(
        default=None, description="this lead's reference, or the first one's"
    )
    duplicate_of: Literal["customer", "lead"] | None = None
    duplicate_match: Duplicate | None = Field(
        default=None, description="who the lead is, when duplicate is true"
    )
    possible_duplicate: Duplicate | None = Field(
        default=None,
        description="a fuzzy match below the duplicate threshold (LEADGEN_FUZZY_THRESHOLD) and at "
        "or above LEADGEN_POSSIBLE_THRESHOLD: the lead is scored anyway; worth a look before "
        "working it as new",
    )
    neighbors: Neighbours | None = None
    explanation: Explanation | None = None
    warnings: list[InputWarning] = Field(
        default_factory=list,
        description="numeric inputs outside the customers' range: scored clipped to it",
    )


class BatchResult(_Answer):
    results: list[Score]


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
