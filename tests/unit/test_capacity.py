"""What serving a version needs, and the refusal of a version the deployed function cannot hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadgen.builder.capacity import MB, ServingRequirements
from leadgen.errors import CapacityError
from leadgen.stores.artifacts import read_pointer
from leadgen.stores.blob import LocalStore
from tests.conftest import build_config, quiet_build


def test_needs_grow_with_the_version_and_keep_headroom() -> None:
    small, big = ServingRequirements.of(50 * MB), ServingRequirements.of(500 * MB)
    assert small.memory_mb < big.memory_mb and small.tmp_mb < big.tmp_mb
    assert small.cold_start_s < big.cold_start_s
    # more than the files themselves: the process, the load's peak, headroom
    assert big.memory_mb > 500 * 1.15 and big.tmp_mb >= 500


@pytest.mark.parametrize(
    ("memory", "tmp", "named"),
    [(100, 10_000, ["memory", "(the function has 100 MB)"]), (10_000, 10, ["/tmp"])],
)
def test_a_version_too_big_is_refused_naming_what_is_short(
    memory: int, tmp: int, named: list[str]
) -> None:
    needs = ServingRequirements.of(200 * MB)
    with pytest.raises(CapacityError) as err:
        needs.check(memory, tmp)
    assert err.value.exit_code == 4
    for needle in [*named, "not publishing", "stacks/config.py"]:
        assert needle in str(err.value)
    needs.check(None, None)  # limits unknown (a local build): nothing to refuse
    needs.check(needs.memory_mb, needs.tmp_mb)  # exactly enough is enough


def test_the_build_refuses_before_upload_and_reports_needs(tiny_crm: Path, tmp_path: Path) -> None:
    out = tmp_path / "art"
    published = quiet_build(build_config(tiny_crm, out))
    needs = published.report["serving_requirements"]
    assert needs["memory_mb"] > 0 and needs["tmp_mb"] > 0 and needs["expected_cold_start_s"] > 0
    before = read_pointer(LocalStore(out)).version
    with pytest.raises(CapacityError, match="needs memory"):
        quiet_build(build_config(tiny_crm, out, function_memory_mb=64, function_tmp_mb=4096))
    assert read_pointer(LocalStore(out)).version == before
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [before]
    report = json.loads((out / before / "build_report.json").read_text())
    assert report["serving_requirements"] == needs
