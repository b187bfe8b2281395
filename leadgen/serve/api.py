"""The HTTP API, once: a Powertools APIGatewayHttpResolver with pydantic validation.

The Lambda handler resolves API Gateway HTTP API (v2) events with it, and the local server turns
each HTTP request into the same kind of event, so both run exactly this code. Errors are 4xx with
the field and the reason; an unexpected failure is a 500 with an opaque body (detail in the log).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

from leadgen.config import GradeBands
from leadgen.errors import ArtifactError, ConfigError, LeadValidationError
from leadgen.serve.service import ScoringService

log = logging.getLogger("leadgen.serve.api")
MAX_BODY_BYTES = 256 * 1024
API_TITLE = "leadgen scoring API"


class Options(BaseModel):
    """Per-request options; unknown keys are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")
    grade_bands: dict[str, float] | None = Field(
        None, description='Percentile floors of grades, e.g. {"A": 90, "B": 70, "C": 40}'
    )
    neighbors: int = Field(5, ge=0, le=50, description="Neighbours returned per index")


class Lead(BaseModel):
    """A lead: the configured CRM columns (text, categorical, numeric), optional email, lead_id.

    Columns are checked against the artifact's column spec; missing ones are zero-filled."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "lead_id": "web-123",
                "email": "jane.doe@example.com",
                "first_name": "Jane",
                "last_name": "Doe",
                "industry": "Finance",
                "company_size": 500,
                "country": "US",
                "job_title": "Portfolio Manager",
                "bio": "Works on trading strategies and allocator relationships.",
                "web_activity_score": 0.8,
                "email_engagement_score": 0.7,
            }
        },
    )
    lead_id: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=320)
    options: Options | None = None


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    leads: list[Lead] = Field(..., description="Leads to score (1..MAX_BATCH_SIZE)")
    options: Options | None = None


class Neighbour(BaseModel):
    customer_id: int
    similarity: float | None


class ScoreResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    duplicate: bool
    artifact_version: str
    duplicate_check: str = Field(..., description="done | skipped (store unavailable) | no_email")
    s_look: float | None = None
    s_all: float | None = None
    s_novel: float | None = None
    contrast: float | None = None
    p_high_value: float | None = None
    percentile: float | None = None
    grade: str | None = None
    customer_id: str | None = Field(None, description="the known customer, for a duplicate")
    lead_ref: str | None = None


class BatchResult(BaseModel):
    results: list[ScoreResult]


class Health(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str
    artifact_version: str
    artifact_age_seconds: float


class Observer(Protocol):
    """Where adapters plug metrics in (Powertools Metrics in Lambda; nothing locally)."""

    def scored(self, route: str, results: list[dict[str, Any]], seconds: float) -> None: ...


class ErrorBody(BaseModel):
    """Every error answer; documented so clients see the real shape, not Powertools' default."""

    error: str = Field(
        ...,
        description="invalid_json | invalid_body | validation_error | payload_too_large | "
        "not_found | unavailable | internal_error",
    )
    reason: str
    field: str | None = Field(None, description="the field at fault, e.g. leads[2].company_size")


def _responses(with_body: bool) -> dict[int, OpenAPIResponse]:
    def err(description: str) -> OpenAPIResponse:
        return {"description": description, "content": {"application/json": {"model": ErrorBody}}}

    out: dict[int, OpenAPIResponse] = {200: {"description": "Successful Response"}}
    if with_body:
        out[400] = err("The body is not JSON, or not a JSON object")
        out[413] = err(f"The body is larger than {MAX_BODY_BYTES} bytes")
    out[422] = err("A field has a wrong type or value: `field` names it, `reason` says why")
    out[500] = err("Unexpected failure: opaque, with an incident id (the detail is in the log)")
    out[503] = err("No usable artifact version is loaded")
    return out


def _error(status: int, error: str, field: str | None, reason: str) -> Response[str]:
    body: dict[str, Any] = {"error": error, "reason": reason}
    if field is not None:
        body["field"] = field
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body)
    )


def _bands(options: Options | None) -> GradeBands | None:
    if options is None or options.grade_bands is None:
        return None
    return GradeBands.from_json(options.grade_bands)


