"""`leadgen client score --url URL lead.json`: call the deployed, IAM-authorised API.

Requests are signed with SigV4 (botocore, service execute-api) using the caller's usual AWS
credentials chain, so no API keys are handed around.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from leadgen.config import AwsSettings
from leadgen.errors import ConfigError, InputError

_REGION_IN_URL = re.compile(r"execute-api\.([a-z0-9-]+)\.amazonaws\.com")


def signed_request(
    method: str, url: str, body: bytes | None, region: str, credentials: Any = None
) -> urllib.request.Request:
    """A urllib request carrying SigV4 headers for API Gateway (service 'execute-api')."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    creds = credentials or botocore.session.get_session().get_credentials()
    if creds is None:
        raise ConfigError("no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID...)")
    headers = {"Content-Type": "application/json"} if body is not None else {}
    aws_req = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(creds, "execute-api", region).add_auth(aws_req)
    return urllib.request.Request(url, data=body, headers=dict(aws_req.headers), method=method)


def region_for(url: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    match = _REGION_IN_URL.search(url)
    if match:
        return match.group(1)
    region = AwsSettings.from_env().region
    if not region:
        raise ConfigError("cannot tell the region: pass --region or set AWS_REGION")
    return region


def score_remote(args: argparse.Namespace) -> int:
    try:
        body = Path(args.lead).read_bytes()
        json.loads(body)
    except OSError as exc:
        raise InputError(f"{args.lead}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise InputError(f"{args.lead}: not valid JSON ({exc})") from None
    url = args.url.rstrip("/") + "/score_lead"
    req = signed_request("POST", url, body, region_for(url, args.region))
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            print(json.dumps(json.loads(resp.read()), indent=2))
            return 0
    except urllib.error.HTTPError as exc:
        print(
            f"error: HTTP {exc.code} from {url}: {exc.read().decode(errors='replace')}",
            file=sys.stderr,
        )
        return 1
    except urllib.error.URLError as exc:
        raise ConfigError(f"{url}: cannot connect ({exc.reason})") from None
