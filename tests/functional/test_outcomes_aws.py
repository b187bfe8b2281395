"""What happened to the leads we scored, in AWS, end to end against moto's server (S3, DynamoDB,
Secrets Manager, CloudWatch Logs, Kinesis Data Firehose, Lambda) over real HTTP.

The scenario, run once for the module:
1. the build job publishes v1 from an export of customers (the stack's environment: score log at
   s3://BUCKET/score-log, maturity 0 days so the scenario's leads count at once);
2. leads are scored through the Lambda handler (LEADGEN_SCORE_LOG=stdout, as the stack sets it;
   what it prints is put into the function's log group, the Lambda runtime's part, which moto's
   subscription hands to its Firehose stream, which writes score-log/firehose/ objects) and through
   the bulk job (parquet parts under score-log/day=...); one request opts out;
3. a later export holds some of those leads as customers: found by their id, their email, or only
   by name, company and phone under another email (the fuzzy rule);
4. a candidate built on that export with shuffled labels is refused by the challenger gate (exit 3,
   LATEST still v1, its report kept under refused/); a sound one is published as v2.

The tests check what landed in the log, that v2's report counts per grade and per rule exactly
what this file computes independently from the answers and the export, that rollback serves v1
again after the refresh (locally pinned function and unpinned alike), and that forget leaves
nothing of a person in any object, object version or table item. moto's CloudWatch Logs ignores a
subscription's filter pattern and delivers every line; the reader skips unmarked ones, and the
stack's pattern (leadgen.names.SCORE_LOG_FILTER) is checked in tests/infra/test_score_log.py.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import io
import json
import random
import string
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from leadgen.duplicates.normalise import email_hash
from leadgen.names import FIREHOSE_LOG_FOLDER, SCORE_LOG_FILTER, SCORE_LOG_PREFIX
from leadgen.serve.server import http_v2_event
from tests.conftest import moto_client, moto_environment

BUCKET = "leadgen-outcomes-test"
HASH_KEY = "outcomes-test-email-hash-key-0123"
FUNCTION_LOGS = "/aws/lambda/leadgen-scoring"
CUSTOMERS, API_LEADS, BULK_LEADS = 1200, 240, 120
LOG_URI = f"s3://{BUCKET}/{SCORE_LOG_PREFIX}"
ARTIFACTS = f"s3://{BUCKET}/artifacts"
_VARS = ("LEADGEN_", "ARTIFACTS_URI", "DUP_TABLE_NAME", "IDENTITY_TABLE_NAME", "REFRESH_SECONDS")


@dataclass
class World:
    s3: Any
    ddb: Any
    env: dict[str, str]  # the tables, the secret, the score log, the function name
    function: str
    cache: Path  # the functions' /tmp
    v1: str = ""
    v2: str = ""
    leads: list[dict[str, Any]] = field(default_factory=list)  # as the CRM knows them
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # lead key -> answer
    opted_out: str = ""
    forgotten: str = ""  # the lead test_forget_... erased from the log (tests run in any order)
    converted: dict[str, dict[str, Any]] = field(default_factory=dict)  # lead key -> export row
    refused: Any = None
    sound: Any = None


# ---- the scenario --------------------------------------------------------------------------------
def _clean_env(mp: pytest.MonkeyPatch, **variables: str) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(_VARS):
            mp.delenv(name)
    for name, value in variables.items():
        mp.setenv(name, value)


def _provision(endpoint: str, cache: Path) -> World:
    s3, ddb = moto_client("s3", endpoint), moto_client("dynamodb", endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    from tests.conftest import create_table

    arn = moto_client("secretsmanager", endpoint).create_secret(
        Name=f"hash-{uuid.uuid4().hex[:6]}", SecretString=HASH_KEY
    )["ARN"]
    env = {
        "DUP_TABLE_NAME": create_table(ddb),
        "IDENTITY_TABLE_NAME": create_table(ddb, "pk", "ident"),
        "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN": arn,
        "LEADGEN_EMBEDDER": "hashing",
    }
    _score_log_delivery(endpoint)
    return World(s3, ddb, env, _function(endpoint), cache)


def _score_log_delivery(endpoint: str) -> None:
    """The stack's delivery (stacks/score_log.py) as moto can play it: the function's log group,
    a Firehose stream writing under score-log/firehose/, the subscription with the stack's
    pattern."""
    fh = moto_client("firehose", endpoint)
    stream = fh.create_delivery_stream(
        DeliveryStreamName="leadgen-score-log",
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": f"{SCORE_LOG_PREFIX}/{FIREHOSE_LOG_FOLDER}/",
            "CompressionFormat": "GZIP",
        },
    )
    logs = moto_client("logs", endpoint)
    logs.create_log_group(logGroupName=FUNCTION_LOGS)
    logs.create_log_stream(logGroupName=FUNCTION_LOGS, logStreamName="instance-1")
    logs.put_subscription_filter(
        logGroupName=FUNCTION_LOGS,
        filterName="score-log",
        filterPattern=SCORE_LOG_FILTER,
        destinationArn=stream["DeliveryStreamARN"],
        roleArn="arn:aws:iam::123456789012:role/logs-to-firehose",
    )


def _function(endpoint: str) -> str:
    """The scoring function as `cdk deploy` leaves it: alias `live` on the stack's version."""
    iam, lam = moto_client("iam", endpoint), moto_client("lambda", endpoint)
    name = f"leadgen-scoring-{uuid.uuid4().hex[:6]}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]
    lam.create_function(
        FunctionName=name,
        Role=role["Arn"],
        PackageType="Image",
        Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/leadgen:stack"},
        Environment={"Variables": {"ARTIFACTS_URI": ARTIFACTS}},
    )
    lam.create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion=lam.publish_version(FunctionName=name)["Version"],
    )
    return name


