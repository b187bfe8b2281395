"""The build job: environment in, one published artifact version and a synced duplicate table out.

Order matters and is the whole point of this module:
1. `leadgen.builder.build` reads the export, builds, uploads, verifies checksums, runs the quality
   gate and only then moves LATEST; on any failure it removes the uploaded version and raises.
2. Only after LATEST has moved is the scoring function rolled out to the new version (when
   LEADGEN_FUNCTION_NAME is set: a function version pinned to it, the `live` alias moved, so
   provisioned concurrency loads it before traffic shifts: leadgen.rollout), and then the
   duplicate tables synced with its customers, so a failed build never changes what the Lambda
   answers (indices or duplicates).
3. The drift against the previous version and the backtest of logged leads (with the challenger
   gate's decision) are logged and put as CloudWatch metrics (build_job.metrics; a failed put
   only warns), the build report beside the artifacts is rewritten with the roll-out, the
   metrics and the sync counts, and a final summary line is logged.

Exit codes (CodeBuild fails the build on any non-zero): 0 published, rolled out and synced; 2
input or configuration error (fix the export or the env vars, rerun); 3 quality gate refusal (the
holdout floors, the drift limit, or the challenger gate on realised outcomes) and 4 capacity
refusal (the version needs more memory or /tmp than the deployed function has): the new version
was not published; 1 anything else, including a published version whose roll-out or table sync
failed (the next build retries both). Expected failures print one line, never a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from build_job.logs import JsonLog, install_logging, one_line, report_failure
from leadgen.config import (
    JOB_TOKENIZERS,
    OFFLINE_MODEL_HUB,
    THREAD_WAIT_DEFAULTS,
    BuildConfig,
    default_library_settings,
    env,
)
from leadgen.errors import CapacityError, ConfigError, InputError, LeadgenError, QualityGateError
from leadgen.names import Env
from leadgen.stores.blob import Store

if TYPE_CHECKING:
    from leadgen.duplicates.normalise import CrmRecord

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_INPUT = 2
EXIT_GATE = 3
EXIT_CAPACITY = 4


class Terminated(BaseException):
    """SIGTERM (CodeBuild stop or timeout) as an exception, so the core's cleanup (remove the
    half-uploaded version, delete the staging folder) runs instead of the process just dying.
    A BaseException, like KeyboardInterrupt, so no `except Exception` swallows it."""


class SyncError(LeadgenError):
    """The version was published but the duplicate table could not be synced (or the function
    could not be rolled out to it)."""


def job_config(environ: dict[str, str] | None = None) -> BuildConfig:
    """The build's configuration from the environment the stack sets (BuildConfig.from_env),
    checked before any work so a typo costs seconds, not a build. The email hash key is read
    from its secret here (LEADGEN_EMAIL_HASH_KEY_SECRET_ARN), once."""
    from leadgen.stores.secrets import with_hash_key

    cfg = with_hash_key(BuildConfig.from_env(environ))
    if cfg.input_path is None:
        raise ConfigError(
            f"{Env.INPUT_PATH} is not set (the CRM export: s3://bucket/key of a parquet "
            "file, a prefix of parquet parts, or a partitioned dataset)"
        )
    if env(Env.ARTIFACTS_URI, environ or os.environ) is None:
        raise ConfigError(
            f"{Env.ARTIFACTS_URI} is not set (s3://bucket/prefix for artifact versions)"
        )
    return cfg


class _Progress:
    """Turns the core's step hook into log lines and remembers where a failure happened."""

    def __init__(self, log: JsonLog) -> None:
        self.log = log
        self.step: str | None = None
        self.published: str | None = None
        self.previous: str | None = None
        self.store: Store | None = None  # set once the job has read LATEST

    def on_step(self, name: str, seconds: float | None) -> None:
        if seconds is None:
            self.step = name
            self.log.event("build_step_start", step=name)
        else:
            self.log.event("build_step", step=name, seconds=seconds)


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, QualityGateError):
        return EXIT_GATE
    if isinstance(exc, CapacityError):
        return EXIT_CAPACITY
    if isinstance(exc, InputError | ConfigError):
        return EXIT_INPUT
    return EXIT_UNEXPECTED


