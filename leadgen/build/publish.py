"""Publishing a built bundle: write -> upload -> verify -> gate -> LATEST, or nothing at all.

LATEST moves last, after the stored copy was read back and every checksum matched and the
quality gate passed; on any failure (an exception, SIGTERM as one, a gate refusal) the uploaded
version is removed and LATEST is untouched, so a reader never sees a version that was not meant.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leadgen.build.capacity import ServingRequirements
from leadgen.build.quality import Figures, gate
from leadgen.build.timer import Timer
from leadgen.config import BuildConfig
from leadgen.errors import LeadgenError
from leadgen.model.bundle import Bundle
from leadgen.stores.artifacts import (
    latest_version,
    prune_versions,
    set_latest,
    upload_version,
    verify_remote,
)
from leadgen.stores.blob import Store


@dataclass(frozen=True)
class Published:
    version: str
    manifest_sha256: str
    previous: str | None  # LATEST's version before this one
    requirements: ServingRequirements  # what serving it needs (build_report.json)


def publish(
    store: Store,
    bundle: Bundle,
    cfg: BuildConfig,
    headline: Figures,
    headline_scores: np.ndarray,
    timer: Timer,
) -> Published:
    version = bundle.manifest.version
    previous = latest_version(store)
    staging = Path(tempfile.mkdtemp(prefix="leadgen-build-"))
    try:
        vdir = staging / version
        vdir.mkdir()
        with timer.step("write"):
            bundle.write(vdir)
        requirements = ServingRequirements.of(sum(p.stat().st_size for p in vdir.iterdir()))
        # Before the upload: a version the deployed function cannot hold is never published.
        requirements.check(cfg.function_memory_mb, cfg.function_tmp_mb)
        try:
            with timer.step("upload"):
                upload_version(store, vdir, version)
            with timer.step("verify"), tempfile.TemporaryDirectory() as scratch:
                manifest_sha = verify_remote(store, version, Path(scratch))
            with timer.step("gate"):
                gate(headline, cfg.min_auc, cfg.min_lift, headline_scores)
        except BaseException:
            _remove(store, version, timer.say)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    set_latest(store, version, manifest_sha)
    timer.say(f"published {version} to {store.uri} (LATEST was {previous or 'unset'})")
    return Published(version, manifest_sha, previous, requirements)


def prune(store: Store, keep: int, protect: str, say: Callable[[str], None]) -> list[str]:
    """Drop versions beyond the newest `keep` (never `protect`); a failure only warns, since
    the new version is already published."""
    try:
        pruned = prune_versions(store, keep, {protect})
    except LeadgenError as exc:
        say(f"warning: pruning old versions failed: {exc}")
        return []
    if pruned:
        say(f"pruned old versions: {', '.join(pruned)}")
    return pruned


def _remove(store: Store, version: str, say: Callable[[str], None]) -> None:
    try:
        store.delete_prefix(version)
    except Exception as exc:
        say(f"warning: could not remove the unpublished version {version}: {exc}")
