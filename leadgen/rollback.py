"""`leadgen rollback [VERSION]`: point LATEST back at an earlier complete version, verified first.

When a new version misbehaves, the previous one serves again in one command: the version is
chosen (the given one, else the newest complete version older than LATEST's), read back and
every file checked against its manifest (leadgen.stores.artifacts.verify_remote, as a build
verifies before moving LATEST), and only then is LATEST moved to it. An incomplete version
(no build report: a killed or refused build's debris), a missing one or one whose checksums do
not match is refused with one line and LATEST stays. With a function name (flag or
LEADGEN_FUNCTION_NAME, as the build job has) the scoring function is rolled out to it too: pinned,
a function version published and `live` moved, exactly as a build rolls out (leadgen.rollout).

The next scheduled build publishes a new LATEST again; docs/outcomes.md says how a team keeps a
rollback (the challenger gate refuses a worse candidate; or pause the schedule).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadgen.errors import ArtifactError
from leadgen.model.bundle import MANIFEST
from leadgen.rollout import Rollout, roll_out
from leadgen.stores.artifacts import (
    Pointer,
    complete_versions,
    is_version_name,
    read_pointer,
    set_latest,
    verify_remote,
)
from leadgen.stores.blob import Store


@dataclass(frozen=True)
class RolledBack:
    version: str
    previous: str  # LATEST's version before
    manifest_sha256: str
    rollout: Rollout | None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "previous": self.previous,
            "manifest_sha256": self.manifest_sha256,
            "rollout": self.rollout.to_json() if self.rollout else None,
        }


def choose(store: Store, version: str | None) -> tuple[str, str]:
    """(the version to roll back to, LATEST's version now)."""
    current = read_pointer(store).version
    complete = complete_versions(store)
    if version is None:
        older = [v for v in complete if v < current]
        if not older:
            raise ArtifactError(
                f"{store.uri}: no complete version older than LATEST's {current} to roll back to"
            )
        return older[-1], current
    if not is_version_name(version):
        raise ArtifactError(f"{version!r} is not a version name")
    if version == current:
        raise ArtifactError(f"{version} is LATEST's version already")
    if version not in complete:
        what = "incomplete (no build report: a killed or refused build)"
        if not store.exists(f"{version}/{MANIFEST}"):
            what = "not in the store"
        raise ArtifactError(f"{store.uri}/{version}: {what}; not rolling back to it")
    return version, current


def rollback(
    store: Store,
    version: str | None = None,
    *,
    function: str | None = None,
    client: Any = None,
    scratch: Path | None = None,
) -> RolledBack:
    """Verify the chosen version, move LATEST to it, then roll `function` out to it."""
    target, previous = choose(store, version)
    with tempfile.TemporaryDirectory(prefix="leadgen-rollback-", dir=scratch) as tmp:
        sha = verify_remote(store, target, Path(tmp))
    set_latest(store, target, sha)
    done = roll_out(function, Pointer(target, sha), client) if function else None
    return RolledBack(target, previous, sha, done)
