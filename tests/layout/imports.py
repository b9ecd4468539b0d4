"""The import graph of the repository's own Python code, read with :mod:`ast`.

Nothing is imported to build it: each module under ``libs/kitcore/src`` and
``services`` is parsed, and every ``import``/``from ... import`` it makes
(at any depth, ``TYPE_CHECKING`` blocks included) is one edge. The tests of
this folder read the graph to hold the layering the design describes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = (ROOT / "libs" / "kitcore" / "src", ROOT / "services")


def module_name(path: Path, source_root: Path) -> str:
    """``kitcore.sd.retry`` for ``.../src/kitcore/sd/retry.py``; packages drop ``__init__``."""
    parts = list(path.relative_to(source_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    """Every non-test module of kitcore and the services, by dotted name."""
    modules = {}
    for source_root in SOURCE_ROOTS:
        for path in sorted(source_root.rglob("*.py")):
            if "tests" in path.relative_to(source_root).parts:
                continue
            modules[module_name(path, source_root)] = path
    return modules


def imported_names(path: Path, module: str, known: frozenset[str] = frozenset()) -> Iterator[str]:
    """The dotted names a module imports, relative imports resolved.

    ``from package import name`` counts as importing ``package.name`` when that
    is one of the ``known`` modules, and as importing ``package`` otherwise.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                name = f"{base}.{alias.name}"
                yield name if name in known else base


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of this repository it imports (other packages left out)."""
    modules = source_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        names = imported_names(path, module, frozenset(modules))
        targets = {name for name in names if name in modules}
        targets.discard(module)
        graph[module] = targets
    return graph


def third_party_imports(module: str) -> set[str]:
    """The top-level packages one module imports."""
    path = source_modules()[module]
    return {name.split(".")[0] for name in imported_names(path, module) if name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
