"""Imports between the project's own modules run one way (STYLE: shared → features/plan data →
chain → engine → service → servicer/CLI): no cycle, not even one behind ``TYPE_CHECKING`` or
inside a function."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("shared", "fingerprint_service", "mastering_service")
#: Generated stubs import each other the way protoc writes them; they are not ours to arrange.
GENERATED = "shared.proto"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            name = _module_name(path)
            if not name.startswith(GENERATED):
                found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module ``name`` imports anywhere in its body: ``import a.b``,
    ``from a import b`` (b a module or a name in a), relative imports included, and the packages
    such an import runs on the way (importing ``a.b.c`` runs ``a/b/__init__``) unless ``name``
    lives inside them."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in modules else base)
    with_packages = set(targets)
    for target in targets:
        parts = target.split(".")
        for depth in range(1, len(parts)):
            package = ".".join(parts[:depth])
            if not (name == package or name.startswith(package + ".")):
                with_packages.add(package)
    return {target for target in with_packages if target in modules and target != name}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_the_projects_own_modules() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_sees_a_cycle_hidden_behind_type_checking() -> None:
    graph = import_graph()
    # The shape the chain once had: the plan imported by the chain behind TYPE_CHECKING, the
    # chain's constants imported by the rule.
    graph["mastering_service.chain"] = graph["mastering_service.chain"] | {
        "mastering_service.lwrp"}
    assert any({"mastering_service.chain", "mastering_service.lwrp"} <= set(component)
               for component in cycles(graph))


def test_the_graph_reads_imports_inside_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mastering_service.plan import MasteringPlan\n"
        "def f():\n    from mastering_service import lwrp\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    modules = _modules()
    assert {"mastering_service.plan", "mastering_service.lwrp"} <= _imports("probe", path, modules)


def test_shared_imports_neither_service() -> None:
    graph = import_graph()
    leaks = {name: sorted(t for t in targets if not t.startswith("shared"))
             for name, targets in graph.items() if name.startswith("shared")}
    assert {name: targets for name, targets in leaks.items() if targets} == {}


def test_the_services_and_the_cli_start_without_scipy() -> None:
    """Any part of scipy costs about 0.2 s to import (its array-API layer alone; scipy.signal
    0.6 s), a sixth of a render's time: the filters, the FFT and the running minima are the
    project's own code (``shared.sections``, ``shared._kernels``), and only the tests use
    scipy's to check them."""
    entry_points = ("mastering_service.render_cli", "mastering_service.__main__",
                    "fingerprint_service.__main__", "mastering_service.servicer",
                    "fingerprint_service.servicer", "fingerprint_service.workers",
                    "mastering_service.chain.limiter")
    probe = (f"import importlib, sys\nfor name in {entry_points!r}: importlib.import_module(name)\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True, timeout=120).stdout
    assert out.strip() == "[]"
