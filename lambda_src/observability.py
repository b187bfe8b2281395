"""What the scoring Lambda reports besides its answers: metrics of each scoring request, and traces.

Metrics (`MetricsObserver`, the `Observer` hook of leadgen.serve.api) carry no per-lead dimension
(no email, grade or version as a dimension): each distinct dimension value is a separate
CloudWatch metric, billed and alarmed separately, so grades are four fixed metric names and the
artifact version goes into metadata (searchable in the log, free).

Traces (`make_tracer`): Powertools imports `aws_xray_sdk.core` even for a disabled Tracer, and
that import is a visible share of every cold start (bench/RESULTS.md). Off Lambda, under the
emulator / SAM, or with POWERTOOLS_TRACE_DISABLED, the Tracer gets a provider that records
nothing, so no SDK is imported. On Lambda with tracing on, the SDK patches botocore only (the S3
and DynamoDB calls), not every library it knows (sqlite3, requests, httplib...).
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import AsyncGenerator, Generator, Sequence
from numbers import Number
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from leadgen.names import GRADES, Metric
from leadgen.serve.schemas import Score


# ---- metrics ------------------------------------------------------------------------------------
class MetricsObserver:
    """Publishes latency, volumes, duplicates and grade counts for each scoring request."""

    def __init__(self, metrics: Metrics, logger: Logger) -> None:
        self.metrics = metrics
        self.logger = logger

    def scored(self, route: str, results: Sequence[Score], seconds: float) -> None:
        """Called by the resolver after a successful /score_lead(s); results hold no raw email."""
        latency_ms = seconds * 1000.0
        fresh = [r for r in results if not r.duplicate]
        duplicates = len(results) - len(fresh)
        skipped = sum(1 for r in results if r.duplicate_check == "skipped")
        fuzzy = sum(1 for r in results if r.duplicate_match and r.duplicate_match.kind == "fuzzy")
        possible = sum(1 for r in results if r.possible_duplicate is not None)
        grades = Counter(r.grade for r in fresh if r.grade in GRADES)

        m = self.metrics
        m.add_metric(name=Metric.SCORE_LATENCY, unit=MetricUnit.Milliseconds, value=latency_ms)
        # Emitted even when zero, so Sum/SampleCount give rates rather than gaps.
        m.add_metric(name=Metric.LEADS_SCORED, unit=MetricUnit.Count, value=len(fresh))
        m.add_metric(name=Metric.DUPLICATES, unit=MetricUnit.Count, value=duplicates)
        m.add_metric(name=Metric.FUZZY_DUPLICATES, unit=MetricUnit.Count, value=fuzzy)
        m.add_metric(name=Metric.POSSIBLE_DUPLICATES, unit=MetricUnit.Count, value=possible)
        if skipped:
            m.add_metric(name=Metric.DUPLICATE_CHECK_SKIPPED, unit=MetricUnit.Count, value=skipped)
        for grade, count in sorted(grades.items()):
            m.add_metric(name=Metric.grade(str(grade)), unit=MetricUnit.Count, value=count)
        # Counts and timings only: never the lead itself (emails, names, bios are personal data).
        self.logger.info(
            "scored",
            extra={
                "route": route,
                "leads": len(results),
                "duplicates": duplicates,
                "fuzzy_duplicates": fuzzy,
                "possible_duplicates": possible,
                "duplicate_check_skipped": skipped,
                "grades": dict(sorted(grades.items())),
                "latency_ms": round(latency_ms, 2),
            },
        )


# ---- traces -------------------------------------------------------------------------------------
PATCHED_MODULES = ("botocore",)


def tracing_enabled() -> bool:
    """Powertools' own rule: on Lambda, not under SAM/Chalice, not disabled by env."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
    ):
        return False
    if os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE"):
        return False
    return bool(os.environ.get("LAMBDA_TASK_ROOT"))


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: str | Number | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        return None


class NoTraceProvider(BaseProvider):
    """A provider that records nothing and imports nothing."""

    @contextlib.contextmanager
    def in_subsegment(self, name: str = "", **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _NoSegment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(
        self, name: str = "", **kwargs: Any
    ) -> AsyncGenerator[BaseSegment, None]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: str | Number | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Sequence[str]) -> None:
        return None

    def patch_all(self) -> None:
        return None


def make_tracer(service: str) -> Tracer:
    if tracing_enabled():
        return Tracer(service=service, patch_modules=PATCHED_MODULES)
    return Tracer(service=service, disabled=True, auto_patch=False, provider=NoTraceProvider())
