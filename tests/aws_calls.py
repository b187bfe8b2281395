"""Every request moto's server receives, recorded, and checked against the caller's IAM policies.

AWS authorises each request where it arrives, against the identity that signed it; so does this:
the session's moto server (`RecordingMotoServer`, tests/conftest.py) records every request it
receives, from boto3 in the test process, from the subprocesses the tests start (the handler
under the runtime emulator, `python -m build_job`, `python -m bulk_job`) and from pyarrow's own
S3 client alike. A request signed with a principal's credentials (tests/deployed.py hands them
out, one set per run of a function or a job) is turned into what IAM would authorise (`checks`:
action, resource ARN, condition keys such as `s3:prefix` and `dynamodb:LeadingKeys`) and
evaluated against that role's synthesised policies (`allowed`). Requests signed with the tests'
own credentials (fixtures creating buckets, reading results) are not checked.

Only what a principal actually calls needs a rule here; anything unknown maps to an action no
policy grants, so it is reported rather than waved through.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ACCOUNT = "123456789012"
# A request's SigV4 signing name -> its IAM action prefix, where they differ.
IAM_PREFIX = {"monitoring": "cloudwatch"}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


# ---- what moto's server received ------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    key: str | None  # the access key id that signed it
    service: str  # SigV4 signing name (s3, dynamodb, monitoring, lambda, ...)
    region: str
    method: str
    path: str  # percent-decoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names, only those the checks read
    body: bytes  # only where the checks read it (JSON services, S3 multi-object delete)
    status: int = 0

    def describe(self) -> str:
        query = "&".join(self.query)
        return f"{self.method} {self.service}{self.path}{'?' + query if query else ''}"


@dataclass(frozen=True)
class Check:
    """One authorisation IAM makes for a request (a batch call makes one per table)."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __str__(self) -> str:
        ctx = "".join(f" {k}={list(v)}" for k, v in self.context.items())
        return f"{self.action} on {self.resource}{ctx}"


@dataclass
class Principal:
    role: str  # the role's logical id in the template
    statements: list[dict[str, Any]]  # its identity policies, intrinsics resolved
    partition_keys: dict[str, str]  # table name -> partition key attribute


_lock = threading.Lock()
_principals: dict[str, Principal] = {}
_requests: list[Request] = []
_counter = itertools.count(1)


def register(principal: Principal) -> str:
    """A fresh access key id whose requests are checked against `principal`'s policies."""
    key = f"ROLE{next(_counter):04d}{principal.role[:40]}"
    with _lock:
        _principals[key] = principal
    return key


def take_requests() -> list[Request]:
    """The requests recorded since the last call (and forget them)."""
    with _lock:
        out = list(_requests)
        _requests.clear()
    return out


@dataclass(frozen=True)
class Denial:
    role: str
    request: Request
    check: Check

    def __str__(self) -> str:
        return (
            f"{self.role}: {self.request.describe()} -> {self.check} (HTTP {self.request.status})"
        )


def denials(requests: Iterable[Request]) -> tuple[list[Denial], int]:
    """(every check a principal's request failed, how many principal requests were checked)."""
    found, checked = [], 0
    for request in requests:
        principal = _principals.get(request.key or "")
        if principal is None:
            continue
        checked += 1
        for check in checks(request, principal.partition_keys):
            if not allowed(principal.statements, check):
                found.append(Denial(principal.role, request, check))
    return found, checked


