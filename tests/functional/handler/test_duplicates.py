"""The duplicate check through the handler: exact and fuzzy duplicates in DynamoDB (keyed hashes
from the secret), concurrent submissions, the hash key the build used, the tables unavailable.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leadgen.duplicates.dynamo_store import DynamoDuplicateStore, dynamodb_client
from leadgen.serve.server import http_v2_event
from tests.conftest import known_person, moto_client, nickname_lead, refused_endpoint
from tests.faults import FailingWrites
from tests.functional.handler.harness import (
    HASH_KEY,
    LEAD,
    TABLE,
    Aws,
    Context,
    Lambda,
    _current_customer_with_gmail,
    _getter,
    _json_lines,
    _metrics_of,
    _new_email,
)


def test_known_customer_short_circuits_whatever_the_case_and_gmail_dots(
    aws: Aws, artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda]
) -> None:
    email, customer_id = _current_customer_with_gmail(tiny_crm)
    local = email.split("@")[0]
    disguised = f"  {local.replace('.', '').upper()[:3]}.{local.replace('.', '')[3:]}@GMail.com "
    assert disguised.strip().lower() != email  # really a different spelling
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    fn.read_output()
    ans = fn("POST", "/score_lead", {**LEAD, "email": disguised})
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is True
    assert ans.body["duplicate_of"] == "customer"
    assert ans.body["customer_id"] == str(customer_id)
    assert ans.body.get("s_look") is None  # short-circuited: not embedded, not scored
    m = fn.metrics()
    assert m["Duplicates"] == [1.0] and m["LeadsScored"] == [0.0]


def test_the_same_new_lead_twice_is_a_duplicate_the_second_time(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, LEADGEN_SHORT_CIRCUIT="known")
    email = _new_email()
    first = fn("POST", "/score_lead", {**LEAD, "email": email, "lead_id": "first"})
    second = fn("POST", "/score_lead", {**LEAD, "email": email.upper(), "lead_id": "second"})
    assert first.status == second.status == 200
    assert first.body["duplicate"] is False and first.body["lead_ref"] == "first"
    assert second.body["duplicate"] is True
    assert second.body["duplicate_of"] == "lead" and second.body["lead_ref"] == "first"


def test_twenty_concurrent_submissions_of_one_email_give_one_non_duplicate(
    aws: Aws, hashing_artifacts: Path, tmp_path: Path
) -> None:
    """20 'Lambda instances' (own resolver, own service, own DynamoDB client) race on one new
    email: the conditional write in DynamoDB lets exactly one through."""
    from leadgen.config import ServiceConfig
    from leadgen.model.embedders import HashingEmbedder
    from leadgen.serve.api import create_app
    from leadgen.serve.service import ScoringService

    n = 20
    apps = []
    for i in range(n):
        cfg = ServiceConfig(
            artifacts_uri=str(hashing_artifacts), cache_dir=tmp_path / str(i), short_circuit="known"
        )
        # The client the Lambda builds (lambda_src.handler.build_service): short timeouts, one
        # retry. The batch profile's patient retries would hide a race lost to a timeout.
        dups = DynamoDuplicateStore(TABLE, client=dynamodb_client("request"))
        svc = ScoringService(cfg, HashingEmbedder(), dups)
        assert svc.lifecycle.start()
        apps.append(create_app(_getter(svc)))
    email = _new_email()
    barrier = threading.Barrier(n)
    answers: list[dict[str, Any]] = [{} for _ in range(n)]

    def submit(i: int) -> None:
        body = json.dumps({**LEAD, "email": email, "lead_id": f"racer-{i}"}).encode()
        event = http_v2_event("POST", "/score_lead", {"content-type": "application/json"}, body)
        barrier.wait()
        resp = apps[i].resolve(event, Context())  # type: ignore[arg-type]
        answers[i] = {"status": resp["statusCode"], **json.loads(resp["body"])}

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a["status"] == 200 for a in answers), answers
    winners = [a for a in answers if a["duplicate"] is False]
    assert len(winners) == 1, [a.get("lead_ref") for a in answers]
    winner_ref = winners[0]["lead_ref"]
    losers = [a for a in answers if a["duplicate"] is True]
    assert len(losers) == n - 1
    assert all(a["duplicate_of"] == "lead" and a["lead_ref"] == winner_ref for a in losers)


# ---- fuzzy duplicates (identity table, keyed hashes from the secret) ----------------------


def test_a_customer_under_another_email_with_a_nickname_is_a_fuzzy_duplicate(
    aws: Aws, artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda]
) -> None:
    person = known_person(tiny_crm)
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    fn.read_output()
    ans = fn("POST", "/score_lead", nickname_lead(person))
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is True and ans.body.get("s_look") is None  # not scored
    assert ans.body["duplicate_of"] == "customer"
    assert ans.body["customer_id"] == str(person["customer_id"])
    match = ans.body["duplicate_match"]
    assert match["kind"] == "fuzzy" and match["customer_id"] == str(person["customer_id"])
    assert "name:nickname" in match["matched_on"] and "company" in match["matched_on"]
    assert 0.95 <= match["confidence"] < 1.0
    m = fn.metrics()
    assert m["Duplicates"] == [1.0] and m["FuzzyDuplicates"] == [1.0]


def test_a_colleague_at_the_same_company_is_scored_as_new(
    artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda]
) -> None:
    person = known_person(tiny_crm)
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    colleague = {**nickname_lead(person), "first_name": "Xiomara", "last_name": "Quellwater"}
    ans = fn("POST", "/score_lead", colleague)
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is False and ans.body["grade"] in {"A", "B", "C", "D"}
    assert ans.body["duplicate_match"] is None and ans.body["possible_duplicate"] is None


def test_the_same_name_and_company_in_another_country_is_possible_under_a_higher_cut(
    artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda]
) -> None:
    """At the default cut the person who moved offices is a duplicate (tests/unit/
    test_identity.py); a deployment that sets the cut higher gets the possible band."""
    person = known_person(tiny_crm)
    elsewhere = "Japan" if person["country"] != "Japan" else "Mexico"
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, LEADGEN_FUZZY_THRESHOLD="0.95")
    lead = {**nickname_lead(person), "first_name": person["first_name"], "country": elsewhere}
    ans = fn("POST", "/score_lead", lead)
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is False and isinstance(ans.body["s_look"], float)  # scored
    possible = ans.body["possible_duplicate"]
    assert possible["kind"] == "fuzzy" and possible["customer_id"] == str(person["customer_id"])
    assert 0.6 <= possible["confidence"] < 0.95
    assert fn.metrics()["PossibleDuplicates"] == [1.0]


def test_a_new_person_again_under_another_email_is_a_fuzzy_duplicate_of_the_first_lead(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, LEADGEN_SHORT_CIRCUIT="known")
    company = f"Quillfeather {uuid.uuid4().hex[:6]} Analytics"
    first = {
        **LEAD, "first_name": "Rebecca", "last_name": "Thistlewood", "company": company,
        "email": _new_email(), "phone": "+44 20 7946 0958", "lead_id": "fuzzy-first",
    }  # fmt: skip
    again = {
        **first, "first_name": "Becky", "last_name": "Thistlewod", "email": _new_email(),
        "company": company.upper() + " LTD", "phone": "020 7946 0958", "lead_id": "again",
    }  # fmt: skip
    one, two = fn("POST", "/score_lead", first), fn("POST", "/score_lead", again)
    assert one.status == two.status == 200
    assert one.body["duplicate"] is False and one.body["lead_ref"] == "fuzzy-first"
    assert two.body["duplicate"] is True and two.body["duplicate_of"] == "lead"
    assert two.body["lead_ref"] == "fuzzy-first"
    assert two.body["duplicate_match"]["kind"] == "fuzzy"
    assert "phone" in two.body["duplicate_match"]["matched_on"]


def test_a_batch_with_the_same_new_person_twice_scores_it_once(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    """Both are looked up before either is recorded; the second's conditional write finds the
    first in its blocks and it becomes that lead's duplicate."""
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, LEADGEN_SHORT_CIRCUIT="known")
    company = f"Brambleworth {uuid.uuid4().hex[:6]} Logistics"
    a = {**LEAD, "first_name": "William", "last_name": "Okonjo", "company": company,
         "email": _new_email(), "lead_id": "batch-a"}  # fmt: skip
    b = {**a, "first_name": "Bill", "email": _new_email(), "lead_id": "batch-b"}
    ans = fn("POST", "/score_leads", {"leads": [a, b]})
    assert ans.status == 200, ans.body
    first, second = ans.body["results"]
    assert first["duplicate"] is False and first["lead_ref"] == "batch-a"
    assert second["duplicate"] is True and second["lead_ref"] == "batch-a"
    assert second["duplicate_match"]["kind"] == "fuzzy"


