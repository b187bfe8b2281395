"""Powertools Metrics for scored requests: the `Observer` hook of leadgen.serve.api, in Lambda.

Metrics carry no per-lead dimension (no email, grade or version as a dimension): each distinct
dimension value is a separate CloudWatch metric, billed and alarmed separately, so grades are four
fixed metric names and the artifact version goes into metadata (searchable in the log, free).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from leadgen.names import GRADES, Metric
from leadgen.serve.schemas import Score


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
