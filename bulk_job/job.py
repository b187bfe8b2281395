"""The bulk scoring job: one uploaded lead file in, the scored file and its rejects out.

1. The object: LEADGEN_SCORE_REQUEST_BUCKET / LEADGEN_SCORE_REQUEST_KEY, which the EventBridge
   rule's target input sets on each build from the S3 "Object Created" event. S3 events may carry
   the key URL-encoded ("my+leads.csv"): if that object does not exist, the decoded key is used.
2. `leadgen.serve.bulk.score_file` against the artifact version LATEST names (ARTIFACTS_URI),
   duplicates looked up in the email and identity tables (read-only; emails hashed with the key
   from LEADGEN_EMAIL_HASH_KEY_SECRET_ARN), into SCORED_PREFIX/<name>.parquet and
   SCORED_PREFIX/<name>.rejects.parquet of the same bucket, each with the artifact version in its
   object metadata. Both appear whole or not at all.
3. The scored leads are logged (LEADGEN_SCORE_LOG: parquet parts under the bucket's score-log/
   prefix, leadgen.stores.score_log) for later builds' outcomes; a lead that could not be logged
   never fails the run: it is counted in bulk_finished and put as the ScoreLogFailures metric.
4. One JSON line per event (bulk_started, bulk_finished with the counts per outcome and grade, or
   bulk_failed with one clear message). Exit codes: 0 scored (a "folder" placeholder object is
   skipped, also 0); 2 a bad file, configuration or no artifact version yet (fix, upload again);
   1 anything else.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import unquote_plus

from build_job.job import prepare_job_process
from build_job.logs import JsonLog, one_line, report_failure
from leadgen.config import ServiceConfig, env
from leadgen.errors import ArtifactError, ConfigError, InputError, LeadgenError
from leadgen.names import SCORE_REQUESTS_PREFIX, SCORED_PREFIX, Env
from leadgen.serve.bulk import rejects_path
from leadgen.stores.exports import TABLE_SUFFIXES, split_suffix

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_INPUT = 2


@dataclass(frozen=True)
class Request:
    """The uploaded object and where its results go (same bucket)."""

    bucket: str
    key: str

    @property
    def name(self) -> str:
        """score-requests/team/leads.csv -> team/leads"""
        return split_suffix(self.key[len(SCORE_REQUESTS_PREFIX) + 1 :])[0]

    @property
    def source(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def scored(self) -> str:
        return f"s3://{self.bucket}/{SCORED_PREFIX}/{self.name}.parquet"

    @property
    def rejects(self) -> str:
        return rejects_path(self.scored)  # where score_file writes them


def request_from_env(environ: Mapping[str, str]) -> Request:
    bucket = env(Env.SCORE_REQUEST_BUCKET, environ)
    key = env(Env.SCORE_REQUEST_KEY, environ)
    if bucket is None or key is None:
        raise ConfigError(
            f"{Env.SCORE_REQUEST_BUCKET} and {Env.SCORE_REQUEST_KEY} must be set (the EventBridge "
            "rule sets them from the uploaded object)"
        )
    if not key.startswith(SCORE_REQUESTS_PREFIX + "/"):
        raise ConfigError(f"s3://{bucket}/{key}: not under {SCORE_REQUESTS_PREFIX}/")
    return Request(bucket, key)


def resolve(request: Request, client: Any) -> Request:
    """The key as given if that object exists, else its URL-decoded form (S3 event keys may be
    encoded); a key that is not a lead file is an InputError naming it."""
    from botocore.exceptions import ClientError

    decoded = Request(request.bucket, unquote_plus(request.key))
    for candidate in dict.fromkeys([request, decoded]):
        try:
            client.head_object(Bucket=candidate.bucket, Key=candidate.key)
        except ClientError:
            continue
        if not split_suffix(candidate.key)[1]:
            raise InputError(
                f"{candidate.source}: not a lead file (expected {', '.join(TABLE_SUFFIXES)})"
            )
        return candidate
    raise InputError(f"{request.source}: not found (deleted after the upload?)")


def run(stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """One job run; returns the exit code."""
    log = JsonLog(stdout or sys.stdout)
    started = time.perf_counter()
    try:
        summary = _run(log)
    except BaseException as exc:  # every failure becomes one line and an exit code
        return _failed(exc, log, stderr or sys.stderr, started)
    if summary is not None:
        log.event("bulk_finished", **summary, seconds_total=round(time.perf_counter() - started, 3))
    return EXIT_OK


def _run(log: JsonLog) -> dict[str, Any] | None:
    from leadgen.serve.assemble import CONFIGURED_TABLES, assemble, closed, started
    from leadgen.serve.bulk import score_file
    from leadgen.stores.blob import s3_client

    request = request_from_env(os.environ)
    if request.key.endswith("/"):
        log.event("bulk_skipped", key=request.key, reason="a folder placeholder, not a file")
        return None
    cfg = ServiceConfig.from_env()
    request = resolve(request, s3_client())
    log.event(
        "bulk_started",
        source=request.source,
        out=request.scored,
        rejects=request.rejects,
        artifacts=cfg.artifacts_uri,
        table=cfg.dup_table,
        score_log=cfg.score_log,
    )
    service = started(assemble(cfg, "bulk", CONFIGURED_TABLES, log_source="bulk-job"))
    try:
        summary = score_file(service, request.source, request.scored, progress=False)
    finally:
        closed(service)
    return {**summary.to_json(), "score_log": score_log_summary(service, log)}


def score_log_summary(service: Any, log: JsonLog) -> dict[str, Any]:
    """What the score log took of the file; failures are put as a metric (alarmed), and a
    failed put only warns: the file is scored."""
    logger = service.score_log
    if logger is None:
        return {"status": "off"}
    out: dict[str, Any] = {"logged": logger.logged, "failures": logger.failures}
    if logger.failures:
        from build_job.metrics import put_metrics
        from leadgen.names import Metric

        try:
            put_metrics({Metric.SCORE_LOG_FAILURES: float(logger.failures)})
        except Exception as exc:
            log.event("score_log_metric_failed", level="WARNING", error=one_line(str(exc)))
    return out


def _failed(exc: BaseException, log: JsonLog, err: TextIO, started: float) -> int:
    # no artifact version yet (build first) is also the user's to fix: 2, like a bad file
    code = (
        EXIT_INPUT if isinstance(exc, InputError | ConfigError | ArtifactError) else EXIT_UNEXPECTED
    )
    expected = isinstance(exc, LeadgenError | KeyboardInterrupt)
    message = one_line(str(exc) if expected else f"unexpected {type(exc).__name__}: {exc}")
    return report_failure(
        log,
        err,
        "bulk_failed",
        exc,
        code=code,
        message=message,
        suffix="no scored file written",
        expected=expected,
        seconds_total=round(time.perf_counter() - started, 3),
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m bulk_job`: takes no arguments, only the environment (set by the stack and the
    EventBridge rule)."""
    import argparse

    argparse.ArgumentParser(
        prog="python -m bulk_job",
        description="Score the lead file LEADGEN_SCORE_REQUEST_BUCKET/KEY (under "
        f"{SCORE_REQUESTS_PREFIX}/) against ARTIFACTS_URI into {SCORED_PREFIX}/NAME.parquet.",
    ).parse_args(argv)
    prepare_job_process()
    return run()
