"""Shifts: corruptions, attacks, overlays — seeded, versioned functions of [0,1] image batches.

Every shift is written as one spec grammar, ``NAME[:positional…][:key=value…]`` (:mod:`robustscope.shifts.spec`);
each shift class declares its parameters once (``PARAMS``).

Example:
    >>> import torch
    >>> from robustscope.shifts import corrupt, load_shift
    >>> load_shift("corruption:fog:2").spec()
    'corruption:fog:2'
    >>> load_shift("corruption:fog:2").params()
    {'corruption': 'fog', 'severity': 2}
    >>> corrupt(torch.rand(1, 3, 8, 8), "contrast", 3, sample_ids=["a"]).shape
    torch.Size([1, 3, 8, 8])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from robustscope.shifts.base import Identity, Shift, sample_seed
from robustscope.shifts.params import Param
from robustscope.shifts.registry import SHIFTS, canonical_spec, check_shift_spec, load_shift, shift_params
from robustscope.shifts.spec import ParsedSpec, parse_spec

if TYPE_CHECKING:
    from robustscope.shifts.corruptions import corrupt

__all__ = [
    "SHIFTS",
    "Identity",
    "Param",
    "ParsedSpec",
    "Shift",
    "canonical_spec",
    "check_shift_spec",
    "corrupt",
    "load_shift",
    "parse_spec",
    "sample_seed",
    "shift_params",
]


def __getattr__(name: str) -> Any:
    # Lazy: importing the shift base classes should not import every corruption family.
    if name == "corrupt":
        from robustscope.shifts.corruptions import corrupt

        return corrupt
    raise AttributeError(f"module 'robustscope.shifts' has no attribute {name!r}")
