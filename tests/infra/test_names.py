"""The stack and the runtime share names through leadgen.names, and only through it.

`cdk synth` must stay light: stacks/ and app.py may import leadgen.names (standard library only)
and nothing else from leadgen/, so synthesising never pulls in numpy, faiss or onnxruntime. And
every custom metric the stack alarms on or graphs must be one the runtime publishes: an alarm on
a misspelt name never fires.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadgen import names
from leadgen.names import METRICS_NAMESPACE, Metric
from tests.infra.conftest import REPO_ROOT, Synth

ALLOWED_LEADGEN_MODULE = "leadgen.names"
CDK_SOURCES = [*sorted((REPO_ROOT / "stacks").glob("*.py")), REPO_ROOT / "app.py"]


def _imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import in `path`; `from a import b` yields a.b too, so
    `from leadgen import build` is caught like `import leadgen.builder`."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def forbidden_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every leadgen module `path` imports other than leadgen.names."""
    return [
        (line, module)
        for line, module in _imported_modules(path)
        if module.startswith("leadgen.")
        and module != ALLOWED_LEADGEN_MODULE
        and not module.startswith(f"{ALLOWED_LEADGEN_MODULE}.")  # `from leadgen.names import X`
    ]


def test_cdk_code_imports_nothing_from_leadgen_but_names() -> None:
    assert len(CDK_SOURCES) > 5
    offending = [
        f"{path.relative_to(REPO_ROOT)}:{line}: imports {module}"
        for path in CDK_SOURCES
        for line, module in forbidden_imports(path)
    ]
    assert offending == []


def test_cdk_code_does_use_leadgen_names() -> None:
    users = {
        path.name
        for path in CDK_SOURCES
        if any(module == ALLOWED_LEADGEN_MODULE for _, module in _imported_modules(path))
    }
    assert {"config.py", "scoring_api.py", "index_refresh.py", "monitoring.py"} <= users


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("import leadgen.names\n", True),
        ("from leadgen.names import Env, Metric\n", True),
        ("from leadgen import names\n", True),
        ("import leadgen\n", True),  # the package alone: stdlib only (checked below)
        ("import json\nimport aws_cdk\n", True),
        ("import leadgen.builder\n", False),
        ("from leadgen.serve.service import Service\n", False),
        ("from leadgen import config\n", False),
        ("import leadgen.names.x, leadgen.stores\n", False),
        ("def f():\n    from leadgen.duplicates import dynamo_store\n", False),
    ],
)
def test_the_import_rule_itself(tmp_path: Path, source: str, allowed: bool) -> None:
    module = tmp_path / "mod.py"
    module.write_text(source)
    assert (forbidden_imports(module) == []) is allowed


@pytest.mark.parametrize("module", ["leadgen/__init__.py", "leadgen/names.py"])
def test_leadgen_names_is_standard_library_only(module: str) -> None:
    """What `import leadgen.names` executes imports the standard library only."""
    path = REPO_ROOT / module
    imported = {m.split(".")[0] for _, m in _imported_modules(path)}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


# -- metric names ---------------------------------------------------------------------------------
def published_metric_names() -> set[str]:
    """Every metric name leadgen.names.Metric declares (constants and the per-grade ones)."""
    constants = {
        value
        for key, value in vars(Metric).items()
        if not key.startswith("_") and isinstance(value, str)
    }
    return constants | {Metric.grade(grade) for grade in names.GRADES}


def _dashboard_metrics(template: dict[str, Any]) -> list[tuple[str, str]]:
    """(namespace, metric name) of every graphed metric; CloudFormation tokens in the body
    (refs to the API, the function, the region) are replaced by a placeholder to parse it."""
    out: list[tuple[str, str]] = []
    for res in template["Resources"].values():
        if res["Type"] != "AWS::CloudWatch::Dashboard":
            continue
        body = res["Properties"]["DashboardBody"]
        parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
        text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
        for widget in json.loads(text)["widgets"]:
            for metric in widget.get("properties", {}).get("metrics", []):
                assert metric[0] != ".", "shorthand metric arrays: extend this parser"
                out.append((metric[0], metric[1]))
    return out


def _alarm_metrics(template: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for res in template["Resources"].values():
        if res["Type"] == "AWS::CloudWatch::Alarm":
            props = res["Properties"]
            assert "Metrics" not in props, "metric-math alarm: extend this test"
            out.append((props["Namespace"], props["MetricName"]))
    return out


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_every_custom_metric_alarmed_or_graphed_is_published(synth: Synth, which: str) -> None:
    template = synth.dev_json if which == "dev" else synth.prod_json
    alarmed, graphed = _alarm_metrics(template), _dashboard_metrics(template)
    assert graphed, "no dashboard metrics found: the parser is out of date"
    custom = {name for namespace, name in alarmed + graphed if namespace == METRICS_NAMESPACE}
    assert custom, f"no {METRICS_NAMESPACE} metric found in alarms or dashboard"
    assert custom <= published_metric_names(), custom - published_metric_names()
    # no custom namespace other than ours (a typo there would hide the metric just the same)
    namespaces = {namespace for namespace, _ in alarmed + graphed}
    assert {n for n in namespaces if not n.startswith("AWS/")} == {METRICS_NAMESPACE}
