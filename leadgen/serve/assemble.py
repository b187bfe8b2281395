"""The scoring service assembled from its configuration: one recipe for every entry point.

The Lambda (lambda_src/handler.py), `leadgen score` / `serve` / `score-file` (leadgen/cli.py) and
the bulk job (bulk_job/job.py) differ only in what they ask for: the use (a stream of requests,
or a bulk file), where the duplicate check looks people up, hooks counting failed refreshes and
failed score-log writes, and the name their scored leads are logged under. Everything else (the
hash key from its secret, the embedder, its text cache, a read-only store for bulk runs, the
score log's sink) is decided here once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from leadgen.config import ServiceConfig
from leadgen.duplicates.store import DuplicateStore, LookupOnly
from leadgen.errors import ArtifactError
from leadgen.model.embedders import Embedder, make_embedder
from leadgen.model.text_cache import CachedEmbedder
from leadgen.serve.lifecycle import FailureHook
from leadgen.serve.score_record import ScoreLogger, open_logger
from leadgen.serve.service import ScoringService
from leadgen.stores.secrets import with_hash_key

Use = Literal["request", "bulk"]
# Distinct texts whose vectors a bulk run keeps between batches: lead files repeat titles and
# descriptions, and a capped cache keeps memory independent of the file's length (bench/BULK.md).
BULK_TEXT_CACHE = 50_000


@dataclass(frozen=True)
class DuplicateSource:
    """Where the duplicate check looks people up: the SQLite file at `sqlite_path` (the CLI's,
    beside local artifacts), the DynamoDB tables the config names (`tables`: the Lambda and the
    bulk job), or nowhere (neither)."""

    sqlite_path: str | None = None
    tables: bool = False


NOWHERE = DuplicateSource()
CONFIGURED_TABLES = DuplicateSource(tables=True)


def assemble(
    config: ServiceConfig,
    use: Use = "request",
    duplicates: DuplicateSource = NOWHERE,
    on_refresh_failure: FailureHook | None = None,
    embedder: Embedder | None = None,
    *,
    log_source: str | None = None,
    on_log_failure: Callable[[int], None] | None = None,
) -> ScoringService:
    """The service, not started. The email hash key is read from its secret here, once (a
    failure is a misconfiguration, never hashes made with the wrong key). Requests: the store
    read-write (DynamoDB's request profile: short timeouts, one retry) and the configured text
    cache; bulk: the store read-only (bulk rows are never recorded, DynamoDB's batch profile)
    and a text cache of BULK_TEXT_CACHE texts. Scored leads are logged where config.score_log
    says, under `log_source` (default: "api" for requests, "score-file" for bulk)."""
    config = with_hash_key(config)
    store = _store(config, use, duplicates)
    engine = embedder or make_embedder(config.embedder)
    if use == "bulk":
        engine = CachedEmbedder(engine, BULK_TEXT_CACHE)
        store = LookupOnly(store) if store is not None else None
    service = ScoringService(config, engine, store, on_refresh_failure=on_refresh_failure)
    service.score_log = _score_log(config, use, log_source, on_log_failure)
    return service


def _score_log(
    config: ServiceConfig,
    use: Use,
    source: str | None,
    on_failure: Callable[[int], None] | None,
) -> ScoreLogger | None:
    """Parts are flushed by a background thread for requests (no write on the request path)
    and every BULK_PART_RECORDS records in a bulk run; "stdout" writes each request's lines."""
    if config.score_log is None:
        return None
    name = source or ("api" if use == "request" else "score-file")
    background = use == "request"
    return open_logger(
        config.score_log, name, config.email_hash_key, background=background, on_failure=on_failure
    )


def closed(service: ScoringService) -> ScoringService:
    """The service with its score log written out (a clean shutdown, a finished file)."""
    if service.score_log is not None:
        service.score_log.close()
    return service


def started(service: ScoringService) -> ScoringService:
    """The service with a version loaded; ArtifactError if none can be (a CLI command or a bulk
    run has no later request to retry on; the Lambda starts its own and answers 503)."""
    if not service.lifecycle.start():
        raise ArtifactError(str(service.lifecycle.error))
    return service


def _store(config: ServiceConfig, use: Use, source: DuplicateSource) -> DuplicateStore | None:
    """The store is made here, so a client's setup stays out of the first request."""
    if source.sqlite_path:
        from leadgen.duplicates.sqlite_store import SqliteDuplicateStore

        return SqliteDuplicateStore(source.sqlite_path, config.dup_store_timeout_ms / 1000)
    if source.tables:
        from leadgen.duplicates.dynamo_store import configured_store

        profile: Literal["request", "batch"] = "request" if use == "request" else "batch"
        return configured_store(config.dup_table, config.identity_table, profile)
    return None
