"""The shape of the code: one tier, one module named after it; the import graph of
streamstack/ and templates/ has no cycle; a tier module imports only templates.base and
templates.parts, never another tier."""

from __future__ import annotations

import ast
from pathlib import Path

from templates import STANDALONE, TIERS

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("streamstack", "templates")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_imports(path: Path, known: set[str]) -> set[str]:
    """Project modules a file imports, deferred imports included (`from a import b` counts
    as a.b when a.b is a module, else as a)."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1]
                    + ([node.module] if node.module else [])
                )
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def import_graph() -> dict[str, set[str]]:
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    known = {module_name(p) for p in files}
    return {module_name(p): project_imports(p, known) - {module_name(p)} for p in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def test_every_tier_lives_in_the_module_named_after_it():
    for tier in TIERS + STANDALONE:
        assert tier.__module__ == "templates." + tier.name.replace("-", "_"), tier.name


def test_the_import_graph_has_no_cycle():
    assert cycles(import_graph()) == []


def test_tier_modules_import_only_base_and_parts():
    graph = import_graph()
    tier_modules = {tier.__module__ for tier in TIERS + STANDALONE}
    for module in sorted(tier_modules):
        allowed = {
            m for m in graph[module] if m == "templates.base" or m.startswith("templates.parts")
        }
        assert graph[module] - allowed == set(), module


def test_the_checker_sees_cycles_and_tier_edges():
    """The graph above is real: a known edge is in it, and a planted cycle is found."""
    graph = import_graph()
    assert "templates.parts.iam" in graph["templates.compute"]
    assert cycles({**graph, "templates.base": graph["templates.base"] | {"templates.compute"}})
