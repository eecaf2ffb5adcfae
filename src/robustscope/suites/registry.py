"""The robustness axes a suite can name: one line per axis, resolved lazily to the axis's record.

Each axis lives in one module of this package with one :class:`~robustscope.suites.axis.Axis` record named
``AXIS`` (name, title, summary, paper, typed params, run function, headlines, doc page); the line below maps
its name to ``"module:AXIS"``. Looking an axis up imports its module only then, so importing this registry
(and loading a suite) imports no model code. The order of the lines is the order of the suite table's
columns and of the report's sections (the seed benchmark's order, then the failure-analysis axes).

Example:
    >>> "shape_bias" in axis_names(), get_axis("ood").summary[:5]
    (True, 'AUROC')
"""

from __future__ import annotations

from typing import Any, cast

from robustscope.errors import RobustscopeError
from robustscope.registry import Registry
from robustscope.suites.axis import Axis

#: Axis name → its record (``"module:AXIS"``, imported when first looked up).
AXIS_RECORDS: Registry[Axis[Any]] = Registry("axis")
_ORDER: list[str] = []


def register_axis(name: str, target: str | Axis[Any]) -> None:
    """Register the axis record ``target`` (``"package.module:AXIS"``, or the record itself) under ``name``.

    Example:
        >>> register_axis("ood", "robustscope.suites.ood:AXIS")
        Traceback (most recent call last):
        ...
        ValueError: axis 'ood' is already registered
    """
    AXIS_RECORDS.add(name, target)  # type: ignore[arg-type]  # a record is its own (already loaded) target
    _ORDER.append(name)


for _name in (
    "shape_bias",
    "context_bias",
    "background_bias",
    "calibration",
    "ood",
    "corruptions",
    "adversarial",
    "imagenet_x",
    "geography",
    "shortcuts",
    "pug",
    "representation",
    "disentanglement",
    "worst_case",
):
    register_axis(_name, f"robustscope.suites.{_name}:AXIS")


def axis_names() -> list[str]:
    """Every registered axis, in registration order (the suite table's column order).

    Example:
        >>> axis_names()[:3]
        ['shape_bias', 'context_bias', 'background_bias']
    """
    return list(_ORDER)


def get_axis(name: str) -> Axis[Any]:
    """The record of axis ``name`` (importing its module); an unknown name raises with near misses.

    Example:
        >>> get_axis("adversarial").title
        'Adversarial robustness'
    """
    entry = AXIS_RECORDS.entry(name)
    record: object = entry.load()
    if not isinstance(record, Axis) or record.name != name:
        raise RobustscopeError(
            f"axis {name!r} is registered as {entry.target!r}, which is not the Axis record of {name!r}; "
            "point the registration at the module's AXIS"
        )
    return cast(Axis[Any], record)
