"""The HTTP API, once: a Powertools APIGatewayHttpResolver over the scoring service.

The Lambda handler resolves API Gateway HTTP API (v2) events with it, and the local server turns
each HTTP request into the same kind of event, so both run exactly this code. Requests are
validated here: the body's media type, encoding, size and JSON limits first (leadgen.serve.body,
before the resolver reads it), then pydantic, then the column spec (leadgen.serve.schemas).
Errors are 4xx with the field and the reason (405 with `Allow` for a method a route does not
declare); an unexpected failure is a 500 with an opaque body (detail in the log).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from leadgen.config import DEFAULT_MAX_BATCH, GradeBands
from leadgen.errors import ArtifactError, ConfigError, LeadValidationError
from leadgen.names import ROUTE_HEALTH, ROUTE_SCORE_LEAD, ROUTE_SCORE_LEADS, ROUTES
from leadgen.serve.body import MAX_BODY_BYTES, BodyError, check_event, parse_json
from leadgen.serve.schemas import (
    BatchRequest,
    BatchResult,
    CleanLead,
    ErrorBody,
    Health,
    Lead,
    LeadError,
    Options,
    Score,
    batch_request_model,
    clean_batch,
    clean_lead,
)
from leadgen.serve.service import ScoringService

log = logging.getLogger(__name__)
API_TITLE = "leadgen scoring API"
JSON_HEADERS = {"Content-Type": content_types.APPLICATION_JSON}


class Observer(Protocol):
    """Where adapters plug metrics in (Powertools Metrics in Lambda; nothing locally)."""

    def scored(self, route: str, results: Sequence[Score], seconds: float) -> None: ...


def create_app(
    service: Callable[[], ScoringService],
    observer: Observer | None = None,
    max_batch: int | None = None,
) -> APIGatewayHttpResolver:
    """Build the resolver. `service` is a zero-argument getter, so an adapter whose service could
    not be configured still answers (503) instead of failing at import. `max_batch` is the
    documented and enforced batch limit (default: the service's, at most DEFAULT_MAX_BATCH in
    the document)."""
    # Powertools logs each route's arguments (the lead: email, bio) at DEBUG; raw emails must not
    # reach a log at any level (LOG_LEVEL=DEBUG, AWS_LAMBDA_LOG_LEVEL, POWERTOOLS_DEBUG, `-v`).
    # debug=False: POWERTOOLS_EVENT_HANDLER_DEBUG / POWERTOOLS_DEV would print whole events.
    logging.getLogger("aws_lambda_powertools.event_handler").setLevel(logging.INFO)
    app = _CheckedResolver(enable_validation=True, debug=False, json_body_deserializer=parse_json)
    _add_routes(app, service, observer, max_batch)
    _add_error_handlers(app)
    return app


def _add_routes(
    app: APIGatewayHttpResolver,
    service: Callable[[], ScoringService],
    observer: Observer | None,
    max_batch: int | None,
) -> None:
    def score(
        route: str, leads: list[CleanLead | LeadError], options: Options | None, t0: float
    ) -> list[Score | LeadError]:
        """Score the clean leads together; a refused lead keeps its place with its error."""
        svc = service()
        clean = [lead for lead in leads if isinstance(lead, CleanLead)]
        n = options.neighbors if options else 5
        wanted = [_logged(options) and lead.log for lead in clean]
        scored = iter(svc.score_leads(clean, _bands(options), n, scorer=svc.scorer(), log=wanted))
        results = [next(scored) if isinstance(lead, CleanLead) else lead for lead in leads]
        if observer is not None:
            observer.scored(
                route, [r for r in results if isinstance(r, Score)], time.perf_counter() - t0
            )
        return results

    @app.get(ROUTE_HEALTH[1], summary="Service and artifact status", responses=_responses(False))
    def health() -> Health:
        return service().health()

    @app.post(ROUTE_SCORE_LEAD[1], summary="Score one lead", responses=_responses(True))
    def score_lead(lead: Lead) -> Score:
        t0 = time.perf_counter()
        scorer = service().scorer()
        clean = clean_lead(
            lead.model_dump(),
            scorer.spec,
            "",
            scorer.manifest.formats,
            identity=scorer.manifest.identity_columns,
        )
        result = score(ROUTE_SCORE_LEAD[1], [clean], lead.options, t0)[0]
        assert isinstance(result, Score)
        return result

    def score_leads(batch: BatchRequest) -> BatchResult:
        t0 = time.perf_counter()
        limit = max_batch if max_batch is not None else service().config.max_batch
        if len(batch.leads) > limit:
            raise LeadValidationError(
                "leads", f"{len(batch.leads)} leads; at most {limit} per batch"
            )
        scorer = service().scorer()
        checked = clean_batch(
            batch.leads,
            scorer.spec,
            scorer.manifest.formats,
            identity=scorer.manifest.identity_columns,
        )
        return BatchResult(results=score(ROUTE_SCORE_LEADS[1], checked, batch.options, t0))

    # The documented batch limit is the configured one: the model is made per app (annotated
    # with the class itself, since a string annotation could not name a local class).
    score_leads.__annotations__["batch"] = batch_request_model(max_batch or DEFAULT_MAX_BATCH)
    app.post(ROUTE_SCORE_LEADS[1], summary="Score a batch of leads", responses=_responses(True))(
        score_leads
    )


def _logged(options: Options | None) -> bool:
    return options is None or options.log


def _bands(options: Options | None) -> GradeBands | None:
    if options is None or options.grade_bands is None:
        return None
    return GradeBands.from_json(options.grade_bands.model_dump(exclude_none=True))


class _CheckedResolver(APIGatewayHttpResolver):
    """The resolver with the body checked first (leadgen.serve.body): Powertools' own request
    validation runs before any middleware and turns an unreadable body into a 500, and it reads
    media types case-sensitively. A refused body is answered here, in the resolver's shape."""

    def resolve(self, event: Any, context: Any) -> dict[str, Any]:
        try:
            checked = check_event(event)
        except BodyError as exc:
            return _error_dict(exc.status, exc.error, _body_field(exc), exc.reason)
        return super().resolve(checked, context)


