"""Every name README.md and docs/ tell a user to import is importable from where they say.

Names are extracted from the Markdown, never listed by hand, so a doc that names a new function is tested
as soon as it is written:

- dotted names ``robustscope.x.y`` anywhere (prose, code, inline code);
- ``from robustscope.x import a, b`` lines;
- inline code that is a module-relative dotted name (```metrics.compute_metrics```, ```api.evaluate```),
  and the names listed in parentheses after a module (```metrics.ood` (`ood_score`, `auroc`)``);
- the contracts of ``docs/architecture.md``: under a heading ``### `robustscope.M```, each bullet's first
  inline-code name is an attribute of ``robustscope.M``; in its flow diagram, ``engine.Runner`` and the like.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
PACKAGE = ROOT / "src" / "robustscope"
#: Top-level modules and packages of robustscope: a dotted name starting with one is module-relative.
SUBMODULES = sorted(
    {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {p.name for p in PACKAGE.iterdir()
                                                                       if (p / "__init__.py").is_file()}
)
#: Endings that make a dotted token a file name (``report.html``, ``config.json``), not a Python name.
FILE_ENDINGS = {"py", "md", "html", "json", "csv", "yaml", "yml", "txt", "png", "jpg", "db", "duckdb", "parquet",
                "sqlite", "pt", "pt2", "safetensors", "otf", "npz", "npy", "JPEG", "tar", "gz", "zip"}
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def _is_name(dotted: str) -> bool:
    return dotted.rsplit(".", 1)[-1] not in FILE_ENDINGS


def names_in(text: str) -> set[str]:
    """Every ``robustscope.…`` name a Markdown text tells the reader to import (see the module docstring)."""
    names = {m for m in re.findall(rf"\brobustscope(?:\.{IDENT})+", text) if _is_name(m)}
    for module, imported in re.findall(rf"^\s*from (robustscope(?:\.{IDENT})*) import ([^\n#]+)", text, re.M):
        names |= {f"{module}.{n.split(' as ')[0].strip()}" for n in imported.strip("()` ").split(",") if n.strip()}
    relative = rf"(?:{'|'.join(SUBMODULES)})(?:\.{IDENT})+"
    for span in re.findall(rf"`({relative})(?:\([^`]*\))?`", text):
        if _is_name(span):
            names.add(f"robustscope.{span}")
    for module, listing in re.findall(rf"`({relative})` \(([^)]*)\)", text):
        names |= {f"robustscope.{module}.{n}" for n in re.findall(rf"`({IDENT})(?:\([^`]*\))?`", listing)}
    for line in text.splitlines():
        if "─►" in line:  # the flow diagram of docs/architecture.md
            names |= {f"robustscope.{m}" for m in re.findall(rf"\b({relative})", line)}
    for module, body in re.findall(rf"^### `(robustscope(?:\.{IDENT})*)`\n(.*?)(?=^#|\Z)", text, re.M | re.S):
        for bullet in re.split(r"\n(?=\S)", body):  # a bullet's continuation lines are indented
            first = re.match(rf"- `({IDENT})[(`]", bullet)
            if first:  # "- `Runner(store, …)`: …" documents robustscope.engine.Runner
                names.add(f"{module}.{first.group(1)}")
            elif re.match(r"- [^`]*: `", bullet):  # "- Pure functions of numpy arrays: `accuracy(…)`, `nll`, …"
                names |= {f"{module}.{n}" for n in re.findall(rf"`({IDENT})(?:\([^`]*\))?`", bullet)}
    return names


DOCUMENTED = sorted(set().union(*(names_in(path.read_text()) for path in DOCS)))


def resolve(dotted: str) -> object:
    """Import the longest importable module prefix of ``dotted``, then ``getattr`` the rest."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError as err:
            if err.name is not None and not ".".join(parts[:split]).startswith(err.name):
                raise  # the module exists but imports something missing: a real failure
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(dotted)


def test_the_extraction_finds_what_the_docs_name() -> None:
    """Independent check of the regexes on the names the issue quotes and the README's examples."""
    sample = (
        "## x\n### `robustscope.shifts`\n- `load_shift(spec)`: …\n- `Shift`: `name`\n"
        "- Pure functions of numpy arrays: `accuracy(scores)`, `ece`\n"
        "entries: `metrics.ood` (`ood_score` with msp, `auroc`), see `report.html` and `api.py`.\n"
        "from robustscope.engine import ResultStore, Runner\nrobustscope.Model.from_module(net)\n"
        "dataset spec ─► data.load_dataset ─► Dataset\n"
    )
    assert names_in(sample) == {
        "robustscope.shifts", "robustscope.engine",
        "robustscope.shifts.load_shift", "robustscope.shifts.Shift", "robustscope.shifts.accuracy",
        "robustscope.shifts.ece",
        "robustscope.metrics.ood", "robustscope.metrics.ood.ood_score", "robustscope.metrics.ood.auroc",
        "robustscope.engine.ResultStore", "robustscope.engine.Runner", "robustscope.Model.from_module",
        "robustscope.data.load_dataset",
    }
    assert {"robustscope.load_model", "robustscope.evaluate", "robustscope.shifts.load_shift"} <= set(DOCUMENTED)


@pytest.mark.parametrize("dotted", DOCUMENTED)
def test_documented_name_is_importable(dotted: str) -> None:
    assert resolve(dotted) is not None


@pytest.mark.parametrize(
    "dotted", ["robustscope.load_shift", "robustscope.shifts.corrupt", "robustscope.metrics.ood_score"]
)
def test_names_the_issue_tried_are_importable(dotted: str) -> None:
    """The three names issue 10 quotes: a user reading the docs expects them where they are."""
    assert callable(resolve(dotted))
