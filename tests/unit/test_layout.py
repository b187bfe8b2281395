"""The layout is a rule, not a habit: which layer may import which, and how long a function is.

leadgen/ has two runtimes that must not know each other: serving (leadgen.serve, in the Lambda)
and the build (leadgen.builder, in CodeBuild). Both sit on what they share (leadgen.model: features,
embedders, indices, kNN scores, head, the artifact bundle) and on leadgen.stores (blob storage,
artifact versions, duplicate stores). The synthetic CRM generator (leadgen.synthetic) is for
tests, the demo and benchmarks: nothing in a runtime imports it (the image does not carry it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "leadgen"
MAX_FUNCTION_LINES = 80

# layer -> the leadgen subpackages it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "leadgen.serve": ("leadgen.builder", "leadgen.synthetic"),
    "leadgen.builder": ("leadgen.serve", "leadgen.synthetic"),
    "leadgen.model": (
        "leadgen.builder",
        "leadgen.serve",
        "leadgen.stores",
        "leadgen.duplicates",
        "leadgen.synthetic",
    ),
    "leadgen.duplicates": ("leadgen.builder", "leadgen.serve", "leadgen.synthetic"),
    "leadgen.stores": (
        "leadgen.builder",
        "leadgen.serve",
        "leadgen.duplicates",
        "leadgen.synthetic",
    ),
    "leadgen.rollout": (
        "leadgen.builder",
        "leadgen.serve",
        "leadgen.duplicates",
        "leadgen.synthetic",
    ),
    "leadgen.rollback": (
        "leadgen.builder",
        "leadgen.serve",
        "leadgen.duplicates",
        "leadgen.synthetic",
    ),
    "leadgen.forget": ("leadgen.builder", "leadgen.serve", "leadgen.synthetic"),
    "leadgen.config": ("leadgen.builder", "leadgen.serve", "leadgen.model", "leadgen.stores"),
    "lambda_src": ("leadgen.builder", "leadgen.synthetic"),
    "build_job": ("leadgen.serve", "leadgen.synthetic"),
    "bulk_job": ("leadgen.builder", "leadgen.synthetic"),
}


def _module(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _sources() -> list[Path]:
    dirs = ("leadgen", "lambda_src", "build_job", "bulk_job", "stacks")
    return [*sorted(p for d in dirs for p in (REPO / d).rglob("*.py")), REPO / "app.py"]


def violations(module: str, imports: set[str]) -> list[str]:
    bad = []
    for layer, banned in FORBIDDEN.items():
        if module == layer or module.startswith(layer + "."):
            bad += [i for i in imports for b in banned if i == b or i.startswith(b + ".")]
    return sorted(set(bad))


def test_the_rule_catches_a_crossing() -> None:
    assert violations("leadgen.serve.api", {"leadgen.builder.pipeline"}) == [
        "leadgen.builder.pipeline"
    ]
    assert violations("leadgen.builder.holdout", {"leadgen.serve.scorer.Scorer"})
    assert violations("leadgen.model.bundle", {"leadgen.model.faiss_index"}) == []


def test_no_runtime_imports_across_the_serve_build_boundary() -> None:
    crossing = {_module(p): bad for p in _sources() if (bad := violations(_module(p), _imports(p)))}
    assert crossing == {}


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_function_is_over_80_lines(path: Path) -> None:
    too_long = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                too_long.append(f"{node.name} (line {node.lineno}): {lines} lines")
    assert too_long == []


def _importers(name: str) -> set[str]:
    return {
        _module(p)
        for p in _sources()
        if any(i == name or i.startswith(name + ".") for i in _imports(p))
    }


def test_only_the_faiss_backend_imports_faiss_and_only_the_registry_imports_it() -> None:
    """Every FAISS call sits behind the index seam (leadgen.model.vector_index): the build and
    serving ask leadgen.model.index_backends for a backend, never for FAISS by name."""
    assert _importers("faiss") == {"leadgen.model.faiss_index"}
    assert _importers("leadgen.model.faiss_index") == {"leadgen.model.index_backends"}


def _environment_uses(source: str) -> list[int]:
    """Lines reading or writing the process environment: os.environ, os.getenv, os.putenv,
    os.unsetenv, or those names imported from os."""
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in names
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ) or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in names for a in node.names)
        ):
            found.append(node.lineno)
    return found


def test_the_rule_catches_an_environment_read() -> None:
    source = "import os\nfrom os import getenv\nA = os.environ.get('X')\ndef f(environ): environ\n"
    assert _environment_uses(source) == [2, 3]


def test_only_config_reads_the_environment() -> None:
    """leadgen/config.py reads every variable (and sets the few library defaults): the core gets
    config objects, so what a runtime depends on is listed in one file."""
    uses = {
        str(path.relative_to(REPO)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "config.py" and (lines := _environment_uses(path.read_text()))
    }
    assert uses == {}
