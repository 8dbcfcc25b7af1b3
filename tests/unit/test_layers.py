"""The lower layers never import the higher ones (docs/ARCHITECTURE.md, "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import parley

SRC = Path(parley.__file__).parent
# A package and the parley packages it may import (besides itself).
MAY_IMPORT = {
    "storage": {"settings"},
    "resilience": {"storage"},
    "replication": {"resilience", "storage", "settings"},
}


def parley_imports(package: str) -> set[str]:
    found: set[str] = set()
    for module in (SRC / package).rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("parley."):
                found.add((node.module or "").split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("parley.")}
    return found - {package}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_no_import_reaches_up(package: str) -> None:
    assert parley_imports(package) <= MAY_IMPORT[package]
