"""Publishing and fetching artifact versions, and the LATEST pointer.

A version is a folder VERSION/ in a store (local or S3) holding a bundle's files and its manifest
(leadgen.model.bundle). LATEST names a version and the sha256 of its manifest, and is written
last, only after the upload was verified and the quality gate passed: a reader never sees half a
build, and a file that does not match the manifest is refused at load.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from leadgen.errors import ArtifactError, ConfigError
from leadgen.model.bundle import MANIFEST, REPORT, Files, Manifest
from leadgen.model.checksums import sha256_bytes
from leadgen.names import Env
from leadgen.stores.blob import LocalStore, Store

T = TypeVar("T")

LATEST = "LATEST"
REPORT_HTML = Files.REPORT_HTML
# What `new_version_name` writes: UTC time to the millisecond, then 6 hex digits. Names sort by
# age, even for two builds in one second. Names without the milliseconds (earlier releases)
# stay valid, so a store published before keeps serving.
VERSION_RE = re.compile(r"\A\d{8}T\d{6}(\d{3})?Z-[0-9a-f]{6}\Z")
VERSION_FORMAT = "YYYYMMDDTHHMMSSmmmZ-xxxxxx"


def new_version_name(now: datetime | None = None, salt: str = "") -> str:
    now = now or datetime.now(UTC)
    digest = hashlib.sha256(f"{now.isoformat()}{salt}{time.perf_counter_ns()}".encode()).hexdigest()
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{digest[:6]}"


def is_version_name(name: str) -> bool:
    return bool(VERSION_RE.match(name))


def inside(root: Path, name: str) -> Path:
    """root/name, resolved, for a valid version name only: never a path outside `root`."""
    if not is_version_name(name):
        raise ArtifactError(f"{name!r} is not a version name ({VERSION_FORMAT})")
    path = (root / name).resolve()
    if path.parent != root.resolve():
        raise ArtifactError(f"{root}/{name}: resolves outside {root}")
    return path


@dataclass(frozen=True)
class Pointer:
    version: str
    manifest_sha256: str

    def to_bytes(self) -> bytes:
        return json.dumps(
            {"version": self.version, "manifest_sha256": self.manifest_sha256}
        ).encode()

    @classmethod
    def parse(cls, raw: bytes, where: str) -> Pointer:
        try:
            data = json.loads(raw)
            pointer = cls(str(data["version"]), str(data["manifest_sha256"]))
        except (ValueError, KeyError, TypeError):
            raise ArtifactError(f"{where}/{LATEST}: not a valid pointer") from None
        if not is_version_name(pointer.version):
            raise ArtifactError(
                f"{where}/{LATEST}: {pointer.version[:80]!r} is not a version name "
                f"({VERSION_FORMAT}); refused"
            )
        return pointer


def pin_of(pointer: Pointer) -> str:
    """The function's pin for an artifact version: VERSION@MANIFEST_SHA256, as LATEST names it."""
    return f"{pointer.version}@{pointer.manifest_sha256}"


def parse_pin(text: str) -> Pointer:
    """The pointer a pin names (what the environment loads instead of reading LATEST)."""
    version, sep, sha = text.strip().partition("@")
    hex_sha = len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)
    # The version becomes a store key and a cache folder: only names a build writes (as LATEST's).
    if not sep or not is_version_name(version) or not hex_sha:
        raise ConfigError(f"{Env.ARTIFACT_PIN} must be VERSION@MANIFEST_SHA256, got {text[:120]!r}")
    return Pointer(version=version, manifest_sha256=sha)


@dataclass(frozen=True)
class FetchedVersion:
    """A version present on local disk, its manifest matching the pointer that named it."""

    directory: Path
    manifest: Manifest
    manifest_sha256: str


def read_pointer(store: Store) -> Pointer:
    if not store.exists(LATEST):
        raise ArtifactError(f"{store.uri}: no {LATEST} pointer (no build published yet?)")
    return Pointer.parse(store.read_bytes(LATEST), store.uri)


def latest_version(store: Store) -> str | None:
    """LATEST's version, or None when nothing is published yet or the pointer is unreadable."""
    try:
        return read_pointer(store).version
    except ArtifactError:
        return None


def set_latest(store: Store, version: str, manifest_sha256: str) -> None:
    store.write_bytes(LATEST, Pointer(version, manifest_sha256).to_bytes())


def upload_version(store: Store, version_dir: Path, version: str) -> None:
    """Upload every file, the manifest last (its presence marks a complete upload)."""
    names = sorted(p.name for p in version_dir.iterdir() if p.is_file() and p.name != MANIFEST)
    for name in [*names, MANIFEST]:
        store.upload_file(version_dir / name, f"{version}/{name}")


def verify_remote(store: Store, version: str, scratch: Path) -> str:
    """Download the stored version, check every checksum; returns the manifest's sha256."""
    fetched = _fetch(store, version, scratch / version)
    fetched.manifest.verify(fetched.directory)
    if not isinstance(store, LocalStore):
        shutil.rmtree(fetched.directory, ignore_errors=True)
    return fetched.manifest_sha256