def create_app(
    service: Callable[[], ScoringService],
    observer: Observer | None = None,
    max_batch: int | None = None,
) -> APIGatewayHttpResolver:
    """Build the resolver. `service` is a zero-argument getter so adapters control when the
    model is loaded (Lambda: at init, outside the first request's latency)."""
    # Powertools logs each route's arguments (the lead: email, bio) at DEBUG; raw emails must not
    # reach a log at any level (LOG_LEVEL=DEBUG, AWS_LAMBDA_LOG_LEVEL, POWERTOOLS_DEBUG, `-v`).
    logging.getLogger("aws_lambda_powertools.event_handler").setLevel(logging.INFO)
    app = APIGatewayHttpResolver(enable_validation=True)

    def batch_limit() -> int:
        return max_batch if max_batch is not None else service().config.max_batch

    def check_body() -> None:
        body = app.current_event.body or ""
        if len(body.encode()) > MAX_BODY_BYTES:
            raise _TooLarge(len(body.encode()))

    @app.get("/health", summary="Service and artifact status", responses=_responses(False))
    def health() -> Health:
        return Health(**service().health())

    @app.post("/score_lead", summary="Score one lead", responses=_responses(True))
    def score_lead(lead: Lead) -> ScoreResult:
        check_body()
        t0 = time.perf_counter()
        data = lead.model_dump(exclude={"options"}, exclude_none=False)
        opts = lead.options
        result = service().score_leads([data], _bands(opts), opts.neighbors if opts else 5)[0]
        if observer is not None:
            observer.scored("/score_lead", [result], time.perf_counter() - t0)
        return ScoreResult(**result)

    @app.post("/score_leads", summary="Score a batch of leads", responses=_responses(True))
    def score_leads(batch: BatchRequest) -> BatchResult:
        check_body()
        limit = batch_limit()
        if not batch.leads:
            raise LeadValidationError("leads", "must contain at least one lead")
        if len(batch.leads) > limit:
            raise LeadValidationError(
                "leads", f"{len(batch.leads)} leads; at most {limit} per batch"
            )
        t0 = time.perf_counter()
        leads = [lead.model_dump(exclude={"options"}) for lead in batch.leads]
        opts = batch.options
        results = service().score_leads(leads, _bands(opts), opts.neighbors if opts else 5)
        if observer is not None:
            observer.scored("/score_leads", results, time.perf_counter() - t0)
        return BatchResult(results=[ScoreResult(**r) for r in results])

    @app.exception_handler(RequestValidationError)
    def on_request_invalid(exc: RequestValidationError) -> Response[str]:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        msg = str(first.get("msg", "invalid request"))
        if first.get("type") == "json_invalid":
            return _error(400, "invalid_json", "body", "the body is not valid JSON")
        if not loc and first.get("type") in ("missing", "model_attributes_type", "dict_type"):
            return _error(400, "invalid_body", "body", "the body must be a JSON object")
        return _error(422, "validation_error", ".".join(loc) or None, msg)

    @app.exception_handler(LeadValidationError)
    def on_lead_invalid(exc: LeadValidationError) -> Response[str]:
        return _error(422, "validation_error", exc.field, exc.reason)

    @app.exception_handler(ConfigError)
    def on_config_invalid(exc: ConfigError) -> Response[str]:
        return _error(422, "validation_error", "options.grade_bands", str(exc))

    @app.exception_handler(_TooLarge)
    def on_too_large(exc: _TooLarge) -> Response[str]:
        return _error(
            413, "payload_too_large", "body", f"body is {exc.size} bytes; at most {MAX_BODY_BYTES}"
        )

    # Registered explicitly: otherwise the catch-all below also catches Powertools' NotFoundError
    # and an unknown route becomes a 500.
    @app.not_found
    def on_not_found(exc: NotFoundError) -> Response[str]:
        event = app.current_event
        return _error(404, "not_found", None, f"no route {event.http_method} {event.path}")

    @app.exception_handler(ArtifactError)
    def on_artifact(exc: ArtifactError) -> Response[str]:
        incident = uuid.uuid4().hex[:12]
        log.error("artifacts unavailable (incident %s): %s", incident, exc)
        return _error(503, "unavailable", None, f"no usable artifact version (incident {incident})")

    @app.exception_handler(Exception)
    def on_unexpected(exc: Exception) -> Response[str]:
        incident = uuid.uuid4().hex[:12]
        log.exception("unexpected failure (incident %s)", incident)
        return _error(500, "internal_error", None, f"internal error (incident {incident})")

    return app


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def openapi_document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    from leadgen import __version__

    doc: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(title=API_TITLE, version=__version__)
    )
    return doc
