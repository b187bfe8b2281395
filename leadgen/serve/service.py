"""The scoring service: the loaded model, its hot refresh, and duplicate short-circuiting.

Used by every front end (local HTTP server, Lambda handler, CLI `score`). The pointer is
re-checked at most every `refresh_seconds`, between requests; a new version is fetched, verified and
loaded before it replaces the old one, and a version that fails is refused, counted, and the last
good one keeps serving.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from leadgen.config import EMAIL_COL, GradeBands
from leadgen.errors import ArtifactError, LeadValidationError
from leadgen.model.embedders import Embedder
from leadgen.model.features import validate_lead
from leadgen.serve.scorer import Model
from leadgen.stores.artifacts import Pointer, open_version, read_pointer
from leadgen.stores.blob import Store, open_store
from leadgen.stores.duplicates import DuplicateStore, email_hash

log = logging.getLogger("leadgen.serve.service")


@dataclass
class ServiceConfig:
    artifacts_uri: str
    cache_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("LEADGEN_CACHE_DIR", "/tmp/leadgen-artifacts"))
    )
    refresh_seconds: float = 300.0
    max_batch: int = 100
    lead_ttl_days: int = 90
    embedder: str = "onnx"
    model: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceConfig:
        from leadgen.config import env, env_float, env_int

        e = environ if environ is not None else os.environ
        uri = env("ARTIFACTS_URI", e)
        if uri is None:
            raise ArtifactError("ARTIFACTS_URI is not set (s3://bucket/prefix or a local folder)")
        return cls(
            artifacts_uri=uri,
            cache_dir=Path(env("LEADGEN_CACHE_DIR", e) or "/tmp/leadgen-artifacts"),
            refresh_seconds=env_float("REFRESH_SECONDS", 300.0, e),
            max_batch=env_int("MAX_BATCH_SIZE", 100, e),
            lead_ttl_days=env_int("LEAD_TTL_DAYS", 90, e),
            embedder=env("LEADGEN_EMBEDDER", e) or "onnx",
            model=env("LEADGEN_MODEL", e),
        )


class ModelHolder:
    """Holds the current Model and swaps it when LATEST moves."""

    def __init__(
        self,
        store: Store,
        cache_dir: Path,
        embedder: Embedder,
        refresh_seconds: float,
        on_refresh_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.embedder = embedder
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._model: Model | None = None
        self._pointer: Pointer | None = None
        self._checked_at = 0.0
        self._refused: set[str] = set()
        self.refresh_failures = 0
        self._on_failure = on_refresh_failure

    def load_initial(self) -> Model:
        pointer = read_pointer(self.store)
        model = self._load(pointer)
        self._model, self._pointer, self._checked_at = model, pointer, time.monotonic()
        return model

    def _load(self, pointer: Pointer) -> Model:
        return open_version(
            self.store,
            pointer,
            self.cache_dir,
            lambda directory, manifest: Model(directory, manifest, self.embedder),
        )

    @property
    def model(self) -> Model:
        if self._model is None:
            return self.load_initial()
        self.maybe_refresh()
        assert self._model is not None
        return self._model

    def maybe_refresh(self, force: bool = False) -> bool:
        """Check LATEST if due; returns True when a new version was swapped in."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.refresh_seconds:
            return False
        if not self._lock.acquire(blocking=False):
            return False  # another thread is refreshing; keep serving the current model
        try:
            self._checked_at = now
            try:
                pointer = read_pointer(self.store)
            except Exception as exc:
                self._fail(f"cannot read the LATEST pointer: {exc}")
                return False
            if pointer == self._pointer or pointer.version in self._refused:
                return False
            try:
                model = self._load(pointer)
            except Exception as exc:
                self._refused.add(pointer.version)
                self._fail(f"refused artifact version {pointer.version}: {exc}")
                return False
            old = self._model
            self._model, self._pointer = model, pointer
            log.info(
                "artifact version swapped",
                extra={"version": pointer.version, "previous": old.version if old else None},
            )
            self._cleanup(old)
            return True
        finally:
            self._lock.release()

    def _fail(self, message: str) -> None:
        self.refresh_failures += 1
        log.error(message)
        if self._on_failure is not None:
            self._on_failure(message)

    def _cleanup(self, old: Model | None) -> None:
        """Free /tmp space of a replaced remote version (Lambda /tmp is small)."""
        if old is None or not str(old.directory).startswith(str(self.cache_dir)):
            return
        import shutil

        shutil.rmtree(old.directory, ignore_errors=True)


