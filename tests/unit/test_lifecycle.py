"""The served version's lifecycle under faults: refused versions retried with backoff, a store
outage told from a bad artifact, LATEST names validated, nothing deleted outside the cache, and
the start-up fallback to the newest older version that verifies.

Real builds, real files, real S3 (moto's server over HTTP); time is the lifecycle's injected
clock, so backoffs are exact without sleeping.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leadgen.model.bundle import FORMAT_VERSION, REPORT
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.lifecycle import ModelLifecycle
from leadgen.stores.artifacts import LATEST, read_pointer, upload_version
from leadgen.stores.blob import LocalStore, S3Store
from tests.conftest import (
    build_config,
    moto_client,
    moto_environment,
    quiet_build,
    refused_endpoint,
)
from tests.faults import corrupt_file


def tick(lc: ModelLifecycle) -> None:
    """One request's tick, and its background refresh (if it started one) run to the end."""
    lc.tick()
    assert lc.wait_refresh(60), "a background refresh did not finish"


@dataclass
class Versions:
    root: Path
    old: str
    new: str  # LATEST


@pytest.fixture(scope="module")
def versions(tiny_crm: Path, tmp_path_factory: pytest.TempPathFactory) -> Versions:
    """Two published versions in one folder (two real builds, back to back: version names have
    millisecond resolution, so they sort by age without sleeping)."""
    root = tmp_path_factory.mktemp("two-versions")
    old = quiet_build(build_config(tiny_crm, root)).version
    new = quiet_build(build_config(tiny_crm, root)).version
    assert old < new and read_pointer(LocalStore(root)).version == new
    return Versions(root, old, new)


@pytest.fixture
def art(versions: Versions, tmp_path: Path) -> Versions:
    root = tmp_path / "art"
    shutil.copytree(versions.root, root)
    return Versions(root, versions.old, versions.new)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# Each lifecycle's failure messages, as its failure hook (the Lambda's metric) receives them.
FAILURES: dict[int, list[str]] = {}


def lifecycle(store: Any, cache: Path, clock: Clock, **kwargs: Any) -> ModelLifecycle:
    kwargs.setdefault("refresh_seconds", 0)
    messages: list[str] = []
    hook = kwargs.pop("on_failure", None)

    def on_failure(message: str) -> None:
        messages.append(message)
        if hook is not None:
            hook(message)

    lc = ModelLifecycle(
        store, cache, HashingEmbedder(), clock=clock, on_failure=on_failure, **kwargs
    )
    FAILURES[id(lc)] = messages
    return lc


def refused(lc: ModelLifecycle, version: str) -> bool:
    """Whether `version` was refused (bad files, put in backoff), as the failure hook was told,
    rather than an outage of the store."""
    return any(m.startswith(f"refused artifact version {version}:") for m in FAILURES[id(lc)])


def point_latest_at(root: Path, version: str) -> None:
    sha = read_pointer_of(root, version)
    (root / LATEST).write_text(json.dumps({"version": version, "manifest_sha256": sha}))


def read_pointer_of(root: Path, version: str) -> str:
    from leadgen.model.checksums import sha256_bytes

    return sha256_bytes((root / version / "manifest.json").read_bytes())


# ---- a refused version is retried with backoff -------------------------------------------------
def test_a_refused_version_is_retried_with_backoff_once_fixed(
    art: Versions, tmp_path: Path
) -> None:
    point_latest_at(art.root, art.old)
    clock = Clock()
    lc = lifecycle(LocalStore(art.root), tmp_path / "cache", clock, refused_retry_seconds=60)
    assert lc.start() and lc.current().version == art.old
    victim = art.root / art.new / "ids_all.npy"
    good = victim.read_bytes()
    corrupt_file(victim)
    point_latest_at(art.root, art.new)
    tick(lc)
    assert lc.current().version == art.old and refused(lc, art.new) and lc.failures == 1
    victim.write_bytes(good)  # the files are fixed in place
    clock.now += 59
    tick(lc)
    assert lc.current().version == art.old and lc.failures == 1  # not before its backoff
    clock.now += 2
    tick(lc)
    assert lc.current().version == art.new


