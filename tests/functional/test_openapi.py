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
