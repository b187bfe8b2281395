"""Shared fixtures: generated CRM data, built artifacts, the real ONNX model, moto's server.

Expensive things (model export, builds, the moto server) are built once per session.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadgen.config import BuildConfig, EmbedderSettings

# The synthesised template (`synth`), shared by the infra tests and the functional tests that run
# the handler and the jobs with its environment and role policies.
pytest_plugins = ("tests.synthesis",)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_ROWS = 3000


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say the test order's seed even under -q (pytest-randomly's header line is hidden then),
    so any failure can be rerun in the same order."""
    if config.pluginmanager.hasplugin("randomly"):
        seed = config.getoption("randomly_seed")
        shuffled = config.getoption("randomly_reorganize")
        terminalreporter.write_line(
            f"test order: --randomly-seed={seed}" + ("" if shuffled else " (not shuffled)")
        )


def free_port() -> int:
    """A port that was free a moment ago, for a program that cannot bind port 0 itself (the
    Lambda runtime emulator, the benchmark's child servers): another process may take it before
    that program binds it, so the caller must retry on a bind failure. Servers of our own bind
    port 0 instead (leadgen.serve.server.serve, `leadgen serve --port 0`, moto)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def refused_endpoint() -> Iterator[str]:
    """An http:// endpoint that refuses connections for as long as the block runs: a socket bound
    to a port and never listening. Unlike a port that was free a moment ago, nobody else can take
    it meanwhile and answer."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@contextlib.contextmanager
def serving(httpd: Any) -> Iterator[int]:
    """Run a leadgen.serve.server.LocalServer in a thread for the block; yields its port. Its
    loop may be inside select() when shutdown closes the sockets (EBADF): that is the shutdown,
    not a failure, and is not reported as an unhandled thread exception."""
    stopping = threading.Event()

    def loop() -> None:
        try:
            httpd.serve_forever()
        except (OSError, ValueError):
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield int(httpd.port)
    finally:
        stopping.set()
        httpd.shutdown()
        thread.join(10)


# A lead as a sales form would post it (no email: tests add their own), shared by the handler
# tests in-process and through the Lambda runtime emulator.
SAMPLE_LEAD: dict[str, Any] = {
    "first_name": "Ada",
    "last_name": "Quinn",
    "industry": "Finance",
    "company_size": 800,
    "country": "US",
    "job_title": "Portfolio Manager",
    "bio": "Runs systematic trading strategies and allocator relationships.",
    "web_activity_score": 0.8,
    "email_engagement_score": 0.7,
}


@pytest.fixture(scope="session")
def tiny_crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from leadgen.synthetic.crm import generate_crm, write_crm

    path = tmp_path_factory.mktemp("crm") / "crm.parquet"
    write_crm(generate_crm(rows=TINY_ROWS, seed=7), path)
    return path


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's own model cache, empty at first: the export and quantisation code runs in
    every session (a warm ~/.cache/leadgen/models would skip it and hide a broken export). Tests
    and subprocesses that make an ONNX embedder from settings point LEADGEN_MODEL_CACHE here."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def fp32_model_dir(model_cache: Path) -> Path:
    """all-MiniLM-L6-v2 exported to ONNX by leadgen.model.export (torch), once per session."""
    from leadgen.model.export import ensure_onnx_model

    return ensure_onnx_model(None, quantize=False, cache=model_cache)


@pytest.fixture(scope="session")
def onnx_model_dir(fp32_model_dir: Path, model_cache: Path) -> Path:
    """The default model: that export quantised to int8, once per session."""
    from leadgen.model.export import ensure_onnx_model

    directory = ensure_onnx_model(None, quantize=True, cache=model_cache)
    assert directory.parent == fp32_model_dir.parent  # the same cache, exported once
    return directory


@pytest.fixture(scope="session")
def onnx_embedder(onnx_model_dir: Path) -> Any:
    from leadgen.model.embedders import OnnxEmbedder

    return OnnxEmbedder(onnx_model_dir)


@pytest.fixture(scope="session")
def fp32_embedder(fp32_model_dir: Path) -> Any:
    """The full-precision export: the one that must match torch."""
    from leadgen.model.embedders import OnnxEmbedder

    return OnnxEmbedder(fp32_model_dir)


HASHING = EmbedderSettings(kind="hashing")


def build_config(input_path: Path | str, out: Path | str, **settings: Any) -> BuildConfig:
    """A build of `input_path` into `out` with the hashing embedder (fast) unless `embedder`
    says otherwise."""
    settings.setdefault("embedder", HASHING)
    return BuildConfig(input_path=str(input_path), artifacts_uri=str(out), **settings)


def quiet_build(cfg: BuildConfig, embedder: Any = None, **kwargs: Any) -> Any:
    from leadgen.builder.pipeline import build

    return build(cfg, embedder, progress=False, say=lambda _m: None, **kwargs)


