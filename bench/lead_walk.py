"""Which of the repository's files one scored lead crosses: `POST /score_lead` through the Lambda
handler, traced with sys.setprofile around one warm call.

    python -m bench.lead_walk                 # this tree
    python -m bench.lead_walk --tree DIR      # another checkout (e.g. `git archive REV | tar -x`)

A 1,500-row generated CRM is built with the hashing embedder, moto's server plays DynamoDB (the
duplicate and identity tables), and a warm-up lead is recorded first, so that the traced lead (a
new person at the same company and phone) runs every step: the lookup, a fuzzy comparison with a
candidate, the scoring, the explanation and the conditional record. Prints the files, in the order
their code first ran, and their count (docs/architecture.md, "One lead, file by file").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

WARM = {"first_name": "Jane", "last_name": "Doe", "email": "jane.doe@initech.com"}
TRACED = {"first_name": "Peter", "last_name": "Doe", "email": "peter.gibbons@gmail.com"}
LEAD = {
    "industry": "Finance",
    "company_size": 500,
    "country": "US",
    "job_title": "Portfolio Manager",
    "bio": "Works on trading strategies.",
    "web_activity_score": 0.8,
    "email_engagement_score": 0.7,
    "company": "Initech",
    "phone": "+1 415 555 0100",
}
HASH_KEY = "lead-walk-key"


def _build(tree: Path, work: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(tree), "LEADGEN_EMAIL_HASH_KEY": HASH_KEY}
    leadgen = [sys.executable, "-m", "leadgen"]
    crm, out = work / "crm.parquet", work / "artifacts"
    for args in (
        ["data", "--rows", "1500", "--out", str(crm)],
        ["build", "--input", str(crm), "--out", str(out), "--embedder", "hashing", "--quiet"],
    ):
        subprocess.run([*leadgen, *args], check=True, env=env, cwd=tree, stdout=subprocess.DEVNULL)
    return out


def _tables(endpoint: str) -> None:
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    for name, key in (("dups", "email_hash"), ("ident", "pk")):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


class _Context:
    function_name = "leadgen-scoring"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:leadgen-scoring"
    aws_request_id = "lead-walk"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def _event(who: dict[str, str]) -> dict[str, Any]:
    from leadgen.serve.server import http_v2_event

    body = json.dumps({**LEAD, **who}).encode()
    return http_v2_event("POST", "/score_lead", {"content-type": "application/json"}, body)


def _answer(response: dict[str, Any]) -> dict[str, Any]:
    assert response["statusCode"] == 200, response
    return dict(json.loads(response["body"]))


def walk(tree: Path) -> list[str]:
    """The files of `tree` whose code ran while the handler scored the traced lead."""
    from moto.server import ThreadedMotoServer

    work = Path(tempfile.mkdtemp(prefix="lead-walk-"))
    artifacts = _build(tree, work)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(
        {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    )
    os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
    _tables(endpoint)
    os.environ.update(
        {
            "ARTIFACTS_URI": str(artifacts),
            "LEADGEN_EMBEDDER": "hashing",
            "DUP_TABLE_NAME": "dups",
            "IDENTITY_TABLE_NAME": "ident",
            "LEADGEN_EMAIL_HASH_KEY": HASH_KEY,
            "LEADGEN_CACHE_DIR": str(work / "cache"),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "REFRESH_SECONDS": "3600",
        }
    )
    sys.path.insert(0, str(tree))
    from lambda_src import handler

    _answer(handler.handler(_event(WARM), _Context()))
    event, context = _event(TRACED), _Context()
    seen: dict[str, None] = {}
    root = str(tree.resolve())

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        name = frame.f_code.co_filename
        if event == "call" and name.startswith(root) and "/.venv/" not in name:
            seen.setdefault(str(Path(name).relative_to(root)), None)

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        response = handler.handler(event, context)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    server.stop()
    answer = _answer(response)
    assert answer["duplicate"] is False and answer["possible_duplicate"] is not None, answer
    return list(seen)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    args = p.parse_args()
    files = walk(args.tree.resolve())
    print("\n".join(files))
    print(f"{len(files)} files")


if __name__ == "__main__":
    main()
