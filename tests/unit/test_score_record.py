"""What the service logs of a scored lead, through the API resolver (leadgen.serve.score_record).

A record holds the lead's references and scores and the served version's feature columns, never
a raw email, name, company or phone; a request opts out per lead or per batch; a duplicate is
not logged; a sink that fails costs the answer nothing and is counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from leadgen.config import ServiceConfig
from leadgen.duplicates.normalise import email_hash
from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.api import create_app
from leadgen.serve.score_record import ScoreLogger
from leadgen.serve.server import http_v2_event
from leadgen.serve.service import ScoringService
from leadgen.stores.score_log import ScoreRecord, json_line

# The session's artifacts were built unkeyed: the service hashes alike (or its check is off).
KEY = ""
PERSON = {
    "lead_id": "web-77",
    "email": "Zelda.Quorum+crm@Example.org",
    "first_name": "Zelda",
    "last_name": "Quorum",
    "company": "Quorumtech Holdings",
    "phone": "+1 (555) 867-5309",
    "industry": "Finance",
    "company_size": 800,
    "country": "US",
    "job_title": "Portfolio Manager",
    "notes": "met at the fair, private mobile 555 0000",  # not a feature: never logged
}


class ListSink:
    def __init__(self, fail: bool = False) -> None:
        self.records: list[ScoreRecord] = []
        self.fail = fail

    def write(self, records: Sequence[ScoreRecord]) -> None:
        if self.fail:
            raise OSError("stdout closed")
        self.records.extend(records)

    def close(self) -> None:
        pass


def service_with(
    artifacts: Path,
    tmp: Path,
    sink: ListSink,
    failures: list[int] | None = None,
    dedup: bool = False,
    short_circuit: str = "customers",
) -> ScoringService:
    cfg = ServiceConfig(
        artifacts_uri=str(artifacts),
        cache_dir=tmp / "cache",
        email_hash_key=KEY,
        short_circuit=short_circuit,
    )
    store = SqliteDuplicateStore(tmp / "dups.sqlite") if dedup else None
    svc = ScoringService(cfg, HashingEmbedder(), duplicates=store)
    assert svc.lifecycle.start()
    hook = failures.append if failures is not None else None
    svc.score_log = ScoreLogger(sink, "api", KEY, on_failure=hook)
    return svc


def call(svc: ScoringService, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    app = create_app(lambda: svc)
    event = http_v2_event(
        "POST", path, {"content-type": "application/json"}, json.dumps(body).encode()
    )
    resp = app.resolve(event, None)
    return int(resp["statusCode"]), json.loads(resp["body"])


def test_a_record_holds_references_and_features_never_the_person(
    hashing_artifacts: Path, tmp_path: Path
) -> None:
    sink = ListSink()
    svc = service_with(hashing_artifacts, tmp_path, sink, dedup=True)
    status, answer = call(svc, "/score_lead", PERSON)
    assert status == 200
    (rec,) = sink.records
    assert rec.lead_id == "web-77" and rec.lead_ref == answer["lead_ref"] == "web-77"
    assert rec.email_hash == email_hash(PERSON["email"], KEY)
    assert (rec.grade, rec.percentile, rec.p_high_value) == (
        answer["grade"],
        answer["percentile"],
        answer["p_high_value"],
    )
    assert (
        rec.headline == answer["p_high_value"]
        and rec.artifact_version == answer["artifact_version"]
    )
    assert set(rec.features) == {"industry", "company_size", "country", "job_title"}
    assert rec.who is not None and set(rec.who) == {"f", "l", "c", "d", "p", "k"}
    line = json_line(rec).lower()
    for secret in ("zelda", "quorum", "example.org", "867", "5309", "fair", "mobile"):
        assert secret not in line, secret


def test_opting_out_per_lead_and_per_batch(hashing_artifacts: Path, tmp_path: Path) -> None:
    sink = ListSink()
    svc = service_with(hashing_artifacts, tmp_path, sink)
    lead = {k: v for k, v in PERSON.items() if k != "lead_id"}
    assert call(svc, "/score_lead", {**lead, "options": {"log": False}})[0] == 200
    assert sink.records == []
    quiet = {**lead, "options": {"log": False}}
    assert call(svc, "/score_leads", {"leads": [lead, quiet]})[0] == 200
    assert len(sink.records) == 1  # the lead's own false wins in a batch
    assert call(svc, "/score_leads", {"leads": [lead, lead], "options": {"log": False}})[0] == 200
    assert len(sink.records) == 1
    status, body = call(svc, "/score_lead", {**lead, "options": {"log": "no"}})
    assert status == 422 and body["field"] == "options.log"


def test_a_duplicate_is_not_logged(hashing_artifacts: Path, tmp_path: Path) -> None:
    """A lead answered without a score (short-circuited) is not logged; one scored again (a
    known lead, the default) is, as each score it is given."""
    repeat = {**PERSON, "lead_id": "web-78", "email": "zelda.quorum@example.org"}
    sink = ListSink()
    svc = service_with(hashing_artifacts, tmp_path / "a", sink, dedup=True, short_circuit="known")
    first = call(svc, "/score_lead", PERSON)[1]
    again = call(svc, "/score_lead", repeat)[1]
    assert first["duplicate"] is False and again["duplicate"] is True
    assert [r.lead_id for r in sink.records] == ["web-77"]
    scored = ListSink()
    svc = service_with(hashing_artifacts, tmp_path / "b", scored, dedup=True)
    call(svc, "/score_lead", PERSON)
    again = call(svc, "/score_lead", repeat)[1]
    assert again["duplicate"] is False and again["known_as"]["of"] == "lead"
    assert [r.lead_id for r in scored.records] == ["web-77", "web-78"]


def test_a_failing_log_costs_the_answer_nothing_and_is_counted(
    hashing_artifacts: Path, tmp_path: Path
) -> None:
    failures: list[int] = []
    broken = service_with(hashing_artifacts, tmp_path / "a", ListSink(fail=True), failures)
    working = service_with(hashing_artifacts, tmp_path / "b", ListSink())
    batch = {"leads": [{**PERSON, "lead_id": f"web-{i}"} for i in range(3)]}
    status, got = call(broken, "/score_leads", batch)
    assert status == 200 and got == call(working, "/score_leads", batch)[1]
    assert failures == [3] and broken.score_log is not None and broken.score_log.failures == 3


@pytest.mark.parametrize("value", [True, False])
def test_the_option_is_documented(value: bool) -> None:
    from leadgen.serve.schemas import Options

    assert Options.model_validate({"log": value}).log is value
    assert "score log" in (Options.model_fields["log"].description or "")