def test_a_version_built_with_another_hash_key_is_flagged_and_not_trusted(
    artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda]
) -> None:
    """No secret here: the function hashes unkeyed, the version was built with the key. Known
    customers would silently come back as new; instead the check is skipped and flagged."""
    email, _ = _current_customer_with_gmail(tiny_crm)
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, LEADGEN_EMAIL_HASH_KEY_SECRET_ARN=None)
    health = fn("GET", "/health")
    assert health.status == 200 and health.body["duplicate_store"] == "hash_key_mismatch"
    output = fn.read_output()
    assert "built with email hash key hmac-sha256:" in output and HASH_KEY not in output
    ans = fn("POST", "/score_lead", {**LEAD, "email": email})
    assert ans.body["duplicate"] is False and ans.body["duplicate_check"] == "skipped"
    keyed = start_lambda(ARTIFACTS_URI=artifacts_uri)
    assert keyed("GET", "/health").body["duplicate_store"] == "ok"
    assert keyed("POST", "/score_lead", {**LEAD, "email": email}).body["duplicate"] is True


def test_the_hash_key_must_be_the_one_the_build_used(
    artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda], moto_env: str
) -> None:
    """The build hashed customers with the stack's key: the function reading the same secret
    finds a known customer (by email and fuzzily); one reading another key's secret must not
    trust the table (every customer would come back new) and says so on /health."""
    email, customer_id = _current_customer_with_gmail(tiny_crm)
    person = known_person(tiny_crm)
    same = start_lambda(ARTIFACTS_URI=artifacts_uri)
    assert same("GET", "/health").body["duplicate_store"] == "ok"
    hit = same("POST", "/score_lead", {**LEAD, "email": email}).body
    assert hit["duplicate"] is True and hit["customer_id"] == str(customer_id)
    fuzzy = same("POST", "/score_lead", nickname_lead(person)).body
    assert fuzzy["duplicate"] is True and fuzzy["duplicate_match"]["kind"] == "fuzzy"

    sm = moto_client("secretsmanager", moto_env)
    other = sm.create_secret(Name=f"other-key-{uuid.uuid4().hex[:6]}", SecretString="another")
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, LEADGEN_EMAIL_HASH_KEY_SECRET_ARN=other["ARN"])
    assert fn("GET", "/health").body["duplicate_store"] == "hash_key_mismatch"
    ans = fn("POST", "/score_lead", {**LEAD, "email": email}).body
    assert ans["duplicate"] is False and ans["duplicate_check"] == "skipped"
    assert fn("POST", "/score_lead", nickname_lead(person)).body["duplicate_check"] == "skipped"