def _fetch(store: Store, version: str, target: Path) -> FetchedVersion:
    """Download (if remote) every file of a version and check presence and sizes; no hashing
    yet. A local store is read in place."""
    if isinstance(store, LocalStore):
        target = inside(store.root, version)
        if not (target / MANIFEST).is_file():
            raise ArtifactError(f"{target}: no {MANIFEST} (incomplete version)")
    else:
        target = inside(target.parent, version)
        target.mkdir(parents=True, exist_ok=True)
        store.download_file(f"{version}/{MANIFEST}", target / MANIFEST)
    raw = (target / MANIFEST).read_bytes()
    manifest = Manifest.from_bytes(raw, f"{version}/{MANIFEST}")
    if not isinstance(store, LocalStore):
        for name in manifest.files:
            store.download_file(f"{version}/{name}", target / name)
    manifest.check_present(target)
    return FetchedVersion(target, manifest, sha256_bytes(raw))


def fetch_version(store: Store, pointer: Pointer, cache_dir: Path) -> FetchedVersion:
    """Fetch the version a pointer names, its manifest checked against the pointer (files are
    not hashed here: `open_version` does that alongside the load)."""
    fetched = _fetch(store, pointer.version, cache_dir / pointer.version)
    if fetched.manifest_sha256 != pointer.manifest_sha256:
        raise ArtifactError(
            f"{pointer.version}/{MANIFEST}: checksum does not match the {LATEST} pointer"
        )
    return fetched


def open_version(
    store: Store, pointer: Pointer, cache_dir: Path, load: Callable[[FetchedVersion], T]
) -> T:
    """Fetch the version a pointer names and `load` it while a second thread checks the sha256
    of every file: loading a large index and hashing it take about as long each, so start-up
    overlaps them instead of adding them (bench/RESULTS.md). Nothing loaded is returned unless
    every checksum matched; a mismatch wins over a load error (a corrupted file often fails to
    load too, and the checksum says why)."""
    fetched = fetch_version(store, pointer, cache_dir)
    with ThreadPoolExecutor(1, thread_name_prefix="leadgen-verify") as pool:
        verified = pool.submit(fetched.manifest.verify, fetched.directory)
        try:
            loaded = load(fetched)
        except BaseException:
            verified.result()
            raise
        verified.result()
    return loaded


def read_version_file(store: Store, version: str, name: str) -> bytes | None:
    """One file of a stored version, checked against its manifest's sha256; None when the
    manifest does not list it (a version built before the file existed). How the next build
    reads the previous profile and `leadgen report` fetches a report, without the rest."""
    if not is_version_name(version):
        raise ArtifactError(f"{version!r} is not a version name ({VERSION_FORMAT})")
    if not store.exists(f"{version}/{MANIFEST}"):
        raise ArtifactError(f"{store.uri}: no version {version}")
    raw = store.read_bytes(f"{version}/{MANIFEST}")
    entry = Manifest.from_bytes(raw, f"{version}/{MANIFEST}").files.get(name)
    if entry is None:
        return None
    data = store.read_bytes(f"{version}/{name}")
    if sha256_bytes(data) != entry.sha256:
        raise ArtifactError(f"{version}/{name}: checksum mismatch (corrupted or tampered)")
    return data


def report_path(store: Store, version: str | None, cache_dir: Path) -> Path:
    """A local path of a version's report.html (LATEST's when `version` is None): in place for
    a local store, downloaded under `cache_dir` from S3; its checksum checked either way."""
    version = version or read_pointer(store).version
    data = read_version_file(store, version, REPORT_HTML)
    if data is None:
        raise ArtifactError(
            f"{store.uri}/{version}: no {REPORT_HTML} in this version (built before reports)"
        )
    if isinstance(store, LocalStore):
        return inside(store.root, version) / REPORT_HTML
    target = inside(cache_dir, version) / REPORT_HTML
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def pointer_to(store: Store, version: str) -> Pointer:
    """A pointer to a stored version as it is now (its manifest's sha256): how serving falls
    back to an older version, which no LATEST names any more."""
    if not is_version_name(version):
        raise ArtifactError(f"{version!r} is not a version name")
    return Pointer(version, sha256_bytes(store.read_bytes(f"{version}/{MANIFEST}")))


def complete_versions(store: Store) -> list[str]:
    """Versions whose publication got past the gate, oldest first: the manifest is uploaded
    last of the files and the build report is written only after the stored copy verified and
    the quality gate passed (leadgen.builder.publish), so a version with both is complete and
    verified; anything else under a version name is a killed build's debris."""
    return [
        v
        for v in store.list_dirs()
        if is_version_name(v) and store.exists(f"{v}/{MANIFEST}") and store.exists(f"{v}/{REPORT}")
    ]


def prune_versions(store: Store, keep: int, protect: str, before: str) -> list[str]:
    """Delete all but the `keep` newest complete versions, never `protect` (LATEST's), and every
    incomplete one older than `before` (this build's version: builds never overlap, the stack
    sets a concurrency of 1, so an older incomplete version is a killed build's)."""
    if keep < 1:
        raise ArtifactError(f"keep versions must be at least 1, got {keep}")
    complete = complete_versions(store)
    doomed = [v for v in complete[: max(0, len(complete) - keep)] if v != protect]
    debris = [
        v
        for v in store.list_dirs()
        if is_version_name(v) and v not in complete and v < before and v != protect
    ]
    for v in sorted(doomed + debris):
        store.delete_prefix(v)
    return sorted(doomed + debris)
