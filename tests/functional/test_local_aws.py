"""lambda_src/local_aws.sh, run for real: its Docker commands in the image-shaped environment
(tests/functional/fake_docker.py stands in for `docker`), `sam-template` on the synthesised
template, what it writes then given to the function.

Nothing of the script is copied here: `image`, `artifacts`, `run` and `call` run as a user runs
them, and whatever they ask of Docker (variables, volumes, the entrypoint, the published port)
is what runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from leadgen.serve.server import http_v2_event
from tests.conftest import free_port, moto_client, moto_environment
from tests.deployed import Deployment
from tests.functional.image_env import Image, invoke, stop, wait_for_port
from tests.synthesis import Synth

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "lambda_src" / "local_aws.sh"
TAG = "leadgen-lambda:local"  # the script's default IMAGE


@pytest.fixture(scope="module")
def docker(image: Image, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose `docker` runs the image's commands in the image-shaped environment."""
    bin_dir = tmp_path_factory.mktemp("docker-bin")
    fields = ("root", "env", "workdir", "cmd", "site_dir", "bin_dir", "installed")
    config = {
        "image": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(image).items()
                  if k in fields},
        "tag": TAG,
        "log": str(bin_dir / "docker.log"),
    }  # fmt: skip
    (bin_dir / "config.json").write_text(json.dumps(config))
    shim = bin_dir / "docker"
    shim.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="{REPO}" exec "{sys.executable}" -m tests.functional.fake_docker '
        f'"{bin_dir / "config.json"}" "$@"\n'
    )
    shim.chmod(0o755)
    return bin_dir


def _script_env(docker: Path, **variables: str) -> dict[str, str]:
    """A user's shell: their PATH (with Docker), their HOME; nothing else of this process."""
    return {
        "PATH": f"{docker}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        **variables,
    }


def _docker_calls(docker: Path) -> list[list[str]]:
    log = docker / "docker.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_image_artifacts_run_and_call(docker: Path, tmp_path: Path) -> None:
    """The README's sequence: build the image, build artifacts inside it (with the build job's
    extra packages: the report's charts), serve them under the emulator, call it."""
    env = _script_env(docker, LOCAL_DIR=str(tmp_path / "image"), ROWS="600")
    for command in ("image", "artifacts"):
        proc = subprocess.run(["bash", str(SCRIPT), command], env=env, capture_output=True,
                              text=True, timeout=600, check=False)  # fmt: skip
        assert proc.returncode == 0, f"{command}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    artifacts = tmp_path / "image" / "artifacts"
    version = json.loads((artifacts / "LATEST").read_text())["version"]
    assert "data:image/png;base64," in (artifacts / version / "report.html").read_text()
    build, run = _docker_calls(docker)
    assert build[:3] == ["build", "--platform", "linux/arm64"]
    assert run[0] == "run" and "--platform" in run and TAG in run

    for attempt in range(3):  # the emulator takes the port it is given: another may take it
        env["PORT"] = str(free_port())
        server, log = _serve(env, tmp_path / f"run-{attempt}.log")
        try:
            if not wait_for_port(int(env["PORT"]), server, log, timeout=60, retry=attempt < 2):
                continue
            for event, check in (("health", "artifact_version"), ("score_lead", "grade")):
                call = ["bash", str(SCRIPT), "call", event]
                proc = subprocess.run(call, env=env, capture_output=True, text=True, timeout=120)
                assert proc.returncode == 0, proc.stderr
                answer = json.loads(proc.stdout)
                assert answer["statusCode"] == 200, answer
                assert check in json.loads(answer["body"])
            return
        finally:
            stop(server)
    pytest.fail("`local_aws.sh run` could not bind a port")