class Driver:
    """A scoring service driven the way a front end drives it: one lifecycle tick per call (a
    refresh when due, loaded in the background: the driver waits for it, so each call sees the
    version LATEST names), then leads validated against the served version, then scored."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def _tick(self) -> None:
        self.service.lifecycle.tick()
        assert self.service.lifecycle.wait_refresh(60), "a background refresh did not finish"

    def version(self) -> str:
        self._tick()
        return str(self.service.scorer().version)

    def score(self, *leads: dict[str, Any]) -> list[dict[str, Any]]:
        from leadgen.serve.schemas import clean_lead

        self._tick()
        scorer = self.service.scorer()
        who = scorer.manifest.identity_columns
        clean = [
            clean_lead(lead, scorer.spec, "", scorer.manifest.formats, identity=who)
            for lead in leads
        ]
        return [r.model_dump(mode="json") for r in self.service.score_leads(clean, scorer=scorer)]


@pytest.fixture(scope="session")
def hashing_artifacts(tiny_crm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published local artifact folder built with the hashing embedder (fast)."""
    out = tmp_path_factory.mktemp("art-hashing")
    quiet_build(build_config(tiny_crm, out))
    return out


@pytest.fixture(scope="session")
def onnx_artifacts(
    tiny_crm: Path, onnx_embedder: Any, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A published local artifact folder built with the real ONNX MiniLM embedder."""
    out = tmp_path_factory.mktemp("art-onnx")
    quiet_build(build_config(tiny_crm, out, embedder=EmbedderSettings()), onnx_embedder)
    return out


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server on 127.0.0.1 (real HTTP), on a port the OS picks as it binds. Nothing is
    put in os.environ here: tests that talk to it through the default clients ask for `moto_env`
    (module fixtures use `moto_environment`), so no AWS_* variable outlives them. It records every
    request it receives (tests/aws_calls.py): those signed by a role's credentials are checked
    against that role's policies after each functional test."""
    from tests.aws_calls import recording_moto_server

    server = recording_moto_server("127.0.0.1", 0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def moto_variables(endpoint: str) -> dict[str, str]:
    """The environment that points boto3, botocore and pyarrow at moto's server."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
    }


def moto_client(service: str, endpoint: str) -> Any:
    """A boto3 client of moto's server that needs nothing from os.environ."""
    import boto3

    env = moto_variables(endpoint)
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )


@contextlib.contextmanager
def moto_environment(endpoint: str) -> Iterator[None]:
    """moto's variables in os.environ for the block only (module fixtures' setup)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in moto_variables(endpoint).items():
            mp.setenv(name, value)
        yield


@pytest.fixture
def moto_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """moto's variables in os.environ for one test (and its subprocesses), then restored."""
    for name, value in moto_variables(moto_server).items():
        monkeypatch.setenv(name, value)
    return moto_server


def known_person(crm: Path) -> dict[str, Any]:
    """A current customer of `crm` who is unambiguous for the fuzzy check: a first name with a
    nickname, a mailbox of their own, and nobody else of that name at that company."""
    return known_people(crm, 1)[0]


def known_people(crm: Path, n: int) -> list[dict[str, Any]]:
    """The first `n` such customers (see known_person)."""
    import pyarrow.parquet as pq

    from leadgen.duplicates.normalise import identity_of, normalise_email
    from leadgen.synthetic.names import NICKNAMES

    rows = [r for r in pq.read_table(crm).to_pylist() if r["is_current"]]
    mailboxes = Counter(normalise_email(r["email"]) for r in rows)
    names = Counter(_name_at(identity_of(r["first_name"], r["last_name"], None, r["company"]))
                    for r in rows)  # fmt: skip
    found = []
    for r in rows:
        who = identity_of(r["first_name"], r["last_name"], None, r["company"])
        if (
            r["first_name"] in NICKNAMES
            and mailboxes[normalise_email(r["email"])] == 1
            and names[_name_at(who)] == 1
        ):
            found.append({**r, "nickname": NICKNAMES[r["first_name"]][0]})
            if len(found) == n:
                return found
    raise AssertionError(f"fewer than {n} suitable customers in the CRM")


def _name_at(who: Any) -> tuple[str, str, str]:
    return who.first, who.last, who.company_key


def nickname_lead(person: dict[str, Any]) -> dict[str, Any]:
    """The customer again, as a new lead: nickname, another email, the company in capitals."""
    return {
        **SAMPLE_LEAD,
        "first_name": person["nickname"],
        "last_name": person["last_name"],
        "email": f"{person['nickname'].lower()}.{uuid.uuid4().hex[:8]}@gmail.com",
        "company": str(person["company"]).upper(),
        "country": person["country"],
    }


@dataclass
class IdentityExport:
    """An export as the build reads it for the duplicate check (customer_entries.Customers):
    ids and identity columns by the project's names, emails, labels and stages optional."""

    ids: np.ndarray
    identity: dict[str, list[str | None]]
    emails: list[str | None] | None = None
    customer: np.ndarray | None = None
    stage: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.ids)


def blocks_of(key: str, *entries: Any) -> dict[str, list[Any]]:
    """Customer entries under their hashed blocking keys, as the build makes them."""
    from leadgen.duplicates.normalise import block_hash, block_keys

    out: dict[str, list[Any]] = {}
    for e in entries:
        for k in block_keys(e.who):
            out.setdefault(block_hash(k, key), []).append(e)
    return out


def create_table(dynamodb: Any, key: str = "email_hash", prefix: str = "dups") -> str:
    """A new on-demand table keyed by `key` (the duplicate table; the identity table: "pk")."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name
