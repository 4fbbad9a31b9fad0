"""Package layering: imports point one way (training -> analysis -> utils), never back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rlkit

RLKIT_ROOT = Path(rlkit.__file__).parent


def imported_modules(source: str, package: str) -> set[str]:
    """Absolute names of every module ``source`` (a module of ``package``) imports, at any depth."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: drop (level - 1) trailing parts of the package
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{module}" if module else base
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((RLKIT_ROOT / package).rglob("*.py")):
        module_package = ".".join(path.relative_to(RLKIT_ROOT.parent).parts[:-1])
        for name in sorted(imported_modules(path.read_text(), module_package)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(RLKIT_ROOT.parent)} imports {name}")
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("analysis", ("rlkit.training",)),
        ("utils", ("rlkit.training", "rlkit.analysis")),
    ],
)
def test_lower_layers_do_not_import_upper_ones(package: str, forbidden: tuple[str, ...]) -> None:
    assert list((RLKIT_ROOT / package).rglob("*.py"))
    assert _violations(package, forbidden) == []


def test_checker_sees_relative_nested_and_plain_imports() -> None:
    source = (
        "import rlkit.training.loop\n"
        "def f():\n"
        "    from ..training import checkpoint\n"
        "    from . import curves\n"
        "    from .hns import normalise\n"
    )
    names = imported_modules(source, "rlkit.analysis")
    assert {"rlkit.training.loop", "rlkit.training", "rlkit.training.checkpoint"} <= names
    assert {"rlkit.analysis.curves", "rlkit.analysis.hns"} <= names
