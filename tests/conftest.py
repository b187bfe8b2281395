"""Shared fixtures: generated CRM data, built artifacts, the real ONNX model, moto's server.

Expensive things (model export, builds, the moto server) are built once per session.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadgen.config import BuildConfig, EmbedderSettings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_ROWS = 3000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
def onnx_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real all-MiniLM-L6-v2 as shipped (int8), exported once to ONNX (uses the user cache
    if already there)."""
    from leadgen.model.export import ensure_onnx_model

    return ensure_onnx_model(None, quantize=True)


@pytest.fixture(scope="session")
def onnx_embedder(onnx_model_dir: Path) -> Any:
    from leadgen.model.embedders import OnnxEmbedder

    return OnnxEmbedder(onnx_model_dir)


@pytest.fixture(scope="session")
def fp32_embedder() -> Any:
    """The full-precision export: the one that must match torch."""
    from leadgen.model.embedders import OnnxEmbedder
    from leadgen.model.export import ensure_onnx_model

    return OnnxEmbedder(ensure_onnx_model(None, quantize=False))


HASHING = EmbedderSettings(kind="hashing")


def build_config(input_path: Path | str, out: Path | str, **settings: Any) -> BuildConfig:
    """A build of `input_path` into `out` with the hashing embedder (fast) unless `embedder`
    says otherwise."""
    settings.setdefault("embedder", HASHING)
    return BuildConfig(input_path=str(input_path), artifacts_uri=str(out), **settings)


def quiet_build(cfg: BuildConfig, embedder: Any = None, **kwargs: Any) -> Any:
    from leadgen.build.pipeline import build

    return build(cfg, embedder, progress=False, say=lambda _m: None, **kwargs)


class Driver:
    """A scoring service driven the way a front end drives it: one lifecycle tick per call (a
    refresh when due), then leads validated against the served version, then scored."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def version(self) -> str:
        self.service.lifecycle.tick()
        return str(self.service.scorer().version)

    def score(self, *leads: dict[str, Any]) -> list[dict[str, Any]]:
        from leadgen.serve.schemas import clean_lead

        self.service.lifecycle.tick()
        scorer = self.service.scorer()
        clean = [clean_lead(lead, scorer.spec) for lead in leads]
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
    """moto's server on 127.0.0.1 (real HTTP); boto3 and pyarrow are pointed at it via env."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        }
    )
    try:
        yield endpoint
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
)


def known_person(crm: Path) -> dict[str, Any]:
    """A current customer of `crm` who is unambiguous for the fuzzy check: a first name with a
    nickname, a mailbox of their own, and nobody else of that name at that company."""
    import pyarrow.parquet as pq

    from leadgen.model.identity import identity_of, normalise_email
    from leadgen.synthetic.names import NICKNAMES

    rows = [r for r in pq.read_table(crm).to_pylist() if r["is_current"]]
    mailboxes = Counter(normalise_email(r["email"]) for r in rows)
    names = Counter(_name_at(identity_of(r["first_name"], r["last_name"], None, r["company"]))
                    for r in rows)  # fmt: skip
    for r in rows:
        who = identity_of(r["first_name"], r["last_name"], None, r["company"])
        if (
            r["first_name"] in NICKNAMES
            and mailboxes[normalise_email(r["email"])] == 1
            and names[_name_at(who)] == 1
        ):
            return {**r, "nickname": NICKNAMES[r["first_name"]][0]}
    raise AssertionError("no suitable customer in the CRM")


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


def blocks_of(key: str, *entries: Any) -> dict[str, list[Any]]:
    """Customer entries under their hashed blocking keys, as the build makes them."""
    from leadgen.model.identity import block_hash, block_keys

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