# ---- the recording server -------------------------------------------------------------------
class Recorder:
    """WSGI middleware in front of moto: records each request, then lets moto answer it."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = _read(environ)
        status: list[int] = []

        def start(line: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(int(line.split()[0]))
            return start_response(line, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            if request is not None:
                with _lock:
                    _requests.append(_with_status(request, status[0] if status else 0))


def _with_status(request: Request, status: int) -> Request:
    return Request(**{**request.__dict__, "status": status})


def _read(environ: dict[str, Any]) -> Request | None:
    """The request as IAM needs it; None for moto's own unsigned endpoints."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = _CREDENTIAL.search(auth)
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
    parts = urlsplit(raw)
    query = parse_qs(parts.query or environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if m is None and "X-Amz-Credential" in query:  # a presigned URL
        m = _CREDENTIAL.search("Credential=" + query["X-Amz-Credential"][0])
    if m is None:
        return None
    key, region, service = m.groups()
    headers = {
        name: environ[f"HTTP_{name.upper().replace('-', '_')}"]
        for name in ("x-amz-target", "x-amz-copy-source", "user-agent")
        if f"HTTP_{name.upper().replace('-', '_')}" in environ
    }
    body = b""
    if service != "s3" or "delete" in query:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
    return Request(key, service, region, environ["REQUEST_METHOD"], unquote(parts.path), query,
                   headers, body)  # fmt: skip


def recording_moto_server(ip_address: str, port: int) -> Any:
    """moto's ThreadedMotoServer with the Recorder in front of its application."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class RecordingMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = Recorder(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return RecordingMotoServer(ip_address=ip_address, port=port, verbose=False)


# ---- request -> what IAM authorises -----------------------------------------------------------
def checks(request: Request, partition_keys: Mapping[str, str] | None = None) -> list[Check]:
    """The authorisations AWS makes for `request` (service authorization reference semantics)."""
    if request.service == "s3":
        return _s3(request)
    if request.service == "lambda":
        return _lambda(request)
    target = request.headers.get("x-amz-target")
    prefix = IAM_PREFIX.get(request.service, request.service)
    if target is None:  # query protocol (Action=...) or something unexpected
        form = parse_qs(request.body.decode(errors="replace"))
        action = (form.get("Action") or request.query.get("Action") or ["UNKNOWN"])[0]
        return [Check(f"{prefix}:{action}", "*")]
    operation = target.rsplit(".", 1)[-1]
    params = json.loads(request.body or b"{}")
    if request.service == "dynamodb":
        return _dynamodb(operation, params, request.region, partition_keys or {})
    if request.service == "secretsmanager":
        secret = str(params.get("SecretId", ""))
        if not secret.startswith("arn:"):
            secret = f"arn:aws:secretsmanager:{request.region}:{ACCOUNT}:secret:{secret}"
        return [Check(f"secretsmanager:{operation}", secret)]
    if request.service == "monitoring" and "Namespace" in params:
        ctx = {"cloudwatch:namespace": (str(params["Namespace"]),)}
        return [Check(f"cloudwatch:{operation}", "*", ctx)]
    return [Check(f"{prefix}:{operation}", "*")]


_S3_BUCKET_GET = {
    "location": "s3:GetBucketLocation",
    "versions": "s3:ListBucketVersions",
    "uploads": "s3:ListBucketMultipartUploads",
    "versioning": "s3:GetBucketVersioning",
}


def _s3(request: Request) -> list[Check]:
    bucket, _, key = request.path.lstrip("/").partition("/")
    q, method = request.query, request.method
    if not bucket:
        return [Check("s3:ListAllMyBuckets", "*")]
    arn = f"arn:aws:s3:::{bucket}"
    if not key:
        if method == "GET":
            sub = next((s for s in q if s in _S3_BUCKET_GET), None)
            if sub is not None:
                return [Check(_S3_BUCKET_GET[sub], arn)]
            ctx = {"s3:prefix": (q["prefix"][0],)} if "prefix" in q else {}
            return [Check("s3:ListBucket", arn, ctx)]
        if method == "HEAD":  # HeadBucket is authorised as ListBucket, with no prefix
            return [Check("s3:ListBucket", arn)]
        if method == "POST" and "delete" in q:
            keys = [
                k.text or "" for k in ET.fromstring(request.body).iter() if k.tag.endswith("Key")
            ]
            return [Check("s3:DeleteObject", f"{arn}/{k}") for k in keys]
        verbs = {"PUT": "s3:CreateBucket", "DELETE": "s3:DeleteBucket"}
        return [Check(verbs.get(method, f"s3:UNKNOWN-{method}-bucket"), arn)]
    return _s3_object(request, f"{arn}/{key}")


def _s3_object(request: Request, arn: str) -> list[Check]:
    q, method = request.query, request.method
    if method in ("GET", "HEAD"):
        if "uploadId" in q:
            return [Check("s3:ListMultipartUploadParts", arn)]
        return [Check("s3:GetObjectVersion" if "versionId" in q else "s3:GetObject", arn)]
    if method == "PUT":
        out = [Check("s3:PutObject", arn)]  # also each part of a multipart upload
        source = request.headers.get("x-amz-copy-source")
        if source:
            out.append(Check("s3:GetObject", "arn:aws:s3:::" + unquote(source).lstrip("/")))
        return out
    if method == "POST" and ("uploads" in q or "uploadId" in q):  # create / complete multipart
        return [Check("s3:PutObject", arn)]
    if method == "DELETE":
        if "uploadId" in q:
            return [Check("s3:AbortMultipartUpload", arn)]
        return [Check("s3:DeleteObjectVersion" if "versionId" in q else "s3:DeleteObject", arn)]
    return [Check(f"s3:UNKNOWN-{method}-object", arn)]


def _table_arn(region: str, table: str) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}"


def _leading(item: Mapping[str, Any], table: str, partition_keys: Mapping[str, str]) -> str:
    attr = partition_keys.get(table)
    value = item.get(attr, {}) if attr else {}
    return str(next(iter(value.values()))) if value else "?"


def _dynamodb(
    operation: str, params: Mapping[str, Any], region: str, partition_keys: Mapping[str, str]
) -> list[Check]:
    """Batch and transaction calls are authorised per table and per item's own action; the
    partition keys they touch are dynamodb:LeadingKeys."""

    def check(action: str, table: str, items: Iterable[Mapping[str, Any]] | None) -> Check:
        ctx = {}
        if items is not None:
            keys = tuple(dict.fromkeys(_leading(i, table, partition_keys) for i in items))
            ctx["dynamodb:LeadingKeys"] = keys
        return Check(f"dynamodb:{action}", _table_arn(region, table), ctx)

    if operation == "BatchGetItem":
        return [check(operation, t, r["Keys"]) for t, r in params["RequestItems"].items()]
    if operation == "BatchWriteItem":
        return [
            check(operation, t, [w.get("PutRequest", {}).get("Item") or w["DeleteRequest"]["Key"]
                                 for w in writes])
            for t, writes in params["RequestItems"].items()
        ]  # fmt: skip
    if operation in ("TransactWriteItems", "TransactGetItems"):
        verbs = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                 "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}  # fmt: skip
        out = []
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            out.append(check(verbs[kind], body["TableName"], [body.get("Item") or body["Key"]]))
        return out
    table = params.get("TableName")
    if table is None:
        return [Check(f"dynamodb:{operation}", "*")]
    single = params.get("Item") or params.get("Key")
    return [check(operation, table, [single] if single is not None else None)]


_LAMBDA = [
    (re.compile(r"/2015-03-31/functions/([^/]+)/configuration"), {
        "GET": "GetFunctionConfiguration", "PUT": "UpdateFunctionConfiguration"}),
    (re.compile(r"/2015-03-31/functions/([^/]+)/versions"), {
        "POST": "PublishVersion", "GET": "ListVersionsByFunction"}),
    (re.compile(r"/2015-03-31/functions/([^/]+)/aliases/([^/]+)"), {
        "GET": "GetAlias", "PUT": "UpdateAlias", "DELETE": "DeleteAlias"}),
    (re.compile(r"/2015-03-31/functions/([^/]+)/invocations"), {"POST": "InvokeFunction"}),
    (re.compile(r"/2015-03-31/functions/([^/]+)"), {
        "GET": "GetFunction", "DELETE": "DeleteFunction"}),
]  # fmt: skip


def _lambda(request: Request) -> list[Check]:
    """The function's ARN as the request names it: qualified by the alias (alias calls) or by
    the Qualifier parameter, unqualified otherwise."""
    for pattern, verbs in _LAMBDA:
        m = pattern.fullmatch(request.path)
        if m and request.method in verbs:
            name = m.group(1).rsplit(":function:", 1)[-1]
            arn = f"arn:aws:lambda:{request.region}:{ACCOUNT}:function:{name}"
            qualifier = m.group(2) if m.lastindex == 2 else request.query.get("Qualifier", [""])[0]
            return [
                Check(f"lambda:{verbs[request.method]}", f"{arn}:{qualifier}" if qualifier else arn)
            ]
    return [Check(f"lambda:UNKNOWN-{request.method}", request.path)]


# ---- the policy evaluator -----------------------------------------------------------------------
def _like(pattern: str, value: str, case: bool = True) -> bool:
    """IAM wildcards: * any run of characters (including /), ? exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringLike": _like,
}


