"""Explanations that say true things, on a version built from a test-written export with no text
column: the summary names no text part; a number the lead has and no high-value customer comes
near (beyond their range) is never "shared", while the value most of them have is; and the
scored file carries the API's top drivers, in words, with their sign.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow.csv as pcsv
import pytest

from leadgen.cli import main
from tests.functional.test_leaks import CLEAN, write_export


@pytest.fixture(scope="module")
def version(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("truth")
    export, out = root / "leads.csv", root / "artifacts"
    write_export(export)
    flags = {**CLEAN, "--text-cols": "", "--cat-cols": "Title,Industry,Lead Source"}
    argv = ["build", "--input", str(export), "--out", str(out), "--embedder", "hashing"]
    assert main([*argv, *(x for kv in flags.items() for x in kv), "--quiet"]) == 0
    rows = [
        {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in r.items()}
        for r in pcsv.read_csv(export).to_pylist()
    ]
    return {"root": root, "out": out, "rows": rows}


def score(version: dict[str, Any], lead: dict[str, Any], capsys: Any) -> dict[str, Any]:
    path = version["root"] / "lead.json"
    path.write_text(json.dumps(lead))
    code = main(["score", str(path), "--artifacts", str(version["out"]), "--embedder",
                 "hashing", "--no-dedup"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    return dict(json.loads(out.out))


def lead_like(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    keep = ("Title", "Industry", "Lead Source", "No. of Employees", "Created Date")
    return {**{k: row[k] for k in keep}, "email": "new.person@example.net", **changes}


def test_no_text_part_without_text_columns(version: dict[str, Any], capsys: Any) -> None:
    won = next(r for r in version["rows"] if r["Is Won"])
    summary = score(version, lead_like(won), capsys)["explanation"]["summary"]
    assert summary.startswith("similarity to the ") and "text" not in summary, summary


def test_a_number_no_high_value_customer_has_is_not_shared(
    version: dict[str, Any], capsys: Any
) -> None:
    won = [r for r in version["rows"] if r["Is Won"]]
    sizes = np.array([r["No. of Employees"] for r in won], dtype=float)
    far = float(sizes.max() * 50)
    answer = score(version, lead_like(won[0], **{"No. of Employees": far}), capsys)
    shared = {s["attribute"]: s for s in answer["explanation"]["shared_attributes"]}
    assert "No. of Employees" not in shared, shared
    assert "No. of Employees" not in answer["explanation"]["summary"]
    for s in shared.values():  # what is listed, the neighbours really have
        assert s["shared_by"] * 2 >= s["of"]
        if s["between"] is not None:
            low, high = s["between"]
            assert low <= s["value"] <= high


def test_share_of_a_number_is_its_tenth_of_the_high_value_values() -> None:
    """Equal values always share a tenth; a value beyond the range shares none; a value on an
    inner edge belongs to the tenth above it."""
    from leadgen.serve.explanation import _decile, _deciles, _tenth

    high = np.array([1, 2, 2, 3, 5, 8, 13, 21, 34, 55, 89, np.nan], dtype=float)
    edges = _deciles(high)
    assert edges[0] == 1 and edges[-1] == 89
    bins = _decile(edges, high)
    assert bins[-1] == -1 and (bins[:-1] >= 0).all()
    assert bins[1] == bins[2]  # the two 2s
    assert _decile(edges, np.array([89 * 50.0, 0.5, np.nan])).tolist() == [-1, -1, -1]
    assert _decile(edges, np.array([89.0]))[0] == bins[-2]
    same = _deciles(np.array([3.0, 3.0, 3.0]))  # one value for every high-value customer
    assert _decile(same, np.array([3.0, 4.0])).tolist() == [0, -1]
    assert _tenth(same, 0) == [3.0, 3.0]


def test_a_number_most_neighbours_have_is_shared_with_its_tenth(
    version: dict[str, Any], capsys: Any
) -> None:
    won = [r for r in version["rows"] if r["Is Won"]]
    median = float(np.median([r["No. of Employees"] for r in won]))
    twin = min(won, key=lambda r: abs(r["No. of Employees"] - median))
    answers = [score(version, lead_like(twin, **{"Industry": twin["Industry"]}), capsys)]
    listed = [
        s for a in answers for s in a["explanation"]["shared_attributes"]
        if s["attribute"] == "No. of Employees"
    ]  # fmt: skip
    for s in listed:
        low, high = s["between"]
        assert low <= twin["No. of Employees"] <= high
    categories = [s for a in answers for s in a["explanation"]["shared_attributes"]
                  if s["attribute"] == "Industry"]  # fmt: skip
    assert all(s["value"] == twin["Industry"] for s in categories)


def test_the_scored_file_carries_the_top_drivers_in_words(
    version: dict[str, Any], capsys: Any
) -> None:
    root = version["root"]
    leads = root / "new.csv"
    rows = version["rows"][:20]
    with leads.open("w", encoding="utf-8") as f:
        f.write("Title,Industry,Lead Source,No. of Employees,Created Date\n")
        for r in rows:
            f.write(f"{r['Title']},{r['Industry']},{r['Lead Source']},{r['No. of Employees']},"
                    f"{r['Created Date']}\n")  # fmt: skip
    out = root / "scored.csv"
    code = main(["score-file", str(leads), "--out", str(out), "--artifacts", str(version["out"]),
                 "--embedder", "hashing", "--no-dedup", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    scored = pcsv.read_csv(out).to_pylist()
    first = lead_like(rows[0])
    first.pop("email")
    api = score(version, first, capsys)["explanation"]["drivers"][:3]
    cells = scored[0]["drivers"].split("; ")
    assert len(cells) == len(api) == 3
    for cell, d in zip(cells, api, strict=True):
        assert cell == f"{d['feature']} {d['effect']} ({d['contribution']:+.2f})"
        assert d["effect"] == ("raises" if d["contribution"] > 0 else "lowers")
