"""Artifact versions: checksums verified, LATEST moved last, a refused build changes nothing."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from leadgen.errors import ArtifactError, LeadgenError, QualityGateError
from leadgen.model.bundle import Bundle
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.scorer import Scorer
from leadgen.stores.artifacts import FetchedVersion, fetch_version, open_version, read_pointer
from leadgen.stores.blob import LocalStore
from tests.conftest import build_config, quiet_build
from tests.faults import FaultyStore, corrupt_file


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "art"
    shutil.copytree(src, dst)
    return dst


def test_manifest_lists_every_file_with_sha256_and_no_pickles(hashing_artifacts: Path) -> None:
    store = LocalStore(hashing_artifacts)
    version = read_pointer(store).version
    vdir = hashing_artifacts / version
    manifest = json.loads((vdir / "manifest.json").read_text())
    on_disk = {p.name for p in vdir.iterdir()} - {"manifest.json", "build_report.json"}
    assert set(manifest["files"]) == on_disk
    assert not [n for n in on_disk if n.endswith((".pkl", ".pickle", ".joblib"))]
    assert manifest["embedder"]["kind"] == "hashing"
    assert manifest["indices"]["all"]["recall_at_k"] == 1.0
    report = json.loads((vdir / "build_report.json").read_text())
    assert set(report["steps_seconds"]) >= {"read", "embed", "index", "upload", "verify", "gate"}


def _load(fetched: FetchedVersion) -> Scorer:
    return Scorer(Bundle.load(fetched.directory, fetched.manifest), HashingEmbedder())


def test_truncated_file_is_refused_by_its_size(hashing_artifacts: Path, tmp_path: Path) -> None:
    art = _copy(hashing_artifacts, tmp_path)
    store = LocalStore(art)
    pointer = read_pointer(store)
    (art / pointer.version / "ids_all.npy").write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match=r"ids_all\.npy: size mismatch"):
        fetch_version(store, pointer, tmp_path / "cache")


@pytest.mark.parametrize("name", ["index_all.faiss", "head.json", "ids_high.npy"])
def test_loading_while_verifying_never_returns_a_tampered_version(
    hashing_artifacts: Path, tmp_path: Path, name: str
) -> None:
    """open_version loads while it hashes; a same-size bit flip (which the size check cannot
    see, and which may or may not break the load) must still be refused by name."""
    art = _copy(hashing_artifacts, tmp_path)
    store = LocalStore(art)
    pointer = read_pointer(store)
    scorer = open_version(store, pointer, tmp_path / "cache", _load)
    assert scorer.version == pointer.version
    corrupt_file(art / pointer.version / name)
    with pytest.raises(ArtifactError, match=rf"{name.replace('.', '[.]')}: checksum mismatch"):
        open_version(store, pointer, tmp_path / "cache", _load)


def test_tampered_manifest_is_refused(hashing_artifacts: Path, tmp_path: Path) -> None:
    art = _copy(hashing_artifacts, tmp_path)
    store = LocalStore(art)
    pointer = read_pointer(store)
    mpath = art / pointer.version / "manifest.json"
    mpath.write_text(mpath.read_text().replace('"k": 20', '"k": 5'))
    with pytest.raises(ArtifactError, match="does not match the LATEST pointer"):
        fetch_version(store, pointer, tmp_path / "cache")


@pytest.mark.parametrize(
    ("step", "error", "message"),
    [
        ("upload", LeadgenError, "injected failure during upload"),
        ("verify", ArtifactError, r"ids_all\.npy: checksum mismatch"),
        ("gate", QualityGateError, "below the floor"),
    ],
)
def test_failed_build_leaves_latest_and_removes_the_partial_version(
    hashing_artifacts: Path,
    tiny_crm: Path,
    tmp_path: Path,
    step: str,
    error: type[Exception],
    message: str,
) -> None:
    art = _copy(hashing_artifacts, tmp_path)
    before = (art / "LATEST").read_bytes()
    versions_before = sorted(p.name for p in art.iterdir() if p.is_dir())
    cfg = build_config(tiny_crm, art, min_auc=0.999 if step == "gate" else 0.6)
    store = None if step == "gate" else FaultyStore(LocalStore(art), step)
    with pytest.raises(error, match=message):
        quiet_build(cfg, store=store)
    assert (art / "LATEST").read_bytes() == before
    assert sorted(p.name for p in art.iterdir() if p.is_dir()) == versions_before


def test_quality_floor_refuses_to_publish(
    hashing_artifacts: Path, tiny_crm: Path, tmp_path: Path
) -> None:
    art = _copy(hashing_artifacts, tmp_path)
    before = (art / "LATEST").read_bytes()
    with pytest.raises(QualityGateError, match="below the floor"):
        quiet_build(build_config(tiny_crm, art, min_auc=0.999))
    assert (art / "LATEST").read_bytes() == before


def test_rebuild_moves_latest_and_keeps_n_versions(
    hashing_artifacts: Path, tiny_crm: Path, tmp_path: Path
) -> None:
    art = _copy(hashing_artifacts, tmp_path)
    versions = []
    for _ in range(3):
        res = quiet_build(build_config(tiny_crm, art, keep_versions=2))
        versions.append(res.version)
        assert read_pointer(LocalStore(art)).version == res.version
    kept = sorted(p.name for p in art.iterdir() if p.is_dir())
    assert kept == sorted(versions[-2:])


# ---- retention counts complete versions; a build sweeps killed builds' debris -------------------
def _half_written(art: Path, name: str, source: str) -> None:
    """What a build killed mid-upload leaves: some files, no manifest (it is uploaded last)."""
    (art / name).mkdir()
    shutil.copy(art / source / "ids_all.npy", art / name / "ids_all.npy")
    (art / name / ".tmp-abc123").write_bytes(b"partial")


def test_pruning_counts_only_complete_versions_and_sweeps_debris(
    hashing_artifacts: Path, tiny_crm: Path, tmp_path: Path
) -> None:
    art = _copy(hashing_artifacts, tmp_path)
    good = read_pointer(LocalStore(art)).version
    killed = [good[:-6] + "aaaaa1", good[:-6] + "aaaaa2"]  # two killed builds after it
    for name in killed:
        _half_written(art, name, good)
    (art / ".tmp-latest1").write_bytes(b"{")  # a killed LATEST write
    new = quiet_build(build_config(tiny_crm, art, keep_versions=2)).version
    kept = sorted(p.name for p in art.iterdir() if p.is_dir())
    assert kept == sorted([good, new])  # the good old version counts; the debris does not
    assert not list(art.glob(".tmp-*"))


def test_a_newer_incomplete_version_is_left_alone(
    hashing_artifacts: Path, tiny_crm: Path, tmp_path: Path
) -> None:
    """Only debris older than the build is swept: a newer one could be a build still running."""
    art = _copy(hashing_artifacts, tmp_path)
    good = read_pointer(LocalStore(art)).version
    future = "29991231T235959Z-ffffff"
    _half_written(art, future, good)
    new = quiet_build(build_config(tiny_crm, art, keep_versions=1)).version
    assert sorted(p.name for p in art.iterdir() if p.is_dir()) == sorted([new, future])


def test_staging_folders_of_killed_builds_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    import fcntl
    import os
    import subprocess
    import sys

    from leadgen.builder.staging import LOCK, LOCKLESS_AGE, sweep_staging

    dead, live, fresh, ancient = (tmp_path / f"leadgen-build-{n}" for n in "abcd")
    for folder in (dead, live, fresh, ancient):
        folder.mkdir()
        (folder / "index_all.faiss").write_bytes(b"x" * 1000)
    # `dead`: its build held the lock and was SIGKILLed (the kernel released the lock)
    hold = (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR); "
        "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(dead / LOCK)], stdout=subprocess.PIPE
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    holder.kill()
    holder.wait()
    fd = os.open(live / LOCK, os.O_CREAT | os.O_RDWR)  # `live`: this process builds into it
    fcntl.flock(fd, fcntl.LOCK_EX)
    old = time.time() - LOCKLESS_AGE - 60  # `ancient`: no lock (an older leadgen), long dead
    os.utime(ancient, (old, old))
    try:
        removed = sweep_staging(tmp_path)
    finally:
        os.close(fd)
    assert sorted(removed) == sorted([dead, ancient])
    assert live.is_dir() and fresh.is_dir()


@pytest.mark.parametrize("keep", ["0", "-1"])
def test_keep_versions_below_one_is_refused(
    hashing_artifacts: Path, tiny_crm: Path, tmp_path: Path, keep: str
) -> None:
    """Neither `-1` (every older version deleted) nor `0` (read as 5) is a count of versions."""
    from tests.unit.test_cli import assert_clean_error, run

    art = _copy(hashing_artifacts, tmp_path)
    before = sorted(p.name for p in art.iterdir())
    out = run(
        *("build", "--input", str(tiny_crm), "--out", str(art), "--embedder", "hashing"),
        *("--keep-versions", keep),
    )
    assert_clean_error(out, "keep versions", keep)
    out = run(
        *("build", "--input", str(tiny_crm), "--out", str(art), "--embedder", "hashing"),
        env={"LEADGEN_KEEP_VERSIONS": keep},
    )
    assert_clean_error(out, "LEADGEN_KEEP_VERSIONS", keep)
    assert sorted(p.name for p in art.iterdir()) == before
