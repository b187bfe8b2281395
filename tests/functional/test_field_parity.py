"""One validation for every path: a lead field means the same in /score_lead, /score_leads,
`leadgen score` and `score-file`. Against a version built from a European Excel export written
here (decimal commas, '.' thousands, dotted dates), the same leads as JSON strings spelled like
the export's cells, as JSON numbers, and as rows of a lead file get the same scores; the same
bad value gets the same refusal everywhere; in a batch it is that lead's error alone.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from leadgen.cli import main
from leadgen.config import ServiceConfig
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.api import create_app
from leadgen.serve.server import http_v2_event
from leadgen.serve.service import ScoringService
from leadgen.stores.exports import open_export

ACCOUNTS, LEADS = 1200, 30
NUMBERS = ("Number of Employees", "Web Activity Score", "Email Engagement Score")
DATES = ("Created Date", "Last Activity")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def european(plain: Path, target: Path) -> Path:
    """A plain CSV export re-saved as Excel in Germany does: ';', '1.234', '0,53',
    '05.03.2024', UTF-8 with a byte-order mark, CRLF (written here, not by the generator)."""
    with plain.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    out = [header]
    for row in rows[1:]:
        cells = []
        for name, cell in zip(header, row, strict=True):
            if name in NUMBERS or name == "Annual Revenue":
                cell = cell.replace(",", " ").replace(".", ",").replace(" ", ".")
            elif name in DATES and (m := _ISO.match(cell)):
                cell = f"{m.group(3)}.{m.group(2)}.{m.group(1)}"
            cells.append(cell)
        out.append(cells)
    with target.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(out)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from leadgen.synthetic.export_styles import SALESFORCE

    work = tmp_path_factory.mktemp("parity")
    data = ["data", "--style", "salesforce"]
    assert main([*data, "--out", str(work / "a.csv"), "--rows", str(ACCOUNTS)]) == 0
    assert main([*data, "--out", str(work / "l.csv"), "--rows", str(LEADS), "--seed", "3"]) == 0
    accounts = european(work / "a.csv", work / "accounts.csv")
    leads = european(work / "l.csv", work / "leads.csv")
    flags = [x for kv in SALESFORCE.build_flags.items() for x in kv]
    out = work / "artifacts"
    argv = ["build", "--input", str(accounts), "--out", str(out), *flags, "--embedder", "hashing"]
    assert main([*argv, "--date-cols", ",".join(DATES), "--quiet"]) == 0
    cfg = ServiceConfig(artifacts_uri=str(out), cache_dir=work / "cache")
    svc = ScoringService(cfg, HashingEmbedder(), duplicates=None)
    assert svc.lifecycle.start()
    rows = next(open_export(str(leads)).batches()).to_pylist()
    return {"work": work, "leads": leads, "artifacts": out, "service": svc, "rows": rows}


def call(built: dict[str, Any], path: str, body: Any) -> tuple[int, Any]:
    app = create_app(lambda: built["service"])
    raw = json.dumps(body).encode()
    resp = app.resolve(http_v2_event("POST", path, {"content-type": "application/json"}, raw), None)
    return int(resp["statusCode"]), json.loads(resp["body"])


def as_json(row: dict[str, Any]) -> dict[str, Any]:
    """A lead file's row as a JSON lead: every cell as the string it is; the email under the
    API's name."""
    lead = {k: v for k, v in row.items() if v is not None and k != "Email"}
    return {**lead, "email": row["Email"]} if row.get("Email") else lead


def score_file(built: dict[str, Any], leads: Path, out: Path) -> list[dict[str, Any]]:
    argv = ["score-file", str(leads), "--artifacts", str(built["artifacts"]), "--out", str(out)]
    assert main([*argv, "--embedder", "hashing", "--quiet", "--no-dedup"]) == 0
    return [row for batch in open_export(str(out)).batches() for row in batch.to_pylist()]