def _people() -> tuple[pa.Table, list[dict[str, Any]]]:
    """The customers, and the leads: other generated people, each made unique (a surname of
    its own, a mailbox of its own) so no lead is anybody else by any rule."""
    from leadgen.synthetic.crm import generate_crm

    table = generate_crm(rows=CUSTOMERS + API_LEADS + BULK_LEADS, seed=27)
    table = table.filter(pc.field("is_current"))
    rng = random.Random(27)
    leads = []
    for row in table.slice(CUSTOMERS).to_pylist()[: API_LEADS + BULK_LEADS]:
        last = "".join(rng.choices(string.ascii_lowercase, k=12)).capitalize()
        domain = (row["email"] or "x@example.com").split("@")[1]
        leads.append({**row, "last_name": last, "email": f"{row['first_name']}.{last}@{domain}"})
    return table.slice(0, CUSTOMERS), leads


def _kind(row: dict[str, Any], i: int) -> str:
    """How a lead will be recognised if it converts: by its own id, its email, or only its
    name, company and phone (it gave a private address; a lead without a company has nothing to
    be found by that way and keeps its email)."""
    kind = ("id", "email", "fuzzy")[i % 3]
    return "email" if kind == "fuzzy" and not row["company"] else kind


def _as_lead(row: dict[str, Any], i: int) -> dict[str, Any]:
    lead = {
        k: row[k]
        for k in (
            "first_name",
            "last_name",
            "company",
            "phone",
            "industry",
            "company_size",
            "country",
            "job_title",
            "bio",
            "web_activity_score",
            "email_engagement_score",
        )
    }
    lead["email"] = row["email"]
    if _kind(row, i) == "id":
        lead["lead_id"] = str(row["customer_id"])
    if _kind(row, i) == "fuzzy":
        lead["email"] = f"{row['last_name'].lower()}.{i}@gmail.com"
    return lead


def key_of(row: dict[str, Any]) -> str:
    return str(row["customer_id"])


def _put_parquet(s3: Any, key: str, table: pa.Table) -> str:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    s3.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())
    return f"s3://{BUCKET}/{key}"


