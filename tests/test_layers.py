"""Floors that only point down: every import in ``src/robustscope`` goes to a lower floor (issue 11, item 6).

A *unit* is a top-level module or package of ``robustscope`` (``data``, ``engine``, ``cli``, …); imports inside a
unit are free. :data:`FLOORS` gives every unit a floor, as data; a module may import a unit only from a strictly
lower floor. Units on one floor may not import each other: a shared name goes down a floor (as the PUG column
names did to :mod:`robustscope.formats`).

What counts as an import (all found with :mod:`ast`, never by importing anything):

- ``import`` and ``from … import`` statements anywhere in a module: at the top, inside functions (the lazy
  imports that keep ``import robustscope`` fast are still dependencies), and inside ``if TYPE_CHECKING:``
  blocks. Type-only imports count: a signature that names an upper floor's type ties the lower floor's API to
  it, and such an import becomes a runtime one as soon as someone needs the type for ``isinstance``.
- String constants of the form ``"robustscope.unit.module[:attribute]"``: the targets of the lazy registries
  (:class:`robustscope.registry.Registry`), which are imported by :func:`importlib.import_module` when looked up.
- Imports written in docstrings (doctest examples) do not count: they are documentation run by CI.

The floors were read off the code (issue 11, before the refactor), not decided a priori:

- ``models`` (label lists, preprocessing) is the lowest floor above the kernel; ``shifts`` reads ``models``'
  preprocessing; ``synth`` builds its offline benchmark counterparts with ``shifts``' corruptions; ``data`` reads
  worlds that ``synth`` renders (``synth:``/``synth-urbancars:`` datasets). So data may import synth and
  shifts, never the reverse.
- ``metrics`` are pure functions of arrays that read ``data``'s label tables (income groups); the ``engine``
  maps predictions to label spaces with a metric's helper and (issue 11, item 3) builds metric rows, so
  ``metrics`` sits *below* ``engine``.
- ``train`` and ``mitigate`` make models from data and cached features; ``suites`` run axes over all of it;
  ``api`` and ``report`` sit above suites; ``demo`` above them; ``cli`` and the lazy root facade
  (``robustscope/__init__.py``) on top.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "robustscope"
#: The root facade (``robustscope/__init__.py``): it re-exports the API, so it is the top floor.
ROOT_UNIT = "robustscope"

#: Unit → floor. A unit may import only units on strictly lower floors. A new top-level module or package
#: declares its floor here (the test fails until it does).
FLOORS: dict[str, int] = {
    "errors": 0,
    "registry": 1,  # imports errors
    "config": 1,
    "progress": 1,  # the progress bar of long loops
    "compat": 1,
    "formats": 1,  # on-disk schemas of released datasets, shared by the loaders and the world that writes them
    "models": 2,
    "shifts": 3,
    "synth": 4,
    "data": 5,
    "metrics": 6,
    "engine": 7,
    "train": 8,
    "mitigate": 8,
    "private": 8,  # two-party CrypTen evaluation: runs the engine's store and metric rows under encryption
    "worstcase": 8,  # worst-case search over the world's factors (renders with synth, scores models)
    "suites": 9,
    "represent": 9,  # self-supervised training on the world (uses train's loaders) and Lie operators
    "api": 10,
    "report": 10,
    "demo": 11,
    "validation": 11,  # known-answer models: trains recipes (train) and runs suites
    "studies": 11,  # experiments over many models: trains, mitigates and runs suites
    "sweeps": 11,  # models × suites from one YAML file: runs suites, then fits across the models
    "cli_args": 11,
    "cli_commands": 12,  # what each command does: runs the demo, the API, the suites
    "cli_mitigate": 12,  # robustscope mitigate: the mitigations' sub-commands
    "cli_private": 12,  # robustscope run --private's options and robustscope party: private evaluation
    "cli_search": 12,  # robustscope search: the worst_case axis for one or more models
    "cli_explore": 12,  # robustscope explore / serve: the results explorer
    "cli_sweep": 12,  # robustscope sweep: runs a sweep file and prints its cells and fits
    "cli": 13,  # the parser and main: points each command at its function
    ROOT_UNIT: 14,
}

#: Upward imports that exist today in files other engineers are changing (issue 11), each with why it is still
#: here and what removes it. Keyed by (importing module, imported module). An entry that no longer matches an
#: import fails :func:`test_allow_list_has_no_stale_entries`: delete it then. The list only shrinks.
KNOWN_UPWARD_IMPORTS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    """One import of a robustscope module: who imports what, where, and how."""

    module: str  # the importing module, dotted
    target: str  # the imported module, dotted
    line: int
    how: str  # "import", "type-checking", "registry-string"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """The dotted name of the module at ``path`` (``robustscope.data.registry``; a package is its ``__init__``)."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(dotted: str) -> str:
    """The top-level unit of a dotted robustscope module name (``robustscope`` itself for the root)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ROOT_UNIT


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _docstring_nodes(tree: ast.Module) -> set[int]:
    """ids of the string constants that are docstrings (their doctest imports are not imports)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _submodule_or_self(origin: str, name: str, package: Path) -> str:
    """``origin.name`` when ``from origin import name`` imports a module, else ``origin``."""
    folder = package.parent.joinpath(*origin.split("."))
    is_module = (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file()
    return f"{origin}.{name}" if is_module else origin


REGISTRY_STRING = re.compile(r"^robustscope(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_]\w*)?$")


def imports_of(source: str, module: str, is_package: bool = False, package: Path = PACKAGE) -> list[Import]:
    """Every robustscope import in ``source`` (the module ``module``): statements anywhere, type-only ones, and
    registry target strings.

    Example:
        >>> src = '''
        ... from typing import TYPE_CHECKING
        ... from robustscope.errors import SpecError
        ... if TYPE_CHECKING:
        ...     from robustscope.engine import Runner
        ... def f():
        ...     import robustscope.suites.run
        ...     return "robustscope.api:evaluate"
        ... '''
        >>> for i in imports_of(src, "robustscope.data.x"):
        ...     print(i.line, i.target, i.how)
        3 robustscope.errors import
        5 robustscope.engine type-checking
        7 robustscope.suites.run import
        8 robustscope.api registry-string
    """
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    # ``resources.files("robustscope.x")`` names a package as the anchor of its data files, at call time: not an import.
    resource_anchors = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "files"
        for arg in node.args
    }
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            type_only.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    parent = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        how = "type-checking" if id(node) in type_only else "import"
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parent.split(".")[: len(parent.split(".")) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            # ``from robustscope import api`` imports the submodule api, not the root facade.
            targets = [_submodule_or_self(origin, alias.name, package) for alias in node.names]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and id(node) not in resource_anchors
            and REGISTRY_STRING.match(node.value)
        ):
            targets, how = [node.value.partition(":")[0]], "registry-string"
        for target in targets:
            if target == ROOT_UNIT or target.startswith(ROOT_UNIT + "."):
                found.append(Import(module, target, node.lineno, how))
    return sorted(set(found), key=lambda i: (i.line, i.target))  # a set: ``from m import a, b`` is one import


