"""How the code hangs together: no import cycles among app/ modules, and every
module imports on its own (in a fresh interpreter, first of all)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"


def app_modules() -> dict[str, Path]:
    """Dotted name -> file, for every module under app/ (packages as their name)."""
    modules = {}
    for path in sorted(APP.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The app modules `path` imports, at module level or inside functions.

    The application factory's own wiring (imports inside app/__init__.py's
    functions) is where the app is assembled and does not count.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_factory = set()
    if path == APP / "__init__.py":
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                in_factory.update(id(n) for n in ast.walk(node))

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found = set()
    for node in ast.walk(tree):
        if id(node) in in_factory:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        found.update(target for n in names if (target := owner(n)))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_among_app_modules():
    modules = app_modules()
    graph = {name: imports_of(path, modules) - {name} for name, path in modules.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a made-up graph with a cycle is caught."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_feature_packages_hold_only_their_blueprint():
    """Views are imported by create_app, never by their package's __init__."""
    for package in ("items", "users", "purchases", "audit"):
        tree = ast.parse((APP / package / "__init__.py").read_text(encoding="utf-8"))
        imported = {
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        }
        assert imported <= {"flask"}, (package, imported)


def test_every_module_imports_on_its_own():
    """Each module first in a fresh interpreter: no module relies on another
    having been imported before it (the sign of a hidden cycle)."""
    names = sorted(app_modules())
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    }
    failed = {}
    for name, process in processes.items():
        _, err = process.communicate(timeout=120)
        if process.returncode:
            failed[name] = err.strip().splitlines()[-1:]
    assert failed == {}
    assert len(names) > 30