def build(world: World, mp: pytest.MonkeyPatch, export: str, **extra: str) -> Any:
    from build_job.job import run

    # The builds sync no table: the function's tables then hold the scenario's leads only (moto
    # copies every table of a TransactWriteItems, and a thousand customers' blocks make each
    # record slower than the request profile's timeout; build_job_runs/test_refresh.py covers
    # the syncs).
    tables = {"DUP_TABLE_NAME", "IDENTITY_TABLE_NAME"}
    settings = {k: v for k, v in world.env.items() if k not in tables}
    _clean_env(
        mp,
        **settings,
        LEADGEN_INPUT_PATH=export,
        ARTIFACTS_URI=ARTIFACTS,
        LEADGEN_SCORE_LOG=LOG_URI,
        LEADGEN_MATURITY_DAYS="0",
        LEADGEN_FUNCTION_NAME=world.function,
        **extra,
    )
    out, err = io.StringIO(), io.StringIO()
    code = run(stdout=out, stderr=err)
    return code, [json.loads(x) for x in out.getvalue().splitlines()], err.getvalue()


def lambda_handler(
    world: World, mp: pytest.MonkeyPatch, artifacts: str = ARTIFACTS, **env: str
) -> Any:
    """A cold start of the function with the stack's environment."""
    _clean_env(
        mp,
        **world.env,
        ARTIFACTS_URI=artifacts,
        LEADGEN_SCORE_LOG="stdout",
        REFRESH_SECONDS="0",
        LEADGEN_CACHE_DIR=str(world.cache / uuid.uuid4().hex[:6]),
        POWERTOOLS_TRACE_DISABLED="true",
        **env,
    )
    if "lambda_src.handler" in sys.modules:
        sys.modules["lambda_src.handler"].metrics.clear_metrics()
        return importlib.reload(sys.modules["lambda_src.handler"])
    return importlib.import_module("lambda_src.handler")


class Context:
    """What the Lambda runtime passes as `context` (the attributes Powertools reads)."""

    function_name = "leadgen-scoring"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:leadgen-scoring:live"
    memory_limit_in_mb = 2048
    aws_request_id = "outcomes-test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def invoke(module: Any, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
    """One invocation; (status, body, what the function printed)."""
    raw = None if body is None else json.dumps(body).encode()
    event = http_v2_event(method, path, {"content-type": "application/json"}, raw)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        resp = module.handler(event, Context())
    return int(resp["statusCode"]), json.loads(resp["body"]), printed.getvalue()


def ship(endpoint: str, printed: str) -> None:
    """What the Lambda runtime does with stdout: every line an event of the function's group."""
    logs = moto_client("logs", endpoint)
    lines = [x for x in printed.splitlines() if x.strip()]
    if lines:
        now = int(time.time() * 1000)  # CloudWatch Logs refuses events older than 14 days
        events = [{"timestamp": now, "message": m} for m in lines]
        logs.put_log_events(
            logGroupName=FUNCTION_LOGS, logStreamName="instance-1", logEvents=events
        )


def _score_through_the_lambda(world: World, mp: pytest.MonkeyPatch, endpoint: str) -> None:
    fn = lambda_handler(world, mp)
    rows = world.leads[:API_LEADS]
    for start in range(0, len(rows), 50):
        part = rows[start : start + 50]
        leads = [_as_lead(r, start + i) for i, r in enumerate(part)]
        if start == 0:
            leads[0]["options"] = {"log": False}
            world.opted_out = key_of(part[0])
        status, body, printed = invoke(fn, "POST", "/score_leads", {"leads": leads})
        assert status == 200, body
        world.answers.update({key_of(r): a for r, a in zip(part, body["results"], strict=True)})
        ship(endpoint, printed)


def _score_through_the_bulk_job(world: World, mp: pytest.MonkeyPatch) -> None:
    from bulk_job.job import run

    rows = world.leads[API_LEADS:]
    leads = [_as_lead(r, API_LEADS + i) for i, r in enumerate(rows)]
    for lead in leads:  # the file's id column is the build's (customer_id), empty when unknown
        lead["customer_id"] = int(lead.pop("lead_id")) if "lead_id" in lead else None
    table = pa.Table.from_pylist(leads)
    _put_parquet(world.s3, "score-requests/leads.parquet", table)
    _clean_env(
        mp,
        **world.env,
        ARTIFACTS_URI=ARTIFACTS,
        LEADGEN_SCORE_LOG=LOG_URI,
        LEADGEN_SCORE_REQUEST_BUCKET=BUCKET,
        LEADGEN_SCORE_REQUEST_KEY="score-requests/leads.parquet",
    )
    out, err = io.StringIO(), io.StringIO()
    assert run(stdout=out, stderr=err) == 0, err.getvalue()
    finished = json.loads(out.getvalue().splitlines()[-1])
    assert finished["score_log"] == {"logged": finished["outcomes"]["scored"], "failures": 0}
    body = world.s3.get_object(Bucket=BUCKET, Key="scored/leads.parquet")["Body"].read()
    for row, scored in zip(rows, pq.read_table(io.BytesIO(body)).to_pylist(), strict=True):
        world.answers[key_of(row)] = {"duplicate": scored["duplicate"], "grade": scored["grade"]}


