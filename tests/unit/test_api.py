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
from leadgen.serve.api import create_app
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
    assert status == 422 and body == {
        "error": "validation_error",
        "field": "leads",
        "reason": "2 leads; at most 1 per batch",
    }


def test_unknown_route_is_404_not_500(service: ScoringService) -> None:
    app = create_app(lambda: service)
    status, body = _call(app, "GET", "/score_lead")
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
