"""report.html's "What happened to the leads we scored", as a person sees it in headless Chromium:
two local builds with leads scored and logged between them (`leadgen score-file`), the second
build's page read back from the DOM. Every number of the section (data-key "outcomes...." or
"challenger....", list items addressed by version, grade or decile) is the value in
build_report.json; the page loads cleanly; a build without a score log says so."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from leadgen.cli import main
from leadgen.model.bundle import REPORT, Files
from tests.conftest import build_config, quiet_build
from tests.functional.test_report_page import Numbers, assert_loads_cleanly, render, shown_value

CUSTOMERS, LEADS = 1200, 500


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from leadgen.synthetic.crm import generate_crm

    root = tmp_path_factory.mktemp("outcomes-page")
    table = generate_crm(rows=CUSTOMERS + LEADS, seed=13).filter(pc.field("is_current"))
    customers, leads = table.slice(0, CUSTOMERS), table.slice(CUSTOMERS, LEADS)
    pq.write_table(customers, root / "crm-1.parquet")
    out, log = root / "artifacts", root / "artifacts" / "score_log"
    quiet_build(build_config(root / "crm-1.parquet", out, score_log=str(log)))
    pq.write_table(leads.drop(["is_high_value", "lifetime_value", "is_current"]), root / "leads.pq")
    scored = str(root / "scored.parquet")
    args = ["score-file", str(root / "leads.pq"), "--artifacts", str(out), "--out", scored,
            "--embedder", "hashing", "--quiet", "--no-dedup"]  # fmt: skip
    assert main(args) == 0
    rows = leads.to_pylist()
    converted = [r for i, r in enumerate(rows) if r["is_high_value"] or i % 2 == 0]
    later = pa.concat_tables([customers, pa.Table.from_pylist(converted, customers.schema)])
    pq.write_table(later, root / "crm-2.parquet")
    cfg = build_config(root / "crm-2.parquet", out, score_log=str(log), maturity_days=0.0)
    version = quiet_build(cfg).version
    return {"dir": out / version, "root": root}


def lookup(report: dict[str, Any], key: str) -> Any:
    """The build_report.json value at a data-key; a list item by its version, grade or decile;
    an interval's bound by its index."""
    node: Any = report
    for part in key.split("."):
        if isinstance(node, list) and part.isdigit() and not isinstance(node[0], dict):
            node = node[int(part)]
        elif isinstance(node, list):
            node = next(x for x in node if part in (x.get("version"), x.get("grade"),
                                                    str(x.get("decile"))))  # fmt: skip
        else:
            node = node[part]
    return node


def test_the_outcome_section_shows_the_reports_numbers(
    second: dict[str, Any], tmp_path: Path
) -> None:
    report = json.loads((second["dir"] / REPORT).read_text())
    dom, shot, log = render(second["dir"] / Files.REPORT_HTML, tmp_path)
    numbers = Numbers()
    numbers.feed(dom)
    ours = {k: v for k, v in numbers.values.items() if k.startswith(("outcomes.", "challenger."))}
    (version,) = report["outcomes"]["backtest"]["versions"]
    assert report["outcomes"]["counts"]["matured"] == LEADS and version["leads"] == LEADS
    assert len(ours) > 100  # counts, the gate, the per-grade and per-decile tables
    for key in (f"outcomes.backtest.versions.{version['version']}.grades.A.high_value_rate",
                f"outcomes.backtest.versions.{version['version']}.deciles.1.leads",
                "outcomes.counts.matched_id", "challenger.candidate.auc"):  # fmt: skip
        assert key in ours, key
    for key, raw in ours.items():
        want = lookup(report, key)
        assert (json.loads(raw) if raw else None) == want, key
        read = shown_value(numbers.shown[key])
        assert (read is None) == (want is None), key
        if want is not None:
            assert math.isclose(read or 0.0, want, rel_tol=1e-3, abs_tol=1e-3), (key, read, want)
    text = " ".join(numbers.text)
    assert "What happened to the leads we scored" in text
    assert f"Challenger gate: {report['challenger']['status']}" in text
    assert_loads_cleanly(numbers, shot, log)


def test_a_build_without_a_score_log_says_so(hashing_artifacts: Path, tmp_path: Path) -> None:
    from leadgen.stores.artifacts import read_pointer
    from leadgen.stores.blob import LocalStore

    version = read_pointer(LocalStore(hashing_artifacts)).version
    dom, _, _ = render(hashing_artifacts / version / Files.REPORT_HTML, tmp_path)
    numbers = Numbers()
    numbers.feed(dom)
    assert "No outcomes: no score log configured" in " ".join(numbers.text)
    assert not any(k.startswith("outcomes.") for k in numbers.values)
