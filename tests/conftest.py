"""Shared fixtures: generated CRM data, built artifacts, the real ONNX model, moto's server.

Expensive things (model export, builds, the moto server) are built once per session.
"""

from __future__ import annotations

import os
import socket
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