def run(
    stdout: TextIO | None = None, stderr: TextIO | None = None, store: Store | None = None
) -> int:
    """One job run; returns the exit code. `store` replaces the artifact store named by
    ARTIFACTS_URI (tests wrap it to inject faults)."""
    log = JsonLog(stdout or sys.stdout)
    err = stderr or sys.stderr
    progress = _Progress(log)
    started = time.perf_counter()
    try:
        with _sigterm_raises():
            summary = _run(log, progress, store, started)
    except BaseException as exc:  # every failure becomes one line and an exit code
        return _failed(exc, log, err, progress, started)
    log.event("build_finished", **summary)
    return EXIT_OK


def _run(log: JsonLog, progress: _Progress, store: Store | None, started: float) -> dict[str, Any]:
    from leadgen.builder.pipeline import build
    from leadgen.model.bundle import REPORT
    from leadgen.stores.artifacts import latest_version
    from leadgen.stores.blob import open_store

    cfg = job_config()
    store = store or open_store(cfg.artifacts_uri)
    progress.previous = latest_version(store)
    progress.store = store
    log.event(
        "build_started",
        input=cfg.input_path,
        artifacts=cfg.artifacts_uri,
        table=cfg.dup_table,
        keep_versions=cfg.keep_versions,
        embedder=cfg.embedder.kind,
        columns=cfg.columns.to_json(),
        key_columns={"id": cfg.keys.id, "email": cfg.keys.email, "current": cfg.keys.current},
        input_format=cfg.input_format,
        high_value_rule=cfg.high_value.to_json(),
        latest=progress.previous,
    )
    result = build(cfg, progress=False, say=log.say, on_step=progress.on_step, store=store)
    progress.published = result.version
    report = result.report
    report["drift_metrics"] = report_drift(log, report.get("drift") or {})
    report["outcome_metrics"] = report_outcomes(log, report)
    n_customers = int(report["rows"]["current_customers"])
    errors: list[str] = []
    report["rollout"] = _after_publish(
        "function roll-out", errors, lambda: roll_out_function(cfg, store, result.version, progress)
    )
    report["duplicate_sync"] = _after_publish(
        "duplicate table sync",
        errors,
        lambda: sync_duplicates(
            cfg.dup_table,
            result.customer_pairs,
            n_customers,
            progress,
            result.customer_blocks.records,
        ),
    )
    report["identity_sync"] = _after_publish(
        "identity table sync", errors, lambda: sync_identities(cfg, result, progress)
    )
    report["job"] = {
        "previous_version": progress.previous,
        "seconds_total": round(time.perf_counter() - started, 3),
    }
    store.write_bytes(f"{result.version}/{REPORT}", json.dumps(report, indent=2).encode())
    if errors:
        raise SyncError(
            f"published {result.version} (LATEST moved), but {'; '.join(errors)}; "
            "the next build re-syncs the tables and rolls the function out again"
        )
    return summary_fields(report)


def _after_publish(what: str, errors: list[str], step: Any) -> dict[str, Any]:
    """Run a step that follows publishing; a failure is recorded (and reported at the end), so
    the steps after it still run against the version LATEST now names."""
    try:
        result: dict[str, Any] = step()
        return result
    except Exception as exc:
        error = one_line(f"{type(exc).__name__}: {exc}")
        errors.append(f"the {what} failed: {error}")
        return {"status": "failed", "error": error}


def roll_out_function(
    cfg: BuildConfig, store: Store, version: str, progress: _Progress
) -> dict[str, Any]:
    """Move the scoring function to the version just published (leadgen.rollout); skipped
    when no function is configured (a local run)."""
    if cfg.function_name is None:
        progress.log.event("rollout_skipped", reason=f"{Env.FUNCTION_NAME} is not set")
        return {"status": "skipped", "reason": f"{Env.FUNCTION_NAME} is not set"}
    from leadgen.rollout import roll_out
    from leadgen.stores.artifacts import read_pointer

    pointer = read_pointer(store)
    if pointer.version != version:
        raise LeadgenError(f"LATEST names {pointer.version}, not {version}: not rolling out")
    progress.on_step("rollout", None)
    done = roll_out(cfg.function_name, pointer)
    progress.log.event(
        "build_step",
        level="INFO" if done.shifted else "WARNING",
        step="rollout",
        seconds=done.seconds,
        function_version=done.function_version,
        previous_function_version=done.previous_version,
        shifted=done.shifted,
    )
    return {"status": "ok" if done.shifted else "shifting", **done.to_json()}


