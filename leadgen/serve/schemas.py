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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadgen.config import ColumnSpec
from leadgen.errors import LeadValidationError

MAX_TEXT_CHARS = 10_000
MAX_IDENTITY_CHARS = 200
CustomerId = int | str
Grade = Literal["A", "B", "C", "D"]
DuplicateCheckStatus = Literal["done", "skipped", "no_email"]


# ---- requests --------------------------------------------------------------------------------
class Options(BaseModel):
    """Per-request options; unknown keys are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")
    grade_bands: dict[str, float] | None = Field(
        default=None, description='Percentile floors of grades, e.g. {"A": 90, "B": 70, "C": 40}'
    )
    neighbors: int = Field(5, ge=0, le=50, description="Neighbours returned per index")


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


class Lead(BaseModel):
    """A lead: the configured CRM columns (text, categorical, numeric), optional email, lead_id.

    Columns are checked against the served version's column spec; missing ones are zero-filled,
    other fields are ignored."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": LEAD_EXAMPLE})
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
    leads: list[Lead] = Field(..., description="Leads to score (1..MAX_BATCH_SIZE)")
    options: Options | None = None


@dataclass(frozen=True)
class LeadIdentity:
    """Who the lead says it is, as typed (normalised by leadgen.model.identity; never logged)."""

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
    'leads[3].'). Missing columns are allowed."""
    features: dict[str, str | float | None] = {}
    for col in (*spec.text_cols, *spec.cat_cols):
        features[col] = _text_value(lead.get(col), where + col)
    for col in spec.num_cols:
        features[col] = _number_value(lead.get(col), where + col)
    email = lead.get("email")
    if email is not None and not isinstance(email, str):
        raise LeadValidationError(where + "email", "expected a string")
    lead_id = lead.get("lead_id")
    who = LeadIdentity(**{f: _identity_value(lead.get(f), where + f) for f in _IDENTITY_FIELDS})
    return CleanLead(features, email or None, None if lead_id is None else str(lead_id), who)


_IDENTITY_FIELDS = ("first_name", "last_name", "company", "phone", "country")


def _identity_value(v: Any, field: str) -> str | None:
    """A string (numbers are stringified, as for categorical columns); anything else is refused
    with the field."""
    if v is None or v == "":
        return None
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise LeadValidationError(field, f"expected a string, got {type(v).__name__}")
    text = str(v)
    if len(text) > MAX_IDENTITY_CHARS:
        raise LeadValidationError(field, f"longer than {MAX_IDENTITY_CHARS} characters")
    return text


def _text_value(v: Any, field: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise LeadValidationError(field, f"expected a string, got {type(v).__name__}")
    if isinstance(v, str) and len(v) > MAX_TEXT_CHARS:
        raise LeadValidationError(field, f"longer than {MAX_TEXT_CHARS} characters")
    return str(v)


def _number_value(v: Any, field: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise LeadValidationError(field, f"expected a number, got {type(v).__name__}")
    if not math.isfinite(float(v)):
        raise LeadValidationError(field, "must be a finite number")
    return float(v)


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


class BatchResult(_Answer):
    results: list[Score]


DuplicateStoreStatus = Literal["ok", "disabled", "hash_key_mismatch", "unverified"]


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
        "this key) | unverified (a version that records no key fingerprint)",
    )


class ErrorBody(_Answer):
    """Every error answer; documented so clients see the real shape, not Powertools' default."""

    error: str = Field(
        ...,
        description="invalid_json | invalid_body | validation_error | payload_too_large | "
        "not_found | unavailable | internal_error",
    )
    reason: str
    field: str | None = Field(
        default=None, description="the field at fault, e.g. leads[2].company_size"
    )
