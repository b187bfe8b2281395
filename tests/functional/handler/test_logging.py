"""No raw email, name or bio in anything the handler writes: not from the body, the query string
or the path, at DEBUG with Powertools' debug switches on, on every path (scored, store down, 500).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import refused_endpoint
from tests.functional.handler.harness import LEAD, TABLE, Lambda


def test_an_email_in_the_query_string_reaches_no_log_even_in_debug(
    artifacts_uri: str,
    start_lambda: Callable[..., Lambda],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("POWERTOOLS_EVENT_HANDLER_DEBUG", "POWERTOOLS_DEV", "POWERTOOLS_DEBUG"):
        monkeypatch.setenv(name, "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    assert fn("GET", "/health?email=Query.Person@Example.org").status == 200
    assert fn("POST", "/score_lead?email=Query.Person@Example.org", LEAD).status == 200
    everything = fn.read_output() + "\n".join(r.getMessage() for r in caplog.records)
    assert '"scored"' in everything  # this request's own log line is there to look at
    assert "query.person" not in everything.lower()


@pytest.mark.parametrize("path", ["scored", "store_down", "internal_error"])
def test_logs_never_contain_the_raw_email_or_bio(
    path: str,
    artifacts_uri: str,
    start_lambda: Callable[..., Lambda],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not on stdout, not on stderr (Lambda ships both), not in any record's structured extras,
    whether the lead is scored, the duplicate store is down, or the request fails with a 500."""
    # Even with event logging asked for by env, and every logger (boto's too) at DEBUG.
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="leadgen")
    email = f"Zelda.Q.Marker-{uuid.uuid4().hex[:6]}@Example.org"
    bio = "Collects antique zeppelin-telemetry-harmonicas and breeds axolotls."
    lead = {**LEAD, "email": email, "bio": bio, "first_name": "Zelda", "last_name": "Quorndike",
            "company": "Marmalade Dirigible Works GmbH", "phone": "+49 30 86753091"}  # fmt: skip
    with refused_endpoint() as dead:
        env = {"AWS_ENDPOINT_URL_DYNAMODB": dead} if path == "store_down" else {}
        fn = start_lambda(ARTIFACTS_URI=artifacts_uri, DUP_TABLE_NAME=TABLE, **env)
        marker = _drive_for_logs(fn, path, lead, monkeypatch)
    everything = fn.read_output() + "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records
    )
    assert marker in everything  # there are logs to look at
    for needle in (email, email.lower(), "zelda.q.marker", "zeppelin-telemetry", "axolotls",
                   "zq@gmail", "quorndike", "marmalade", "dirigible", "86753091"):  # fmt: skip
        assert needle.lower() not in everything.lower(), needle


def _drive_for_logs(
    fn: Lambda, path: str, lead: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> str:
    """Send `lead` down one path; returns a log marker the path must have written."""
    if path == "internal_error":

        def broken_score(*_a: Any, **_k: Any) -> Any:
            raise RuntimeError("faiss exploded")

        monkeypatch.setattr(fn.module.runtime.service.scorer(), "score", broken_score)
        assert fn("POST", "/score_lead", lead).status == 500
        return "faiss exploded"
    assert fn("POST", "/score_lead", lead).status == 200
    batch = fn("POST", "/score_leads", {"leads": [lead, {**lead, "email": 5}]})
    assert batch.status == 200 and batch.body["results"][1]["field"] == "leads[1].email"
    if path == "store_down":
        assert fn("POST", "/score_lead", lead).body["duplicate_check"] == "skipped"
        return "duplicate lookup skipped"
    assert fn("POST", "/score_lead", lead).body["duplicate"] is True
    again = {**lead, "email": "zq@gmail.com", "first_name": "ZELDA"}  # a fuzzy duplicate
    assert fn("POST", "/score_lead", again).body["duplicate_match"]["kind"] == "fuzzy"
    return "duplicate check"