def report_drift(log: JsonLog, drift: dict[str, Any]) -> dict[str, Any]:
    """Log the drift summary and put it as CloudWatch metrics."""
    from build_job.metrics import put_drift_metrics
    from leadgen.builder.version_profile import summary

    log.event("drift", **summary(drift))
    return _put(log, "drift_metrics_failed", lambda: put_drift_metrics(drift))


def report_outcomes(log: JsonLog, report: dict[str, Any]) -> dict[str, Any]:
    """Log the logged leads' outcomes and the challenger's decision, and put the backtest's
    figures as CloudWatch metrics (leadgen.builder.backtest.metric_values)."""
    from build_job.metrics import put_outcome_metrics

    outcomes = report.get("outcomes") or {}
    challenger = report.get("challenger") or {}
    log.event(
        "outcomes",
        counts=outcomes.get("counts"),
        challenger=challenger.get("status"),
        reason=challenger.get("reason"),
    )
    return _put(log, "outcome_metrics_failed", lambda: put_outcome_metrics(report))


def _put(log: JsonLog, failed: str, put: Callable[[], dict[str, float]]) -> dict[str, Any]:
    """Put a build's figures as metrics. The version is published by now, so a failed put is a
    warning in the log and the report, never a failed build."""
    try:
        return {"status": "put", "values": put()}
    except Exception as exc:
        error = one_line(f"{type(exc).__name__}: {exc}")
        log.event(failed, level="WARNING", error=error)
        return {"status": "failed", "error": error}


def sync_duplicates(
    table_name: str | None,
    pairs: list[tuple[str, str]],
    n_customers: int,
    progress: _Progress,
    records: Mapping[str, CrmRecord] | None = None,
) -> dict[str, Any]:
    """Upsert the export's email hashes (customers, and the others with their stage: `records`)
    and drop the stale ones (leads untouched); `sync_customer_hashes` decides when not to (an
    export without emails)."""
    counts: dict[str, Any] = {
        "table": table_name,
        "current_customers": n_customers,
        "email_hashes": len(pairs),
    }
    if table_name is None:
        progress.log.event(
            "dedup_sync_skipped", level="WARNING", reason="DUP_TABLE_NAME is not set"
        )
        return {**counts, "status": "skipped", "reason": "DUP_TABLE_NAME is not set"}
    from leadgen.duplicates.dynamo_store import DynamoDuplicateStore
    from leadgen.duplicates.store import sync_customer_hashes

    progress.on_step("dedup_sync", None)
    t0 = time.perf_counter()
    result = sync_customer_hashes(DynamoDuplicateStore(table_name), pairs, records)
    seconds = round(time.perf_counter() - t0, 3)
    if result["status"] != "ok":
        progress.log.event("dedup_sync_skipped", level="WARNING", reason=result["reason"])
        return {**counts, **result}
    progress.log.event(
        "build_step",
        step="dedup_sync",
        seconds=seconds,
        upserted=result["upserted"],
        removed=result["removed"],
    )
    return {**counts, **result, "seconds": seconds}


def sync_identities(cfg: BuildConfig, result: Any, progress: _Progress) -> dict[str, Any]:
    """Write the customers' fuzzy-match blocks (changed ones only) and drop the ones gone; lead
    blocks untouched. Skipped, with a warning, without IDENTITY_TABLE_NAME or identity columns."""
    counts: dict[str, Any] = {"table": cfg.identity_table, **result.customer_blocks.report}
    if cfg.identity_table is None or cfg.dup_table is None:
        reason = "IDENTITY_TABLE_NAME (or DUP_TABLE_NAME) is not set"
        progress.log.event("identity_sync_skipped", level="WARNING", reason=reason)
        return {**counts, "status": "skipped", "reason": reason}
    from leadgen.duplicates.dynamo_store import DynamoDuplicateStore
    from leadgen.duplicates.store import sync_customer_identities

    progress.on_step("identity_sync", None)
    t0 = time.perf_counter()
    store = DynamoDuplicateStore(cfg.dup_table, cfg.identity_table)
    synced = sync_customer_identities(store, result.customer_blocks.blocks)
    seconds = round(time.perf_counter() - t0, 3)
    if synced["status"] != "ok":
        progress.log.event("identity_sync_skipped", level="WARNING", reason=synced["reason"])
        return {**counts, **synced}
    progress.log.event("build_step", step="identity_sync", seconds=seconds, **synced)
    return {**counts, **synced, "seconds": seconds}


