"""The local server over real HTTP: the same resolver the Lambda uses, with 4xx for bad input."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadgen.build.identity import customer_blocks
from leadgen.build.reader import read_crm
from leadgen.config import ColumnSpec, HighValueRule, ServiceConfig
from leadgen.model.embedders import HashingEmbedder
from leadgen.model.identity import customer_hash_pairs
from leadgen.serve.api import create_app
from leadgen.serve.server import serve
from leadgen.serve.service import ScoringService
from leadgen.stores.duplicates import SqliteDuplicateStore
from tests.conftest import known_person, nickname_lead


@pytest.fixture(scope="module")
def base_url(
    hashing_artifacts: Path, tiny_crm: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("srv")
    cfg = ServiceConfig(artifacts_uri=str(hashing_artifacts), cache_dir=tmp / "cache", max_batch=5)
    dups = SqliteDuplicateStore(tmp / "dups.sqlite")
    import pyarrow.parquet as pq

    rows = pq.read_table(tiny_crm, filters=[("is_current", "==", True)]).to_pylist()
    dups.sync_customers(
        customer_hash_pairs([r["email"] for r in rows], [r["customer_id"] for r in rows])
    )
    # what `leadgen build` syncs next: the customers' fuzzy-match entries
    crm = read_crm(str(tiny_crm), ColumnSpec(), HighValueRule())
    dups.sync_identities(customer_blocks(crm, "").blocks)
    svc = ScoringService(cfg, HashingEmbedder(), dups)
    assert svc.lifecycle.start()
    httpd = serve(create_app(lambda: svc), "127.0.0.1", 0, tick=svc.lifecycle.tick)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def call(url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(
        url,
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_health(base_url: str) -> None:
    status, body = call(base_url + "/health")
    assert status == 200 and body["status"] == "ok" and body["artifact_version"]
    assert body["embedder"]["kind"] == "hashing" and body["artifact_age_seconds"] >= 0


def test_score_lead_and_batch(base_url: str) -> None:
    lead = {
        "job_title": "Chief Technology Officer",
        "industry": "Software",
        "company_size": 2000,
        "web_activity_score": 0.9,
    }
    status, body = call(base_url + "/score_lead", lead)
    assert status == 200, body
    assert body["grade"] in "ABCD" and body["duplicate"] is False
    assert len(body["neighbors"]["high"]) == 5
    status, batch = call(
        base_url + "/score_leads",
        {"leads": [lead, {"job_title": "Intern"}], "options": {"neighbors": 2}},
    )
    assert status == 200 and len(batch["results"]) == 2
    assert len(batch["results"][1]["neighbors"]["all"]) == 2


def test_known_customer_is_a_duplicate(base_url: str, tiny_crm: Path) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(tiny_crm, columns=["customer_id", "email", "is_current"]).to_pylist()
    row = next(r for r in table if r["is_current"] and r["email"].endswith("@gmail.com"))
    local, domain = row["email"].split("@")
    variant = local.replace(".", "").upper() + "+promo@" + domain
    status, body = call(base_url + "/score_lead", {"email": variant, "job_title": "x"})
    assert status == 200 and body["duplicate"] is True
    assert body["duplicate_of"] == "customer"


def test_a_customer_under_another_email_with_a_nickname_is_a_fuzzy_duplicate(
    base_url: str, tiny_crm: Path
) -> None:
    person = known_person(tiny_crm)
    status, body = call(base_url + "/score_lead", nickname_lead(person))
    assert status == 200 and body["duplicate"] is True and body["s_look"] is None
    assert body["customer_id"] == str(person["customer_id"])
    assert body["duplicate_match"]["kind"] == "fuzzy"
    assert "name:nickname" in body["duplicate_match"]["matched_on"]
    colleague = {**nickname_lead(person), "first_name": "Xiomara", "last_name": "Quellwater"}
    status, body = call(base_url + "/score_lead", colleague)
    assert status == 200 and body["duplicate"] is False and body["grade"] in "ABCD"
    # the colleague is now a recorded lead: the same colleague again is its duplicate
    again = {**colleague, "email": "x.quellwater@gmail.com", "first_name": "XIOMARA"}
    second = call(base_url + "/score_lead", again)[1]
    assert second["duplicate"] is True and second["duplicate_of"] == "lead"


def test_same_new_lead_twice(base_url: str) -> None:
    lead = {"email": "brand.new.person@example.org", "job_title": "Head of Data"}
    assert call(base_url + "/score_lead", lead)[1]["duplicate"] is False
    second = call(base_url + "/score_lead", lead)[1]
    assert second["duplicate"] is True and second["duplicate_of"] == "lead"


@pytest.mark.parametrize(
    ("path", "payload", "status", "field"),
    [
        ("/score_lead", {"company_size": "huge"}, 422, "company_size"),
        ("/score_lead", {"email": 42}, 422, "email"),
        ("/score_lead", {"options": {"grade_bands": {"Z": 1}}}, 422, "options.grade_bands"),
        ("/score_lead", {"options": {"colour": "red"}}, 422, "options.colour"),
        ("/score_leads", {"leads": []}, 422, "leads"),
        ("/score_leads", {"leads": [{}] * 6}, 422, "leads"),
        (
            "/score_leads",
            {"leads": [{}, {"web_activity_score": "x"}]},
            422,
            "leads[1].web_activity_score",
        ),
    ],
)
def test_bad_input_is_4xx_with_field(
    base_url: str, path: str, payload: Any, status: int, field: str
) -> None:
    got, body = call(base_url + path, payload)
    assert got == status, body
    assert body["field"] == field and body["reason"]


def test_invalid_json_and_oversized_body(base_url: str) -> None:
    got, body = call(base_url + "/score_lead", raw=b"{nope")
    assert got == 400 and body["error"] == "invalid_json"
    got, body = call(base_url + "/score_lead", raw=json.dumps({"bio": "x" * 300_000}).encode())
    assert got == 413
