"""The record of a robustness axis: everything about it, found from its name.

An axis is one module with one :class:`Axis` record (conventionally named ``AXIS``) and one line in
:mod:`robustscope.suites.registry`. The record carries the axis's name, title, summary and paper, its typed
:class:`Params` dataclass (what a suite file may set under ``params:``), its run function, its headline
columns in the suite table and its documentation page; its report view is registered under the same name
(``robustscope.report``'s ``AXIS_VIEWS``). ``docs/architecture.md`` ("Add an axis") walks through one.

Params are a frozen dataclass whose fields have defaults. A suite's ``params:`` mapping is checked against
it when the suite is loaded, before any forward pass (:meth:`Axis.parse_params`): an unknown key is refused
with the known ones listed, and each value must have its field's type (``int``, ``float``, ``bool``, ``str``,
``tuple[T, ...]`` for lists, ``Literal[...]``, ``Mapping[str, T]``, ``X | None``). A dataclass may check
more in ``__post_init__`` by raising :class:`~robustscope.errors.SpecError`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, Union

from robustscope.errors import SpecError
from robustscope.registry import suggest

if TYPE_CHECKING:
    import pandas as pd

    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

__all__ = ["Axis", "AxisFunction", "Headline", "NoParams", "parse_params"]

P = TypeVar("P")

#: ``run(evaluation, datasets by role, the suite's axis spec, typed params) -> result-row frames``.
AxisFunction = Callable[["Evaluation", "dict[str, Dataset]", "AxisSpec", P], "list[pd.DataFrame]"]


@dataclass(frozen=True)
class NoParams:
    """The params of an axis that takes none.

    Example:
        >>> NoParams()
        NoParams()
    """


@dataclass(frozen=True)
class Headline:
    """One column of the suite's main table: the whole-set value of ``metric`` on rows whose shift is ``shift``.

    ``shift`` is the shift's kind, the part of the row's shift before ``:`` (``none``, ``fgsm``, ``summary``).
    A metric written with a source in brackets (``mean_corruption_top1[imagenet_c]``) matches its base name.
    Where an axis has several datasets the column is their mean (``datasets="mean"``), or the first
    dataset's value (``"first"``: ECE is taken on the ID test set, the first calibration set).

    Example:
        >>> Headline("bg_gap", "none", "BG-gap").label
        'BG-gap'
    """

    metric: str
    shift: str
    label: str
    datasets: Literal["mean", "first"] = "mean"


@dataclass(frozen=True)
class Axis(Generic[P]):
    """Everything about one robustness axis (see the module docstring).

    Attributes:
        name: the axis name in suite files, result rows (``axis`` column) and ``--axis``.
        title: the report section's title and the suite table's column group.
        summary: one line: what the axis measures.
        paper: the paper its protocol follows (authors, title or venue, year).
        params: the frozen dataclass of its suite-file ``params`` (:class:`NoParams` when it takes none).
        run: ``run(evaluation, datasets, spec, params)`` returning result-row frames; ``evaluation`` is an
            :class:`~robustscope.engine.evaluation.Evaluation` already labelled with this axis.
        headlines: its columns in the suite's main table.
        doc: its documentation page, relative to the repository root.

    Example:
        >>> from robustscope.suites.registry import get_axis
        >>> axis = get_axis("calibration")
        >>> axis.title, axis.headlines[0].label, axis.parse_params({"metrics": ["top1", "ece"]}).metrics
        ('Calibration', 'ECE (20 bins)', ('top1', 'ece'))
    """

    name: str
    title: str
    summary: str
    paper: str
    params: type[P]
    run: AxisFunction[P]
    headlines: tuple[Headline, ...] = ()
    doc: str = ""

    def parse_params(self, raw: Mapping[str, Any] | None, where: str = "params") -> P:
        """Typed params from a suite's ``params`` mapping; :class:`SpecError` names the key and what it takes."""
        return parse_params(self.params, raw or {}, where, self.name)

    def default_params(self) -> P:
        """The params when a suite sets none."""
        return self.parse_params({})


class _Mismatch(Exception):
    """A value that does not have a field's type (turned into a :class:`SpecError` with the field's path)."""


def _describe(hint: Any) -> str:
    """A type hint in words, for error messages."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return "anything"
    if hint is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])} values"
        return f"a list of {len(args)} values ({', '.join(_describe(a) for a in args)})"
    if origin in (dict, collections.abc.Mapping) or hint in (dict, Mapping):
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


def _convert(value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` says (lists become tuples, integers may be floats); else :class:`_Mismatch`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        for option in args:
            try:
                return _convert(value, option)
            except _Mismatch:
                continue
    elif hint is type(None):
        if value is None:
            return None
    elif origin is Literal:
        # `True == 1` in Python: compare types too, so `on_the_fly: true` is not read as a literal 1.
        if any(value == a and type(value) is type(a) for a in args):
            return value
    elif origin is tuple:
        if isinstance(value, list | tuple):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_convert(v, args[0]) for v in value)
            if len(value) == len(args):
                return tuple(_convert(v, a) for v, a in zip(value, args, strict=True))
    elif origin in (dict, collections.abc.Mapping) or hint in (dict, Mapping):
        if isinstance(value, Mapping):
            value_hint = args[1] if len(args) == 2 else Any
            return {str(k): _convert(v, value_hint) for k, v in value.items()}
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"params field type {hint!r} is not supported; use one of those the module docstring lists")
    raise _Mismatch(f"expected {_describe(hint)}, got {value!r}")


def parse_params(cls: type[P], raw: Mapping[str, Any], where: str = "params", axis: str = "") -> P:
    """An instance of the params dataclass ``cls`` from a mapping read from YAML, every value type-checked.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Params:
        ...     severities: tuple[int, ...] = (1, 2, 3, 4, 5)
        ...     on_the_fly: Literal["auto", "always", "never"] = "auto"
        >>> parse_params(Params, {"severities": [3]})
        Params(severities=(3,), on_the_fly='auto')
        >>> parse_params(Params, {"severites": [3]}, "corruptions.params", "corruptions")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        robustscope.errors.SpecError: corruptions.params: unknown param 'severites'; did you mean 'severities'? ...
        >>> parse_params(Params, {"on_the_fly": "sometimes"})
        Traceback (most recent call last):
        ...
        robustscope.errors.SpecError: params.on_the_fly: expected one of 'auto', 'always', 'never', got 'sometimes'
    """
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: must be a mapping of param names to values")
    known = sorted(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        hint = suggest(unknown[0], known)
        owner = f"the {axis} axis" if axis else cls.__qualname__
        raise SpecError(
            f"{where}: unknown param {unknown[0]!r}"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
            + f" (known params of {owner}: {', '.join(known) or 'none'})"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        try:
            values[name] = _convert(value, hints[name])
        except _Mismatch as mismatch:
            raise SpecError(f"{where}.{name}: {mismatch}") from None
    try:
        return cls(**values)
    except SpecError as err:
        raise SpecError(f"{where}: {err}") from None