def summary_fields(report: dict[str, Any]) -> dict[str, Any]:
    """The build report, flattened to what an operator reads first (one CloudWatch event)."""
    quality = report.get("quality", {}).get("headline", {})
    indices = report.get("indices", {})
    return {
        "version": report.get("version"),
        "previous_version": report.get("job", {}).get("previous_version"),
        "published": bool(report.get("published")),
        "rows": report.get("rows"),
        "embedder": report.get("embedder"),
        "indices": {
            name: {k: info.get(k) for k in ("kind", "size", "recall_at_k")}
            for name, info in indices.items()
        },
        "headline": quality,
        "gate": report.get("gate"),
        "drift_metrics": report.get("drift_metrics"),
        "outcome_metrics": report.get("outcome_metrics"),
        "challenger": (report.get("challenger") or {}).get("status"),
        "steps_seconds": report.get("steps_seconds"),
        "rollout": report.get("rollout"),
        "duplicate_sync": report.get("duplicate_sync"),
        "identity_sync": report.get("identity_sync"),
        "serving_requirements": report.get("serving_requirements"),
        "seconds_total": report.get("job", {}).get("seconds_total"),
        "exit_code": EXIT_OK,
    }


def _failed(
    exc: BaseException, log: JsonLog, err: TextIO, progress: _Progress, started: float
) -> int:
    code = exit_code_for(exc)
    expected = isinstance(exc, LeadgenError | Terminated | KeyboardInterrupt)
    if isinstance(exc, Terminated | KeyboardInterrupt):
        message = f"interrupted ({exc or 'SIGINT'})"
    elif expected:
        message = str(exc)
    else:
        message = f"unexpected {type(exc).__name__}: {exc}"
    message = one_line(message)
    if progress.published is None:
        latest = _latest_after_failure(progress)
        where = f" during {progress.step}" if progress.step else ""
        context = f"build failed{where}; LATEST {latest}"
    else:
        context = f"version {progress.published} is published"
    return report_failure(
        log,
        err,
        "build_failed",
        exc,
        code=code,
        message=message,
        suffix=context,
        expected=expected,
        step=progress.step,
        context=context,
        published=progress.published,
        seconds_total=round(time.perf_counter() - started, 3),
    )


def _latest_after_failure(progress: _Progress) -> str:
    """Re-read LATEST rather than assume it: the failure line must tell the truth."""
    if progress.store is None:
        return "untouched (the job stopped before reading it)"
    from leadgen.stores.artifacts import latest_version

    try:
        now = latest_version(progress.store)
    except Exception as exc:
        return f"not re-read ({one_line(str(exc), 200)})"
    if now == progress.previous:
        return f"unchanged ({now or 'unset'})"
    return f"is now {now} (was {progress.previous or 'unset'})"


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Raise Terminated on SIGTERM while the job runs (main thread only: signals can only be
    handled there); the previous handler is restored afterwards."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """`python -m build_job`: takes no arguments, only the environment (set by the CDK stack)."""
    import argparse

    argparse.ArgumentParser(
        prog="python -m build_job",
        description="Build and publish a leadgen artifact version from LEADGEN_INPUT_PATH to "
        "ARTIFACTS_URI, then sync DUP_TABLE_NAME and IDENTITY_TABLE_NAME. Settings come from "
        "the environment (LEADGEN_* column vars, LEADGEN_KEEP_VERSIONS, LEADGEN_EMBEDDER, "
        "LEADGEN_MODEL_DIR, LEADGEN_EMAIL_HASH_KEY_SECRET_ARN).",
    ).parse_args(argv)
    prepare_job_process()
    return run()


def prepare_job_process() -> None:
    """What a CodeBuild job process sets before any work (both jobs): offline model files, the
    thread-wait defaults measured for the build (bench/build_results.md), JSON log lines."""
    default_library_settings({**OFFLINE_MODEL_HUB, **JOB_TOKENIZERS, **THREAD_WAIT_DEFAULTS})
    install_logging(JsonLog(sys.stdout))
