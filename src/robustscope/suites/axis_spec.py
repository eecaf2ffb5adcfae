"""One axis of a suite as the suite file writes it: dataset specs by role, shifts, and untyped params.

The record every axis's run function receives (:data:`robustscope.suites.axis.AxisFunction`) and a suite is
made of (:class:`robustscope.suites.spec.SuiteSpec`). It is plain data, below both and below the axis
registry: reading its ``params`` as the axis's typed ``Params`` needs the axis record, so that is
:func:`robustscope.suites.spec.typed_params`'s job, not this record's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AxisSpec"]


@dataclass(frozen=True)
class AxisSpec:
    """One axis of a suite: named dataset specs (roles), shifts and axis parameters.

    ``params`` are kept as the suite file writes them (recipes record them so);
    :func:`~robustscope.suites.spec.typed_params` reads them as the axis's typed ``Params``, which loading a
    suite and running it both do before any work.

    Example:
        >>> AxisSpec("adversarial", {"clean": "synth:{world}:test-id"}, ("none", "fgsm:eps=1/255")).shifts
        ('none', 'fgsm:eps=1/255')
    """

    axis: str
    datasets: dict[str, str]
    shifts: tuple[str, ...] = ("none",)
    params: dict[str, Any] = field(default_factory=dict)
