"""The committed openapi.json is the document the running code generates.

A route, model or error shape changed without `make openapi` fails here, so clients and API
Gateway reviewers never read a stale contract.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from leadgen.serve.api import create_app, openapi_document

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "openapi.json"
REGENERATE = "regenerate it: `make openapi` (python -m leadgen openapi > openapi.json)"


def _committed() -> dict[str, Any]:
    assert COMMITTED.is_file(), f"{COMMITTED} is missing; {REGENERATE}"
    doc: dict[str, Any] = json.loads(COMMITTED.read_text())
    return doc


def _no_service() -> Any:
    raise AssertionError("documenting the API must not need a model")


def test_the_committed_document_is_what_the_code_generates() -> None:
    generated = openapi_document(create_app(_no_service, max_batch=100))
    assert _committed() == generated, f"openapi.json is stale; {REGENERATE}"
    # Byte for byte what the CLI prints, so regenerating never produces a spurious diff.
    assert COMMITTED.read_text() == json.dumps(generated, indent=2, sort_keys=True) + "\n"


def test_the_lambda_serves_exactly_the_documented_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deployed function's resolver (not just a freshly built app) matches the document."""
    monkeypatch.delenv("ARTIFACTS_URI", raising=False)  # no model needed: it answers 503
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    name = "lambda_src.handler"
    module = (
        importlib.reload(sys.modules[name])
        if name in sys.modules
        else importlib.import_module(name)
    )
    assert openapi_document(module.app) == _committed()


def test_every_error_answer_is_documented_with_its_real_shape() -> None:
    doc = _committed()
    error_schema = doc["components"]["schemas"]["ErrorBody"]
    assert set(error_schema["required"]) == {"error", "reason"}
    assert "field" in error_schema["properties"]
    expected = {
        ("/health", "get"): {"200", "422", "500", "503"},
        ("/score_lead", "post"): {"200", "400", "413", "415", "422", "500", "503"},
        ("/score_leads", "post"): {"200", "400", "413", "415", "422", "500", "503"},
    }
    seen = {
        (p, m): set(op["responses"]) for p, ops in doc["paths"].items() for m, op in ops.items()
    }
    assert seen == expected
    for (path, method), codes in expected.items():
        responses = doc["paths"][path][method]["responses"]
        for code in codes - {"200"}:
            schema = responses[code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, code)


def test_the_http_api_routes_in_the_cdk_stack_are_the_documented_ones() -> None:
    """API Gateway only forwards the routes the stack declares: a route added to the code but not
    to stacks/scoring_api.py would answer 404 in AWS and 200 everywhere else."""
    from stacks.scoring_api import ROUTES

    declared = {(path, str(method.value).lower()) for path, method in ROUTES}
    documented = {(p, m) for p, ops in _committed()["paths"].items() for m in ops}
    assert declared == documented


def test_requests_are_specified_tightly() -> None:
    """What a client may send is what the code accepts: batch bounds, A/B/C bands in 0..100, a
    whole number of neighbours (not `true`, not "5")."""
    schemas = _committed()["components"]["schemas"]
    leads = schemas["BatchRequest"]["properties"]["leads"]
    assert (leads["minItems"], leads["maxItems"]) == (1, 100)
    bands = schemas["GradeBandsOption"]
    assert set(bands["properties"]) == {"A", "B", "C"} and bands["additionalProperties"] is False
    for grade in "ABC":
        number = bands["properties"][grade]["anyOf"][0]
        assert (number["type"], number["minimum"], number["maximum"]) == ("number", 0, 100)
    neighbors = schemas["Options"]["properties"]["neighbors"]
    assert (neighbors["type"], neighbors["minimum"], neighbors["maximum"]) == ("integer", 0, 50)
    assert schemas["Options"]["additionalProperties"] is False


# ---- real answers against the committed schema ------------------------------------------------
# Each case: (method, path, body, content type, expected status). The answers come from the code
# (the resolver the Lambda runs, and `leadgen serve` over HTTP), never from the document itself:
# a renamed, missing or extra key in any answer fails here.
_LEAD = {"email": "contract.probe@example.org", "job_title": "CTO", "company_size": 300}
_CASES: list[tuple[str, str, Any, str, int]] = [
    ("GET", "/health", None, "application/json", 200),
    ("POST", "/score_lead", {**_LEAD, "lead_id": "first"}, "application/json", 200),
    ("POST", "/score_lead", {**_LEAD, "lead_id": "again"}, "application/json", 200),  # duplicate
    ("POST", "/score_leads", {"leads": [_LEAD, {"bio": "x"}]}, "application/json", 200),
    ("POST", "/score_lead", b'{"job_title": ', "application/json", 400),
    ("POST", "/score_lead", {"bio": "x" * 300_000}, "application/json", 413),
    ("POST", "/score_lead", _LEAD, "text/plain", 415),
    ("POST", "/score_lead", {"company_size": "big"}, "application/json", 422),
    ("POST", "/score_leads", {"leads": []}, "application/json", 422),
]
_UNAVAILABLE = [
    ("GET", "/health", None, "application/json", 503),
    ("POST", "/score_lead", _LEAD, "application/json", 503),
    ("POST", "/score_leads", {"leads": [_LEAD]}, "application/json", 503),
]


