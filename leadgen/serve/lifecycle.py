"""The served version's lifecycle: first load, retries while there is none, refresh, swap.

One owner for the question "which version answers this request". Adapters call `tick()` once per
request (it checks LATEST at most every `refresh_seconds`, or retries a failed first load at most
every `retry_seconds`) and then read `current()`, which does no I/O. A new version is fetched,
verified and loaded before it replaces the old one, in the background once one is served
(leadgen.serve.refresh); a version that fails is refused, reported through `on_failure`, and the
last good one keeps serving. A pointer source other than LATEST (a function version pinned to an
artifact version, leadgen.stores.function) never changes, so such an environment never refreshes.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from leadgen.errors import ArtifactError
from leadgen.model.bundle import Bundle
from leadgen.model.embedders import Embedder
from leadgen.serve.refresh import BackgroundRefresh
from leadgen.serve.scorer import Scorer
from leadgen.stores.artifacts import FetchedVersion, Pointer, open_version, read_pointer
from leadgen.stores.blob import Store

log = logging.getLogger(__name__)

FailureHook = Callable[[str], None]
PointerSource = Callable[[Store], Pointer]


class ModelLifecycle:
    """Holds the current Scorer and replaces it when LATEST moves."""

    def __init__(
        self,
        store: Store,
        cache_dir: Path,
        embedder: Embedder,
        refresh_seconds: float,
        retry_seconds: float = 10.0,
        on_failure: FailureHook | None = None,
        pointer_source: PointerSource = read_pointer,
    ) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.embedder = embedder
        self.refresh_seconds = refresh_seconds
        self.retry_seconds = min(retry_seconds, refresh_seconds) if refresh_seconds else 0.0
        self.failures = 0
        self.error: str | None = None
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._scorer: Scorer | None = None
        self._pointer: Pointer | None = None
        self._next_check = 0.0
        self._refused: set[str] = set()
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
            self._check(time.monotonic())
        return self.loaded

    def tick(self) -> None:
        """Once per request: retry the first load or look for a new LATEST, if due. Never blocks
        on another thread's load: that request keeps the version it has. With a version loaded,
        the check and any load run in the background (leadgen.serve.refresh)."""
        now = time.monotonic()
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
        """Block until a background refresh is over (tests, shutdown); False on timeout."""
        return self._refresh.wait(timeout)

    def _check(self, now: float) -> None:
        self._next_check = now + (self.refresh_seconds if self.loaded else self.retry_seconds)
        try:
            pointer = self._read_pointer(self.store)
        except Exception as exc:
            self._fail(f"cannot read the LATEST pointer: {exc}")
            return
        if pointer == self._pointer or pointer.version in self._refused:
            return
        try:
            scorer = open_version(self.store, pointer, self.cache_dir, self._load)
        except Exception as exc:
            if self.loaded:
                self._refused.add(pointer.version)
            self._fail(f"refused artifact version {pointer.version}: {exc}")
            return
        self._swap(scorer, pointer)

    def _load(self, fetched: FetchedVersion) -> Scorer:
        return Scorer(Bundle.load(fetched.directory, fetched.manifest), self.embedder)

    def _swap(self, scorer: Scorer, pointer: Pointer) -> None:
        old = self._scorer
        self._scorer, self._pointer, self.error = scorer, pointer, None
        log.info(
            "artifact version loaded",
            extra={"version": pointer.version, "previous": old.version if old else None},
        )
        if old is not None:
            self._free(old.version)
        self._free(scorer.version)  # loaded and verified: its files are no longer read

    def _fail(self, message: str) -> None:
        self.failures += 1
        if not self.loaded:
            self.error = message
        log.error(message)
        if self._on_failure is not None:
            self._on_failure(message)

    def _free(self, version: str) -> None:
        """Delete a remote version's files from the cache once they are loaded (Lambda /tmp is
        small: a refresh then needs room for one version, not two)."""
        directory = self.cache_dir / version
        if directory.is_dir() and directory.resolve().parent == self.cache_dir.resolve():
            shutil.rmtree(directory, ignore_errors=True)
