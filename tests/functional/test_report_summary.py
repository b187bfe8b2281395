"""The report's first section as its reader sees it: headless Chromium at 1280x900 (a laptop
screen) on the report of a build that was allowed a leaked column. The summary sentence, the
warnings and the list of columns not used must all be above the fold, without scrolling; what
the page says is what build_report.json says.

Where each element sits is measured by Chromium itself: a copy of the page gets a script that
writes the elements' boxes into the DOM (the report itself has no script), read back from
--dump-dom.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from leadgen.cli import main
from tests.functional.test_leaks import build_args, write_export
from tests.functional.test_report_page import Numbers, chromium

FOLD = (1280, 900)
ELEMENTS = ("summary-sentence", "warnings", "not-used")
MEASURE = """<script>
const boxes = {};
for (const id of %s) {
  const el = document.getElementById(id);
  if (el) { const r = el.getBoundingClientRect(); boxes[id] = [r.top, r.bottom, r.height]; }
}
document.body.setAttribute("data-boxes", JSON.stringify(boxes));
</script></body>"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("summary")
    export, out = root / "leads.csv", root / "artifacts"
    write_export(export)
    assert main([*build_args(export, out, "Lost reason"), "--allow-column", "Lost reason"]) == 0
    version = json.loads((out / "LATEST").read_text())["version"]
    report = json.loads((out / version / "build_report.json").read_text())
    return {"page": out / version / "report.html", "report": report, "root": root}


def chromium_run(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={tmp / 'profile'}", f"--window-size={FOLD[0]},{FOLD[1]}", *args,
           page.as_uri()]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_the_first_section_is_above_the_fold(built: dict[str, Any], tmp_path: Path) -> None:
    measured = tmp_path / "measured.html"
    html = built["page"].read_text()
    measured.write_text(html.replace("</body>", MEASURE % json.dumps(list(ELEMENTS)), 1))
    dom = chromium_run(measured, tmp_path, "--dump-dom").stdout
    found = re.search(r'data-boxes="([^"]*)"', dom)
    assert found, dom[-2000:]
    boxes = json.loads(found.group(1).replace("&quot;", '"'))
    assert set(boxes) == set(ELEMENTS), boxes
    for element, (top, bottom, height) in boxes.items():
        assert height > 0 and top >= 0 and bottom <= FOLD[1], (element, top, bottom)


def test_the_first_section_says_what_the_json_says(built: dict[str, Any], tmp_path: Path) -> None:
    from PIL import Image

    summary = built["report"]["summary"]
    numbers = Numbers()
    numbers.feed(chromium_run(built["page"], tmp_path, "--dump-dom").stdout)
    text = " ".join(numbers.text)
    well = summary["how_well"]
    assert well["sentence"] in text
    assert re.fullmatch(
        r"Of the \d+ holdout customers graded A, \d+% were high-value, against \d+% overall\.",
        well["sentence"],
    )
    assert f"{well['grade_high_value_rate']:.0%} were high-value" in well["sentence"]
    assert "'Is Won' is true" in summary["predicts"] and "Title" in summary["columns"]
    assert any(w.startswith("Lost reason looks like the outcome") for w in summary["warnings"])
    not_used = {x["column"]: x["reason"] for x in summary["not_used"]}
    assert not_used["Lead ID"] == "the customer id" and "Status" in not_used
    assert "Close Date" in not_used and "outcome" in not_used["Close Date"]
    for key in ("summary.how_well.auc", "summary.how_well.holdout_rows"):
        assert json.loads(numbers.values[key]) == well[key.rsplit(".", 1)[1]]
    shot = tmp_path / "shot.png"
    chromium_run(built["page"], tmp_path, f"--screenshot={shot}")
    with Image.open(shot) as img:
        assert img.size == FOLD
        colours = img.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50


def test_a_column_empty_for_every_lead_is_not_available_for_leads(
    built: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The version reads 'Lost reason' (allowed): new leads have none, as the score-file summary
    says, while a column the leads do fill is not listed."""
    import csv

    root = built["root"]
    leads = root / "new-leads.csv"
    with leads.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["Title", "Industry", "Lead Source", "No. of Employees", "Created Date",
                      "Lost reason"])  # fmt: skip
        for i in range(40):
            out.writerow(["CTO", ["Retail", "Software"][i % 2], "Web", 10 + i, "2025-03-01", ""])
    artifacts = str(built["page"].parent.parent)
    argv = ["score-file", str(leads), "--out", str(root / "scored.csv"), "--artifacts",
            artifacts, "--embedder", "hashing", "--no-dedup", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if "not available for leads" in x)
    assert "Lost reason (empty for every lead)" in line and "Title (one value" in line, line
    assert "Industry" not in line and "No. of Employees" not in line
