"""report.html as a person sees it: two consecutive builds, the second on a drifted export, each
page rendered by a real headless Chromium (Debian's `chromium`, installed by `make browser`,
part of `make test`'s setup: a missing browser FAILS here, never skips).

What these prove: every version carries a checksummed report.html and profile.json; the first
report says "first version", the second has a drift section naming the shifted column; the page
loads with no console message and no external resource, its screenshot is a real picture, and
every number it shows (read back from the DOM Chromium produced, by its data-key) is the value
in build_report.json; --max-psi refuses a drifted version with exit 3 and LATEST untouched.
"""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from leadgen.model.bundle import REPORT, Files
from tests.conftest import build_config, quiet_build

ROWS = 1500
WINDOW = (1200, 1600)
# The numbers the issue names, which the page must show (and agree with the JSON on).
REQUIRED_KEYS = {
    "rows.read",
    "rows.current_customers",
    "rows.high_value",
    "quality.headline.auc",
    "quality.headline.lift@10%",
    "quality.calibration.ece",
    "quality.grades.A.share",
    "quality.grades.A.high_value_rate",
    "drift.max_psi",
    "drift.label_rate.change",
    "drift.score.psi",
    "drift.grade_change.changed_share",
    "indices.all.recall_at_k",
}


def shifted(table: pa.Table) -> pa.Table:
    """The export a month later: companies three times the size, a few more high-value."""
    i = table.schema.get_field_index("company_size")
    size = pc.multiply(table["company_size"], 3)
    return table.set_column(i, "company_size", size.cast(table.schema.field(i).type))


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from leadgen.synthetic.crm import generate_crm, write_crm

    root = tmp_path_factory.mktemp("report-page")
    first, second = root / "crm-1.parquet", root / "crm-2.parquet"
    table = generate_crm(rows=ROWS, seed=5)
    write_crm(table, first)
    write_crm(shifted(table), second)
    out = root / "artifacts"
    v1 = quiet_build(build_config(first, out)).version
    v2 = quiet_build(build_config(second, out)).version
    return {"out": out, "v1": v1, "v2": v2, "first": first, "root": root}


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "chromium is not installed: `make browser` (part of `make test`) installs it"
    return path


