"""Bulk scoring in AWS, end to end against moto's server over real HTTP (S3, DynamoDB, Secrets
Manager).

A Salesforce-like CSV on S3 is built by the index build job configured only through LEADGEN_*
variables (its own id/email/stage names); the duplicate and identity tables are synced with the
email hash key read from its secret, as deployed. Then a lead CSV is
uploaded under score-requests/ and `python -m bulk_job` runs with exactly the environment the
EventBridge rule would give its build: the synthesised rule's input transformer applied to the
sample S3 event, over the project's own variables from the synthesised template
(tests/deployed.py), with its role's credentials: every call is checked against its policy. The
scored file, its rejects and their metadata are checked in S3.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from leadgen.model.numbers import NOT_A_NUMBER
from tests.deployed import Deployment, running_as
from tests.synthesis import Synth

REPO = Path(__file__).resolve().parents[2]
BUCKET = "leadgen-bulk-job-test"
EVENT = json.loads((REPO / "events" / "s3_object_created.json").read_text())
UPLOADED_KEY = "score-requests/q3 leads.csv"  # the event carries it URL-encoded: q3+leads.csv
CUSTOMERS = 1000
LEADS = 400
_VARS = ("LEADGEN_", "ARTIFACTS_URI", "DUP_TABLE_NAME", "IDENTITY_TABLE_NAME")
HASH_KEY = "bulk-test-hash-key-0123456789abcdef"


@pytest.fixture(scope="module")
def aws(moto_server: str) -> dict[str, Any]:
    """The bucket, both duplicate tables and the hash key's secret: the stack's environment for
    both projects (stacks/index_refresh.build_environment, stacks/bulk_scoring.bulk_environment)."""
    from tests.conftest import create_table, moto_client

    s3 = moto_client("s3", moto_server)
    s3.create_bucket(Bucket=BUCKET)
    ddb = moto_client("dynamodb", moto_server)
    sm = moto_client("secretsmanager", moto_server)
    arn = sm.create_secret(Name="bulk-hash-key", SecretString=HASH_KEY)["ARN"]
    tables = {
        "DUP_TABLE_NAME": create_table(ddb),
        "IDENTITY_TABLE_NAME": create_table(ddb, "pk", "ident"),
        "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN": arn,
    }
    return {"s3": s3, "tables": tables, "endpoint": moto_server}


@pytest.fixture(scope="module")
def deployment(synth: Synth, aws: dict[str, Any]) -> Deployment:
    """The stack as deployed onto these moto resources."""
    tables = aws["tables"]
    return Deployment(
        synth.dev_json,
        {
            "ArtifactBucket": BUCKET,
            "DuplicateTable": tables["DUP_TABLE_NAME"],
            "IdentityTable": tables["IDENTITY_TABLE_NAME"],
            "EmailHashKeySecret": tables["LEADGEN_EMAIL_HASH_KEY_SECRET_ARN"],
        },
    )


def project(deployment: Deployment, prefix: str) -> str:
    return deployment.logical_id("AWS::CodeBuild::Project", prefix)


def put_csv(s3: Any, key: str, table: pa.Table) -> None:
    buf = io.BytesIO()
    pcsv.write_csv(table, buf)
    s3.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())


def clean_env(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for name in list(os.environ):
        if name.startswith(_VARS):
            monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def published(aws: dict[str, Any], deployment: Deployment) -> Iterator[dict[str, Any]]:
    """The index build project on a CSV export in S3, its columns set to the export's own
    names (stacks/config.py's settings for such an export)."""
    from build_job.job import EXIT_OK, run
    from leadgen.synthetic.crm import generate_crm
    from leadgen.synthetic.export_styles import SALESFORCE, crm_export

    accounts = crm_export(generate_crm(rows=CUSTOMERS, seed=21), "salesforce")
    put_csv(aws["s3"], "input/accounts.csv", accounts)
    flags = SALESFORCE.build_flags
    env = deployment.run_environment(
        project(deployment, "IndexRefreshProject"),
        aws["endpoint"],
        {
            "LEADGEN_INPUT_PATH": f"s3://{BUCKET}/input/accounts.csv",
            "LEADGEN_EMBEDDER": "hashing",
            "LEADGEN_FUNCTION_NAME": None,  # no scoring function to roll out in this test
            "LEADGEN_ID_COL": flags["--id-col"],
            "LEADGEN_EMAIL_COL": flags["--email-col"],
            "LEADGEN_TEXT_COLS": flags["--text-cols"],
            "LEADGEN_CAT_COLS": flags["--cat-cols"],
            "LEADGEN_NUM_COLS": flags["--num-cols"],
            "LEADGEN_HIGH_VALUE_COL": flags["--high-value-col"],
            "LEADGEN_HIGH_VALUE_VALUES": flags["--high-value-values"],
        },
    )
    with pytest.MonkeyPatch.context() as mp:
        clean_env(mp, **env)
        out, err = io.StringIO(), io.StringIO()
        with running_as({}):
            assert run(stdout=out, stderr=err) == EXIT_OK, err.getvalue()
    latest = json.loads(aws["s3"].get_object(Bucket=BUCKET, Key="artifacts/LATEST")["Body"].read())
    yield {"accounts": accounts, "version": latest["version"]}


def rule_environment(deployment: Deployment, endpoint: str, key: str) -> dict[str, str]:
    """What a bulk build started by the rule for an upload of `key` sees (S3 URL-encodes the
    key in the event): the project's variables, the rule's overrides, its role's credentials;
    built with the hashing embedder, as the published version was."""
    event = json.loads(json.dumps(EVENT))
    event["detail"]["bucket"]["name"] = BUCKET
    event["detail"]["object"]["key"] = key.replace(" ", "+")
    changes = {
        **deployment.rule_environment("BulkScoringOnUpload", event),
        "LEADGEN_EMBEDDER": "hashing",
    }
    return deployment.run_environment(project(deployment, "BulkScoringProject"), endpoint, changes)


def leads_with_bad_rows(accounts: pa.Table) -> pa.Table:
    from leadgen.synthetic.crm import generate_crm
    from leadgen.synthetic.export_styles import crm_export

    leads = crm_export(generate_crm(rows=LEADS, seed=22), "salesforce")
    known = accounts.filter(pa.compute.is_valid(accounts["Email"])).slice(0, 5)
    rows = known.to_pylist() + leads.to_pylist()
    rows[10]["Number of Employees"] = "lots"
    rows[11]["Web Activity Score"] = "n/a"
    return pa.Table.from_pylist(rows, leads.schema)


def known_ids(accounts: pa.Table, leads: pa.Table) -> dict[str, str]:
    """lead Id -> the customer Id whose (normalised) email it has: what the table knows."""
    from leadgen.duplicates.normalise import email_hash

    customers: dict[str, str] = {}
    for row in accounts.to_pylist():
        h = email_hash(row["Email"], HASH_KEY) if row["Email"] else None
        if h is not None:
            customers.setdefault(h, row["Id"])
    out = {}
    for row in leads.to_pylist()[:10] + leads.to_pylist()[12:]:  # rows 10, 11 are rejected
        h = email_hash(row["Email"], HASH_KEY) if row["Email"] else None
        if h in customers:
            out[row["Id"]] = customers[h]
    return out


def run_bulk(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> tuple[int, list[Any], str]:
    from bulk_job.job import run

    clean_env(monkeypatch, **env)
    out, err = io.StringIO(), io.StringIO()
    with running_as({}):  # a new build: boto3 reads this environment's credentials afresh
        code = run(stdout=out, stderr=err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_an_upload_is_scored_into_scored_with_rejects_and_the_version(
    aws: dict[str, Any],
    published: dict[str, Any],
    deployment: Deployment,
    moto_env: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    s3 = aws["s3"]
    leads = leads_with_bad_rows(published["accounts"])
    put_csv(s3, UPLOADED_KEY, leads)
    env = rule_environment(deployment, moto_env, UPLOADED_KEY)
    assert env["LEADGEN_SCORE_REQUEST_KEY"] == "score-requests/q3+leads.csv"
    assert env["DUP_TABLE_NAME"] == aws["tables"]["DUP_TABLE_NAME"]  # the stack's, resolved
    code, events, err = run_bulk(monkeypatch, env)
    assert code == 0, err
    assert [e["event"] for e in events] == ["bulk_started", "bulk_finished"]
    finished = events[-1]
    known = known_ids(published["accounts"], leads)
    assert len(known) >= 5  # the five customers put in, and any lead sharing a mailbox
    assert finished["rows"] == LEADS + 5
    assert finished["outcomes"] == {
        "scored": LEADS + 5 - 2 - len(known),
        "duplicate": len(known),
        "rejected": 2,
    }
    assert finished["artifact_version"] == published["version"]

    scored = s3.get_object(Bucket=BUCKET, Key="scored/q3 leads.parquet")
    assert scored["Metadata"] == {"artifact-version": published["version"]}
    table = pq.read_table(io.BytesIO(scored["Body"].read()))
    assert table.num_rows == LEADS + 3
    assert table.column_names[: len(leads.column_names)] == leads.column_names
    dup = table.filter(table["duplicate"]).to_pylist()
    # the known customers, by their Salesforce ids, found in DynamoDB
    assert {r["Id"]: r["duplicate_ref"] for r in dup} == known

    rejects = s3.get_object(Bucket=BUCKET, Key="scored/q3 leads.rejects.parquet")
    assert rejects["Metadata"] == {"artifact-version": published["version"]}
    rejected = pq.read_table(io.BytesIO(rejects["Body"].read())).to_pylist()
    assert [(r["reject_field"], r["reject_reason"]) for r in rejected] == [
        ("Number of Employees", NOT_A_NUMBER),  # the reason, never the row's value
        ("Web Activity Score", NOT_A_NUMBER),
    ]


def test_a_folder_placeholder_is_skipped(
    published: dict[str, Any],
    deployment: Deployment,
    moto_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = rule_environment(deployment, moto_env, "score-requests/")
    code, events, _ = run_bulk(monkeypatch, env)
    assert code == 0 and [e["event"] for e in events] == ["bulk_skipped"]


def _keys(s3: Any, prefix: str) -> list[str]:
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in found)


@pytest.mark.parametrize(
    ("key", "body", "needles"),
    [
        ("score-requests/leads.pdf", b"%PDF-1.7", ["not a lead file", "leads.pdf"]),
        ("score-requests/leads.xlsx", b"PK\x03\x04", ["cannot read as .xlsx", "leads.xlsx"]),
        ("score-requests/other.csv", b"name,phone\nAda,1\n", ["none of the model's columns"]),
        (  # a ragged row: by its number and the header's names, never its values
            "score-requests/ragged.csv",
            b"Id,Email,Title\n" + b"L1,a@example.com,CTO\n" * 30 + b"L9,ada@example.com,CTO,x\n",
            ["row 31 (line 32) has 4 cells", "'Id', 'Email', 'Title'", "!ada@example.com"],
        ),
    ],
)
def test_a_bad_upload_fails_in_one_line_and_writes_nothing(
    aws: dict[str, Any],
    published: dict[str, Any],
    deployment: Deployment,
    moto_env: str,
    key: str,
    body: bytes,
    needles: list[str],
) -> None:
    """Through the real entry point (`python -m bulk_job`), as CodeBuild runs it."""
    s3 = aws["s3"]
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    before = _keys(s3, "scored/")
    env = {k: v for k, v in os.environ.items() if not k.startswith(_VARS)}
    env.update(rule_environment(deployment, moto_env, key), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "bulk_job"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stdout
    for needle in needles:
        if needle.startswith("!"):
            assert needle[1:] not in proc.stdout + proc.stderr
        else:
            assert needle in lines[0], lines[0]
    failed = [json.loads(line) for line in proc.stdout.splitlines()][-1]
    assert failed["event"] == "bulk_failed" and failed["exit_code"] == 2
    assert _keys(s3, "scored/") == before


def test_an_upload_name_keeps_its_dots_and_its_rejects_sit_beside_the_scored_file() -> None:
    """The job names outputs with the core's rules (leadgen.stores.exports.split_suffix,
    leadgen.serve.bulk.rejects_path): a dotted name is not cut at its first dot, and .tsv.gz is a
    lead file as it is for `leadgen score-file`."""
    from bulk_job.job import Request

    req = Request("b", "score-requests/team/q3.leads.tsv.gz")
    assert req.name == "team/q3.leads"
    assert req.scored == "s3://b/scored/team/q3.leads.parquet"
    assert req.rejects == "s3://b/scored/team/q3.leads.rejects.parquet"
