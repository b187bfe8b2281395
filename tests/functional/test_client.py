"""`leadgen client score`, the README's way to call the deployed API, against a local gateway
that checks SigV4 the way API Gateway's IAM authoriser does: it recomputes the signature of the
request it received with botocore's own signer and the caller's known secret, and answers 403
unless it matches. Behind it runs the real API (`leadgen serve`'s WSGI app over the resolver).
"""

from __future__ import annotations

import hmac
import io
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from leadgen.errors import ConfigError
from leadgen.serve.client import region_for, signed_request
from leadgen.serve.server import _headers
from tests.conftest import SAMPLE_LEAD, serving

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
CALLER = Credentials("AKIDLEADGENTEST", "caller-secret-key", "caller-session-token")
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


def refusal(method: str, target: str, headers: dict[str, str], body: bytes) -> str | None:
    """Why API Gateway would refuse this request (None: the signature is the caller's). The
    expected signature is recomputed by botocore's SigV4Auth over what was received."""
    m = _AUTH.fullmatch(headers.get("authorization", ""))
    if m is None:
        return "no SigV4 Authorization header"
    if m["key"] != CALLER.access_key:
        return "unknown access key"
    if (m["region"], m["service"]) != (REGION, "execute-api"):
        return f"wrong credential scope {m['region']}/{m['service']}"
    stamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "no X-Amz-Date"
    if not stamp.startswith(m["day"]) or abs((datetime.now(UTC) - signed_at).total_seconds()) > 300:
        return "signature date out of range"
    names = m["signed"].split(";")
    if not {"host", "x-amz-date", "x-amz-security-token"} <= set(names):
        return f"required headers not signed: {names}"
    if headers.get("x-amz-security-token") != CALLER.token:
        return "wrong session token"
    request = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{target}",
        data=body,
        headers={name: headers.get(name, "") for name in names},
    )
    request.context["timestamp"] = stamp
    signer = SigV4Auth(CALLER, "execute-api", REGION)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    return None if hmac.compare_digest(expected, m["signature"]) else "signature does not match"


@dataclass
class Gateway:
    url: str
    verdicts: list[str | None] = field(default_factory=list)


@pytest.fixture(scope="module")
def gateway(hashing_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    from waitress import create_server

    from leadgen.config import ServiceConfig
    from leadgen.model.embedders import HashingEmbedder
    from leadgen.serve.api import create_app
    from leadgen.serve.server import LocalServer, wsgi_app
    from leadgen.serve.service import ScoringService

    cfg = ServiceConfig(
        artifacts_uri=str(hashing_artifacts), cache_dir=tmp_path_factory.mktemp("gw") / "cache"
    )
    svc = ScoringService(cfg, HashingEmbedder(), None)
    assert svc.lifecycle.start()
    api = wsgi_app(create_app(lambda: svc), svc.lifecycle.tick)
    verdicts: list[str | None] = []

    def authorised(environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"].read()
        target = environ.get("REQUEST_URI") or environ["PATH_INFO"]
        why = refusal(environ["REQUEST_METHOD"], target, _headers(environ), body)
        verdicts.append(why)
        if why is not None:
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [json.dumps({"message": "Forbidden"}).encode()]
        environ["wsgi.input"] = io.BytesIO(body)
        return api(environ, start_response)

    server = LocalServer(create_server(authorised, host="127.0.0.1", port=0, threads=2))
    with serving(server) as port:
        yield Gateway(f"http://127.0.0.1:{port}", verdicts)


def _send(req: urllib.request.Request) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _cli(gateway: Gateway, lead: Path, secret: str) -> subprocess.CompletedProcess[str]:
    """`python -m leadgen client score`, with credentials from the environment only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=CALLER.access_key,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_SESSION_TOKEN=CALLER.token,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    command = ["client", "score", "--url", gateway.url + "/", "--region", REGION, str(lead)]
    return subprocess.run(
        [sys.executable, "-m", "leadgen", *command],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def test_the_cli_client_is_authorised_and_gets_a_scored_lead(
    gateway: Gateway, tmp_path: Path
) -> None:
    lead = tmp_path / "lead.json"
    lead.write_text(json.dumps(SAMPLE_LEAD))
    before = len(gateway.verdicts)
    out = _cli(gateway, lead, CALLER.secret_key)
    assert out.returncode == 0, out.stderr
    assert gateway.verdicts[before:] == [None]  # one request, its signature verified
    scored = json.loads(out.stdout)
    assert scored["grade"] in {"A", "B", "C", "D"} and isinstance(scored["s_look"], float)


def test_the_cli_client_signing_with_another_secret_is_refused(
    gateway: Gateway, tmp_path: Path
) -> None:
    lead = tmp_path / "lead.json"
    lead.write_text(json.dumps(SAMPLE_LEAD))
    out = _cli(gateway, lead, "not-the-caller-secret")
    assert out.returncode == 1
    assert "error: HTTP 403" in out.stderr and "Traceback" not in out.stderr
    assert gateway.verdicts[-1] == "signature does not match"


def test_a_tampered_request_is_refused(gateway: Gateway) -> None:
    """A signed request passes as sent; changing its body, its path or a signed header after
    signing, or dropping the signature, is refused."""
    url = gateway.url + "/score_lead"
    body = json.dumps(SAMPLE_LEAD).encode()

    def signed() -> urllib.request.Request:
        return signed_request("POST", url, body, REGION, credentials=CALLER)

    assert _send(signed())[0] == 200 and gateway.verdicts[-1] is None
    other_body = signed()
    other_body.data = json.dumps({**SAMPLE_LEAD, "company_size": 5}).encode()
    other_path = signed()
    other_path.full_url = gateway.url + "/score_leads"
    other_date = signed()
    stamp = datetime.strptime(other_date.headers["X-amz-date"], "%Y%m%dT%H%M%SZ")
    later = stamp.replace(second=(stamp.second + 1) % 60)
    other_date.headers["X-amz-date"] = f"{later:%Y%m%dT%H%M%SZ}"
    unsigned = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    for req in (other_body, other_path, other_date, unsigned):
        status, answer = _send(req)
        assert status == 403 and answer == {"message": "Forbidden"}, (req.full_url, answer)
        assert gateway.verdicts[-1] is not None
    assert gateway.verdicts[-4:-1] == ["signature does not match"] * 3


def test_the_region_comes_from_the_api_url_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "https://a1b2c3.execute-api.ap-southeast-2.amazonaws.com/"
    assert region_for(url, None) == "ap-southeast-2"
    assert region_for(url, "eu-west-1") == "eu-west-1"
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="cannot tell the region: pass --region"):
        region_for("https://api.example.com/", None)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert region_for("https://api.example.com/", None) == "us-west-2"
