"""``torch.export`` archives (``.pt2``) read without running code from the file.

What ``torch.export.load`` does with a file, read in the source of torch 2.14
(``torch/export/__init__.py``, ``torch/export/pt2_archive/_package.py``,
``torch/_export/serde/serialize.py``, ``torch/export/_unlift.py``): it is **not** free of pickle, and
its own docstring says so ("uses pickle under the hood to load models. Never load data from an
untrusted source"). A hostile archive can run code through

1. tensors marked ``use_pickle`` in ``data/weights/*_weights_config.json`` or
   ``data/constants/*_constants_config.json``, read with ``torch.load(weights_only=False)``;
2. constants named ``opaque_obj_*`` (``pickle.loads``) or ``custom_obj_*`` (TorchScript's unpickler);
3. legacy ``data/weights/<model>.pt`` / ``data/constants/<model>.pt`` payloads, and archives in the
   torch 2.7 layout (a top-level ``version`` file), both deserialised by ``deserialize_torch_artifact``;
4. the sample inputs ``data/sample_inputs/<model>.pt``, which ``deserialize_torch_artifact`` first
   tries with ``weights_only=True`` and then, on failure, with ``weights_only=False``;
5. AOTInductor packages (``data/aotinductor/``), whose compiled shared libraries ``load_pt2`` loads;
6. symbolic shape expressions (``expr_str``), parsed with ``sympy.sympify``, which ``eval``\\ s them;
7. ``guards_code``, compiled to Python by ``ExportedProgram.module(check_guards=True)``;
8. graph nodes whose ``target`` names any attribute of ``torch`` (``torch.load``, …), called when the
   network runs.

:func:`check_archive` refuses every one of these before ``torch.export.load`` sees the bytes (it
reads the archive's JSON and, with ``weights_only=True``, its sample inputs); what passes holds raw
tensor bytes, JSON, sympy expressions made only of numbers, shape symbols and sympy's arithmetic,
and ``torch.ops.*`` / ``_operator.*`` / ``math.*`` calls. The network is then built with
``check_guards=False``. Archives written by ``torch.export.save`` for ordinary networks (plain
tensors, static or dynamic shapes) pass.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robustscope.errors import CheckpointError

#: Graph call targets an archive may name: ATen/prims and registered ops, ``operator`` and ``math``.
ALLOWED_TARGET_PREFIXES = ("torch.ops.", "_operator.", "math.")
#: Names a symbolic shape expression may use (sympy's ``srepr`` vocabulary, assumption keywords and the
#: functions of ``torch.utils._sympy.functions`` that the deserialiser passes to ``sympy.sympify``).
ALLOWED_SYMPY_NAMES = frozenset(
    {
        "Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Max", "Min", "Mod", "Abs", "floor",
        "ceiling", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "true", "false", "True", "False",
        "oo", "Infinity", "NegativeInfinity", "Half", "One", "Zero", "NegativeOne", "Piecewise", "ITE",
        "StrictLessThan", "StrictGreaterThan", "LessThan", "GreaterThan", "Equality", "Unequality",
        "positive", "negative", "nonnegative", "nonpositive", "integer", "real", "finite", "infinite", "zero",
        "nonzero", "even", "odd", "rational", "commutative", "precision",
        "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt", "CeilDiv",
        "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv", "ToFloat", "TruncToInt",
        "TruncToFloat", "RoundToInt", "RoundDecimal", "Identity", "OpaqueUnaryFn_sqrt",
        "IsNonOverlappingAndDenseIndicator", "Trunc", "BitwiseFn_bitwise_and", "BitwiseFn_bitwise_or",
    }
)
# Tokens of an allowed expression: numbers, quoted or bare shape-symbol names (s0, u3, …), allowed names,
# arithmetic and comparison operators, brackets, commas, '=' of keyword arguments.
_TOKEN = re.compile(
    r"\s+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|'[A-Za-z_][A-Za-z0-9_]*'|[A-Za-z_][A-Za-z0-9_]*|\*\*|[-+*/%(),=<>!]"
)
_SHAPE_SYMBOL = re.compile(r"[a-z]+\d+")


def is_export_archive(path: str | Path) -> bool:
    """Whether ``path`` is a ``torch.export.save`` archive (a zip whose ``archive_format`` reads ``pt2``).

    Example:
        >>> import tempfile, torch
        >>> f = tempfile.mktemp(suffix=".pt"); torch.save({"w": torch.zeros(1)}, f)
        >>> is_export_archive(f)
        False
    """
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name == "archive_format" or name.endswith("/archive_format"):
                return archive.read(name).strip() == b"pt2"
    return False


class ExportedNetwork(nn.Module):
    """The module of an ``ExportedProgram``, as an ``nn.Module`` that accepts ``.eval()``/``.train()``.

    ``ExportedProgram.module()`` raises on ``train``/``eval`` (an exported graph has its training
    mode fixed at export); the Runner calls ``model.eval()``, so this wrapper records the mode and
    leaves the graph alone.
    """

    def __init__(self, program: nn.Module):
        super().__init__()
        self.program = program

    def train(self, mode: bool = True) -> ExportedNetwork:
        self.training = mode  # the graph's behaviour was fixed at export time
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.program(images)


def load_export_archive(path: str | Path) -> nn.Module:
    """Load a ``.pt2`` archive as a network after :func:`check_archive` (refusals: :class:`CheckpointError`).

    The bytes are read once: the checked bytes are the ones loaded.

    Example:
        >>> import tempfile, torch
        >>> net = torch.nn.Linear(3, 2)
        >>> f = tempfile.mktemp(suffix=".pt2")
        >>> torch.export.save(torch.export.export(net, (torch.rand(1, 3),)), f)
        >>> x = torch.rand(1, 3)
        >>> torch.allclose(load_export_archive(f)(x), net(x))
        True
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read torch.export archive {path}: {err}") from None
    check_archive(data, path)
    try:
        program = torch.export.load(io.BytesIO(data))
        network = program.module(check_guards=False)  # guards_code would be compiled to Python otherwise
    except Exception as err:  # torch raises many types for a malformed archive
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"cannot load torch.export archive {path}: {first}") from None
    return ExportedNetwork(network)


