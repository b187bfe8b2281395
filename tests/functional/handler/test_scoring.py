"""The handler's routes answer with scores (hashing and the real ONNX embedder), and the
sample events shipped for `sam local invoke -e` are answered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.functional.handler.harness import (
    LEAD,
    REPO,
    Aws,
    Context,
    Lambda,
    _json_lines,
    _metrics_of,
    _new_email,
)


def test_health_reports_version_age_and_embedder(
    aws: Aws, artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    ans = fn("GET", "/health")
    assert ans.status == 200, ans.body
    assert ans.body["status"] == "ok"
    assert ans.body["artifact_version"] == aws.build.version
    assert 0 <= ans.body["artifact_age_seconds"] < 3600
    assert ans.body["embedder"]["kind"] == "hashing"
    assert ans.body["customers"] == aws.build.report["rows"]["current_customers"]
    m = fn.metrics()
    assert m["ArtifactAgeSeconds"] and 0 <= m["ArtifactAgeSeconds"][0] < 3600


def test_score_lead_gives_scores_grade_neighbours_explanation(
    aws: Aws, artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    ans = fn("POST", "/score_lead", {**LEAD, "email": _new_email(), "lead_id": "web-1"})
    assert ans.status == 200, ans.body
    r = ans.body
    assert r["duplicate"] is False and r["duplicate_check"] == "done"
    assert r["artifact_version"] == aws.build.version
    for key in ("s_look", "s_all", "s_novel", "contrast"):
        assert isinstance(r[key], float)
    assert abs(r["s_novel"] - (1 - r["s_all"])) < 1e-5
    assert 0 <= r["percentile"] <= 100 and r["grade"] in {"A", "B", "C", "D"}
    assert len(r["neighbors"]["high"]) == 5 and len(r["neighbors"]["all"]) == 5
    assert all(isinstance(n["customer_id"], int) for n in r["neighbors"]["all"])
    assert set(r["explanation"]) >= {"text_similarity", "tabular_similarity", "summary"}
    assert r["lead_ref"] == "web-1"

    output = fn.read_output()
    metrics = _metrics_of(output)
    assert metrics["LeadsScored"] == [1.0] and metrics["Duplicates"] == [0.0]
    assert metrics[f"Grade{r['grade']}"] == [1.0]
    assert len(metrics["ScoreLatencyMs"]) == 1 and metrics["ScoreLatencyMs"][0] > 0
    # The request's API Gateway id is the correlation id of every log line of the request.
    scored = [b for b in _json_lines(output) if b.get("message") == "scored"]
    assert scored and scored[0]["correlation_id"] == ans.request_id
    # Grades are metric names, not dimensions (no high-cardinality dimension on any metric).
    for blob in _json_lines(output):
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            assert all(set(d) <= {"service", "function_name"} for d in directive["Dimensions"])


def test_score_leads_batch_and_its_configured_limit(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, MAX_BATCH_SIZE="3")
    leads = [
        {**LEAD, "email": _new_email()},
        {**LEAD, "industry": "Retail", "bio": "Owns a chain of bakeries."},  # no email
        {**LEAD, "email": _new_email(), "job_title": "CTO", "first_name": "Bo", "last_name": "Ek"},
    ]
    ans = fn("POST", "/score_leads", {"leads": leads, "options": {"neighbors": 2}})
    assert ans.status == 200, ans.body
    results = ans.body["results"]
    assert len(results) == 3
    assert [r["duplicate_check"] for r in results] == ["done", "no_email", "done"]
    assert all(r["grade"] in {"A", "B", "C", "D"} for r in results)
    assert all(len(r["neighbors"]["high"]) == 2 for r in results)
    assert fn.metrics()["LeadsScored"] == [3.0]

    too_many = fn("POST", "/score_leads", {"leads": [LEAD] * 4})
    assert too_many.status == 422
    assert too_many.body["field"] == "leads" and "at most 3" in too_many.body["reason"]


# ---- the real ONNX embedder ------------------------------------------------------------------

_ONNX_PROBE = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from leadgen.serve.server import http_v2_event
from lambda_src import handler as h
t_import = time.perf_counter() - t0

class Ctx:
    function_name = "leadgen-scoring"; memory_limit_in_mb = 2048; aws_request_id = "probe"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:leadgen-scoring"
    @staticmethod
    def get_remaining_time_in_millis(): return 29000

lead = json.loads(sys.argv[2])
def call(i):
    body = json.dumps({**lead, "lead_id": f"p{i}"}).encode()
    ev = http_v2_event("POST", "/score_lead", {"content-type": "application/json"}, body)
    return h.handler(ev, Ctx())
first = call(0)
t_first = time.perf_counter() - t0
first_epoch = time.time()
lat = []
for i in range(1, 201):
    t = time.perf_counter(); r = call(i); lat.append((time.perf_counter() - t) * 1000)
    assert r["statusCode"] == 200, r
health = h.handler(http_v2_event("GET", "/health", {}, None), Ctx())
lat.sort()
print("PROBE " + json.dumps({
    "first": json.loads(first["body"]), "first_status": first["statusCode"],
    "first_answer_epoch": first_epoch, "service_init_s": h.runtime.init_seconds,
    "health": json.loads(health["body"]), "import_s": t_import, "first_answer_s": t_first,
    "p50_ms": lat[len(lat) // 2], "p99_ms": lat[int(len(lat) * 0.99) - 1],
}))
"""


