"""`python -m build_job` as CodeBuild runs it: exit codes, the drift line and its metrics,
SIGTERM mid-build, the buildspec, one clear line for a configuration error.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from build_job.job import EXIT_GATE, EXIT_OK, EXIT_UNEXPECTED
from tests.conftest import moto_client
from tests.functional.build_job_runs.harness import (
    _JOB_VARS,
    _THREAD_VARS,
    ART,
    BUCKET,
    REPO,
    JobRun,
    artifacts,
    assert_one_clear_line,
    build_role,
    latest,
    put_parquet,
    report,
    run_job,
    run_ok,
    version_dirs,
)


# ---- the real entry point: `python -m build_job` -------------------------------------------------
def _subprocess_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _JOB_VARS}
    env.update({"LEADGEN_EMBEDDER": "hashing", "PYTHONPATH": str(REPO), **variables})
    env.update({name: "1" for name in _THREAD_VARS})
    env.update(build_role(env))
    return env


def test_drift_is_logged_and_put_as_cloudwatch_metrics(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table, moto_server: str, tmp_path: Path
) -> None:
    """A first version puts nothing; the next, on an export whose company sizes tripled, logs
    its drift and puts the three figures, read back from CloudWatch (moto, over HTTP). Its
    report.html is what `leadgen report s3://...` downloads."""
    from datetime import UTC, datetime, timedelta

    from leadgen.names import METRICS_NAMESPACE, SERVICE_NAME, Metric
    from leadgen.stores.artifacts import report_path
    from leadgen.stores.blob import open_store

    prefix = f"drift-{uuid.uuid4().hex[:6]}"
    first = run_job(
        job_env,
        LEADGEN_INPUT_PATH=put_parquet(s3, f"input/{prefix}-1.parquet", crm),
        ARTIFACTS_URI=artifacts(prefix),
    )
    assert first.code == EXIT_OK, first.stderr
    assert first.one("drift")["first_version"] is True
    v1 = first.one("build_finished")["version"]
    assert report(s3, prefix, v1)["drift_metrics"] == {"status": "put", "values": {}}

    size = crm.schema.get_field_index("company_size")
    bigger = crm.set_column(
        size, "company_size", pc.multiply(crm["company_size"], 3).cast(crm.schema.field(size).type)
    )
    since = datetime.now(UTC) - timedelta(seconds=1)
    second = run_job(
        job_env, LEADGEN_INPUT_PATH=put_parquet(s3, f"input/{prefix}-2.parquet", bigger)
    )
    assert second.code == EXIT_OK, second.stderr
    logged = second.one("drift")
    assert logged["previous_version"] == v1 and logged["max_psi_column"] == "company_size"
    v2 = second.one("build_finished")["version"]
    rep = report(s3, prefix, v2)
    put = rep["drift_metrics"]["values"]
    assert put[Metric.DRIFT_MAX_PSI] == rep["drift"]["max_psi"] == logged["max_psi"] > 0.25
    assert put[Metric.DRIFT_LABEL_RATE_CHANGE] == rep["drift"]["label_rate"]["change"]
    assert put[Metric.DRIFT_SCORE_SHIFT] == rep["drift"]["score"]["psi"]

    cloudwatch = moto_client("cloudwatch", moto_server)
    for name, value in put.items():
        stats = cloudwatch.get_metric_statistics(
            Namespace=METRICS_NAMESPACE,
            MetricName=name,
            Dimensions=[{"Name": "service", "Value": SERVICE_NAME}],
            StartTime=since,
            EndTime=datetime.now(UTC) + timedelta(seconds=1),
            Period=60,
            Statistics=["Maximum", "SampleCount"],
        )["Datapoints"]
        assert [(p["SampleCount"], p["Maximum"]) for p in stats] == [(1.0, value)], name

    page = report_path(open_store(artifacts(prefix)), None, tmp_path / "cache")
    assert page == tmp_path / "cache" / v2 / "report.html"
    stored = s3.get_object(Bucket=BUCKET, Key=f"{ART}/{prefix}/{v2}/report.html")["Body"].read()
    assert page.read_bytes() == stored and b"Drift since" in stored


def test_a_failed_metric_put_warns_and_the_version_stays_published(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table
) -> None:
    """CloudWatch refusing connections after LATEST moved: a warning line and the report say
    so; the build still succeeds (the version is published and the tables synced)."""
    from tests.conftest import refused_endpoint

    prefix = f"drift-down-{uuid.uuid4().hex[:6]}"
    env = {
        "LEADGEN_INPUT_PATH": put_parquet(s3, f"input/{prefix}.parquet", crm),
        "ARTIFACTS_URI": artifacts(prefix),
    }
    v1 = run_ok(job_env, **env)
    with refused_endpoint() as dead:
        job_env.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", dead)
        job_env.setenv("AWS_MAX_ATTEMPTS", "1")
        second = run_job(job_env, **env)
    assert second.code == EXIT_OK, second.stderr
    v2 = second.one("build_finished")["version"]
    assert latest(s3, prefix) == v2 != v1
    warning = second.one("drift_metrics_failed")
    assert warning["level"] == "WARNING" and "Could not connect" in warning["error"]
    assert report(s3, prefix, v2)["drift_metrics"]["status"] == "failed"
    assert second.one("drift")["previous_version"] == v1


def test_module_entry_point_gate_refusal_exits_3(moto_env: str, s3: Any, crm: pa.Table) -> None:
    uri = put_parquet(s3, "input/gate.parquet", crm)
    proc = subprocess.run(
        [sys.executable, "-m", "build_job"],
        env=_subprocess_env(
            LEADGEN_INPUT_PATH=uri, ARTIFACTS_URI=artifacts("gate"), LEADGEN_MIN_AUC="0.999"
        ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = JobRun(proc.returncode, proc.stdout, proc.stderr)
    assert result.code == EXIT_GATE
    assert_one_clear_line(result, "quality gate", "AUC", "LATEST unchanged (unset)")
    assert latest(s3, "gate") is None and version_dirs(s3, "gate") == []


def test_a_lift_below_its_floor_exits_3_and_leaves_latest(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table
) -> None:
    """LEADGEN_MIN_LIFT as the stack sets it: a floor the holdout's lift@10% cannot reach (the
    AUC floor is met) refuses the build like the AUC floor does."""
    result = run_job(
        job_env,
        LEADGEN_INPUT_PATH=put_parquet(s3, "input/lift.parquet", crm),
        ARTIFACTS_URI=artifacts("lift"),
        LEADGEN_MIN_LIFT="1000",
    )
    assert result.code == EXIT_GATE
    assert_one_clear_line(result, "quality gate", "lift@10%", "below the floor 1000.00")
    assert result.one("build_failed")["step"] == "gate"
    assert latest(s3, "lift") is None and version_dirs(s3, "lift") == []


def test_module_entry_point_sigterm_mid_build_cleans_up(
    moto_env: str, s3: Any, crm: pa.Table
) -> None:
    uri = put_parquet(s3, "input/sigterm.parquet", crm)
    proc = subprocess.Popen(
        [sys.executable, "-m", "build_job"],
        env=_subprocess_env(LEADGEN_INPUT_PATH=uri, ARTIFACTS_URI=artifacts("sigterm")),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        while True:
            line = out.next(deadline=time.monotonic() + 60)
            assert line is not None, f"the build ended before the holdout step: {out.lines}"
            event = json.loads(line)
            if event["event"] == "build_step_start" and event["step"] == "holdout_quality":
                proc.send_signal(signal.SIGTERM)
                break
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()  # a hung child must not outlive the test
    deadline = time.monotonic() + 30
    result = JobRun(proc.returncode, out.rest(deadline), err.rest(deadline))
    assert result.code == EXIT_UNEXPECTED
    assert_one_clear_line(result, "interrupted (signal SIGTERM)", "LATEST unchanged (unset)")
    assert latest(s3, "sigterm") is None and version_dirs(s3, "sigterm") == []


class Lines:
    """A child's output lines, read by a thread: a deadline then holds even while the child
    prints nothing (`for line in proc.stdout` blocks until the next line or EOF, and a deadline
    checked between lines is never reached)."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            for line in stream:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def next(self, deadline: float) -> str | None:
        """The next line, None at EOF; fails the test at the deadline."""
        try:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no output line before the deadline; so far: {self.lines[-5:]}")
        if line is not None:
            self.lines.append(line)
        return line

    def rest(self, deadline: float) -> str:
        """Every line, up to EOF."""
        while self.next(deadline) is not None:
            pass
        return "".join(self.lines)