def _later_export(world: World, customers: pa.Table) -> pa.Table:
    """The export at the next build: the customers, and the leads that converted (every
    high-value one and every other of the others), as the CRM now holds them."""
    for i, row in enumerate(world.leads):
        if row["is_high_value"] or i % 2 == 0:
            world.converted[key_of(row)] = row
    rows = customers.to_pylist() + list(world.converted.values())
    return pa.Table.from_pylist(rows, customers.schema)


@pytest.fixture(scope="module")
def world(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with moto_environment(moto_server), pytest.MonkeyPatch.context() as mp:
        w = _provision(moto_server, tmp_path_factory.mktemp("lambda-tmp"))
        customers, w.leads = _people()
        code, _, err = build(w, mp, _put_parquet(w.s3, "input/crm-1.parquet", customers))
        assert code == 0, err
        w.v1 = _latest(w.s3)
        _score_through_the_lambda(w, mp, moto_server)
        _score_through_the_bulk_job(w, mp)
        later = _later_export(w, customers)
        shuffled = pa.concat_tables([_shuffled(customers), later.slice(customers.num_rows)])
        floors = {"LEADGEN_MIN_AUC": "0", "LEADGEN_MIN_LIFT": "0"}  # only the challenger judges
        w.refused = build(w, mp, _put_parquet(w.s3, "input/shuffled.parquet", shuffled), **floors)
        w.sound = build(w, mp, _put_parquet(w.s3, "input/crm-2.parquet", later))
        w.v2 = _latest(w.s3)
        yield w


def _shuffled(customers: pa.Table) -> pa.Table:
    """The customers with their labels shuffled: a candidate that learns nothing from them (the
    converted leads keep theirs: they are the outcomes both versions are judged on)."""
    labels = customers.column("is_high_value").to_pylist()
    random.Random(5).shuffle(labels)
    i = customers.schema.get_field_index("is_high_value")
    return customers.set_column(i, "is_high_value", pa.array(labels))


def _latest(s3: Any, prefix: str = "artifacts") -> str:
    return str(
        json.loads(s3.get_object(Bucket=BUCKET, Key=f"{prefix}/LATEST")["Body"].read())["version"]
    )


def _report(s3: Any, version: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=BUCKET, Key=f"artifacts/{version}/build_report.json")["Body"]
    return dict(json.loads(body.read()))


def _objects(s3: Any, prefix: str) -> list[tuple[str, bytes]]:
    """Every version of every object under a prefix, decompressed."""
    out = []
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=prefix)
    for page in pages:
        for v in page.get("Versions", []):
            data = s3.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])
            raw = data["Body"].read()
            while raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            out.append((v["Key"], raw))
    return out


# ---- what landed in the log ------------------------------------------------------------------
def logged(world: World) -> list[str]:
    """The lead keys the scenario expects in the log: scored, not duplicates, not opted out."""
    return [k for k, a in world.answers.items() if not a["duplicate"] and k != world.opted_out]


