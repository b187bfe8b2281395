"""Numeric inputs outside the training range: clipped for scoring and flagged, in the API's
answer and the scored file; the ranges are stored as JSON in the version and shown in its report.

Real builds (hashing embedder), the real scorer, a lead file written by the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadgen.cli import main
from leadgen.config import ServiceConfig
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.service import ScoringService
from leadgen.stores.artifacts import read_pointer
from leadgen.stores.blob import LocalStore
from tests.conftest import Driver

LEAD = {
    "job_title": "office manager",
    "bio": "keeps the place running",
    "industry": "retail",
    "country": "FR",
    "company_size": 12,
    "web_activity_score": 0.05,
    "email_engagement_score": 0.05,
}
# The probe's inputs: each alone turned a grade-D lead into grade A before clipping.
EXTREMES = {"web_activity_score": 1e6, "company_size": 1e12, "email_engagement_score": 1e30}


@pytest.fixture(scope="module")
def service(hashing_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Driver:
    tmp = tmp_path_factory.mktemp("ranges")
    cfg = ServiceConfig(artifacts_uri=str(hashing_artifacts), cache_dir=tmp / "cache")
    svc = ScoringService(cfg, HashingEmbedder(), None)
    assert svc.lifecycle.start()
    return Driver(svc)


def _ranges(artifacts: Path) -> dict[str, Any]:
    version = read_pointer(LocalStore(artifacts)).version
    data: dict[str, Any] = json.loads((artifacts / version / "ranges.json").read_text())
    return data["columns"]


def test_the_version_stores_each_numeric_columns_range_as_json(hashing_artifacts: Path) -> None:
    ranges = _ranges(hashing_artifacts)
    assert set(ranges) == set(EXTREMES)
    assert 0.0 <= ranges["web_activity_score"]["low"] < ranges["web_activity_score"]["high"] <= 1
    version = read_pointer(LocalStore(hashing_artifacts)).version
    manifest = json.loads((hashing_artifacts / version / "manifest.json").read_text())
    assert "ranges.json" in manifest["files"]  # checksummed like every other file


@pytest.mark.parametrize("column", sorted(EXTREMES))
def test_a_value_beyond_the_range_is_scored_clipped_and_flagged(
    service: Driver, hashing_artifacts: Path, column: str
) -> None:
    high = _ranges(hashing_artifacts)[column]["high"]
    extreme, at_edge, plain = service.score(
        {**LEAD, column: EXTREMES[column]}, {**LEAD, column: high}, LEAD
    )
    assert extreme["warnings"] == [
        {
            "warning": "out_of_range",
            "column": column,
            "value": EXTREMES[column],
            "low": _ranges(hashing_artifacts)[column]["low"],
            "high": high,
        }
    ]
    assert at_edge["warnings"] == [] and plain["warnings"] == []
    for key in ("p_high_value", "percentile", "grade", "contrast"):
        assert extreme[key] == at_edge[key], key  # the extreme value decides nothing more


def test_a_value_below_the_range_is_clipped_to_its_low_end(service: Driver) -> None:
    answer = service.score({**LEAD, "web_activity_score": -5.0})[0]
    assert [w["column"] for w in answer["warnings"]] == ["web_activity_score"]
    assert answer["warnings"][0]["value"] == -5.0


def test_the_ranges_fence_ignores_a_stray_row_but_keeps_every_ordinary_value() -> None:
    from leadgen.model.ranges import TrainingRanges

    values = [float(i % 100) for i in range(5000)] + [1e9]  # one typo in 5,001 rows
    r = TrainingRanges.of({"x": values}, ["x"]).columns["x"]
    assert r.low == 0.0 and 99.0 <= r.high < 1000.0
    kept, flagged = TrainingRanges.of({"x": values}, ["x"]).clip({"x": 99.0})
    assert kept == {"x": 99.0} and flagged == []


def test_the_scored_file_has_a_warnings_column(hashing_artifacts: Path, tmp_path: Path) -> None:
    rows = [{**LEAD, "customer_id": i} for i in range(3)]
    rows[1] = {**rows[1], "company_size": 1e12}
    leads = tmp_path / "leads.parquet"
    pq.write_table(pa.Table.from_pylist(rows), leads)
    out = tmp_path / "scored.parquet"
    argv = ["score-file", str(leads), "--artifacts", str(hashing_artifacts), "--out", str(out)]
    assert main([*argv, "--embedder", "hashing", "--quiet", "--no-dedup"]) == 0
    warnings = pq.read_table(out).column("warnings").to_pylist()
    assert warnings[0] is None and warnings[2] is None
    assert warnings[1] is not None and warnings[1].startswith("company_size=1e+12 outside [")


def test_the_report_shows_the_training_ranges(hashing_artifacts: Path) -> None:
    version = read_pointer(LocalStore(hashing_artifacts)).version
    page = (hashing_artifacts / version / "report.html").read_text()
    assert 'id="training-ranges"' in page
    table = page.split('id="training-ranges"', 1)[1].split("</table>", 1)[0]
    assert all(f"<td>{col}</td>" in table for col in EXTREMES)