def check_archive(data: bytes, path: str | Path = "<archive>") -> None:
    """Refuse a ``.pt2`` archive that ``torch.export.load`` would read by running code (see the module doc).

    Raises :class:`CheckpointError` naming the file, the offending entry and what to do.

    Example:
        >>> import tempfile, torch
        >>> f = tempfile.mktemp(suffix=".pt2")
        >>> torch.export.save(torch.export.export(torch.nn.Linear(3, 2), (torch.rand(1, 3),)), f)
        >>> check_archive(open(f, "rb").read(), f)  # an ordinary export passes
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as err:
        raise CheckpointError(f"{path} is not a torch.export archive (.pt2): {err}") from None
    with archive:
        entries = {_inside(name): name for name in archive.namelist()}
        if "archive_version" not in entries:
            _refuse(path, "it has no archive_version (the torch 2.7 layout, read with pickle)")
        for inner, name in entries.items():
            _check_entry(archive, inner, name, path)


def _inside(name: str) -> str:
    """An entry's name below the archive's root folder (``model/data/weights/w0`` → ``data/weights/w0``)."""
    return name.split("/", 1)[1] if "/" in name else name


def _refuse(path: str | Path, why: str) -> None:
    raise CheckpointError(
        f"refusing torch.export archive {path}: {why}; torch.export.load would run code from the file to read it. "
        "Re-export the network with plain tensors (torch.export.save of torch.export.export(model, ...)), "
        "or save its weights as model.safetensors with a config.json naming 'arch' and 'labels'"
    )


def _check_entry(archive: zipfile.ZipFile, inner: str, name: str, path: str | Path) -> None:
    if inner == "version" or inner.startswith("serialized_"):
        _refuse(path, f"entry {name!r} belongs to the torch 2.7 layout, read with pickle")
    if inner.startswith("data/aotinductor/"):
        _refuse(path, f"entry {name!r} is an AOTInductor package (compiled code)")
    if inner.startswith(("data/weights/", "data/constants/")) and inner.endswith(".pt"):
        _refuse(path, f"entry {name!r} is a pickled legacy payload")
    if inner.endswith(("_weights_config.json", "_constants_config.json")):
        for fqn, payload in _json(archive, name, path).get("config", {}).items():
            pickled_object = str(payload.get("path_name", "")).startswith(("opaque_obj_", "custom_obj_"))
            if payload.get("use_pickle") or pickled_object:
                _refuse(path, f"{fqn!r} in {name!r} is stored as a pickled object")
    if inner.startswith("data/sample_inputs/"):
        try:  # torch retries with weights_only=False when this fails: fail here instead
            torch.load(io.BytesIO(archive.read(name)), weights_only=True)
        except Exception:
            _refuse(path, f"its sample inputs {name!r} are not plain tensors (weights_only=True refused them)")
    if inner.startswith("models/") and inner.endswith(".json"):
        program = _json(archive, name, path)
        if program.get("guards_code"):
            _refuse(path, f"{name!r} carries guards_code (Python source)")
        for key, value in _walk(program):
            if key == "expr_str" and isinstance(value, str):
                _check_expression(value, name, path)
            elif key == "target" and isinstance(value, str) and not value.startswith(ALLOWED_TARGET_PREFIXES):
                _refuse(path, f"a graph node in {name!r} calls {value!r}, not a torch.ops/_operator/math function")


def _json(archive: zipfile.ZipFile, name: str, path: str | Path) -> dict[str, Any]:
    try:
        value = json.loads(archive.read(name))
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"torch.export archive {path}: entry {name!r} is not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"torch.export archive {path}: entry {name!r} is not a JSON object")
    return value


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of nested JSON objects and arrays."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                yield key, child
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def _check_expression(text: str, name: str, path: str | Path) -> None:
    """Allow only numbers, shape symbols, sympy arithmetic and :data:`ALLOWED_SYMPY_NAMES`: sympify evals it."""
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            _refuse(path, f"a shape expression in {name!r} holds {text[position:position + 20]!r}")
            return
        token = match.group()
        word = token.strip("'")
        is_name = word[:1].isalpha() or word[:1] == "_"
        if is_name and word not in ALLOWED_SYMPY_NAMES and not _SHAPE_SYMBOL.fullmatch(word):
            _refuse(path, f"a shape expression in {name!r} names {word!r}")
        position = match.end()