def test_the_real_onnx_embedder_scores_through_the_handler(
    onnx_artifacts: Path, onnx_model_dir: Path, tmp_path: Path
) -> None:
    """In a fresh process (so the cold start is real): import the handler with the baked-model
    layout of the image (LEADGEN_MODEL_DIR), score a lead, then 200 warm requests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DUP_", "LEADGEN_"))}
    env.update(
        ARTIFACTS_URI=str(onnx_artifacts),
        LEADGEN_EMBEDDER="onnx",
        LEADGEN_MODEL_DIR=str(onnx_model_dir),
        LEADGEN_CACHE_DIR=str(tmp_path / "cache"),
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
        HF_HUB_OFFLINE="1",
    )
    launched = time.time()  # wall clock: compared with the child's, same machine
    proc = subprocess.run(
        [sys.executable, "-c", _ONNX_PROBE, str(REPO), json.dumps(LEAD)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE "))
    probe = json.loads(line[len("PROBE ") :])
    assert probe["first_status"] == 200
    assert probe["health"]["embedder"]["kind"] == "onnx"
    assert probe["first"]["grade"] in {"A", "B", "C", "D"}
    assert probe["first"]["explanation"]["text_similarity"] is not None
    assert probe["first"]["duplicate_check"] == "no_email"
    cold = probe["first_answer_epoch"] - launched
    print(
        f"\n[onnx handler] process start -> first scored lead {cold:.2f}s "
        f"(imports+init {probe['import_s']:.2f}s of which service+model load "
        f"{probe['service_init_s']:.2f}s; in-process first answer "
        f"{probe['first_answer_s']:.2f}s); warm p50 {probe['p50_ms']:.1f} ms, "
        f"p99 {probe['p99_ms']:.1f} ms"
    )


# ---- the sample events shipped for `sam local invoke -e` ----------------------------------------


@pytest.mark.parametrize("name", ["health", "score_lead", "score_leads"])
def test_the_sample_events_are_answered(
    name: str, artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    event = json.loads((REPO / "events" / f"{name}.json").read_text())
    assert event["version"] == "2.0" and event["routeKey"] == (
        f"{event['requestContext']['http']['method']} {event['rawPath']}"
    )
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    resp = fn.module.handler(event, Context())
    assert resp["statusCode"] == 200, resp
    body = json.loads(resp["body"])
    if name == "score_leads":
        assert len(body["results"]) == len(json.loads(event["body"])["leads"])
    elif name == "score_lead":
        assert "duplicate" in body
    else:
        assert body["status"] == "ok"
