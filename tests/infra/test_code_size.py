"""The CDK code stays readable: no function or method in stacks/ or app.py over 80 lines.

A constructor that builds everything in one body hides which step owns which resource; split it
into named helpers (logical ids do not depend on the Python structure, only on construct ids).
"""

from __future__ import annotations

import ast

from tests.infra.conftest import REPO_ROOT

MAX_FUNCTION_LINES = 80
CDK_SOURCES = [*sorted((REPO_ROOT / "stacks").glob("*.py")), REPO_ROOT / "app.py"]


def test_no_function_in_the_cdk_code_is_over_80_lines() -> None:
    too_long = []
    for path in CDK_SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    rel = path.relative_to(REPO_ROOT)
                    too_long.append(f"{rel}:{node.lineno} {node.name}: {lines} lines")
    assert too_long == []
