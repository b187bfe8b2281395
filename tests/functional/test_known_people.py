"""Duplicates as a real export holds them, through the CLI and the API as a user drives them.

The export is written here in HubSpot's shape (its column names: "First Name", "Company Name",
"Phone Number", "Street Address", "Postal Code", "Lifecycle Stage" holding customers, SQLs and
leads), built with the command `leadgen inspect` suggests, then scored: the same lead rows through
`score-file` and through the API's resolver give the same answers; a known customer is a
duplicate, a known non-customer and a lead scored before are scored with `known_as`; a +tag copy
on a company domain is the customer's email; the export's own duplicates are in the build
report; nothing of an address or a birth date is stored in clear.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from leadgen.cli import main
from leadgen.config import EmbedderSettings, ServiceConfig
from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.api import create_app
from leadgen.serve.server import http_v2_event
from leadgen.serve.service import ScoringService

FIRST = ["Quenby", "Ottoline", "Barnaby", "Isolde", "Thaddeus", "Wilhelmina", "Leopold", "Marigold"]
# Surnames far apart from each other (no two one typo apart): a first and a second part.
HEADS = ["Zor", "Quill", "Vant", "Brack", "Elling", "Dunw", "Harrow", "Pimb", "Sefton", "Tolk"]
TAILS = ["blatt", "feather", "orre", "water", "smere", "iddie", "gate", "bottom", "ingham",
         "worth", "combe", "thwaite", "hurst", "dale", "ridge", "brook", "field", "stone",
         "wood", "ford", "cliffe", "shaw"]  # fmt: skip
STAGES = ("customer", "salesqualifiedlead", "lead")
TITLES = ("Chief Data Officer", "VP Engineering", "Marketing Intern", "Office Assistant")
COLUMNS = [
    "Record ID", "First Name", "Last Name", "Email", "Company Name", "Phone Number",
    "Street Address", "City", "Postal Code", "Country/Region", "Job Title", "Industry",
    "Number of Employees", "Birthdate", "Lifecycle Stage",
]  # fmt: skip


def person(i: int) -> dict[str, Any]:
    """Customer i of the export: a made-up name no other file holds by chance."""
    first, last = FIRST[i % len(FIRST)], HEADS[i % 10] + TAILS[i // 10 % len(TAILS)]
    stage = STAGES[i % 3]
    return {
        "Record ID": str(70000 + i),
        "First Name": first,
        "Last Name": last,
        "Email": f"{first.lower()}.{last.lower()}@firm{i:03d}.example",
        "Company Name": f"Firm{i:03d} Holdings Inc.",
        "Phone Number": f"+44 20 7946 {i:04d}",
        "Street Address": f"{i + 1} Quarrington Lane",
        "City": "Marbleton",
        "Postal Code": f"QX{i % 9 + 1} {i % 7 + 2}ZZ",
        "Country/Region": "United Kingdom",
        "Job Title": TITLES[0 if stage == "customer" else 1 + i % 3],
        "Industry": ("Software", "Retail")[i % 2],
        "Number of Employees": str(50 + 7 * i),
        "Birthdate": f"19{60 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "Lifecycle Stage": stage,
    }


def write(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows([{c: r.get(c, "") for c in columns} for r in rows])
    return path


def lead_rows() -> list[dict[str, Any]]:
    """Who the leads are: see each `why`."""
    c0, c3, c6, c9, c1 = person(0), person(3), person(6), person(9), person(1)
    new = [
        {**person(200 + i), "Record ID": f"L{i}", "Email": f"new{i}@fresh{i}.example"}
        for i in range(4)
    ]
    return [
        {**c0, "Record ID": "L-email", "Email": c0["Email"].upper(), "why": "customer"},
        {**c3, "Record ID": "L-tag", "Email": c3["Email"].replace("@", "+webinar@"),
         "why": "customer"},
        {**c6, "Record ID": "L-fuzzy", "Email": "qb.other@gmail.com", "Phone Number": "",
         "Company Name": "FIRM006 Holdings", "why": "customer"},
        {**c9, "Record ID": "L-address", "Email": "", "Company Name": "", "Phone Number": "",
         "Last Name": c9["Last Name"][:-1] + "x", "why": "customer"},
        {**c1, "Record ID": "L-sql", "Email": c1["Email"], "why": "non_customer"},
        *({**n, "why": "new"} for n in new),
    ]  # fmt: skip


def _run(argv: list[str]) -> str:
    """`leadgen ARGV` in process; what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0, argv
    return out.getvalue()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The export, inspected, and built with the command inspect suggests (hashing embedder,
    no quality gate: the point here is who is who, not the ranking)."""
    work = tmp_path_factory.mktemp("known")
    people = [person(i) for i in range(150)]
    # the export's own duplicates: one person under a second id with the same mailbox, and
    # another under a second id and another mailbox (same name, company and phone)
    people.append({**person(12), "Record ID": "79990"})
    people.append({**person(15), "Record ID": "79991", "Email": "other.box@gmail.com"})
    export = write(work / "contacts.csv", people, COLUMNS)
    leads = write(work / "leads.csv", lead_rows(), [*COLUMNS[:-1], "why"])
    lines = _run(["inspect", str(export)]).splitlines()
    argv = shlex.split(lines[lines.index("suggested build command:") + 1])
    assert argv[:2] == ["leadgen", "build"]
    out = work / "artifacts"
    argv[argv.index("--out") + 1] = str(out)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEADGEN_EMBEDDER", "hashing")
        printed = _run([*argv[1:], "--min-auc", "0", "--min-lift", "0", "--quiet"])
    flags = dict(zip(argv[2::2], argv[3::2], strict=True))
    return {"export": export, "leads": leads, "out": out, "flags": flags, "printed": printed}


def test_inspect_maps_the_identity_columns_and_the_build_reads_them(
    built: dict[str, Any],
) -> None:
    flags = built["flags"]
    assert {k: flags.get(k) for k in ("--first-name-col", "--company-col", "--street-col",
                                      "--postcode-col", "--phone-col")} == {
        "--first-name-col": "First Name", "--company-col": "Company Name",
        "--street-col": "Street Address", "--postcode-col": "Postal Code",
        "--phone-col": "Phone Number",
    }  # fmt: skip
    features = ",".join(flags[f] for f in ("--text-cols", "--cat-cols", "--num-cols"))
    assert not {"First Name", "Last Name", "Email", "Phone Number", "Street Address"} & set(
        features.split(",")
    )
    assert "fuzzy entries" in built["printed"] and "not synced" not in built["printed"]
    report = _report(built["out"])
    assert report["identity"]["entries"] >= 150 and report["identity"]["customers"] == 51
    dups = report["identity"]["export_duplicates"]
    assert ["70012", "79990"] in dups["same_email"]["examples"]
    assert ["70015", "79991"] in dups["fuzzy"]["examples"]
    page = (_version_dir(built["out"]) / "report.html").read_text()
    section = page[page.index("<h2>Duplicates in the export</h2>") :]
    assert all(i in section for i in ("70012", "79990", "70015", "79991"))
    manifest = _manifest(built["out"])
    assert manifest["key_columns"]["first_name"] == "First Name"
    assert manifest["key_columns"]["postcode"] == "Postal Code"


def _version_dir(out: Path) -> Path:
    return out / json.loads((out / "LATEST").read_text())["version"]


def _report(out: Path) -> dict[str, Any]:
    return dict(json.loads((_version_dir(out) / "build_report.json").read_text()))


def _manifest(out: Path) -> dict[str, Any]:
    return dict(json.loads((_version_dir(out) / "manifest.json").read_text()))


def _service(out: Path, tmp: Path, short_circuit: str = "customers") -> ScoringService:
    cfg = ServiceConfig(
        str(out),
        cache_dir=tmp / "cache",
        embedder=EmbedderSettings(kind="hashing"),
        short_circuit=short_circuit,
    )
    store = SqliteDuplicateStore(out / "duplicates.sqlite")
    svc = ScoringService(cfg, HashingEmbedder(), store)
    assert svc.lifecycle.start()
    return svc


def _api(svc: ScoringService, row: dict[str, Any]) -> dict[str, Any]:
    """One row posted as the export spells its columns (numbers as numbers)."""
    body = {k: v for k, v in row.items() if v not in ("", None) and k != "why"}
    body["Number of Employees"] = int(body["Number of Employees"])
    body["email"] = body.pop("Email", None)
    event = http_v2_event(
        "POST", "/score_lead", {"content-type": "application/json"}, json.dumps(body).encode()
    )
    resp = create_app(lambda: svc).resolve(event, None)
    assert resp["statusCode"] == 200, resp["body"]
    return dict(json.loads(resp["body"]))


def test_score_file_and_the_api_give_the_same_answers(
    built: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scored = tmp_path / "scored.csv"
    monkeypatch.setenv("LEADGEN_EMBEDDER", "hashing")
    args = ["score-file", str(built["leads"]), "--artifacts", str(built["out"]),
            "--out", str(scored), "--quiet"]  # fmt: skip
    assert main(args) == 0
    with scored.open(newline="") as f:  # as a CRM import reads it: text, empty = nothing
        rows = [{k: v or None for k, v in r.items()} for r in csv.DictReader(f)]
    svc = _service(built["out"], tmp_path)
    for row, lead in zip(rows, lead_rows(), strict=True):
        answer = _api(svc, lead)
        known = answer["known_as"] or {}
        seen = (row["duplicate"] == "true", row["duplicate_ref"], row["known_as"],
                row["known_as_kind"], row["known_as_stage"], row["grade"])  # fmt: skip
        said = (answer["duplicate"], answer["customer_id"] if answer["duplicate"] else None,
                known.get("customer_id") or known.get("lead_ref"), known.get("of"),
                known.get("stage"), answer["grade"])  # fmt: skip
        assert seen == said, lead["Record ID"]
        expected = {"customer": (True, None), "non_customer": (False, "non_customer"),
                    "new": (False, None)}[lead["why"]]  # fmt: skip
        assert (answer["duplicate"], known.get("of")) == expected, lead["Record ID"]
    by_id = {r["Record ID"]: r for r in rows}
    assert by_id["L-tag"]["duplicate_ref"] == "70003"  # the +tag copy: the customer's email
    assert by_id["L-sql"]["known_as_stage"] == "salesqualifiedlead"
    assert by_id["L-sql"]["grade"] is not None  # a known non-customer is graded


def test_a_lead_scored_before_is_scored_again_and_known(
    built: dict[str, Any], tmp_path: Path
) -> None:
    svc = _service(built["out"], tmp_path)
    lead = {**person(300), "Email": "someone.once@fresh.example", "Record ID": "L-again"}
    first = _api(svc, lead)
    assert first["duplicate"] is False and first["known_as"] is None and first["lead_ref"]
    again = _api(svc, lead)
    assert again["duplicate"] is False and again["grade"] == first["grade"]
    assert again["known_as"]["of"] == "lead" and again["known_as"]["lead_ref"] == first["lead_ref"]
    assert again["known_as"]["kind"] == "email"


def test_short_circuit_known_answers_every_known_person_unscored(
    built: dict[str, Any], tmp_path: Path
) -> None:
    svc = _service(built["out"], tmp_path, short_circuit="known")
    sql = next(r for r in lead_rows() if r["why"] == "non_customer")
    answer = _api(svc, sql)
    assert answer["duplicate"] is True and answer["grade"] is None
    assert answer["duplicate_of"] == "non_customer" and answer["customer_id"] == "70001"
    assert answer["duplicate_match"]["stage"] == "salesqualifiedlead"


def test_no_address_birth_date_email_or_name_in_clear(built: dict[str, Any]) -> None:
    """The duplicate store keeps addresses and birth dates as digests only; the version's files
    hold no email, name, street, city, postcode or birth date of the export at all."""
    people = [person(i) for i in range(150)]
    places = {p[c].lower().encode() for p in people for c in ("Street Address", "City")}
    places |= {p["Postal Code"].replace(" ", "").lower().encode() for p in people}
    places |= {p["Birthdate"].encode() for p in people}
    places |= {p["Birthdate"].replace("-", "").encode() for p in people}
    store = (built["out"] / "duplicates.sqlite").read_bytes()
    assert [x for x in places if x in store.lower()] == []
    personal = {p[c].lower().encode() for p in people for c in ("Email", "First Name", "Last Name")}
    for path in _version_dir(built["out"]).iterdir():
        data = path.read_bytes().lower()
        assert [x for x in personal | places if x in data] == [], path.name


def test_of_concurrent_submissions_of_one_new_person_exactly_one_is_recorded(
    built: dict[str, Any], tmp_path: Path
) -> None:
    """Every submission is scored (a lead scored before is no customer); the conditional write
    still lets exactly one be the new lead, and the others name it."""
    import threading

    n = 8
    services = [_service(built["out"], tmp_path / str(i)) for i in range(n)]
    lead = {**person(400), "Email": "racer@fresh.example", "Record ID": "racer"}
    barrier = threading.Barrier(n)
    answers: list[dict[str, Any]] = [{} for _ in range(n)]

    def submit(i: int) -> None:
        barrier.wait()
        answers[i] = _api(services[i], lead)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a["duplicate"] is False and a["grade"] is not None for a in answers)
    new = [a for a in answers if a["known_as"] is None]
    assert len(new) == 1
    assert all(a["known_as"]["lead_ref"] == new[0]["lead_ref"] for a in answers if a["known_as"])
