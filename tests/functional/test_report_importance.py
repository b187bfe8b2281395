"""The report's column importance and its AUCs, on a real small build (scikit-learn's breast
cancer table, 569 real cases: 420 as customers, the rest as new leads).

- The importance chart's numbers are build_report.json's, in the drivers' units and names, and
  their order is the order of the mean |contribution| the served drivers give new leads
  (scored through leadgen.serve.scorer, as the API scores them).
- One AUC per figure, with its name; the build's printed AUCs carry the same names as the
  report, with the same values.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from leadgen.builder.charts import IMPORTANCE_TITLE
from leadgen.builder.summary import HEADLINE_AUC, SERVED_AUC
from leadgen.model.bundle import Bundle
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.schemas import clean_lead
from leadgen.serve.scorer import Scorer
from leadgen.stores.artifacts import fetch_version, read_pointer
from leadgen.stores.blob import LocalStore

COLUMNS = ("worst_area", "mean_texture", "noise")
CUSTOMERS = 420


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Build on the first CUSTOMERS rows as a user does (the CLI in its own process)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import load_breast_cancer

    tmp = tmp_path_factory.mktemp("importance")
    data = load_breast_cancer()
    names = [str(n).replace(" ", "_") for n in data.feature_names]
    frame = {n: data.data[:, i] for i, n in enumerate(names) if n in COLUMNS}
    frame["noise"] = np.random.default_rng(0).normal(size=len(data.target))  # a column of nothing
    malignant = data.target == 0
    table = {"customer_id": np.arange(len(malignant)), "malignant": malignant, **frame}
    pq.write_table(pa.table(table).slice(0, CUSTOMERS), tmp / "customers.parquet")
    out = tmp / "artifacts"
    argv = ["build", "--input", str(tmp / "customers.parquet"), "--out", str(out),
            "--embedder", "hashing", "--text-cols", "", "--cat-cols", "",
            "--num-cols", ",".join(COLUMNS), "--high-value-col", "malignant"]  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "leadgen", *argv], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    version = json.loads((out / "LATEST").read_text())["version"]
    leads = [{c: float(frame[c][i]) for c in COLUMNS} for i in range(CUSTOMERS, len(malignant))]
    return {
        "out": out,
        "stdout": run.stdout,
        "report": json.loads((out / version / "build_report.json").read_text()),
        "page": (out / version / "report.html").read_text(),
        "leads": leads,
        "tmp": tmp,
    }


def test_the_importance_chart_is_in_the_json_in_the_drivers_units_and_order(
    built: dict[str, Any],
) -> None:
    importance = built["report"]["importance"]
    values = importance["mean_abs_contribution"]
    assert "log-odds" in importance["unit"] and "drivers" in importance["unit"]
    assert importance["customers"] == built["report"]["quality"]["holdout_rows"]
    assert list(values.values()) == sorted(values.values(), reverse=True)
    page = built["page"]
    assert f'alt="{IMPORTANCE_TITLE}"' in page
    for column, value in values.items():  # the chart's table: the same numbers, the same names
        key = f'data-key="importance.mean_abs_contribution.{column}" data-value="{value}"'
        assert key in page, column
    # The direct computation: new leads scored as the API scores them; each driver's mean
    # |contribution| (every column is among a lead's drivers: fewer columns than TOP_DRIVERS).
    store = LocalStore(str(built["out"]))
    fetched = fetch_version(store, read_pointer(store), built["tmp"] / "cache")
    scorer = Scorer(Bundle.load(fetched.directory, fetched.manifest), HashingEmbedder())
    spec = scorer.spec
    scored = scorer.score([clean_lead(lead, spec) for lead in built["leads"]])
    total: dict[str, float] = {}
    for s in scored:
        for d in s.explanation.drivers:
            total[d.feature] = total.get(d.feature, 0.0) + abs(d.contribution)
    direct = sorted(COLUMNS, key=lambda c: -total.get(c, 0.0))
    assert [c for c in values if c in COLUMNS] == direct, (values, total)
    assert set(values) <= set(total) | {"lookalike"}  # the drivers' names


def _auc_names(text: str) -> list[str]:
    return [n for n in (HEADLINE_AUC, SERVED_AUC) if n.lower() in text.lower()]


def test_one_auc_per_figure_with_its_name_and_the_build_output_uses_the_reports_names(
    built: dict[str, Any],
) -> None:
    page, report = built["page"], built["report"]
    alts = re.findall(r'<img src="[^"]*" alt="([^"]*)"', page)
    assert len(alts) >= 4 and IMPORTANCE_TITLE in alts
    for alt in alts:
        assert alt.count("AUC") <= 1, alt
        if "AUC" in alt:
            assert len(_auc_names(alt)) == 1, alt
    headline = report["quality"]["headline"]["auc"]
    served = report["quality"]["serving_path"]["auc_served"]
    assert any(HEADLINE_AUC in a and f"{headline:.3f}" in a for a in alts), alts
    assert f'data-key="quality.serving_path.auc_served" data-value="{served}"' in page
    for name in (HEADLINE_AUC, SERVED_AUC):
        assert name.lower() in page.lower(), name
    # The build's printed lines: each AUC it states is named as the report names it.
    printed = [line for line in built["stdout"].splitlines() if "AUC" in line]
    assert printed
    for line in printed:
        assert line.count("AUC") == 1 and len(_auc_names(line)) == 1, line
    assert any(f"{HEADLINE_AUC} {headline}" in line for line in printed), printed
    assert any(f"{SERVED_AUC} {served}" in line for line in printed), printed