def _serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """`local_aws.sh run` in the background (it serves until stopped)."""
    with log.open("wb") as out:
        server = subprocess.Popen(["bash", str(SCRIPT), "run"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    return server, log


@pytest.fixture(scope="module")
def published(
    onnx_artifacts: Path, moto_server: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A bucket, two tables and a secret in moto, and the session's ONNX build (the image's
    model) published under artifacts/: what a deployed stack has after its first build."""
    from leadgen.stores.artifacts import read_pointer, set_latest, upload_version, verify_remote
    from leadgen.stores.blob import LocalStore, open_store
    from tests.conftest import create_table

    bucket = f"leadgen-sam-{uuid.uuid4().hex[:8]}"
    moto_client("s3", moto_server).create_bucket(Bucket=bucket)
    ddb = moto_client("dynamodb", moto_server)
    sm = moto_client("secretsmanager", moto_server)
    names = {
        "ARTIFACTS_URI": f"s3://{bucket}/artifacts",
        "DUP_TABLE_NAME": create_table(ddb),
        "IDENTITY_TABLE_NAME": create_table(ddb, "pk", "ident"),
        "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN": sm.create_secret(
            Name=f"sam-{uuid.uuid4().hex[:6]}", SecretString="s" * 40
        )["ARN"],
    }
    with moto_environment(moto_server):
        store = open_store(names["ARTIFACTS_URI"])
        version = read_pointer(LocalStore(onnx_artifacts)).version
        upload_version(store, onnx_artifacts / version, version)
        sha = verify_remote(store, version, tmp_path_factory.mktemp("verify"))
        set_latest(store, version, sha)
    return {**names, "bucket": bucket}


def _sam_template(synth: Synth, tmp_path: Path, variables: dict[str, str]) -> tuple[Any, str]:
    out = tmp_path / "leadgen-dev.sam.json"
    env = _script_env(
        Path("/nonexistent"),
        TEMPLATE=str(synth.outdir / "leadgen-dev.template.json"),
        SAM_TEMPLATE=str(out),
        **variables,
    )
    proc = subprocess.run(["bash", str(SCRIPT), "sam-template"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    logical_id = proc.stdout.strip()
    template = json.loads(out.read_text())
    return template["Resources"][logical_id], proc.stderr


def _intrinsics(value: Any) -> bool:
    return isinstance(value, dict | list)


@pytest.fixture
def sam_function(
    synth: Synth, image: Image, published: dict[str, str], moto_server: str, tmp_path: Path
) -> Iterator[Any]:
    """Writes a sam-template copy with the given shell variables, then starts the function
    with that copy's environment (and what Lambda adds: its role's credentials, its name)
    under the emulator; yields a starter returning (invoke URL, environment, stderr)."""
    deployment = Deployment(synth.dev_json, {"ArtifactBucket": published["bucket"]})
    for var, logical in (("DUP_TABLE_NAME", "DuplicateTable"),
                         ("IDENTITY_TABLE_NAME", "IdentityTable"),
                         ("LEADGEN_EMAIL_HASH_KEY_SECRET_ARN", "EmailHashKeySecret")):  # fmt: skip
        deployment.names[logical] = published[var]
    deployment.names[deployment.function_id] = "leadgen-sam-local"

    with contextlib.ExitStack() as stack:

        def start(variables: dict[str, str]) -> tuple[str, dict[str, str], str]:
            function, stderr = _sam_template(synth, tmp_path, variables)
            env = function["Properties"]["Environment"]["Variables"]
            provided = deployment.provided(deployment.function_id, moto_server)
            url = stack.enter_context(image.function({**env, **provided}, tmp_path / "fn.log"))
            return url, env, stderr

        yield start


@pytest.mark.parametrize(
    "given",
    [
        ("ARTIFACTS_URI", "DUP_TABLE_NAME", "IDENTITY_TABLE_NAME",
         "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN"),  # every stack output the README reads
        ("ARTIFACTS_URI", "DUP_TABLE_NAME"),  # the rest off: still no Ref left behind
    ],
)  # fmt: skip
def test_sam_template_resolves_every_variable_and_the_function_answers(
    sam_function: Any, published: dict[str, str], moto_server: str, given: tuple[str, ...]
) -> None:
    url, env, stderr = sam_function(
        {**{k: published[k] for k in given}, "AWS_ENDPOINT_URL": moto_server}
    )
    assert not [name for name, value in env.items() if _intrinsics(value)], env
    for name in ("ARTIFACTS_URI", "DUP_TABLE_NAME", "IDENTITY_TABLE_NAME",
                 "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN"):  # fmt: skip
        assert env[name] == (published[name] if name in given else ""), name
        assert (name in stderr) == (name not in given), stderr
    assert env["AWS_ENDPOINT_URL_S3"] == moto_server
    raw = invoke(url, http_v2_event("GET", "/health", {}, None))
    assert raw["statusCode"] == 200, raw
    body = json.loads(raw["body"])
    assert body["status"] == "ok" and body["embedder"]["kind"] == "onnx"


def test_sam_template_needs_the_artifacts_uri(synth: Synth, tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", str(SCRIPT), "sam-template"],
        env=_script_env(Path("/nonexistent"), TEMPLATE=str(synth.outdir / "x.template.json")),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1 and "ARTIFACTS_URI" in proc.stderr