class ScoringService:
    def __init__(
        self,
        config: ServiceConfig,
        embedder: Embedder,
        duplicates: DuplicateStore | None,
        store: Store | None = None,
        on_refresh_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.holder = ModelHolder(
            store or open_store(config.artifacts_uri),
            config.cache_dir,
            embedder,
            config.refresh_seconds,
            on_refresh_failure,
        )
        self.duplicates = duplicates
        self.started = time.time()

    @property
    def model(self) -> Model:
        return self.holder.model

    def health(self) -> dict[str, Any]:
        model = self.model
        created = datetime.fromisoformat(str(model.manifest["created_at"]))
        age = max(0.0, time.time() - created.timestamp())
        return {
            "status": "ok",
            "artifact_version": model.version,
            "artifact_age_seconds": round(age, 1),
            "embedder": model.manifest["embedder"],
            "customers": int(model.manifest["rows"]["current_customers"]),
            "k": model.k,
            "graded_on": model.head.headline_name,
        }

    def score_leads(
        self,
        leads: Sequence[Mapping[str, Any]],
        bands: GradeBands | None = None,
        n_neighbors: int = 5,
    ) -> list[dict[str, Any]]:
        """Score a batch; duplicates short-circuit (not embedded), the rest are scored together."""
        model = self.model
        results: list[dict[str, Any] | None] = [None] * len(leads)
        hashes: list[str | None] = [None] * len(leads)
        checked = [False] * len(leads)
        # After one failed call, the store is not called again in this batch: each failure can
        # cost its timeouts and retries, and a batch of 100 must not wait 100 times for them.
        store_down = False
        to_score: list[int] = []
        for i, lead in enumerate(leads):
            try:
                validate_lead(lead, model.spec)
            except LeadValidationError as exc:
                raise LeadValidationError(_field(i, len(leads), exc.field), exc.reason) from None
            email = lead.get(EMAIL_COL)
            if email is not None and not isinstance(email, str):
                raise LeadValidationError(_field(i, len(leads), EMAIL_COL), "expected a string")
            h = email_hash(email) if email else None
            hashes[i] = h
            if h is not None and self.duplicates is not None and not store_down:
                try:
                    hit = self.duplicates.lookup(h)
                    checked[i] = True
                except Exception as exc:
                    log.warning("duplicate check skipped: %s", type(exc).__name__)
                    store_down, hit = True, None
                if hit is not None:
                    results[i] = _duplicate(hit.kind, hit.ref, model.version)
                    continue
            to_score.append(i)
        scored = model.score([leads[i] for i in to_score], bands, n_neighbors)
        for i, res in zip(to_score, scored, strict=True):
            res["duplicate"] = False
            res["artifact_version"] = model.version
            h = hashes[i]
            res["duplicate_check"] = (
                "skipped" if (h and not checked[i]) else ("done" if h else "no_email")
            )
            if h is not None and self.duplicates is not None and checked[i] and store_down:
                res["duplicate_check"] = "skipped"
            elif h is not None and self.duplicates is not None and checked[i]:
                ref = str(leads[i].get("lead_id") or uuid.uuid4())
                try:
                    hit = self.duplicates.record_lead(h, ref, self.config.lead_ttl_days * 86400)
                except Exception as exc:
                    log.warning("duplicate record skipped: %s", type(exc).__name__)
                    res["duplicate_check"] = "skipped"
                    store_down, hit = True, None
                if hit is not None:  # lost the race with a concurrent submission
                    results[i] = _duplicate(hit.kind, hit.ref, model.version)
                    continue
                res["lead_ref"] = ref
            results[i] = res
        return [r for r in results if r is not None]


def _duplicate(kind: str, ref: str, version: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "duplicate": True,
        "duplicate_of": kind,
        "artifact_version": version,
        "duplicate_check": "done",
    }
    out["customer_id" if kind == "customer" else "lead_ref"] = ref
    return out


def _field(i: int, n: int, name: str) -> str:
    return name if n == 1 else f"leads[{i}].{name}"
