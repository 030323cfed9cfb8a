"""The library's import graph: the data flows one way through the subpackages (:data:`LAYERS`), so no module
imports one further down the flow, and none imports one that (directly or through others) imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import ebsdlib

PACKAGE = Path(ebsdlib.__file__).parent

#: The subpackages in the order the data flows, after the infrastructure every layer may use; a module may import
#: its own layer and the layers before it.
INFRASTRUCTURE = (
    "ebsdlib",
    "ebsdlib.paths",
    "ebsdlib.quiet",
    "ebsdlib.logs",
    "ebsdlib.cache",
    "ebsdlib.outputs",
    "ebsdlib.settings",
    "ebsdlib.preprocess",
)
LAYERS = (
    INFRASTRUCTURE,
    "crystal",
    "datasets",
    "simulation",
    "io",
    "learn",
    "evaluate",
    "mapping",
    "studies",
    "book",
    "bench",
    ("ebsdlib.cli", "ebsdlib.__main__"),
)


def layer(module: str) -> int:
    """The position of ``module``'s layer in :data:`LAYERS`."""
    subpackage = module.split(".")[1] if module.count(".") else None
    for position, entry in enumerate(LAYERS):
        named = module in entry if isinstance(entry, tuple) else subpackage == entry
        if named:
            return position
    raise AssertionError(f"{module} belongs to no layer of LAYERS: add its subpackage there")


def arrows_up(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a module further down the flow than the importing one, as ``a -> b``."""
    return sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if layer(b) > layer(a))


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``, from every import statement, at the top of a module or
    inside a function, absolute or relative."""
    modules = {module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[: len(here.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                found = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]
            elif isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            else:
                continue
            graph[name] |= {t for t in found if t in modules and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or around a circle (Tarjan's strongly connected
    components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_one_that_imports_it_back():
    assert circles(import_graph()) == []


def test_every_import_points_along_the_flow():
    graph = import_graph()
    for module in graph:
        layer(module)  # fails for a module that belongs to no layer
    assert arrows_up(graph) == []


def test_an_import_against_the_flow_is_found():
    graph = {"ebsdlib.simulation.patterns": {"ebsdlib.learn.models"}, "ebsdlib.learn.models": {"ebsdlib.crystal.materials"}}
    graph["ebsdlib.crystal.materials"] = {"ebsdlib.paths"}
    assert arrows_up(graph) == ["ebsdlib.simulation.patterns -> ebsdlib.learn.models"]


def test_the_circle_finder_finds_a_circle(tmp_path):
    """The check itself: a package of three modules that import round in a circle, and one outside it."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import x\n")
    (package / "b.py").write_text("def f():\n    from pkg.c import y\n")
    (package / "c.py").write_text("from . import a\n")
    (package / "d.py").write_text("from .a import z\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"}
    assert circles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
