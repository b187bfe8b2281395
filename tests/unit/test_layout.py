"""The layout is a rule, not a habit: what the package holds, which layer may import which, where
FAISS and the environment are touched, and how long a function is. docs/architecture.md walks
through the same tree.

leadgen/ has two runtimes that must not know each other: serving (leadgen.serve, in the Lambda,
`leadgen serve/score/score-file`) and the build (leadgen.builder, in CodeBuild and `leadgen
build`). Both sit on what they share: leadgen.model (features, embedders, the index seam and its
FAISS backend, kNN scores, the head, the artifact bundle), leadgen.duplicates (who a lead is,
whom it matches, the per-request check, the SQLite and DynamoDB stores, the customers' entries)
and leadgen.stores (blob storage, artifact versions and pins, tabular files, the hash key's
secret). leadgen.rollout moves the deployed function to a new version (the build job calls it).
The synthetic CRM generator (leadgen.synthetic) is for tests, the demo and benchmarks: nothing in
a runtime imports it (the image does not carry it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "leadgen"
ARCHITECTURE = REPO / "docs" / "architecture.md"
MAX_FUNCTION_LINES = 80
SUBPACKAGES = {"builder", "serve", "model", "duplicates", "stores", "synthetic"}
MODULES = {"__init__", "__main__", "cli", "config", "errors", "names", "rollout"}

# layer -> the only leadgen packages and modules it may import (besides its own)
ALLOWED: dict[str, tuple[str, ...]] = {
    "leadgen.config": ("leadgen.errors", "leadgen.names"),
    "leadgen.model": ("leadgen.config", "leadgen.errors", "leadgen.names"),
    "leadgen.duplicates": (
        "leadgen.config",
        "leadgen.errors",
        "leadgen.names",
        "leadgen.model",
        "leadgen.stores.blob",
    ),
}
# layer -> the leadgen packages it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "leadgen.serve": ("leadgen.builder", "leadgen.rollout", "leadgen.synthetic"),
    "leadgen.builder": ("leadgen.serve", "leadgen.rollout", "leadgen.synthetic"),
    "leadgen.stores": (
        "leadgen.builder",
        "leadgen.serve",
        "leadgen.duplicates",
        "leadgen.rollout",
        "leadgen.synthetic",
    ),
    "leadgen.rollout": (
        "leadgen.builder",
        "leadgen.serve",
        "leadgen.duplicates",
        "leadgen.synthetic",
    ),
    "lambda_src": ("leadgen.builder", "leadgen.rollout", "leadgen.synthetic"),
    "build_job": ("leadgen.serve", "leadgen.synthetic"),
    "bulk_job": ("leadgen.builder", "leadgen.rollout", "leadgen.synthetic"),
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
        if _within(module, layer):
            bad += [i for i in imports for b in banned if _within(i, b)]
    for layer, allowed in ALLOWED.items():
        if _within(module, layer):
            own = (layer, *allowed, "leadgen.__version__")
            bad += [
                i
                for i in imports
                if _within(i, "leadgen") and i != "leadgen" and not any(_within(i, a) for a in own)
            ]
    return sorted(set(bad))


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_rule_catches_a_crossing() -> None:
    crossing = {"leadgen.builder.pipeline"}
    assert violations("leadgen.serve.api", crossing) == ["leadgen.builder.pipeline"]
    assert violations("leadgen.builder.holdout", {"leadgen.serve.scorer.Scorer"})
    assert violations("leadgen.model.bundle", {"leadgen.model.faiss_index"}) == []
    assert violations("leadgen.duplicates.check", {"leadgen.serve.schemas.CleanLead"})
    assert violations("leadgen.duplicates.check", {"leadgen.stores.artifacts"})
    assert violations("leadgen.duplicates.check", {"leadgen.stores.blob.Store"}) == []
    assert violations("leadgen.model.head", {"leadgen.duplicates.normalise"})


def test_the_package_holds_what_the_layout_says() -> None:
    """One subpackage per role, a few modules beside them; a new one is added here and in
    docs/architecture.md on purpose, not by accident."""
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages == SUBPACKAGES
    assert {p.stem for p in PACKAGE.glob("*.py")} == MODULES


def test_architecture_md_names_every_module() -> None:
    """The tree in docs/architecture.md lists each file of leadgen/ (so it cannot drift)."""
    text = ARCHITECTURE.read_text()
    missing = sorted(
        str(p.relative_to(REPO))
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" and p.name not in text
    )
    assert missing == []


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