def test_an_unreadable_hash_key_secret_answers_503_and_names_the_variable(
    aws: Aws, start_lambda: Callable[..., Lambda]
) -> None:
    missing = aws.secret_arn.rsplit(":", 1)[0] + ":no-such-secret-AbCdEf"
    fn = start_lambda(
        ARTIFACTS_URI="s3://nowhere/artifacts", LEADGEN_EMAIL_HASH_KEY_SECRET_ARN=missing
    )
    ans = fn("GET", "/health")
    assert ans.status == 503 and ans.body["error"] == "unavailable"
    assert "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN: cannot read" in fn.read_output()


def test_dynamodb_unavailable_still_scores_and_says_skipped(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, DUP_TABLE_NAME="no-such-table")
    ans = fn("POST", "/score_lead", {**LEAD, "email": _new_email()})
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is False
    assert ans.body["duplicate_check"] == "skipped"
    assert ans.body["grade"] in {"A", "B", "C", "D"}
    assert fn.metrics()["DuplicateCheckSkipped"] == [1.0]


def test_a_failed_record_answers_not_a_duplicate_and_says_skipped(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    """The lookup answered but the conditional write failed: the lead is scored, the answer
    says the check was skipped (it was not recorded, so it cannot claim "done"), and the same
    lead later is not found as its own duplicate."""
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    dups = fn.module.runtime.service.duplicates
    healthy = dups.client
    dups._client = failing = FailingWrites(healthy)
    fn.read_output()
    email = _new_email()
    ans = fn("POST", "/score_lead", {**LEAD, "email": email, "lead_id": "unrecorded"})
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is False and ans.body["duplicate_check"] == "skipped"
    assert ans.body["grade"] in {"A", "B", "C", "D"} and failing.failed == 1
    output = fn.read_output()
    assert _metrics_of(output)["DuplicateCheckSkipped"] == [1.0]
    assert "duplicate record skipped: ClientError" in output
    dups._client = healthy
    again = fn("POST", "/score_lead", {**LEAD, "email": email, "lead_id": "second"})
    assert again.body["duplicate"] is False and again.body["duplicate_check"] == "done"


def test_dynamodb_unreachable_costs_one_failed_call_per_batch(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    with refused_endpoint() as dead:
        fn = start_lambda(ARTIFACTS_URI=artifacts_uri, AWS_ENDPOINT_URL_DYNAMODB=dead)
        fn.read_output()
        leads = [{**LEAD, "email": _new_email()} for _ in range(5)]
        t0 = time.perf_counter()
        ans = fn("POST", "/score_leads", {"leads": leads})
        elapsed = time.perf_counter() - t0
    assert ans.status == 200, ans.body
    assert [r["duplicate_check"] for r in ans.body["results"]] == ["skipped"] * 5
    assert all(r["grade"] in {"A", "B", "C", "D"} for r in ans.body["results"])
    output = fn.read_output()
    skips = [b for b in _json_lines(output) if b.get("message", "").startswith("duplicate")]
    assert len(skips) == 1, skips  # the store is not retried lead after lead
    assert _metrics_of(output)["DuplicateCheckSkipped"] == [5.0]
    assert elapsed < 10, elapsed