def test_the_version_reads_leads_as_the_export_was_written(built: dict[str, Any]) -> None:
    formats = built["service"].scorer().manifest.formats
    assert formats.decimal == dict.fromkeys(NUMBERS, ",")
    assert set(formats.dates) == set(DATES)


def test_json_strings_json_numbers_and_file_rows_score_alike(
    built: dict[str, Any], tmp_path: Path
) -> None:
    rows = built["rows"]
    status, strings = call(built, "/score_leads", {"leads": [as_json(r) for r in rows]})
    assert status == 200
    numbers = []
    for r in rows:
        lead = as_json(r)
        for name in NUMBERS:
            if name in lead:  # "1.234" -> 1234, "0,53" -> 0.53: as a JSON client sends them
                lead[name] = float(lead[name].replace(".", "").replace(",", "."))
        numbers.append(lead)
    _, typed = call(built, "/score_leads", {"leads": numbers})
    scored = {r["Id"]: r for r in score_file(built, built["leads"], tmp_path / "scored.csv")}
    for row, a, b in zip(rows, strings["results"], typed["results"], strict=True):
        assert a["p_high_value"] == b["p_high_value"]  # "1.234" is exactly 1234
        from_file = scored[row["Id"]]
        # the file's dates count from the run's start, the request's from its own: seconds apart
        assert float(from_file["p_high_value"].replace(",", ".")) == pytest.approx(
            a["p_high_value"], abs=2e-6
        )
        assert float(from_file["percentile"].replace(",", ".")) == pytest.approx(
            a["percentile"], abs=0.02
        )


def test_the_same_bad_value_is_refused_alike_everywhere(
    built: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = as_json(built["rows"][0])
    bad = {**good, "Web Activity Score": "n/a"}
    status, single = call(built, "/score_lead", bad)
    assert status == 422 and single["field"] == "Web Activity Score"
    reason = single["reason"]
    _, batch = call(built, "/score_leads", {"leads": [good, bad, good]})
    assert batch["results"][1] == {
        "index": 1,
        "error": "validation_error",
        "field": "leads[1].Web Activity Score",
        "reason": reason,
    }
    assert batch["results"][0]["p_high_value"] == batch["results"][2]["p_high_value"] is not None
    lead_file = tmp_path / "bad.json"
    lead_file.write_text(json.dumps(bad))
    argv = ["score", str(lead_file), "--artifacts", str(built["artifacts"])]
    assert main([*argv, "--embedder", "hashing", "--no-dedup"]) == 2
    assert f"Web Activity Score: {reason}" in capsys.readouterr().err
    lead_file.write_text(json.dumps([good, bad]))  # a list: as /score_leads answers it
    assert main([*argv, "--embedder", "hashing", "--no-dedup"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[1] == batch["results"][1] and listed[0]["p_high_value"] is not None
    with built["leads"].open(encoding="utf-8-sig", newline="") as fh:
        header, first = list(csv.reader(fh, delimiter=";"))[:2]
    first[header.index("Web Activity Score")] = "n/a"
    with (tmp_path / "bad.csv").open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows([header, first])
    score_file(built, tmp_path / "bad.csv", tmp_path / "out.csv")
    rejected = next(open_export(str(tmp_path / "out.rejects.csv")).batches()).to_pylist()
    assert [(r["reject_field"], r["reject_reason"]) for r in rejected] == [
        ("Web Activity Score", reason)
    ]


def test_a_batch_scores_its_good_leads_as_it_would_alone(built: dict[str, Any]) -> None:
    leads = [as_json(r) for r in built["rows"][:4]]
    _, alone = call(built, "/score_leads", {"leads": leads})
    mixed = [leads[0], {**leads[1], "Number of Employees": "lots"}, *leads[2:]]
    status, answer = call(built, "/score_leads", {"leads": mixed})
    assert status == 200
    kinds = ["error" in r for r in answer["results"]]
    assert kinds == [False, True, False, False]
    for i in (0, 2, 3):
        assert answer["results"][i]["p_high_value"] == alone["results"][i]["p_high_value"]
