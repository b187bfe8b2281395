"""After every functional test, the AWS calls made with a role's credentials are checked against
that role's synthesised policies (tests/aws_calls.py, tests/deployed.py): a call the stack does
not grant fails the test that made it (its teardown errors, naming the call and the grant that
is missing), as it would fail in AWS with AccessDenied."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws_calls import denials, take_requests
from tests.functional.image_env import Image, build_image, staged_context
from tests.synthesis import Synth


def _fail_on_denials(when: str) -> None:
    found, _ = denials(take_requests())
    if found:
        lines = "\n".join(f"  {d}" for d in found)
        pytest.fail(f"AWS calls no policy of their role grants ({when}):\n{lines}", pytrace=False)


@pytest.fixture(autouse=True)
def _calls_are_granted() -> Iterator[None]:
    yield
    _fail_on_denials("this test or the fixtures set up for it")


@pytest.fixture(scope="session", autouse=True)
def _last_calls_are_granted() -> Iterator[None]:
    yield
    _fail_on_denials("during the last fixtures' teardown")


@pytest.fixture(scope="session")
def image(synth: Synth, onnx_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The runtime stage of lambda_src/Dockerfile built into an image-shaped environment
    (tests/functional/image_env.py), from the build context `cdk synth` staged, with the
    session's ONNX export as the model stage's /opt/model. Its RUN steps are in `image.steps`
    (tests/functional/test_image_env.py checks them)."""
    root = tmp_path_factory.mktemp("image")
    return build_image(staged_context(synth.outdir), root, onnx_model_dir)
