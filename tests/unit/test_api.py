"""The API resolver on its own (no Lambda, no AWS): the contract every front end shares."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from leadgen.config import ServiceConfig
from leadgen.errors import ArtifactError
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.api import create_app, openapi_document
from leadgen.serve.schemas import Score
from leadgen.serve.server import http_v2_event
from leadgen.serve.service import ScoringService

LEAD = {"industry": "Finance", "company_size": 800, "job_title": "Portfolio Manager"}


class Recorder:
    """An Observer that keeps what it is told (the Lambda's one publishes metrics instead)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Score], float]] = []

    def scored(self, route: str, results: list[Score], seconds: float) -> None:
        self.calls.append((route, list(results), seconds))


@pytest.fixture(scope="module")
def service(hashing_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> ScoringService:
    cfg = ServiceConfig(
        artifacts_uri=str(hashing_artifacts), cache_dir=tmp_path_factory.mktemp("api-cache")
    )
    svc = ScoringService(cfg, HashingEmbedder(), duplicates=None)
    assert svc.lifecycle.start()
    return svc


def _call(app: Any, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    raw = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    resp = app.resolve(http_v2_event(method, path, {"content-type": "application/json"}, raw), None)
    return int(resp["statusCode"]), json.loads(resp["body"])


def test_observer_sees_every_scored_request(service: ScoringService) -> None:
    rec = Recorder()
    app = create_app(lambda: service, observer=rec)
    assert _call(app, "POST", "/score_lead", LEAD)[0] == 200
    status, body = _call(app, "POST", "/score_leads", {"leads": [LEAD, LEAD]})
    assert status == 200 and len(body["results"]) == 2
    assert [(route, len(results)) for route, results, _ in rec.calls] == [
        ("/score_lead", 1),
        ("/score_leads", 2),
    ]
    assert all(seconds > 0 for _, _, seconds in rec.calls)
    assert _call(app, "POST", "/score_leads", {"leads": []})[0] == 422
    assert len(rec.calls) == 2  # refused requests are not "scored"


def test_max_batch_argument_overrides_the_service_config(service: ScoringService) -> None:
    app = create_app(lambda: service, max_batch=1)
    status, body = _call(app, "POST", "/score_leads", {"leads": [LEAD, LEAD]})
    assert status == 422 and body["field"] == "leads" and "at most 1 item" in body["reason"]
    batch = openapi_document(app)["components"]["schemas"]["BatchRequest"]["properties"]["leads"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 1)


def test_unknown_route_is_404_not_500(service: ScoringService) -> None:
    app = create_app(lambda: service)
    status, body = _call(app, "GET", "/nowhere")
    assert status == 404 and body["error"] == "not_found"
    assert _call(app, "POST", "/admin", {})[0] == 404


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({**LEAD, "options": {"neighbours": 3}}, "options.neighbours", "Extra inputs"),
        ({**LEAD, "options": {"neighbors": 500}}, "options.neighbors", "less than or equal"),
        ({**LEAD, "options": {"grade_bands": {"A": 10, "B": 70}}}, "options.grade_bands", "100 >="),
        ({**LEAD, "options": {"grade_bands": {"A": "high"}}}, "options.grade_bands.A", "number"),
    ],
)
def test_bad_options_name_the_field(
    service: ScoringService, body: dict[str, Any], field: str, reason: str
) -> None:
    status, answer = _call(create_app(lambda: service), "POST", "/score_lead", body)
    assert status == 422 and answer["field"] == field and reason in answer["reason"]


def test_no_model_is_503_with_the_detail_only_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    def unavailable() -> ScoringService:
        raise ArtifactError("s3://bucket/x/LATEST: checksum mismatch in secret-path")

    app = create_app(unavailable)
    with caplog.at_level(logging.ERROR, logger="leadgen.serve.api"):
        status, body = _call(app, "GET", "/health")
    assert status == 503 and body["error"] == "unavailable"
    assert "secret-path" not in json.dumps(body)
    incident = body["reason"].split("incident ")[1].rstrip(")")
    logged = [r.getMessage() for r in caplog.records]
    assert any(incident in m and "secret-path" in m for m in logged), logged


# ---- hostile and careless bodies: a 4xx with the reason, never a 500 ---------------------------
DEEP_ARRAY = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000
HUGE_INT = b'{"company_size": ' + b"9" * 400 + b"}"
MULTIPART = b'--x\r\nContent-Disposition: form-data; name="bio"\r\n\r\nhello\r\n--x--\r\n'

JSON, MEDIA = "application/json", "unsupported_media_type"
# (content type, body, status, error, field, words of the reason)
HOSTILE: dict[str, tuple[str, bytes, int, str, str | None, str]] = {
    "non-utf8": (JSON, b'{"bio": "\xff\xfe"}', 400, "invalid_json", "body", "UTF-8"),
    "deep-array": (JSON, DEEP_ARRAY, 400, "invalid_body", "body", "nested deeper"),
    "deep-object": (JSON, DEEP_OBJECT, 400, "invalid_body", "body", "nested deeper"),
    "400-digit-int": (JSON, HUGE_INT, 422, "validation_error", "company_size", "finite"),
    "nan": (JSON, b'{"company_size": NaN}', 400, "invalid_json", "body", "NaN"),
    "text-plain": ("text/plain", b'{"bio": "x"}', 415, MEDIA, None, "text/plain"),
    "xml": ("application/xml", b"<lead/>", 415, MEDIA, None, "application/xml"),
    "multipart": ("multipart/form-data; boundary=x", MULTIPART, 415, MEDIA, None, "multipart"),
    "form": ("application/x-www-form-urlencoded", b"bio=x", 415, MEDIA, None, "form"),
    "latin1": (JSON + "; charset=latin-1", b'{"bio": "x"}', 415, MEDIA, None, "latin-1"),
    "lone-surrogate": (JSON, b'{"bio": "\\ud800"}', 422, "validation_error", "bio", "Unicode"),
    "surrogate-id": (JSON, b'{"lead_id": "\\udfff"}', 422, "validation_error", "lead_id", "string"),
}


def _resolve_raw(
    app: Any, method: str, path: str, content_type: str | None, raw: bytes | None
) -> Any:
    headers = {"content-type": content_type} if content_type else {}
    return app.resolve(http_v2_event(method, path, headers, raw), None)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bodies_are_4xx_with_the_reason(service: ScoringService, case: str) -> None:
    content_type, raw, status, error, field, words = HOSTILE[case]
    app = create_app(lambda: service)
    for path in ("/score_lead", "/score_leads"):
        resp = _resolve_raw(app, "POST", path, content_type, raw)
        body = json.loads(resp["body"])
        if path == "/score_leads" and status == 422:
            status, error = 422, "validation_error"  # the batch envelope misses `leads`
            assert resp["statusCode"] == 422, body
            continue
        assert resp["statusCode"] == status, (path, body)
        assert body["error"] == error and words.lower() in body["reason"].lower(), body
        assert body.get("field") == field, body
        assert resp["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "content_type",
    ["APPLICATION/JSON", "Application/Json; Charset=UTF-8", "application/json;charset=utf-8", None],
)
def test_json_media_types_are_case_insensitive(service: ScoringService, content_type: str) -> None:
    app = create_app(lambda: service)
    resp = _resolve_raw(app, "POST", "/score_lead", content_type, json.dumps(LEAD).encode())
    assert resp["statusCode"] == 200, resp["body"]


def test_a_body_too_large_is_refused_before_it_is_parsed(service: ScoringService) -> None:
    app = create_app(lambda: service)
    raw = b"[" * 300_000  # not even JSON: the size is what is wrong first
    resp = _resolve_raw(app, "POST", "/score_lead", "application/json", raw)
    assert resp["statusCode"] == 413 and "at most 262144" in json.loads(resp["body"])["reason"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/score_lead", "POST"),
        ("DELETE", "/score_leads", "POST"),
        ("GET", "/score_lead", "POST"),
        ("POST", "/health", "GET"),
        ("TRACE", "/health", "GET"),
        ("PATCH", "/health", "GET"),
    ],
)
def test_an_undeclared_method_is_405_with_allow(
    service: ScoringService, method: str, path: str, allow: str
) -> None:
    resp = create_app(lambda: service).resolve(http_v2_event(method, path, {}, None), None)
    assert resp["statusCode"] == 405, resp
    assert resp["headers"]["Allow"] == allow
    assert json.loads(resp["body"])["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"neighbors": True}, "options.neighbors"),
        ({"neighbors": "5"}, "options.neighbors"),
        ({"neighbors": 5.5}, "options.neighbors"),
        ({"neighbors": 51.0}, "options.neighbors"),
        ({"grade_bands": {"A": "90"}}, "options.grade_bands.A"),
        ({"grade_bands": {"E": 10}}, "options.grade_bands.E"),
        ({"grade_bands": {"A": 101}}, "options.grade_bands.A"),
    ],
)
def test_options_are_strict(service: ScoringService, options: dict[str, Any], field: str) -> None:
    status, body = _call(
        create_app(lambda: service), "POST", "/score_lead", {**LEAD, "options": options}
    )
    assert status == 422 and body["field"] == field, body