def test_the_backoff_of_a_refused_version_doubles_and_is_capped(
    art: Versions, tmp_path: Path
) -> None:
    point_latest_at(art.root, art.old)
    clock = Clock()
    lc = lifecycle(
        LocalStore(art.root),
        tmp_path / "cache",
        clock,
        refused_retry_seconds=10,
        max_retry_seconds=35,
    )
    assert lc.start()
    corrupt_file(art.root / art.new / "head.json")
    point_latest_at(art.root, art.new)
    attempts_at = []
    for _ in range(200):  # 200 requests, one a second
        before = lc.failures
        tick(lc)
        if lc.failures > before:
            attempts_at.append(clock.now - 1000)
        clock.now += 1
    gaps = [b - a for a, b in itertools.pairwise(attempts_at)]
    assert gaps[:3] == [10, 20, 35] and set(gaps[3:]) == {35}, attempts_at
    assert lc.current().version == art.old


# ---- a store outage is not a bad artifact ----------------------------------------------------
@pytest.fixture(scope="module")
def s3_bucket(moto_server: str, versions: Versions) -> str:
    bucket = "leadgen-lifecycle-test"
    moto_client("s3", moto_server).create_bucket(Bucket=bucket)
    with moto_environment(moto_server):
        store = S3Store(bucket, "art")
        for version in (versions.old, versions.new):
            upload_version(store, versions.root / version, version)
            store.upload_file(versions.root / version / REPORT, f"{version}/{REPORT}")
        store.write_bytes(LATEST, (versions.root / LATEST).read_bytes())
    return bucket


@pytest.fixture
def s3_versions(s3_bucket: str, moto_env: str) -> str:
    """The bucket, and moto's variables for this test (S3Store's default client reads them)."""
    return s3_bucket


@pytest.fixture(scope="module")
def dead() -> Iterator[str]:
    with refused_endpoint() as endpoint:
        yield endpoint


def _dead_s3(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,  # nothing listens: connection refused
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )


def test_a_store_outage_is_retried_not_refused(
    s3_versions: str, versions: Versions, tmp_path: Path, dead: str
) -> None:
    import boto3

    store = S3Store(s3_versions, "art", client=_dead_s3(dead))
    clock = Clock()
    lc = lifecycle(store, tmp_path / "cache", clock, refresh_seconds=60, retry_seconds=5)
    assert not lc.start()
    assert "store unavailable" in str(lc.error) and not refused(lc, versions.new)
    assert lc.fallback_from is None
    clock.now += 5
    tick(lc)  # the second outage doubles the wait: 10 s
    clock.now += 9
    store._client = boto3.client("s3")  # the network is back
    tick(lc)
    assert not lc.loaded  # still backing off
    clock.now += 1
    tick(lc)
    assert lc.loaded and lc.current().version == versions.new and lc.failures == 2


class FlakyS3(S3Store):
    """S3 whose object downloads go to an endpoint that refuses connections while `down`."""

    down = False
    dead = ""

    def download_file(self, key: str, local: Path) -> None:
        if self.down:
            S3Store(self.bucket, self.prefix, client=_dead_s3(self.dead)).download_file(key, local)
        super().download_file(key, local)


def test_a_download_outage_during_a_refresh_is_retried_not_refused(
    s3_versions: str, versions: Versions, tmp_path: Path, dead: str
) -> None:
    """The old version serves; LATEST moves while downloads fail: the new version is tried again
    once the store answers (an outage never refuses a version)."""
    store = FlakyS3(s3_versions, "art")
    store.dead = dead
    pointer = store.read_bytes(LATEST)
    point_s3_latest_at(store, versions.old)
    clock = Clock()
    lc = lifecycle(store, tmp_path / "cache", clock, retry_seconds=5, refresh_seconds=60)
    try:
        assert lc.start() and lc.current().version == versions.old
        store.write_bytes(LATEST, pointer)
        store.down = True
        clock.now += 60
        tick(lc)
        assert lc.current().version == versions.old and lc.failures == 1
        assert not refused(lc, versions.new)
        store.down = False
        clock.now += 60
        tick(lc)
        assert lc.current().version == versions.new
    finally:
        store.write_bytes(LATEST, pointer)


def point_s3_latest_at(store: S3Store, version: str) -> None:
    pointer = {"version": version, "manifest_sha256": _sha(store, version)}
    store.write_bytes(LATEST, json.dumps(pointer).encode())


def _sha(store: S3Store, version: str) -> str:
    from leadgen.model.checksums import sha256_bytes

    return sha256_bytes(store.read_bytes(f"{version}/manifest.json"))


