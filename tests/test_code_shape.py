"""Shape rules for the production tree: small classes, short functions, no import cycles.

Production code is every module of engine, agent, tui, cli, lab and pki (generated `_pb2` excluded).
Sizes are measured with `ast` (a function's own lines, decorators included; a nested function
is measured on its own too), import cycles over every `miglane.*` import, those under
`if TYPE_CHECKING:` included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOTS = ("engine", "agent", "tui", "cli", "lab", "pki", "common")
MAX_CLASS_LINES = 400
MAX_FUNCTION_LINES = 80


def production_modules() -> Iterator[tuple[str, Path]]:
    """(dotted module name, path) of every production module."""
    for root in SOURCE_ROOTS:
        for path in sorted((ROOT / root).rglob("*.py")):
            if "_pb2" in path.name:
                continue
            relative = path.relative_to(ROOT / root).with_suffix("")
            parts = list(relative.parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


def _span(node: ast.AST) -> int:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])  # type: ignore[attr-defined]
    return node.end_lineno - first + 1  # type: ignore[attr-defined]


def oversized(path: Path) -> list[str]:
    """Every class over MAX_CLASS_LINES and function over MAX_FUNCTION_LINES in one file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and _span(node) > MAX_CLASS_LINES:
            found.append(
                f"{path.relative_to(ROOT)}:{node.lineno} class {node.name}: {_span(node)} lines"
            )
        elif (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and _span(node) > MAX_FUNCTION_LINES
        ):
            found.append(
                f"{path.relative_to(ROOT)}:{node.lineno} def {node.name}: {_span(node)} lines"
            )
    return found


def test_no_class_or_function_is_too_long() -> None:
    found = [line for _, path in production_modules() for line in oversized(path)]
    assert not found, "\n".join(found)


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """The known modules `module` imports, TYPE_CHECKING blocks and function bodies included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    resolved = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != module:
            resolved.add(target)
    return resolved


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


@pytest.mark.parametrize(
    "graph, has_cycle",
    [
        ({"a": {"b"}, "b": set()}, False),
        ({"a": {"b"}, "b": {"a"}}, True),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, False),
    ],
)
def test_find_cycle(graph: dict[str, set[str]], has_cycle: bool) -> None:
    assert (find_cycle(graph) is not None) == has_cycle


def test_no_import_cycles() -> None:
    """A package's `__init__` is part of the graph like any module."""
    modules = dict(production_modules())
    known = set(modules)
    graph = {name: imported_modules(name, path, known) for name, path in modules.items()}
    # `from miglane.engine import x` names the package and its submodule x: the edge that
    # counts is the one to x, not back to the package.
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])
