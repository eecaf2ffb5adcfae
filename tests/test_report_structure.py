"""The report's structure and the package's imports: no import cycle anywhere, one report kit, one view per axis
behind one signature (issue 11, items 2 and 6).

Imports are read statically with the floors test's scan (:func:`test_layers.all_imports`): ``import`` and
``from … import`` anywhere in a module (function-level ones included), ``if TYPE_CHECKING:`` imports, and
registry target strings (``"robustscope.report.views_ood:ood_view"``), never by importing the code. An edge
goes to the module named (``from robustscope.report import write_report`` is an edge to the package
``robustscope.report``, whose ``__init__`` then runs).

Scope of the cycle check: the whole ``robustscope`` package. No module lies on an import cycle (a cycle is a
strongly connected group of two or more modules in the graph of the whole package), and in particular no module
of ``robustscope.report``, including through cycles that leave the package and come back. A lazy import inside
a function is still an edge: two modules that need each other are fixed by moving the name they share down to
a module both import, never by hiding the import.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from test_layers import PACKAGE, all_imports, module_name

REPORT = "robustscope.report"


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module → the robustscope modules it imports (only modules that exist; self-imports dropped)."""
    modules = {module_name(path, package) for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for found in all_imports(package):
        if found.target in modules and found.target != found.module:
            graph[found.module].add(found.target)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected groups of two or more nodes (Tarjan's algorithm, iterative), each sorted.

    Example:
        >>> cycles({"a": ["b"], "b": ["c", "a"], "c": [], "d": ["d"]})
        [['a', 'b']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def a_cycle(group: list[str], graph: Mapping[str, Iterable[str]]) -> list[str]:
    """One concrete cycle through the first module of a strongly connected ``group`` (breadth-first, shortest).

    Example:
        >>> a_cycle(["a", "b", "c"], {"a": ["b"], "b": ["c"], "c": ["a"]})
        ['a', 'b', 'c', 'a']
    """
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph.get(node, ())):
                if child == start:
                    return [*paths[node], start]
                if child in members and child not in paths:
                    paths[child] = [*paths[node], child]
                    following.append(child)
        frontier = following
    return group


def test_the_cycle_finder_sees_cycles_through_other_packages() -> None:
    graph = {
        "robustscope.report.a": {"robustscope.suites.x"},
        "robustscope.suites.x": {"robustscope.report.b"},
        "robustscope.report.b": {"robustscope.report.a", "robustscope.errors"},
        "robustscope.errors": set(),
    }
    (group,) = cycles(graph)
    assert group == ["robustscope.report.a", "robustscope.report.b", "robustscope.suites.x"]
    assert a_cycle(group, graph) == [
        "robustscope.report.a", "robustscope.suites.x", "robustscope.report.b", "robustscope.report.a"
    ]  # fmt: skip


def test_no_module_of_the_package_lies_on_an_import_cycle() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles (move the name both modules need down to a module both import):\n" + "\n".join(
        " -> ".join(a_cycle(g, graph)) for g in found
    )


def test_no_report_module_lies_on_an_import_cycle() -> None:
    graph = import_graph()
    assert any(m.startswith(f"{REPORT}.") for m in graph), "the scan found no report module"
    touching = [g for g in cycles(graph) if any(m == REPORT or m.startswith(f"{REPORT}.") for m in g)]
    assert not touching, "import cycles through robustscope.report:\n" + "\n".join(
        " -> ".join(a_cycle(g, graph)) for g in touching
    )


def test_report_modules_import_no_private_names_of_one_another() -> None:
    private = []
    for path in sorted((PACKAGE / "report").rglob("*.py")):
        importer = module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(REPORT) and node.module != importer:
                private += [f"{importer} imports {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert not private, "use the public kit (robustscope.report.kit) instead:\n" + "\n".join(private)


def test_every_axis_has_a_view_taking_one_inputs_object() -> None:
    from robustscope.report.kit import Figures, Palette, ViewInputs
    from robustscope.report.suite import AXIS_VIEWS
    from robustscope.suites.registry import axis_names

    assert not [a for a in axis_names() if a not in AXIS_VIEWS], "register a view for every axis in AXIS_VIEWS"
    columns = ["model", "dataset", "shift", "metric", "slice_factor", "slice_value", "value", "ci_low", "ci_high"]
    empty = pd.DataFrame({c: pd.Series(dtype=float if c.startswith(("value", "ci")) else str) for c in columns})
    empty = empty.assign(n=pd.Series(dtype=float), protocol=pd.Series(dtype=str))
    for entry in AXIS_VIEWS.entries():
        name, view = entry.key, entry.load()
        assert list(inspect.signature(view).parameters) == ["inputs"], f"{name}: a view takes one ViewInputs"
        text = view(ViewInputs(empty, Figures(), Palette([])))
        assert isinstance(text, str) and text.startswith('<p class="note">'), f"{name}: no note on empty rows"
