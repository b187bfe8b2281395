"""The build job's fixtures: moto's bucket and tables, a generated CRM, one BLAS thread per
module, and a clean job environment per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from tests.conftest import moto_client
from tests.deployed import Deployment
from tests.functional.build_job_runs.harness import _JOB_VARS, _STACK, BUCKET, ROWS
from tests.synthesis import Synth


@pytest.fixture(scope="module", autouse=True)
def _deployed(synth: Synth) -> None:
    """The stack these builds run in: each run signs with the build project's role."""
    _STACK["build"] = Deployment(synth.dev_json, {"ArtifactBucket": BUCKET})


@pytest.fixture(scope="session")
def s3(moto_server: str) -> Any:
    client = moto_client("s3", moto_server)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="session")
def dynamodb(moto_server: str) -> Any:
    return moto_client("dynamodb", moto_server)


@pytest.fixture(scope="session")
def crm() -> pa.Table:
    from leadgen.synthetic.crm import generate_crm

    return generate_crm(rows=ROWS, seed=11)


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread() -> Iterator[None]:
    """Tiny builds gain nothing from BLAS/OpenMP threads, and on a busy machine (CI, parallel
    jobs) spinning thread pools turn a one-second build into tens of seconds."""
    # Load every thread pool first: threadpoolctl only limits the libraries already loaded.
    import faiss  # noqa: F401
    import sklearn.ensemble
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(1):
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
        yield


@pytest.fixture
def job_env(monkeypatch: pytest.MonkeyPatch, moto_env: str) -> Iterator[pytest.MonkeyPatch]:
    """A clean job environment: hashing embedder, nothing inherited from the developer's shell,
    moto's variables for this test only."""
    for name in _JOB_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADGEN_EMBEDDER", "hashing")
    yield monkeypatch
