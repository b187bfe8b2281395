"""The image-shaped environment (tests/functional/image_env.py) and the Dockerfile's RUN steps.

Every RUN of the runtime stage that runs python (the torch guard, the baked model's smoke test,
the bytecode compilation) is executed in the environment the Dockerfile has built up to it, so
an image whose build would fail fails here, on the next edit too: nothing is copied from the
Dockerfile into this file. And the environment must really be the image's: an import of what
the image does not install fails, the build extras only where the buildspec puts them.
"""

from __future__ import annotations

import json
import shlex

import pytest

from tests.functional.image_env import Image

PROBE = """
import importlib, importlib.util, json, sys
out = {}
for name in sys.argv[1:]:
    try:
        module = importlib.import_module(name)
        out[name] = getattr(module, "__file__", None) or "namespace"
    except ImportError as exc:
        out[name] = None
out["find_spec(torch)"] = importlib.util.find_spec("torch") is not None
print("PROBE", json.dumps(out))
"""
NAMES = [
    "numpy", "faiss", "onnxruntime", "pyarrow", "boto3", "leadgen.serve.api", "lambda_src.handler",
    "matplotlib", "awslambdaric", "torch", "sentence_transformers", "pytest", "moto",
    "leadgen.synthetic", "stacks", "imp",
]  # fmt: skip


def _probe(image: Image, variables: dict[str, str]) -> dict[str, object]:
    command = "python -c " + shlex.quote(PROBE) + " " + " ".join(NAMES)
    proc = image.run(command, variables)
    assert proc.returncode == 0, proc.stderr
    # (importing the handler runs its init, which logs: the probe's line is the marked one)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE "))
    result: dict[str, object] = json.loads(line[len("PROBE ") :])
    return result


@pytest.mark.parametrize(
    ("where", "variables", "extra"),
    [
        ("the function", {"PYTHONPATH": "/var/runtime"}, {"awslambdaric"}),
        ("the build job", {"PYTHONPATH": "/opt/build-python"}, {"matplotlib"}),
        ("a plain python", {}, set()),
    ],
)
def test_only_what_the_image_installs_is_importable(
    image: Image, where: str, variables: dict[str, str], extra: set[str]
) -> None:
    found = _probe(image, variables)
    importable = {name for name in NAMES if found[name]}
    always = {"numpy", "faiss", "onnxruntime", "pyarrow", "boto3", "leadgen.serve.api",
              "lambda_src.handler"}  # fmt: skip
    assert importable == always | extra, where
    assert found["find_spec(torch)"] is False  # absent, not merely failing to import
    # the code is the staged task root's, not this checkout's
    task_root = image.host("/var/task")
    assert str(found["leadgen.serve.api"]).startswith(task_root + "/leadgen/")
    assert "torch" in image.refused() and "pytest" in image.refused()


def test_every_python_run_of_the_runtime_stage_succeeds(image: Image) -> None:
    executed = [s for s in image.steps if s.executed]
    for step in executed:
        assert step.returncode == 0, f"RUN {step.command}\n{step.output[-3000:]}"
    text = " ".join(s.command for s in executed)
    # the steps that prove the image: no torch, the baked model embeds, bytecode compiled
    assert "find_spec('torch')" in text and "make_embedder" in text and "compileall" in text
    assert any("model ok:" in s.output for s in executed)
    assert list((image.root / "var/task/leadgen/__pycache__").glob("*.pyc"))
    skipped = [s for s in image.steps if not s.executed]
    assert {s.reason for s in skipped} <= {"installs packages: read, not run", "no python in it"}
    # what pip installs where: the runtime in the task root, the build extras beside it
    assert image.installed == {
        image.env["LAMBDA_TASK_ROOT"]: ["/tmp/requirements.txt"],
        "/opt/build-python": ["/tmp/build-reqs/requirements-build.txt"],
    }
