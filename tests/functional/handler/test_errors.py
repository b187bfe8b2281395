"""Bad requests get a 4xx naming the field and the reason; an unexpected failure is an opaque 500
with its detail only in the log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.functional.handler.harness import LEAD, Lambda, _json_lines, _new_email

BIG_BIO = "x" * (300 * 1024)


@pytest.mark.parametrize(
    ("path", "body", "status", "field", "reason"),
    [
        ("/score_lead", b'{"industry": "Finance",', 400, "body", "not valid JSON"),
        ("/score_lead", b'["a", "list"]', 400, "body", "JSON object"),
        ("/score_lead", {**LEAD, "company_size": "big"}, 422, "company_size", "number"),
        ("/score_lead", {**LEAD, "email": 42}, 422, "email", "string"),
        (
            "/score_lead",
            {**LEAD, "options": {"grade_bands": {"A": 90, "E": 10}}},
            422,
            "options.grade_bands.E",
            "Extra inputs",
        ),
        ("/score_leads", {"leads": []}, 422, "leads", "at least 1 item"),
        ("/score_leads", {"leads": [LEAD] * 101}, 422, "leads", "at most 100"),
        (  # a lead's bad field is that lead's error (200); a lead that is no object is not
            "/score_leads",
            {"leads": [LEAD, ["not", "a lead"]]},
            422,
            "leads.1",
            "valid dictionary",
        ),
        ("/score_lead", {**LEAD, "bio": BIG_BIO}, 413, "body", "at most 262144"),
        ("/score_lead", b'{"bio": "caf\xe9"}', 400, "body", "not UTF-8"),
        ("/score_lead", b"[" * 1000 + b"]" * 1000, 400, "body", "nested deeper than 32"),
        ("/score_lead", b'{"company_size": ' + b"9" * 400 + b"}", 422, "company_size", "finite"),
        ("/score_lead", b'{"bio": "\ud83d"}', 422, "bio", "Unicode"),
        (
            "/score_leads",
            {"leads": [LEAD], "options": {"neighbors": "5"}},
            422,
            "options.neighbors",
            "integer",
        ),
    ],
    ids=[
        "invalid-json",
        "not-an-object",
        "wrong-type",
        "email-not-a-string",
        "unknown-grade",
        "empty-batch",
        "oversized-batch",
        "wrong-type-in-batch",
        "oversized-body",
        "non-utf8",
        "deep-nesting",
        "400-digit-int",
        "lone-surrogate",
        "neighbors-as-text",
    ],
)
def test_bad_requests_get_4xx_with_field_and_reason(
    path: str,
    body: Any,
    status: int,
    field: str,
    reason: str,
    artifacts_uri: str,
    start_lambda: Callable[..., Lambda],
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    ans = fn("POST", path, body)
    assert ans.status == status, ans.body
    assert ans.body["field"] == field
    assert reason in ans.body["reason"]


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 415),
        ("application/xml", 415),
        ("multipart/form-data; boundary=x", 415),
        ("application/x-www-form-urlencoded", 415),
        ("APPLICATION/JSON", 200),
        ("Application/JSON; charset=UTF-8", 200),
    ],
)
def test_media_types_through_the_handler(
    artifacts_uri: str, start_lambda: Callable[..., Lambda], content_type: str, status: int
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    ans = fn("POST", "/score_lead", LEAD, content_type=content_type)
    assert ans.status == status, ans.body
    if status == 415:
        assert ans.body["error"] == "unsupported_media_type"
        assert content_type.split(";")[0] in ans.body["reason"]
    assert "ArtifactRefreshFailures" not in fn.metrics()


def test_an_unexpected_failure_is_an_opaque_500_with_the_detail_only_in_the_log(
    artifacts_uri: str, start_lambda: Callable[..., Lambda], monkeypatch: pytest.MonkeyPatch
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    model = fn.module.runtime.service.scorer()

    def broken_score(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("faiss exploded: secret-internal-detail")

    monkeypatch.setattr(model, "score", broken_score)
    fn.read_output()
    ans = fn("POST", "/score_lead", {**LEAD, "email": _new_email()})
    assert ans.status == 500
    assert ans.body["error"] == "internal_error"
    text = json.dumps(ans.body)
    assert "secret-internal-detail" not in text and "RuntimeError" not in text
    incident = ans.body["reason"].split("incident ")[1].rstrip(")")
    errors = [b for b in _json_lines(fn.read_output()) if b.get("level") == "ERROR"]
    assert errors and incident in errors[0]["message"]
    assert "secret-internal-detail" in errors[0]["exception"]
    assert errors[0]["correlation_id"] == ans.request_id