def all_imports(package: Path = PACKAGE) -> list[Import]:
    """Every robustscope import of every module under ``package``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        found += imports_of(
            path.read_text(encoding="utf-8"), module_name(path, package), path.name == "__init__.py", package
        )
    return found


def upward_imports(imports: list[Import]) -> list[Import]:
    """The imports between units that do not go to a strictly lower floor."""
    return [
        i for i in imports
        if unit_of(i.module) != unit_of(i.target) and FLOORS[unit_of(i.target)] >= FLOORS[unit_of(i.module)]
    ]  # fmt: skip


def describe(i: Import) -> str:
    return (
        f"{i.module}:{i.line} imports {i.target} ({i.how}): {unit_of(i.module)} is floor {FLOORS[unit_of(i.module)]}, "
        f"{unit_of(i.target)} floor {FLOORS[unit_of(i.target)]}"
    )


def units(package: Path = PACKAGE) -> set[str]:
    """The top-level modules and packages of robustscope, and the root facade."""
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    packages = {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    return modules | packages | {ROOT_UNIT}


def test_every_unit_has_a_floor() -> None:
    present = units()
    assert not present - set(FLOORS), f"declare the floor of {sorted(present - set(FLOORS))} in FLOORS"
    assert not set(FLOORS) - present, f"FLOORS names units that do not exist: {sorted(set(FLOORS) - present)}"


def test_imports_only_point_down() -> None:
    upward = [i for i in upward_imports(all_imports()) if (i.module, i.target) not in KNOWN_UPWARD_IMPORTS]
    assert not upward, "imports that point up a floor (move the name to the floor that owns it):\n" + "\n".join(
        describe(i) for i in upward
    )


def test_allow_list_has_no_stale_entries() -> None:
    present = {(i.module, i.target) for i in upward_imports(all_imports())}
    stale = sorted(set(KNOWN_UPWARD_IMPORTS) - present)
    assert not stale, f"fixed, so delete from KNOWN_UPWARD_IMPORTS: {stale}"


def test_the_scan_sees_lazy_type_only_relative_and_registry_imports(tmp_path: Path) -> None:
    package = tmp_path / "robustscope"
    (package / "data").mkdir(parents=True)
    (package / "engine").mkdir()
    for empty in ("__init__.py", "api.py", "data/base.py", "engine/__init__.py", "engine/runner.py"):
        (package / empty).write_text("")
    (package / "data" / "__init__.py").write_text("from robustscope import api, __version__\n")
    (package / "data" / "loader.py").write_text(
        textwrap.dedent('''
        """Docs: ``from robustscope.cli import main`` is not an import.

        >>> from robustscope.cli import main
        """
        from typing import TYPE_CHECKING

        from . import base
        from ..engine import runner

        if TYPE_CHECKING:
            from robustscope.suites.run import SuiteResult

        TARGET = "robustscope.report.html:write_report"


        def load():
            from robustscope.metrics.registry import METRICS
            return METRICS


        def table():
            from importlib import resources
            return resources.files("robustscope.suites").joinpath("data")  # a data-file anchor, not an import
    ''')
    )
    found = {(i.module, i.target, i.how) for i in all_imports(package)}
    assert found == {
        ("robustscope.data", "robustscope.api", "import"),
        ("robustscope.data", "robustscope", "import"),
        ("robustscope.data.loader", "robustscope.data.base", "import"),
        ("robustscope.data.loader", "robustscope.engine.runner", "import"),
        ("robustscope.data.loader", "robustscope.suites.run", "type-checking"),
        ("robustscope.data.loader", "robustscope.report.html", "registry-string"),
        ("robustscope.data.loader", "robustscope.metrics.registry", "import"),
    }
    upward = {(i.module, i.target) for i in upward_imports(all_imports(package))}
    assert ("robustscope.data.loader", "robustscope.data.base") not in upward  # inside a unit: free
    assert ("robustscope.data.loader", "robustscope.engine.runner") in upward
