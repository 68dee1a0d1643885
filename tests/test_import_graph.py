"""No import cycle among the modules of ``hfit_dagster`` and ``hfit_api``: imports read one way.

Every module's imports are read with ``ast`` - module-level and function-level ones alike, since a deferred
import only hides a cycle - except those under ``if TYPE_CHECKING:``, which never run. ``from pkg import name``
is an edge to ``pkg.name`` when that is a module, else to ``pkg``; the implicit import of a parent package is
not an edge. Each strongly connected component of more than one module (or a module importing itself) is a
cycle, reported with one concrete loop through it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"hfit_dagster": ROOT / "hfit_dagster", "hfit_api": ROOT / "api" / "hfit_api"}

# Cycles outside masking, left for their owners to clear; each entry is the set of modules of one cycle. A cycle
# not listed here fails the test, and so does an entry that no longer matches a cycle (remove it then).
KNOWN_CYCLES: list[frozenset[str]] = []


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, directory in PACKAGES.items():
        for path in sorted(directory.rglob("*.py")):
            parts = path.relative_to(directory).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, skipping the bodies of ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is one of our modules."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved is not None:
                    graph[name].add(resolved)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components with more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(start: str) -> None:
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    components.append(component)

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return components


def a_loop(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One concrete import loop inside a strongly connected component (breadth-first back to its start)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & component):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    return [start]


def test_the_graph_sees_function_level_imports_and_skips_type_checking_ones() -> None:
    """A deferred import is an edge; an import under ``if TYPE_CHECKING:`` is not."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import a\nelse:\n    import b\n"
        "def f():\n    import c\n"
    )
    assert sorted(alias.name for node in _imports(tree) for alias in node.names) == ["TYPE_CHECKING", "b", "c"]
    assert strongly_connected({"x": {"y"}, "y": {"x"}, "z": {"x"}}) == [{"x", "y"}]


def test_no_import_cycle() -> None:
    graph = import_graph()
    assert "hfit_dagster.masking.engine" in graph and "hfit_api" in graph
    cycles = [frozenset(c) for c in strongly_connected(graph)]
    unknown = [c for c in cycles if c not in KNOWN_CYCLES]
    cleared = [c for c in KNOWN_CYCLES if c not in cycles]
    report = ["import cycle: " + " -> ".join(a_loop(graph, set(c))) + f"  ({len(c)} modules)" for c in unknown]
    report += ["listed in KNOWN_CYCLES but gone, remove it: " + ", ".join(sorted(c)) for c in cleared]
    assert not report, "\n".join(report)