def test_buildspec_runs_the_job_from_the_task_root() -> None:
    """CodeBuild bypasses the image's entrypoint and starts outside the code directory."""
    import yaml  # pinned in requirements-dev.txt: a missing PyYAML fails here, never skips

    spec = yaml.safe_load((REPO / "build_job" / "buildspec.yml").read_text())
    assert str(spec["version"]) == "0.2"
    commands = spec["phases"]["build"]["commands"]
    assert commands == ['cd "${LAMBDA_TASK_ROOT:-/var/task}"', "python -m build_job"]
    # the build-only packages (lambda_src/Dockerfile), never on the serving function's path
    assert spec["env"]["variables"]["PYTHONPATH"] == "/opt/build-python"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEADGEN_KEEP_VERSIONS", "-1"),
        ("LEADGEN_EMBEDDER", "bert"),
        ("LEADGEN_MODEL_DIR", "/nonexistent/model"),
        ("LEADGEN_NUM_COLS", "company_size,no_such_column"),
    ],
)
def test_a_config_error_never_claims_latest_moved(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table, variable: str, value: str
) -> None:
    """With a version already published, a run refused for its configuration must say LATEST
    is as it was, never "LATEST is now V (was unset)"."""
    prefix = f"config-error-{uuid.uuid4().hex[:6]}"
    env = {
        "LEADGEN_INPUT_PATH": put_parquet(s3, "input/config-error.parquet", crm),
        "ARTIFACTS_URI": artifacts(prefix),
    }
    published = run_ok(job_env, **env)
    if variable == "LEADGEN_MODEL_DIR":
        env["LEADGEN_EMBEDDER"] = "onnx"
    result = run_job(job_env, **env, **{variable: value})
    assert result.code != EXIT_OK, result.stderr
    line = result.stderr.strip()
    assert "is now" not in line and "was unset" not in line, line
    assert "untouched" in line or f"unchanged ({published})" in line, line
    assert latest(s3, prefix) == published
