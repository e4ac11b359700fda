"""The shape of the code base, checked over every module: no module imports a private name
(``_name``) of another, so whatever one app offers another is public and named as such. The
app graph itself is import-linter's contract (pyproject.toml), run by `make checks`."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    "portal",
    "registry",
    "assessments",
    "monitoring",
    "incidents",
    "dashboard",
    "devtools",
    "people",
    "search",
    "tests",
]


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_no_module_imports_a_private_name_of_another():
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(
                            f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{alias.name}"
                        )
    assert not found, "Private names imported from other modules:\n" + "\n".join(found)


def test_the_walk_reads_the_apps():
    assert sum(1 for _ in _modules()) > 150