def test_both_paths_land_in_the_log_without_raw_email_or_name(world: World) -> None:
    from leadgen.stores.score_log import read_log

    with moto_environment_of(world):
        records = read_log(LOG_URI).records
    sources = Counter(r.source for r in records)
    # test_forget_leaves_nothing_of_the_person may have run first: its lead is gone from the log
    scored = [k for k in logged(world) if k != world.forgotten]
    assert len(scored) >= 0.95 * (API_LEADS + BULK_LEADS) - 2  # hardly any duplicate
    assert sum(sources.values()) == len(scored)
    assert set(sources) == {"api", "bulk-job"}
    keys = {k for k, _ in _objects(world.s3, f"{SCORE_LOG_PREFIX}/")}
    assert any(k.startswith(f"{SCORE_LOG_PREFIX}/{FIREHOSE_LOG_FOLDER}/") for k in keys)
    assert any(k.startswith(f"{SCORE_LOG_PREFIX}/day=") and k.endswith(".parquet") for k in keys)
    opted = next(r for r in world.leads if key_of(r) == world.opted_out)
    everything = b"".join(data for _, data in _objects(world.s3, f"{SCORE_LOG_PREFIX}/"))
    assert (email_hash(opted["email"], HASH_KEY) or "-").encode() not in everything
    for row in world.leads[:40]:
        for plain in (row["email"], row["last_name"], row["phone"]):
            if plain:
                assert str(plain).encode() not in everything, plain


@contextlib.contextmanager
def moto_environment_of(world: World) -> Iterator[None]:
    endpoint = world.s3.meta.endpoint_url
    with moto_environment(endpoint):
        yield


# ---- outcomes, backtest and the gate -------------------------------------------------------------
def expected_per_grade(world: World) -> dict[str, tuple[int, int, int]]:
    counts: dict[str, list[int]] = {g: [0, 0, 0] for g in "ABCD"}
    for key in logged(world):
        row = world.converted.get(key)
        c = counts[world.answers[key]["grade"]]
        c[0] += 1
        c[1] += row is not None
        c[2] += row is not None and bool(row["is_high_value"])
    return {g: (n, conv, high) for g, (n, conv, high) in counts.items()}


def test_the_later_export_yields_exactly_the_counts_computed_here(world: World) -> None:
    code, events, err = world.sound
    assert code == 0, err
    report = _report(world.s3, world.v2)
    counts = report["outcomes"]["counts"]
    keys = logged(world)
    index = {key_of(r): i for i, r in enumerate(world.leads)}
    by_rule = Counter(_kind(world.converted[k], index[k]) for k in keys if k in world.converted)
    assert counts["matured"] == len(keys) and counts["too_recent"] == 0
    assert (counts["matched_id"], counts["matched_email"], counts["matched_fuzzy"]) == (
        by_rule["id"],
        by_rule["email"],
        by_rule["fuzzy"],
    )
    assert counts["not_matched"] == len(keys) - sum(by_rule.values())
    (version,) = report["outcomes"]["backtest"]["versions"]
    assert version["version"] == world.v1
    got = {g["grade"]: (g["leads"], g["converted"], g["high_value"]) for g in version["grades"]}
    assert got == expected_per_grade(world)
    assert version["ranking"]["auc"] > 0.7 and version["ranking"]["enough"]
    outcome_line = next(e for e in events if e["event"] == "outcomes")
    assert outcome_line["counts"] == counts and outcome_line["challenger"] == "accepted"


def test_the_gate_refuses_the_shuffled_candidate_and_accepts_the_sound_one(world: World) -> None:
    code, events, err = world.refused
    assert code == 3, err
    assert err.startswith("error: challenger gate: realised AUC") and "LATEST unchanged" in err
    failed = next(e for e in events if e["event"] == "build_failed")
    assert failed["exit_code"] == 3 and "LATEST unchanged (" in failed["context"]
    refused_version = err.split("refused/")[1].split("/")[0]
    kept = json.loads(
        world.s3.get_object(
            Bucket=BUCKET, Key=f"artifacts/refused/{refused_version}/build_report.json"
        )["Body"].read()
    )
    gate = kept["challenger"]
    assert gate["status"] == "refused" and kept["published"] is False
    assert gate["serving_version"] == world.v1 and gate["leads"] >= 200 and gate["positives"] >= 20
    assert gate["candidate"]["auc"] < gate["serving"]["auc"] - 0.02
    page = world.s3.get_object(
        Bucket=BUCKET, Key=f"artifacts/refused/{refused_version}/report.html"
    )
    assert b"What happened to the leads we scored" in page["Body"].read()
    assert not world.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"artifacts/{refused_version}/").get(
        "KeyCount"
    )
    accepted = _report(world.s3, world.v2)["challenger"]
    assert accepted["status"] == "accepted" and accepted["serving_version"] == world.v1
    assert world.v2 != world.v1 and world.v2 > world.v1


