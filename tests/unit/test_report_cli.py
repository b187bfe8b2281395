"""`python -m leadgen report`: where a version's report.html is, or one clear line; the report
and profile files are checksummed like every other file of a version; LEADGEN_MAX_PSI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from leadgen.config import BuildConfig
from leadgen.errors import ArtifactError, ConfigError
from leadgen.model.bundle import MANIFEST, Files
from leadgen.stores.artifacts import complete_versions, read_version_file, report_path
from leadgen.stores.blob import LocalStore
from tests.unit.test_cli import assert_clean_error, run


@pytest.fixture
def art(hashing_artifacts: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "art"
    shutil.copytree(hashing_artifacts, copy)
    return copy


def only_version(art: Path) -> str:
    (version,) = complete_versions(LocalStore(art))
    return version


def test_report_prints_latest_reports_path(art: Path) -> None:
    out = run("report", str(art))
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip())
    assert path == art / only_version(art) / Files.REPORT_HTML
    assert path.read_bytes().startswith(b"<!DOCTYPE html>")


def test_report_of_a_named_version_and_the_env_default(art: Path) -> None:
    version = only_version(art)
    out = run("report", "--version", version, env={"ARTIFACTS_URI": str(art)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(art / version / Files.REPORT_HTML)


def test_report_errors_are_one_line(art: Path, tmp_path: Path) -> None:
    version = only_version(art)
    missing = version[:-1] + ("0" if version[-1] != "0" else "1")
    assert_clean_error(run("report", str(art), "--version", missing), "no version", missing)
    assert_clean_error(run("report", str(art), "--version", "../etc"), "not a version name")
    assert_clean_error(run("report", str(tmp_path / "nowhere")), "no such artifact folder")
    (tmp_path / "empty").mkdir()
    assert_clean_error(run("report", str(tmp_path / "empty")), "no LATEST")


def test_a_version_built_before_reports_says_so(art: Path) -> None:
    """A manifest that does not list report.html (an older version): no report, by name."""
    version = only_version(art)
    manifest = art / version / MANIFEST
    data = json.loads(manifest.read_text())
    del data["files"][Files.REPORT_HTML]
    manifest.write_text(json.dumps(data))
    assert_clean_error(run("report", str(art), "--version", version), "no report.html")


@pytest.mark.parametrize("name", [Files.REPORT_HTML, Files.PROFILE])
def test_a_tampered_report_or_profile_is_refused(art: Path, name: str, tmp_path: Path) -> None:
    version = only_version(art)
    store = LocalStore(art)
    assert read_version_file(store, version, name)
    path = art / version / name
    path.write_bytes(path.read_bytes().replace(b"e", b"f", 1))
    with pytest.raises(ArtifactError, match=f"{name}: checksum mismatch"):
        read_version_file(store, version, name)
    if name == Files.REPORT_HTML:
        with pytest.raises(ArtifactError, match="checksum mismatch"):
            report_path(store, None, tmp_path)


def test_max_psi_from_the_environment_and_its_bounds() -> None:
    assert BuildConfig.from_env({}).max_psi is None
    assert BuildConfig.from_env({"LEADGEN_MAX_PSI": "0.3"}).max_psi == 0.3
    with pytest.raises(ConfigError, match="LEADGEN_MAX_PSI must be a number"):
        BuildConfig.from_env({"LEADGEN_MAX_PSI": "high"})
    with pytest.raises(ConfigError, match="max PSI must be above 0"):
        BuildConfig.from_env({"LEADGEN_MAX_PSI": "-1"})
