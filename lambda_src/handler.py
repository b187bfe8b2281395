"""The scoring Lambda: a thin Powertools adapter over leadgen.serve.api and leadgen.serve.service.

Everything expensive happens at import (the Lambda init phase, outside request latency and, with
provisioned concurrency, before any request): configuration from env, the embedder, the duplicate
table client, and the artifact download + checksum verification + load. A failure there is caught
and logged, never raised: an import error makes Lambda crash-loop every cold start with nothing
useful for the caller, whereas a live handler answers 503 (and retries the load, throttled) until
the artifacts are fixed.

Per request: re-check LATEST if due (at most every REFRESH_SECONDS, between requests, so a swap
never happens mid-request), resolve the HTTP API v2 event, publish the artifact age.

Environment: ARTIFACTS_URI, LEADGEN_CACHE_DIR, REFRESH_SECONDS, MAX_BATCH_SIZE, LEAD_TTL_DAYS,
LEADGEN_EMBEDDER, LEADGEN_MODEL, LEADGEN_MODEL_DIR (the ONNX model baked into the image),
DUP_TABLE_NAME (unset: no duplicate check), POWERTOOLS_METRICS_NAMESPACE (default Leadgen),
LOG_LEVEL / POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.observer import MetricsObserver
from lambda_src.tracing import make_tracer
from leadgen.errors import ArtifactError
from leadgen.model.embedders import make_embedder
from leadgen.serve.api import create_app
from leadgen.serve.service import ScoringService, ServiceConfig
from leadgen.stores.dynamo import DynamoDuplicateStore, dynamodb_client

# The core logs under "leadgen.*": naming the Powertools logger "leadgen" makes those records
# propagate to its JSON handler, so they carry the correlation id too.
SERVICE_NAME = "leadgen"
DEFAULT_NAMESPACE = "Leadgen"
# After a failed initial load, a request retries it at most this often (or every REFRESH_SECONDS
# if shorter): each retry downloads and verifies a whole version, not for every request of a burst.
LOAD_RETRY_SECONDS = 10.0

logger = Logger(service=SERVICE_NAME)
tracer = make_tracer(SERVICE_NAME)
metrics = Metrics(
    service=SERVICE_NAME,
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE,
)


def _count_refresh_failure(message: str) -> None:
    """ModelHolder callback: the failure itself is logged by the core; here it is counted."""
    metrics.add_metric(name="ArtifactRefreshFailures", unit=MetricUnit.Count, value=1)


class Runtime:
    """The state of this execution environment: the service, and whether its model is loaded.

    Built once per cold start. `current()` is the getter given to the resolver: it turns every
    way of having no usable model into ArtifactError, which the API answers with a 503."""

    def __init__(self) -> None:
        self.service: ScoringService | None = None
        self.init_error: str | None = None
        self.loaded = False
        self.init_seconds = 0.0
        self._next_retry = 0.0
        self._lock = threading.Lock()
        t0 = time.perf_counter()
        try:
            self.service = self._build()
        except Exception as exc:
            self.init_error = f"{type(exc).__name__}: {exc}"
            logger.exception("scoring service misconfigured; answering 503")
        else:
            self._load()
        self.init_seconds = time.perf_counter() - t0
        logger.info(
            "init done",
            extra={"init_seconds": round(self.init_seconds, 3), "model_loaded": self.loaded},
        )

    @staticmethod
    def _build() -> ScoringService:
        config = ServiceConfig.from_env()
        embedder = make_embedder(
            config.embedder, config.model, os.environ.get("LEADGEN_MODEL_DIR") or None
        )
        table = os.environ.get("DUP_TABLE_NAME") or None
        # The request profile (short timeouts, one retry), created at init so its setup stays out
        # of the first request.
        duplicates = None
        if table:
            duplicates = DynamoDuplicateStore(table, client=dynamodb_client("request"))
        return ScoringService(
            config, embedder, duplicates, on_refresh_failure=_count_refresh_failure
        )

    def _load(self) -> None:
        assert self.service is not None
        try:
            model = self.service.holder.load_initial()
        except Exception as exc:
            self.init_error = f"{type(exc).__name__}: {exc}"
            wait = min(LOAD_RETRY_SECONDS, self.service.config.refresh_seconds)
            self._next_retry = time.monotonic() + wait
            _count_refresh_failure(self.init_error)
            logger.exception("initial artifact load failed; answering 503 until it succeeds")
            return
        self.loaded, self.init_error = True, None
        logger.info(
            "artifacts loaded",
            extra={"artifact_version": model.version, "embedder": model.manifest["embedder"]},
        )

    def current(self) -> ScoringService:
        if self.service is None:
            raise ArtifactError(f"the scoring service is not configured ({self.init_error})")
        if not self.loaded:
            with self._lock:
                if not self.loaded and time.monotonic() >= self._next_retry:
                    self._load()
            if not self.loaded:
                raise ArtifactError(f"no artifact version could be loaded ({self.init_error})")
        return self.service

    @tracer.capture_method(capture_response=False)
    def refresh(self) -> None:
        """Swap to a new LATEST if due; failures are refused, logged and counted by the core."""
        if self.loaded and self.service is not None:
            self.service.holder.maybe_refresh()

    def publish_artifact_age(self) -> None:
        """ArtifactAgeSeconds on every invocation: a stalled index refresh raises an alarm.
        Without a model, ArtifactUnavailable instead (each such invocation answered 503)."""
        if not self.loaded or self.service is None:
            metrics.add_metric(name="ArtifactUnavailable", unit=MetricUnit.Count, value=1)
            return
        model = self.service.holder.model
        created = datetime.fromisoformat(str(model.manifest["created_at"]))
        age = max(0.0, time.time() - created.timestamp())
        metrics.add_metric(name="ArtifactAgeSeconds", unit=MetricUnit.Seconds, value=age)
        metrics.add_metadata(key="artifact_version", value=model.version)


runtime = Runtime()
app = create_app(runtime.current, observer=MetricsObserver(metrics, logger))


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
    runtime.refresh()
    response: dict[str, Any] = app.resolve(event, context)
    runtime.publish_artifact_age()
    return response