def render(page: Path, tmp: Path) -> tuple[str, Path, str]:
    """(the DOM after load, a screenshot, Chromium's log) of a file in headless Chromium."""
    shot = tmp / "shot.png"
    base = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ]
    dom = subprocess.run(
        [*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    pic = subprocess.run(
        [*base, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert pic.returncode == 0 and shot.is_file(), pic.stderr[-2000:]
    return dom.stdout, shot, dom.stderr + pic.stderr


class Numbers(HTMLParser):
    """data-key -> data-value of every number on the page, and every image/link source."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.shown: dict[str, str] = {}  # the text a person reads, per data-key
        self.sources: list[str] = []
        self.text: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("data-key") is not None:
            self._open = str(a["data-key"])
            self.values[self._open] = str(a.get("data-value") or "")
            self.shown[self._open] = ""
        self.sources += [str(a[k]) for k in ("src", "href") if a.get(k)]
        assert tag != "script", "the report must need no script"

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._open is not None:
            self.shown[self._open] += data


def shown_value(text: str) -> float | None:
    """What a person reads, as a number: "n/a", "1,234", "12.50%", "0.8627", "-2.2e-05"."""
    text = text.strip()
    if text == "n/a":
        return None
    if text.endswith("%"):
        return float(text[:-1]) / 100
    return float(text.replace(",", ""))


def lookup(report: dict[str, Any], key: str) -> Any:
    """The build_report.json value at a data-key (a list item by its grade or column)."""
    node: Any = report
    for part in key.split("."):
        if isinstance(node, list):
            node = next(x for x in node if part in (x.get("grade"), x.get("column")))
        else:
            node = node[part]
    return node


def page_of(builds: dict[str, Any], version: str, tmp: Path) -> tuple[Numbers, Path, str, dict]:
    vdir = builds["out"] / version
    report = json.loads((vdir / REPORT).read_text())
    dom, shot, log = render(vdir / Files.REPORT_HTML, tmp)
    numbers = Numbers()
    numbers.feed(dom)
    return numbers, shot, log, report


def test_every_version_has_a_checksummed_report_and_profile(builds: dict[str, Any]) -> None:
    from leadgen.model.bundle import MANIFEST, Manifest

    for version in (builds["v1"], builds["v2"]):
        vdir = builds["out"] / version
        manifest = Manifest.from_bytes((vdir / MANIFEST).read_bytes(), version)
        assert {Files.REPORT_HTML, Files.PROFILE} <= set(manifest.files)
        manifest.verify(vdir)


def test_the_second_report_shows_the_drift_and_agrees_with_the_json(
    builds: dict[str, Any], tmp_path: Path
) -> None:
    numbers, shot, log, report = page_of(builds, builds["v2"], tmp_path)
    drift = report["drift"]
    assert not drift["first_version"] and drift["previous_version"] == builds["v1"]
    assert drift["max_psi_column"] == "company_size" and drift["max_psi"] > 0.25
    assert set(numbers.values) >= REQUIRED_KEYS, REQUIRED_KEYS - set(numbers.values)
    for key, raw in numbers.values.items():
        want = lookup(report, key)
        assert (json.loads(raw) if raw else None) == want, key
        read = shown_value(numbers.shown[key])  # rounded for display, never another number
        assert (read is None) == (want is None), key
        if want is not None:
            assert math.isclose(read or 0.0, want, rel_tol=1e-3, abs_tol=1e-4), (key, read, want)
    text = " ".join(numbers.text)
    assert f"Drift since {builds['v1']}" in text and "company_size changed population" in text
    assert_loads_cleanly(numbers, shot, log)


def test_the_first_report_says_first_version(builds: dict[str, Any], tmp_path: Path) -> None:
    numbers, shot, log, report = page_of(builds, builds["v1"], tmp_path)
    assert report["drift"]["first_version"] and report["drift"]["previous_version"] is None
    assert "First version: no previous version." in " ".join(numbers.text)
    assert "drift.max_psi" not in numbers.values
    assert numbers.values["rows.read"] == json.dumps(report["rows"]["read"])
    assert_loads_cleanly(numbers, shot, log)


def assert_loads_cleanly(numbers: Numbers, shot: Path, log: str) -> None:
    """No console message, no external resource, every chart a PNG, a non-blank screenshot."""
    from PIL import Image

    assert "CONSOLE" not in log and "Failed to load resource" not in log, log[-2000:]
    assert numbers.sources and all(s.startswith("data:image/png;base64,") for s in numbers.sources)
    for src in numbers.sources:
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    with Image.open(shot) as img:
        assert img.size == WINDOW
        colours = img.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50  # text and charts, not a blank page
    white = max(count for count, rgb in colours if rgb == (255, 255, 255))
    assert white < 0.97 * WINDOW[0] * WINDOW[1]


def test_max_psi_refuses_a_drifted_version_and_latest_stays(
    builds: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Back to the first export after the shifted one: company_size drifts back; refused."""
    from leadgen.cli import main
    from leadgen.stores.artifacts import latest_version
    from leadgen.stores.blob import LocalStore

    out = builds["out"]
    before = sorted(p.name for p in out.iterdir())
    args = ["build", "--input", str(builds["first"]), "--out", str(out), "--quiet"]
    code = main([*args, "--embedder", "hashing", "--max-psi", "0.25"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "'company_size' drifted" in err and "LATEST unchanged" in err
    assert latest_version(LocalStore(out)) == builds["v2"]
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_build_without_a_head_reports_the_contrast_and_no_grade_change(
    tmp_path: Path,
) -> None:
    """Too few high-value customers for a head: the page says why, shows no reliability curve,
    and the drift's grade-change share is "n/a" (grades are measured from the head)."""
    from leadgen.synthetic.crm import generate_crm, write_crm

    crm = tmp_path / "crm.parquet"
    write_crm(generate_crm(rows=300, seed=3, high_value_rate=0.07), crm)
    out = tmp_path / "artifacts"
    cfg = build_config(crm, out, min_auc=0.0, min_lift=0.0)
    quiet_build(cfg)
    version = quiet_build(cfg).version
    numbers, shot, log, report = page_of({"out": out}, version, tmp_path)
    assert report["quality"]["headline"]["score"] == "contrast"
    assert report["drift"]["grade_change"] == {"customers_compared": 0, "changed_share": None}
    text = " ".join(numbers.text)
    assert "No supervised head" in text and "not a probability" in text
    assert numbers.shown["drift.grade_change.changed_share"].strip() == "n/a"
    assert_loads_cleanly(numbers, shot, log)