def _body_field(exc: BodyError) -> str | None:
    return None if exc.status == 415 else "body"


def _add_error_handlers(app: APIGatewayHttpResolver) -> None:
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

    @app.exception_handler(BodyError)
    def on_body(exc: BodyError) -> Response[str]:
        return _error(exc.status, exc.error, _body_field(exc), exc.reason)

    @app.exception_handler(RequestUnsupportedContentType)
    def on_media_type(exc: RequestUnsupportedContentType) -> Response[str]:
        return _error(415, "unsupported_media_type", None, "send JSON (application/json)")

    # Registered explicitly: otherwise the catch-all below also catches Powertools' NotFoundError
    # and an unknown route becomes a 500.
    @app.not_found
    def on_not_found(exc: NotFoundError) -> Response[str]:
        event = app.current_event
        allowed = sorted(m for m, path in ROUTES if path == event.path)
        if allowed:
            return _error(
                405,
                "method_not_allowed",
                None,
                f"{event.http_method} is not allowed on {event.path}: {', '.join(allowed)}",
                {"Allow": ", ".join(allowed)},
            )
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


def _responses(with_body: bool) -> dict[int, OpenAPIResponse]:
    def err(description: str) -> OpenAPIResponse:
        return {"description": description, "content": {"application/json": {"model": ErrorBody}}}

    out: dict[int, OpenAPIResponse] = {200: {"description": "Successful Response"}}
    if with_body:
        out[400] = err("The body is not UTF-8 JSON, not a JSON object, or nested too deep")
        out[413] = err(f"The body is larger than {MAX_BODY_BYTES} bytes")
        out[415] = err("The Content-Type is not JSON (application/json, UTF-8)")
    out[422] = err(
        "A field has a wrong type or value: `field` names it, `reason` says why (/score_leads: "
        "only for the request as a whole; a bad lead is answered in its place with a LeadError)"
    )
    out[500] = err("Unexpected failure: opaque, with an incident id (the detail is in the log)")
    out[503] = err("No usable artifact version is loaded")
    return out


def _error_body(error: str, field: str | None, reason: str) -> str:
    body: dict[str, Any] = {"error": error, "reason": reason}
    if field is not None:
        body["field"] = field
    return json.dumps(body)


def _error(
    status: int,
    error: str,
    field: str | None,
    reason: str,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=_error_body(error, field, reason),
        headers=headers,
    )


def _error_dict(status: int, error: str, field: str | None, reason: str) -> dict[str, Any]:
    """An error answered before the resolver runs, in the shape it returns (HTTP API v2)."""
    return {
        "statusCode": status,
        "body": _error_body(error, field, reason),
        "isBase64Encoded": False,
        "headers": dict(JSON_HEADERS),
        "cookies": [],
    }


def openapi_document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    from leadgen import __version__

    doc: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(title=API_TITLE, version=__version__)
    )
    return doc
