"""The container image definition, checked by reading it (no Docker engine in the test run).

What a broken image would only reveal at deploy time or at the first cold start: torch in the
runtime layer (hundreds of MB, seconds of import), a missing baked model (the function would try
to export one, without torch, and answer 503), a wrong CMD, a COPY of something the build
context excludes.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest

from tests.functional.image_env import Stage, env_pairs, parse

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "lambda_src" / "Dockerfile"
HANDLER = "lambda_src.handler.handler"


def _env(stage: Stage) -> dict[str, str]:
    return dict(pair for arg in stage.args("ENV") for pair in env_pairs(arg))


@pytest.fixture(scope="module")
def image() -> tuple[dict[str, str], list[Stage]]:
    return parse(DOCKERFILE.read_text())


def _resolve(base: str, global_args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), m.group(0)), base)


def test_multi_stage_from_the_multi_arch_lambda_python_base(
    image: tuple[dict[str, str], list[Stage]],
) -> None:
    global_args, stages = image
    assert len(stages) >= 2
    for stage in stages:
        base = _resolve(stage.base, global_args)
        # The multi-arch tag (no -arm64/-x86_64 suffix), so --platform picks the architecture.
        m = re.fullmatch(r"public\.ecr\.aws/lambda/python:(3\.(\d+))", base)
        assert m, base
        # 3.12+: Amazon Linux 2023; 3.11's Amazon Linux 2 glibc is too old for the wheels.
        assert int(m.group(2)) >= 12, base
        # No architecture pinned in the file: `docker build --platform` (CDK: linux/arm64) decides.
        assert stage.platform is None or "$" in stage.platform, stage.platform


def test_runtime_stage_has_no_torch_and_only_the_runtime_requirements(
    image: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = image
    runtime = stages[-1]
    text = " ".join(a for _, a in runtime.instructions).lower()
    # The one mention of torch: the guard that fails the build if it slipped in.
    assert "find_spec('torch') is not none" in text
    for run in runtime.args("RUN") + runtime.args("COPY"):
        assert "requirements-export" not in run and "sentence-transformers" not in run
        assert "pip install torch" not in run.lower()
    installs = [r for r in runtime.args("RUN") if "pip install" in r]
    serving = [r for r in installs if "requirements-build" not in r]
    assert serving and all("requirements.txt" in r for r in serving)
    # Into the task root (first on the function's sys.path), so the pinned SDK is the one used.
    assert all('--target "${LAMBDA_TASK_ROOT}"' in r for r in serving)
    # The build job's extras (matplotlib) go to a folder only the buildspec puts on its path.
    build_only = [r for r in installs if "requirements-build" in r]
    assert build_only and all("--target /opt/build-python" in r for r in build_only)
    runtime_reqs = (REPO / "requirements.txt").read_text().lower()
    for heavy in ("torch", "sentence-transformers", "transformers", "matplotlib"):
        assert not re.search(rf"^{heavy}\b", runtime_reqs, re.MULTILINE), heavy


def test_the_model_is_exported_in_the_build_stage_and_baked_into_the_runtime(
    image: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = image
    builder, runtime = stages[0], stages[-1]
    assert builder.name
    build_runs = " ".join(builder.args("RUN"))
    assert "requirements-export.txt" in build_runs and "requirements.txt" in build_runs
    assert "python -m leadgen export-model --out /opt/model" in build_runs
    assert _env(builder).get("HF_HUB_OFFLINE") == "1"
    assert f"--from={builder.name} /opt/model /opt/model" in runtime.args("COPY")
    env = _env(runtime)
    assert env["LEADGEN_MODEL_DIR"] == "/opt/model"
    assert env["LEADGEN_EMBEDDER"] == "onnx"
    assert env["LEADGEN_CACHE_DIR"].startswith("/tmp/")  # the only writable path in Lambda


def test_cmd_is_the_handler_and_it_exists(image: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = image
    cmds = stages[-1].args("CMD")
    assert cmds and json.loads(cmds[-1]) == [HANDLER]
    assert not stages[-1].args("ENTRYPOINT")  # the base image's Lambda entrypoint stays
    module, func = HANDLER.rsplit(".", 1)
    source = (REPO / (module.replace(".", "/") + ".py")).read_text()
    assert re.search(rf"^def {func}\(event", source, re.MULTILINE)


def _ignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")]


def _excluded(path: str, patterns: list[str]) -> bool:
    parts = path.rstrip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pat) for pat in patterns for p in prefixes)


def test_everything_copied_from_the_context_exists_and_is_not_ignored(
    image: tuple[dict[str, str], list[Stage]],
) -> None:
    from stacks.container_image import ASSET_EXCLUDES  # what `cdk deploy` stages

    _, stages = image
    patterns = _ignore_patterns()
    for excluded in (".venv", "node_modules", "cdk.out", ".git", "tests", "data", "artifacts"):
        assert excluded in patterns, excluded
    # the synthetic data generator stays out of the image, on both paths that build it
    for excluded in ("leadgen/synthetic", "requirements-dev.txt"):
        assert excluded in patterns and excluded in ASSET_EXCLUDES, excluded
    sources = []
    for stage in stages:
        for copy in stage.args("COPY"):
            if copy.startswith("--from"):
                continue
            sources += copy.split()[:-1]
    assert {"leadgen/", "lambda_src/", "build_job/", "bulk_job/", "requirements.txt"} <= set(
        sources
    )
    for src in sources:
        assert (REPO / src).exists(), src
        assert not _excluded(src, patterns), f"{src} is excluded by .dockerignore"
        assert not _excluded(src, list(ASSET_EXCLUDES)), f"{src} is excluded by the CDK asset"