def assert_documented(method: str, path: str, status: int, body: Any, content_type: str) -> None:
    from jsonschema import Draft202012Validator

    doc = _committed()
    response = doc["paths"][path][method.lower()]["responses"].get(str(status))
    assert response is not None, f"{method} {path} answered an undocumented {status}"
    assert content_type.split(";")[0] == "application/json", content_type
    schema = response["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    problems = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in
                validator.iter_errors(body)]  # fmt: skip
    assert problems == [], (method, path, status, body)


def _raw(body: Any) -> bytes | None:
    return body if body is None or isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture(scope="module")
def live(hashing_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from leadgen.config import ServiceConfig
    from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
    from leadgen.model.embedders import HashingEmbedder
    from leadgen.serve.service import ScoringService

    tmp = tmp_path_factory.mktemp("contract")
    # every known person answered unscored: the duplicate answer's shape is a case below
    cfg = ServiceConfig(
        artifacts_uri=str(hashing_artifacts), cache_dir=tmp / "cache", short_circuit="known"
    )
    svc = ScoringService(cfg, HashingEmbedder(), SqliteDuplicateStore(tmp / "dups.sqlite"))
    assert svc.lifecycle.start()
    return svc


@pytest.fixture(scope="module")
def unavailable(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from leadgen.config import ServiceConfig
    from leadgen.model.embedders import HashingEmbedder
    from leadgen.serve.service import ScoringService

    tmp = tmp_path_factory.mktemp("no-artifacts")
    cfg = ServiceConfig(artifacts_uri=str(tmp / "empty"), cache_dir=tmp / "cache")
    svc = ScoringService(cfg, HashingEmbedder(), None)
    assert not svc.lifecycle.start()
    return svc


def _resolve(app: Any, method: str, path: str, body: Any, ctype: str) -> tuple[int, Any, str]:
    from leadgen.serve.server import http_v2_event

    resp = app.resolve(http_v2_event(method, path, {"Content-Type": ctype}, _raw(body)), None)
    return resp["statusCode"], json.loads(resp["body"]), resp["headers"]["Content-Type"]


def test_the_resolvers_answers_match_the_committed_schema(live: Any, unavailable: Any) -> None:
    app = create_app(lambda: live)
    for method, path, body, ctype, status in _CASES:
        got, answer, content_type = _resolve(app, method, path, body, ctype)
        assert got == status, (method, path, got, answer)
        assert_documented(method, path, got, answer, content_type)
    again = _resolve(app, "POST", "/score_lead", {**_LEAD, "lead_id": "third"}, "application/json")
    assert again[1]["duplicate"] is True  # the duplicate answer's shape was checked too
    down = create_app(lambda: unavailable)
    for method, path, body, ctype, status in _UNAVAILABLE:
        got, answer, content_type = _resolve(down, method, path, body, ctype)
        assert got == status, (method, path, got, answer)
        assert_documented(method, path, got, answer, content_type)


def test_an_internal_error_answer_matches_the_committed_schema(
    live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("injected")

    monkeypatch.setattr(live.scorer(), "score", broken)
    got, answer, content_type = _resolve(
        create_app(lambda: live), "POST", "/score_lead", {"job_title": "CTO"}, "application/json"
    )
    assert got == 500
    assert_documented("POST", "/score_lead", got, answer, content_type)


def test_the_local_servers_answers_match_the_committed_schema(live: Any, unavailable: Any) -> None:
    from leadgen.serve.server import serve
    from tests.conftest import serving

    for svc, cases in ((live, _CASES), (unavailable, _UNAVAILABLE)):
        httpd = serve(create_app(lambda s=svc: s), "127.0.0.1", 0, tick=svc.lifecycle.tick)
        with serving(httpd) as port:
            for method, path, body, ctype, status in cases:
                got, raw, content_type = _http(port, method, path, body, ctype)
                assert got == status, (method, path, got, raw[:300])
                assert_documented(method, path, got, json.loads(raw), content_type)


def _http(port: int, method: str, path: str, body: Any, ctype: str) -> tuple[int, bytes, str]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=_raw(body), method=method,
        headers={"Content-Type": ctype},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers["Content-Type"]
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers["Content-Type"]
