"""Publishing a built bundle: write -> upload -> verify -> gate -> report -> LATEST, or nothing.

LATEST moves last, after the stored copy was read back and every checksum matched and the
quality gate passed; on any failure (an exception, SIGTERM as one, a gate refusal) the uploaded
version is removed and LATEST is untouched, so a reader never sees a version that was not meant.
The build report is written just before LATEST: a version with a report is complete and
verified, one without is a killed build's debris (what pruning and the serving fallback count
on, leadgen.stores.artifacts.complete_versions). Staging happens in a locked folder that the
next build sweeps if this one is killed (leadgen.builder.staging).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leadgen.builder.capacity import ServingRequirements
from leadgen.builder.quality import Figures, drift_gate, gate
from leadgen.builder.staging import staging_dir
from leadgen.builder.timer import Timer
from leadgen.config import BuildConfig
from leadgen.errors import LeadgenError
from leadgen.model.bundle import REPORT, Bundle
from leadgen.stores.artifacts import (
    latest_version,
    prune_versions,
    set_latest,
    upload_version,
    verify_remote,
)
from leadgen.stores.blob import LocalStore, Store


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
    report: Callable[[Published], bytes],
    drift: Mapping[str, Any] | None = None,
) -> Published:
    """`report` renders build_report.json once the version is known to be good; `drift` (against
    the previous version, leadgen.builder.drift) is refused above cfg.max_psi."""
    version = bundle.manifest.version
    previous = latest_version(store)
    with staging_dir(timer.say) as staging:
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
            with timer.step("verify"):
                manifest_sha = verify_remote(store, version, staging / "verify")
            with timer.step("gate"):
                gate(headline, cfg.min_auc, cfg.min_lift, headline_scores)
                drift_gate(drift or {}, cfg.max_psi)
            published = Published(version, manifest_sha, previous, requirements)
            store.write_bytes(f"{version}/{REPORT}", report(published))
        except BaseException:
            _remove(store, version, timer.say)
            raise
    set_latest(store, version, manifest_sha)
    timer.say(f"published {version} to {store.uri} (LATEST was {previous or 'unset'})")
    return published


def prune(store: Store, keep: int, protect: str, say: Callable[[str], None]) -> list[str]:
    """Drop complete versions beyond the newest `keep` (never `protect`, the one just published)
    and the debris of killed builds; a failure only warns, since the new version is published."""
    try:
        pruned = prune_versions(store, keep, protect, before=protect)
        if isinstance(store, LocalStore):
            _sweep_temp_files(store.root)
    except (LeadgenError, OSError) as exc:
        say(f"warning: pruning old versions failed: {exc}")
        return []
    if pruned:
        say(f"pruned old versions and debris: {', '.join(pruned)}")
    return pruned


def _sweep_temp_files(root: Path) -> None:
    """The temp files of atomic writes (LocalStore) a killed build left beside LATEST."""
    for tmp in root.glob(".tmp-*"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)


def _remove(store: Store, version: str, say: Callable[[str], None]) -> None:
    try:
        store.delete_prefix(version)
    except Exception as exc:
        say(f"warning: could not remove the unpublished version {version}: {exc}")
