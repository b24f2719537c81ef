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


@pytest.mark.parametrize("path", HANDLERS, ids=lambda p: p.parent.name)
def test_a_handler_hands_its_service_the_one_runtime(path: Path) -> None:
    """A service that reads the time, sleeps or counts takes a ``runtime``; its handler makes one
    ``Runtime()`` at cold start and hands it in, so nothing in the service reads the time another way."""
    import importlib
    import inspect

    tree = ast.parse(path.read_text())
    services = {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("thermocline.services.")
        for alias in node.names
    }
    (handler,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "lambda_handler"]
    (call,) = [
        n
        for n in ast.walk(handler)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in services
    ]
    service = getattr(importlib.import_module(services[call.func.id]), call.func.id)
    passed = {k.arg: ast.unparse(k.value) for k in call.keywords}
    if "runtime" in inspect.signature(service).parameters:
        assert passed.get("runtime") == "runtime", passed
        assigned = [
            ast.unparse(n.value)
            for n in tree.body
            if isinstance(n, ast.Assign) and [ast.unparse(t) for t in n.targets] == ["runtime"]
        ]
        assert assigned == ["Runtime()"]
    else:
        assert path.parent.name == "warehouse_setup", f"{call.func.id} takes no runtime"