def test_a_bad_artifact_in_s3_is_refused_and_an_older_one_serves(
    s3_versions: str, versions: Versions, tmp_path: Path, moto_server: str
) -> None:
    import boto3

    s3 = boto3.client("s3")
    prefix = f"bad-{time.time_ns()}"
    for obj in s3.list_objects_v2(Bucket=s3_versions, Prefix="art/")["Contents"]:
        key = prefix + obj["Key"][len("art") :]
        s3.copy_object(Bucket=s3_versions, Key=key, CopySource=f"{s3_versions}/{obj['Key']}")
    key = f"{prefix}/{versions.new}/index_all.faiss"
    body = s3.get_object(Bucket=s3_versions, Key=key)["Body"].read()
    s3.put_object(Bucket=s3_versions, Key=key, Body=body[:-1] + bytes([body[-1] ^ 1]))
    lc = lifecycle(S3Store(s3_versions, prefix), tmp_path / "cache", Clock())
    assert lc.start()
    assert refused(lc, versions.new) and lc.current().version == versions.old
    assert lc.fallback_from == versions.new


# ---- LATEST is validated; the cache cleanup stays in the cache ------------------------------
@pytest.mark.parametrize("name", ["../elsewhere/{v}", "{v}/../../elsewhere/{v}", "/tmp/{v}", ""])
def test_latest_naming_a_path_outside_the_artifacts_is_refused(
    art: Versions, tmp_path: Path, name: str
) -> None:
    elsewhere = art.root.parent / "elsewhere"
    shutil.copytree(art.root / art.new, elsewhere / art.new)
    bad = name.format(v=art.new)
    sha = read_pointer_of(art.root, art.new)
    (art.root / LATEST).write_text(json.dumps({"version": bad, "manifest_sha256": sha}))
    lc = lifecycle(LocalStore(art.root), tmp_path / "cache", Clock())
    assert not lc.start()
    assert "not a version name" in str(lc.error)


def test_a_swap_never_deletes_outside_the_cache(art: Versions) -> None:
    """A cache folder that is the local artifacts folder itself: the replaced version's files
    are the store's, not a cache copy, and stay."""
    point_latest_at(art.root, art.old)
    lc = lifecycle(LocalStore(art.root), art.root, Clock())
    assert lc.start()
    point_latest_at(art.root, art.new)
    tick(lc)
    assert lc.current().version == art.new
    assert (art.root / art.old / "manifest.json").is_file()


# ---- the start-up fallback ------------------------------------------------------------------
def test_start_up_falls_back_to_the_newest_older_version_that_verifies(
    art: Versions, tmp_path: Path
) -> None:
    corrupt_file(art.root / art.new / "ids_high.npy")
    # Debris that must not be chosen: a killed build's half-written folder between the two.
    half = art.old[:-6] + "ffffff"
    assert art.old < half < art.new
    (art.root / half).mkdir()
    shutil.copy(art.root / art.old / "ids_all.npy", art.root / half / "ids_all.npy")
    clock = Clock()
    lc = lifecycle(LocalStore(art.root), tmp_path / "cache", clock, refused_retry_seconds=30)
    assert lc.start()
    assert lc.current().version == art.old and lc.fallback_from == art.new
    # LATEST's version is fixed: served after its backoff, and the fallback ends.
    _restore(art, "ids_high.npy")
    clock.now += 31
    tick(lc)
    assert lc.current().version == art.new and lc.fallback_from is None


def _restore(art: Versions, name: str) -> None:
    """Undo corrupt_file (it flips one bit in the middle)."""
    corrupt_file(art.root / art.new / name)


def test_no_fallback_without_an_older_complete_version(art: Versions, tmp_path: Path) -> None:
    corrupt_file(art.root / art.new / "ids_high.npy")
    (art.root / art.old / REPORT).unlink()  # the older one is not complete
    lc = lifecycle(LocalStore(art.root), tmp_path / "cache", Clock())
    assert not lc.start()
    assert "checksum mismatch" in str(lc.error)


