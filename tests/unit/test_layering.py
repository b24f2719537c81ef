"""Every function's handler is one call into a service, under the one decorator stack.

The package's own layering is checked by ``lint-imports`` (pyproject.toml); handlers are not a package,
so they are held to it here: they may import a service, settings, clients and connections, never the
lake, a source's internals, the load leg or an engine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HANDLERS = sorted((Path(__file__).resolve().parents[2] / "functions").glob("*/app.py"))
FORBIDDEN = (
    "thermocline.lake",
    "thermocline.load",
    "thermocline.warehouse.",
    "thermocline.sources.dynamodb_streams",
)


def test_there_are_handlers() -> None:
    assert len(HANDLERS) >= 8


@pytest.mark.parametrize("path", HANDLERS, ids=lambda p: p.parent.name)
def test_a_handler_imports_no_layer_below_the_services(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [m for m in imported if m.startswith(FORBIDDEN)], imported
    assert any(m.startswith("thermocline.services.") for m in imported)


@pytest.mark.parametrize("path", HANDLERS, ids=lambda p: p.parent.name)
def test_a_handler_uses_the_one_decorator_stack(path: Path) -> None:
    tree = ast.parse(path.read_text())
    (handler,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "lambda_handler"]
    assert [ast.unparse(d) for d in handler.decorator_list] == ["instrumented"]
