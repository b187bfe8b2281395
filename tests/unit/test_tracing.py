"""The handler's Tracer: no X-Ray SDK import when tracing is off; only botocore patched when on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TRACED = """
import json, sys
from lambda_src.observability import make_tracer
t = make_tracer("leadgen")
@t.capture_method(capture_response=False)
def f(x):
    return x + 1
result = {"disabled": bool(t.disabled), "f": f(1), "sdk": "aws_xray_sdk.core" in sys.modules}
"""
PATCHED = "from aws_xray_sdk.core import patcher\n"
PATCHED += "result['patched'] = sorted(patcher._PATCHED_MODULES)\n"
PRINT = "print(json.dumps(result))\n"


def _probe(env: dict[str, str], code: str) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LAMBDA_", "POWERTOOLS_"))}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_off_lambda_the_tracer_records_nothing_and_imports_no_xray_sdk() -> None:
    code = TRACED + PRINT
    got = _probe({}, code)
    assert got == {"disabled": True, "f": 2, "sdk": False}
    assert (
        _probe({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, code)["sdk"]
        is False
    )


def test_on_lambda_the_tracer_is_on_and_patches_only_botocore() -> None:
    env = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}
    got = _probe(env, TRACED + PATCHED + PRINT)
    assert got["disabled"] is False
    assert got["f"] == 2
    assert got["patched"] == ["botocore"]