# ---- a new good version after a refused one; the cache; the first-load throttle; formats -----
def clone_version(root: Path, source: str) -> str:
    """A copy of `source` under a new (newer) version name, as a later build would publish it:
    same files, its own manifest naming it."""
    from leadgen.stores.artifacts import new_version_name

    name = new_version_name()
    shutil.copytree(root / source, root / name)
    manifest = json.loads((root / name / "manifest.json").read_text())
    (root / name / "manifest.json").write_text(json.dumps({**manifest, "version": name}))
    assert source < name
    return name


def test_a_good_version_published_after_a_refused_one_is_served_at_once(
    art: Versions, tmp_path: Path
) -> None:
    """The refused version's backoff holds that version only: the next build's LATEST is tried
    on the next check, not after the backoff."""
    point_latest_at(art.root, art.old)
    clock = Clock()
    lc = lifecycle(LocalStore(art.root), tmp_path / "cache", clock, refused_retry_seconds=600)
    assert lc.start()
    corrupt_file(art.root / art.new / "index_high.faiss")
    point_latest_at(art.root, art.new)
    tick(lc)
    assert refused(lc, art.new) and lc.current().version == art.old
    fixed = clone_version(art.root, art.old)  # the next build, intact
    point_latest_at(art.root, fixed)
    clock.now += 1
    tick(lc)
    assert lc.current().version == fixed and lc.fallback_from is None


def own_prefix(bucket: str) -> str:
    """A private copy of the bucket's `art/` prefix (server-side copies)."""
    import boto3

    s3 = boto3.client("s3")
    prefix = f"own-{time.time_ns()}"
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix="art/")["Contents"]:
        key = prefix + obj["Key"][len("art") :]
        s3.copy_object(Bucket=bucket, Key=key, CopySource=f"{bucket}/{obj['Key']}")
    return prefix


def test_a_loaded_version_leaves_the_cache(
    s3_versions: str, versions: Versions, tmp_path: Path
) -> None:
    """Lambda's /tmp is small: a version's download is deleted once it is loaded and verified
    (everything is in memory), so a refresh needs room for one version, not two."""
    store = S3Store(s3_versions, own_prefix(s3_versions))
    latest = store.read_bytes(LATEST)
    point_s3_latest_at(store, versions.old)
    cache = tmp_path / "cache"
    lc = lifecycle(store, cache, Clock())
    assert lc.start() and lc.current().version == versions.old
    assert not (cache / versions.old).exists()
    store.write_bytes(LATEST, latest)
    tick(lc)
    assert lc.current().version == versions.new
    assert not (cache / versions.new).exists() and not (cache / versions.old).exists()


class CountingStore(LocalStore):
    """A local store that counts how often LATEST is read."""

    reads = 0

    def exists(self, key: str) -> bool:
        if key == LATEST:
            self.reads += 1
        return super().exists(key)


def test_a_failed_first_load_is_retried_at_most_every_retry_seconds(
    versions: Versions, tmp_path: Path
) -> None:
    """No artifacts yet (a new stack before its first build): every request answers 503, but
    the store is asked again only every `retry_seconds`, not once per request."""
    root = tmp_path / "empty"
    root.mkdir()
    store = CountingStore(root)
    clock = Clock()
    lc = lifecycle(store, tmp_path / "cache", clock, refresh_seconds=300, retry_seconds=10)
    assert not lc.start() and store.reads == 1
    for _ in range(100):  # a burst of requests within the same instant
        tick(lc)
    assert store.reads == 1
    clock.now += 9.9
    tick(lc)
    assert store.reads == 1
    shutil.copytree(versions.root, root, dirs_exist_ok=True)  # the first build lands
    clock.now += 0.2
    tick(lc)
    assert store.reads == 2 and lc.loaded and lc.current().version == versions.new


def test_an_unknown_artifact_format_is_refused_by_name(art: Versions, tmp_path: Path) -> None:
    """A version written by a newer release (another format) is refused, not misread; the older
    version of a format this code reads serves instead."""
    path = art.root / art.new / "manifest.json"
    newer = FORMAT_VERSION + 1
    path.write_text(json.dumps({**json.loads(path.read_text()), "format_version": newer}))
    point_latest_at(art.root, art.new)
    failures: list[str] = []
    lc = lifecycle(LocalStore(art.root), tmp_path / "cache", Clock(), on_failure=failures.append)
    assert lc.start()
    assert refused(lc, art.new) and lc.current().version == art.old
    assert any(
        f"artifact format {newer} is not supported (this code reads format {FORMAT_VERSION};" in f
        for f in failures
    )
