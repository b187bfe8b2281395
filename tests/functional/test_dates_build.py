"""Dates as features, end to end: a build with two date columns (the generated CRM's record
created and last activity: `--date-cols`), then leads scored through the API's resolver. Recency
is among the drivers and moves the score; a lead's dates count days before the scoring time,
never before the export's snapshot; a missing date is a missing value and a bad one is refused
by field (in a batch: that lead alone).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadgen.config import ColumnSpec, ServiceConfig
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.api import create_app
from leadgen.serve.schemas import CleanLead, clean_batch
from leadgen.serve.server import http_v2_event
from leadgen.serve.service import ScoringService
from leadgen.synthetic.crm import (
    DATE_COLS,
    DEFAULT_CAT_COLS,
    DEFAULT_NUM_COLS,
    DEFAULT_TEXT_COLS,
    SNAPSHOT,
    example_lead,
    generate_crm,
    write_crm,
)
from tests.conftest import build_config, quiet_build

ROWS = 3000
SPEC = ColumnSpec.with_dates(DEFAULT_TEXT_COLS, DEFAULT_CAT_COLS, DEFAULT_NUM_COLS, DATE_COLS)


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> ScoringService:
    work = tmp_path_factory.mktemp("dates")
    write_crm(generate_crm(rows=ROWS, seed=5), work / "crm.parquet")
    quiet_build(build_config(work / "crm.parquet", work / "artifacts", columns=SPEC))
    cfg = ServiceConfig(artifacts_uri=str(work / "artifacts"), cache_dir=work / "cache")
    svc = ScoringService(cfg, HashingEmbedder(), duplicates=None)
    assert svc.lifecycle.start()
    return svc


def call(svc: ScoringService, path: str, body: Any) -> tuple[int, Any]:
    app = create_app(lambda: svc)
    event = http_v2_event(
        "POST", path, {"content-type": "application/json"}, json.dumps(body).encode()
    )
    resp = app.resolve(event, None)
    return int(resp["statusCode"]), json.loads(resp["body"])


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")


def lead(**dates: str) -> dict[str, Any]:
    return {**example_lead(3), "created_date": "2023-01-10", **dates}


def test_the_version_records_the_exports_snapshot_for_its_customers(
    dated: ScoringService,
) -> None:
    manifest = dated.scorer().manifest
    assert manifest.columns.date_cols == DATE_COLS
    snapshot = datetime.fromisoformat(str(SNAPSHOT)).replace(tzinfo=UTC).timestamp()
    assert manifest.formats.reference == snapshot  # the export's newest date


def test_recent_activity_raises_the_score_and_recency_is_a_driver(dated: ScoringService) -> None:
    body = {"leads": [lead(last_activity_date=days_ago(1)), lead(last_activity_date=days_ago(365))]}
    status, answer = call(dated, "/score_leads", body)
    assert status == 200, answer
    yesterday, year_ago = answer["results"]
    assert yesterday["p_high_value"] > year_ago["p_high_value"]
    drivers = {d["feature"]: d["effect"] for d in year_ago["explanation"]["drivers"]}
    assert drivers.get("last_activity_date") == "lowers", year_ago["explanation"]["drivers"]
    assert yesterday["warnings"] == [] and year_ago["warnings"] == []


def test_the_reference_time_for_leads_is_the_scoring_time(dated: ScoringService) -> None:
    """2025-06-29 was one day before the export's snapshot; scored now it is as many days ago
    as the clock says, so the lead is read as long inactive."""
    scorer = dated.scorer()
    before = time.time()
    checked = clean_batch(
        [lead(last_activity_date="2025-06-29")], scorer.spec, scorer.manifest.formats
    )
    after = time.time()
    clean = checked[0]
    assert isinstance(clean, CleanLead)
    moment = datetime(2025, 6, 29, tzinfo=UTC).timestamp()
    days = clean.features["last_activity_date"]
    assert isinstance(days, float)
    assert (before - moment) / 86400 <= days <= (after - moment) / 86400
    assert days > 30  # not 1: the snapshot is the customers' reference, not the leads'
    pair = [lead(last_activity_date="2025-06-29"), lead(last_activity_date=days_ago(1))]
    _, answer = call(dated, "/score_leads", {"leads": pair})
    stale, fresh = answer["results"]
    assert stale["p_high_value"] < fresh["p_high_value"]


def test_a_missing_date_scores_and_a_bad_one_is_refused_by_field(dated: ScoringService) -> None:
    status, answer = call(dated, "/score_lead", lead())
    assert status == 200 and answer["p_high_value"] is not None
    status, answer = call(dated, "/score_lead", lead(last_activity_date="last week"))
    assert status == 422 and answer["field"] == "last_activity_date"
    assert answer["reason"].startswith("not a date") and "last week" not in answer["reason"]
    status, answer = call(
        dated, "/score_leads", {"leads": [lead(), lead(last_activity_date="last week"), lead()]}
    )
    assert status == 200
    good, bad, other = answer["results"]
    assert bad == {
        "index": 1,
        "error": "validation_error",
        "field": "leads[1].last_activity_date",
        "reason": answer["results"][1]["reason"],
    }
    assert bad["reason"].startswith("not a date")
    assert good["p_high_value"] == other["p_high_value"] is not None


def test_a_misspelt_date_field_is_reported_with_the_closest_column(dated: ScoringService) -> None:
    status, answer = call(dated, "/score_lead", {**lead(), "last_activty_date": days_ago(2)})
    assert status == 200
    assert answer["warnings"] == [
        {
            "field": "last_activty_date",
            "warning": "unknown_field",
            "closest": "last_activity_date",
            "message": "not a column of this model: ignored; did you mean 'last_activity_date'?",
        }
    ]