def test_debug_settings_never_print_the_event(
    service: ScoringService, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """POWERTOOLS_EVENT_HANDLER_DEBUG / POWERTOOLS_DEV make the resolver print every event
    (the body, the query string: emails) unless it is built with debug off."""
    monkeypatch.setenv("POWERTOOLS_EVENT_HANDLER_DEBUG", "true")
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    app = create_app(lambda: service)
    event = http_v2_event(
        "POST",
        "/score_lead?email=query.person@example.com",
        {"content-type": "application/json"},
        json.dumps({**LEAD, "email": "body.person@example.com"}).encode(),
    )
    assert app.resolve(event, None)["statusCode"] == 200
    out = capsys.readouterr()
    assert "person@example.com" not in out.out + out.err


def test_a_whole_float_is_a_number_of_neighbours(service: ScoringService) -> None:
    """JSON Schema's `integer` includes 5.0: the document and the code agree."""
    app = create_app(lambda: service)
    status, body = _call(app, "POST", "/score_lead", {**LEAD, "options": {"neighbors": 3.0}})
    assert status == 200 and len(body["neighbors"]["all"]) == 3


@pytest.mark.parametrize("value", [3e38, -1e36])
def test_a_number_beyond_float32_is_refused_not_scored_as_null(
    service: ScoringService, value: float
) -> None:
    """A value that would overflow float32 in the transforms is refused, never null scores
    graded A."""
    app = create_app(lambda: service)
    status, body = _call(app, "POST", "/score_lead", {**LEAD, "company_size": value})
    assert status == 422 and body["field"] == "company_size" and "range" in body["reason"]