def _condition_holds(operator: str, key: str, patterns: list[str], values: tuple[str, ...]) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if base not in _OPERATORS:
        raise NotImplementedError(f"condition operator {operator} is not evaluated here")
    match = _OPERATORS[base]

    def one(value: str) -> bool:
        return any(match(p, value) for p in patterns)

    if qualifier == "ForAllValues":  # every value matches (vacuously true without any)
        return all(one(v) for v in values)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in values)
    if qualifier:
        raise NotImplementedError(f"condition operator {operator} is not evaluated here")
    return len(values) == 1 and one(values[0])  # a single-valued key: absent is false


def allowed(statements: Iterable[Mapping[str, Any]], check: Check) -> bool:
    """Whether an Allow statement grants `check` (identity policies here hold no Deny)."""
    for s in statements:
        if s["Effect"] != "Allow":
            raise NotImplementedError("only Allow statements are evaluated here")
        if not any(_like(a, check.action, case=False) for a in _as_list(s["Action"])):
            continue
        if not any(_like(r, check.resource) for r in _as_list(s["Resource"])):
            continue
        conditions = s.get("Condition", {})
        if all(
            _condition_holds(op, key, _as_list(patterns), check.context.get(key, ()))
            for op, block in conditions.items()
            for key, patterns in block.items()
        ):
            return True
    return False


def format_denials(found: list[Denial]) -> Iterator[str]:
    for d in found:
        yield f"  {d}"