def test_the_backtest_is_put_as_metrics(world: World) -> None:
    report = _report(world.s3, world.v2)
    values = report["outcome_metrics"]["values"]
    pooled = report["outcomes"]["backtest"]["all"]
    assert report["outcome_metrics"]["status"] == "put"
    assert values["RealizedAuc"] == pooled["ranking"]["auc"]
    assert values["MaturedLeads"] == report["outcomes"]["counts"]["matured"]
    grade_a = next(g for g in pooled["grades"] if g["grade"] == "A")
    assert values["RealizedGradeAHighValueRate"] == grade_a["high_value_rate"]
    holdout = report["quality"]["headline"]["auc"]
    assert values["RealizedAucBelowHoldout"] == round(holdout - values["RealizedAuc"], 4)


# ---- rollback and forget ---------------------------------------------------------------------
def test_rollback_serves_the_earlier_version_after_the_refresh(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from leadgen.cli import main

    prefix = f"rb-{uuid.uuid4().hex[:6]}"
    _copy(world.s3, "artifacts/", f"{prefix}/")
    with moto_environment_of(world):
        assert (
            main(
                ["rollback", "--artifacts", f"s3://{BUCKET}/{prefix}", "--function", world.function]
            )
            == 0
        )
        assert f"{world.v2} -> {world.v1}" in capsys.readouterr().out
        assert _latest(world.s3, prefix) == world.v1
        lam = moto_client("lambda", world.s3.meta.endpoint_url)
        live = lam.get_alias(FunctionName=world.function, Name="live")["FunctionVersion"]
        pinned = lam.get_function_configuration(FunctionName=world.function, Qualifier=live)
        pin = pinned["Environment"]["Variables"]["LEADGEN_ARTIFACT_PIN"]
        assert pin.startswith(world.v1 + "@")
        for env in ({"LEADGEN_ARTIFACT_PIN": pin}, {}):  # the rolled-out version, and LATEST
            fn = lambda_handler(world, monkeypatch, f"s3://{BUCKET}/{prefix}", **env)
            status, health, _ = invoke(fn, "GET", "/health")
            assert status == 200 and health["artifact_version"] == world.v1, env


def _copy(s3: Any, source: str, target: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=source):
        for obj in page.get("Contents", []):
            key = target + obj["Key"][len(source) :]
            s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": obj["Key"]})


def test_forget_leaves_nothing_of_the_person(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lead scored through the Lambda (recorded in the tables) and scored again in a bulk file
    under the same email: after forget, no object, no object version, no table item holds its
    email hash, its id or its reference."""
    from leadgen.cli import main

    person = next(
        r
        for i, r in enumerate(world.leads[:API_LEADS])
        if i and not world.answers[key_of(r)]["duplicate"] and _kind(r, i) == "id"
    )
    world.forgotten = key_of(person)
    hashed = email_hash(person["email"], HASH_KEY) or ""
    needles = [hashed.encode(), key_of(person).encode()]
    assert any(n in data for n in needles for _, data in _objects(world.s3, SCORE_LOG_PREFIX))
    assert any(n in json.dumps(i).encode() for n in needles for i in _items(world))
    with moto_environment_of(world):
        assert (
            main(
                [
                    "forget",
                    person["email"],
                    "--score-log",
                    LOG_URI,
                    "--dup-table",
                    world.env["DUP_TABLE_NAME"],
                    "--identity-table",
                    world.env["IDENTITY_TABLE_NAME"],
                ]
            )
            == 0
        )
    done = json.loads(capsys.readouterr().out)
    assert done["score_log"]["records"] >= 1 and done["score_log"]["old_versions_deleted"] >= 1
    for key, data in _objects(world.s3, SCORE_LOG_PREFIX):
        assert not any(n in data for n in needles), key
    for item in _items(world):
        assert not any(n in json.dumps(item).encode() for n in needles), item


def _items(world: World) -> list[dict[str, Any]]:
    out = []
    for table in (world.env["DUP_TABLE_NAME"], world.env["IDENTITY_TABLE_NAME"]):
        for page in world.ddb.get_paginator("scan").paginate(TableName=table):
            out += page["Items"]
    return out
