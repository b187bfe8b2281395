"""The scoring Lambda: a thin Powertools adapter over leadgen.serve.api and leadgen.serve.service.

Everything expensive happens at import (the Lambda init phase, outside request latency and, with
provisioned concurrency, before any request): configuration from env, the embedder, the duplicate
table client, and the artifact download + checksum verification + load. A failure there is caught
and logged, never raised: an import error makes Lambda crash-loop every cold start with nothing
useful for the caller, whereas a live handler answers 503 (and retries the load, throttled) until
the artifacts are fixed.

Per request: one lifecycle tick (re-check LATEST if due, at most every REFRESH_SECONDS, before
the event is resolved, so a swap never happens mid-request), resolve the HTTP API v2 event,
publish the artifact age.

Environment: ARTIFACTS_URI, LEADGEN_CACHE_DIR, REFRESH_SECONDS, MAX_BATCH_SIZE, LEAD_TTL_DAYS,
LEADGEN_EMBEDDER, LEADGEN_MODEL, LEADGEN_MODEL_DIR (the ONNX model baked into the image),
DUP_TABLE_NAME (unset: no duplicate check), IDENTITY_TABLE_NAME (unset: no fuzzy check),
LEADGEN_EMAIL_HASH_KEY_SECRET_ARN, LEADGEN_FUZZY_THRESHOLD, LEADGEN_POSSIBLE_THRESHOLD,
POWERTOOLS_METRICS_NAMESPACE (default Leadgen), LOG_LEVEL / POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.observability import MetricsObserver, make_tracer
from leadgen.config import DEFAULT_MAX_BATCH, ServiceConfig
from leadgen.errors import ArtifactError
from leadgen.names import METRICS_NAMESPACE, SERVICE_NAME, Env, Metric
from leadgen.serve.api import create_app
from leadgen.serve.assemble import CONFIGURED_TABLES, assemble
from leadgen.serve.service import ScoringService, artifact_age_seconds

# The core logs under "leadgen.*": naming the Powertools logger "leadgen" makes those records
# propagate to its JSON handler, so they carry the correlation id too.
logger = Logger(service=SERVICE_NAME)
tracer = make_tracer(SERVICE_NAME)
metrics = Metrics(
    service=SERVICE_NAME,
    namespace=os.environ.get(Env.POWERTOOLS_METRICS_NAMESPACE) or METRICS_NAMESPACE,
)


def _count_refresh_failure(message: str) -> None:
    """Lifecycle callback: the failure itself is logged by the core; here it is counted."""
    metrics.add_metric(name=Metric.ARTIFACT_REFRESH_FAILURES, unit=MetricUnit.Count, value=1)


def build_service(config: ServiceConfig) -> ScoringService:
    """The service of this execution environment (leadgen.serve.assemble): a misconfiguration,
    e.g. an unreadable hash key secret, raises here and is answered with 503s."""
    return assemble(config, "request", CONFIGURED_TABLES, _count_refresh_failure)


class Runtime:
    """This execution environment: the service (None if it could not be configured) and its
    model lifecycle. `current()` is the getter given to the resolver: no service means
    ArtifactError, which the API answers with a 503."""

    def __init__(self) -> None:
        self.service: ScoringService | None = None
        self.init_error: str | None = None
        t0 = time.perf_counter()
        try:
            self.service = build_service(ServiceConfig.from_env())
        except Exception as exc:
            self.init_error = f"{type(exc).__name__}: {exc}"
            logger.exception("scoring service misconfigured; answering 503")
        else:
            if not self.service.lifecycle.start():
                logger.error("initial artifact load failed; answering 503 until it succeeds")
        self.init_seconds = time.perf_counter() - t0
        logger.info(
            "init done",
            extra={"init_seconds": round(self.init_seconds, 3), "model_loaded": self.loaded},
        )

    @property
    def loaded(self) -> bool:
        return self.service is not None and self.service.lifecycle.loaded

    @property
    def max_batch(self) -> int:
        """MAX_BATCH_SIZE, documented in the API's schema (the default without a service)."""
        return self.service.config.max_batch if self.service is not None else DEFAULT_MAX_BATCH

    def current(self) -> ScoringService:
        if self.service is None:
            raise ArtifactError(f"the scoring service is not configured ({self.init_error})")
        return self.service

    @tracer.capture_method(capture_response=False)
    def tick(self) -> None:
        """Once per invocation: retry a failed first load or swap to a new LATEST, if due."""
        if self.service is not None:
            self.service.lifecycle.tick()

    def publish_artifact_age(self) -> None:
        """ArtifactAgeSeconds on every invocation: a stalled index refresh raises an alarm;
        ArtifactFallback while an older version serves because LATEST's was refused. Without a
        model, ArtifactUnavailable instead (each such invocation answered 503)."""
        if self.service is None or not self.service.lifecycle.loaded:
            metrics.add_metric(name=Metric.ARTIFACT_UNAVAILABLE, unit=MetricUnit.Count, value=1)
            return
        manifest = self.service.scorer().manifest
        age = artifact_age_seconds(manifest.created_at)
        metrics.add_metric(name=Metric.ARTIFACT_AGE, unit=MetricUnit.Seconds, value=age)
        metrics.add_metadata(key="artifact_version", value=manifest.version)
        if self.service.lifecycle.fallback_from is not None:
            # LATEST's version was refused at start: an older verified one answers (alarmed).
            metrics.add_metric(name=Metric.ARTIFACT_FALLBACK, unit=MetricUnit.Count, value=1)


runtime = Runtime()
app = create_app(
    runtime.current, observer=MetricsObserver(metrics, logger), max_batch=runtime.max_batch
)


@logger.inject_lambda_context(
    # log_event=False explicitly: POWERTOOLS_LOGGER_LOG_EVENT=true must not put lead bodies
    # (emails, bios) into the logs.
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP,
    log_event=False,
    clear_state=True,
)
@tracer.capture_lambda_handler(capture_response=False)  # responses describe leads: not in traces
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway HTTP API (payload v2) event -> HTTP response."""
    runtime.tick()
    response: dict[str, Any] = app.resolve(event, context)
    runtime.publish_artifact_age()
    return response
