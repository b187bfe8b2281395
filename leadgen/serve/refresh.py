"""Refreshes off the request path.

Once a version is being served, a request that finds a refresh due hands the whole refresh (read
LATEST, download, verify, load) to a background thread and is answered at once by the version it
has; the new version replaces it with one reference assignment when it is loaded and verified,
and each request reads that reference once, so no request waits on a download or sees two
versions. The first load, with nothing to serve yet, stays on the caller's thread.

Memory: the old version stays loaded while the new one loads, so this path briefly holds two
(the version's files are deleted from the cache once loaded, so /tmp holds only the one being
downloaded). In AWS the refresh is a new function version instead (leadgen.rollout), with
one version per environment; this path serves `leadgen serve` and environments not pinned to an
artifact version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundRefresh:
    """At most one refresh at a time, on a daemon thread; the caller's lock is released when it
    ends, so the lifecycle's "never two checks at once" rule holds across threads."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self, work: Callable[[], None], release: threading.Lock) -> None:
        """Run `work` in the background, then release `release` (held by the caller)."""

        def run() -> None:
            try:
                work()
            except Exception:  # the lifecycle reports its own failures; this is a last resort
                log.exception("artifact refresh failed unexpectedly")
            finally:
                release.release()

        thread = threading.Thread(target=run, name="leadgen-refresh", daemon=True)
        try:
            thread.start()
        except BaseException:
            release.release()
            raise
        self._thread = thread

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the running refresh (if any) is over; False on timeout."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()
