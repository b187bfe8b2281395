"""The served version's lifecycle: first load, retries, refresh, swap, fallback.

One owner for the question "which version answers this request". Adapters call `tick()` once per
request (it checks LATEST at most every `refresh_seconds`, or retries a failed first load at most
every `retry_seconds`) and then read `current()`, which does no I/O. A new version is fetched,
verified and loaded before it replaces the old one, in the background once one is served
(leadgen.serve.refresh); a version that fails is reported through `on_failure`, and the last good
one keeps serving. A pointer source other than LATEST (a function version pinned to an artifact
version, leadgen.rollout) never changes, so such an environment never refreshes.

Failures are of two kinds, told apart by the error (leadgen.errors.StoreUnavailable):
- the store could not be read (network, timeout, throttling): nothing is refused; the next check
  comes after an exponential backoff from `retry_seconds` (never sooner than the usual cadence);
- the version is bad (checksum, size, format, another embedder): it is refused, and retried only
  after its own backoff (`refused_retry_seconds`, doubling, at most `max_retry_seconds`), since
  its files may be fixed in place; a new LATEST is tried at once.
While nothing is loaded and LATEST's version is refused as bad, the newest older complete version
that verifies serves instead (`fallback_from` names the refused one; /health and the
ArtifactFallback metric say so) until LATEST loads or moves.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from leadgen.errors import ArtifactError, StoreUnavailable
from leadgen.model.bundle import Bundle
from leadgen.model.embedders import Embedder
from leadgen.serve.refresh import BackgroundRefresh
from leadgen.serve.scorer import Scorer
from leadgen.stores.artifacts import (
    FetchedVersion,
    Pointer,
    complete_versions,
    inside,
    open_version,
    pointer_to,
    read_pointer,
)
from leadgen.stores.blob import LocalStore, Store

log = logging.getLogger(__name__)

FailureHook = Callable[[str], None]
PointerSource = Callable[[Store], Pointer]
RETRY_SECONDS = 10.0
REFUSED_RETRY_SECONDS = 60.0
MAX_RETRY_SECONDS = 900.0


@dataclass
class _Refusal:
    attempts: int
    retry_at: float


class ModelLifecycle:
    """Holds the current Scorer and replaces it when LATEST moves."""

    def __init__(
        self,
        store: Store,
        cache_dir: Path,
        embedder: Embedder,
        refresh_seconds: float,
        retry_seconds: float = RETRY_SECONDS,
        on_failure: FailureHook | None = None,
        refused_retry_seconds: float = REFUSED_RETRY_SECONDS,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        pointer_source: PointerSource = read_pointer,
    ) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.embedder = embedder
        self.refresh_seconds = refresh_seconds
        self.retry_seconds = min(retry_seconds, refresh_seconds) if refresh_seconds else 0.0
        self.refused_retry_seconds = refused_retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.failures = 0
        self.error: str | None = None
        self.fallback_from: str | None = None  # LATEST's refused version, while a fallback serves
        self._on_failure = on_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._scorer: Scorer | None = None
        self._pointer: Pointer | None = None
        self._next_check = 0.0
        self._unavailable = 0  # consecutive failures to read the store
        self._refused: dict[Pointer, _Refusal] = {}
        # LATEST, or the artifact version this function version is pinned to (no refresh then)
        self._read_pointer = pointer_source
        self._refresh = BackgroundRefresh()

    # ---- reading ---------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._scorer is not None

    def current(self) -> Scorer:
        """The serving version; ArtifactError (an HTTP 503) while there is none."""
        scorer = self._scorer
        if scorer is None:
            raise ArtifactError(f"no artifact version could be loaded ({self.error})")
        return scorer

    # ---- loading ---------------------------------------------------------------------------------
    def start(self) -> bool:
        """The first load; a failure is recorded (answered 503, retried by `tick`)."""
        with self._lock:
            self._check(self._clock())
        return self.loaded

    def tick(self) -> None:
        """Once per request: retry the first load or look for a new LATEST, if due. Never blocks
        on another thread's load: that request keeps the version it has. With a version loaded,
        the check and any load run in the background (leadgen.serve.refresh)."""
        now = self._clock()
        if now < self._next_check or not self._lock.acquire(blocking=False):
            return
        if self.loaded:
            self._refresh.start(lambda: self._check(now), release=self._lock)
            return
        try:
            self._check(now)
        finally:
            self._lock.release()

    def wait_refresh(self, timeout: float | None = None) -> bool:
        """Block until a background refresh is over; False on timeout. Requests never wait
        on a refresh: this is for a caller that must see its outcome (the tests)."""
        return self._refresh.wait(timeout)

    def _check(self, now: float) -> None:
        self._next_check = now + (self.refresh_seconds if self.loaded else self.retry_seconds)
        try:
            pointer = self._read_pointer(self.store)
        except Exception as exc:
            self._fail(f"cannot read the {self.store.uri} LATEST pointer: {exc}", exc, now)
            return
        self._unavailable = 0
        if pointer == self._pointer:
            return
        refusal = self._refused.get(pointer)
        if refusal is not None and now < refusal.retry_at:
            return
        try:
            self._swap(self._open(pointer), pointer)
        except Exception as exc:
            refused = self._fail(f"artifact version {pointer.version}: {exc}", exc, now, pointer)
            if refused and not self.loaded:  # not when the store failed: older ones would too
                self._fall_back(pointer)

    def _open(self, pointer: Pointer) -> Scorer:
        return open_version(self.store, pointer, self.cache_dir, self._load)

    def _load(self, fetched: FetchedVersion) -> Scorer:
        return Scorer(Bundle.load(fetched.directory, fetched.manifest), self.embedder)

    def _fall_back(self, latest: Pointer) -> None:
        """Serve the newest complete version older than LATEST's that verifies and loads."""
        try:
            older = [v for v in complete_versions(self.store) if v < latest.version]
        except Exception as exc:
            log.error("cannot list versions to fall back to: %s", exc)
            return
        for version in reversed(older):
            try:
                pointer = pointer_to(self.store, version)
                scorer = self._open(pointer)
            except Exception as exc:
                log.error("fallback version %s refused too: %s", version, exc)
                continue
            log.error(
                "serving the older version %s: LATEST's %s was refused", version, latest.version
            )
            self._swap(scorer, pointer, fallback_from=latest.version)
            return

    def _swap(self, scorer: Scorer, pointer: Pointer, fallback_from: str | None = None) -> None:
        old = self._scorer
        self._scorer, self._pointer, self.error = scorer, pointer, None
        self.fallback_from = fallback_from
        self._refused.pop(pointer, None)
        log.info(
            "artifact version loaded",
            extra={"version": pointer.version, "previous": old.version if old else None},
        )
        if old is not None and old.version != scorer.version:
            self._free(old.version)
        self._free(scorer.version)  # loaded and verified: its files are no longer read

    def _fail(
        self, message: str, exc: Exception, now: float, pointer: Pointer | None = None
    ) -> bool:
        """Record a failure; True when a version was refused (bad), False when the store was
        unavailable (or the pointer unreadable): retried after a backoff either way."""
        self.failures += 1
        bad = pointer is not None and not isinstance(exc, StoreUnavailable)
        if bad:
            assert pointer is not None
            attempts = self._refused[pointer].attempts + 1 if pointer in self._refused else 1
            delay = self._backoff(self.refused_retry_seconds, attempts)
            self._refused[pointer] = _Refusal(attempts, now + delay)
            message = f"refused {message}; retried in {delay:.0f}s"
        else:
            self._unavailable += 1
            cap = max(self.refresh_seconds, self.retry_seconds)  # a first build is seen in time
            delay = min(self._backoff(self.retry_seconds, self._unavailable), cap)
            self._next_check = max(self._next_check, now + delay)
            kind = "store unavailable" if isinstance(exc, StoreUnavailable) else "failed"
            message = f"{kind}: {message}; next check in {max(delay, 0):.0f}s"
        if not self.loaded:
            self.error = message
        log.error(message)
        if self._on_failure is not None:
            self._on_failure(message)
        return bad

    def _backoff(self, base: float, attempts: int) -> float:
        return float(min(base * 2 ** min(attempts - 1, 30), self.max_retry_seconds))

    def _free(self, version: str) -> None:
        """Delete a remote version's files from the cache once loaded (Lambda /tmp is small: a
        refresh then needs room for one version, not two); a local store is read in place and
        never touched."""
        if isinstance(self.store, LocalStore):
            return
        try:
            directory = inside(self.cache_dir, version)
        except ArtifactError:
            return
        if directory.is_dir() and not directory.is_symlink():
            shutil.rmtree(directory, ignore_errors=True)
