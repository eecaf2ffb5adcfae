"""Shifts: corruptions, attacks, overlays — seeded, versioned functions of [0,1] image batches.

Example:
    >>> import torch
    >>> from robustscope.shifts import corrupt, load_shift
    >>> load_shift("corruption:fog:2").spec()
    'corruption:corruption=fog,severity=2'
    >>> corrupt(torch.rand(1, 3, 8, 8), "contrast", 3, sample_ids=["a"]).shape
    torch.Size([1, 3, 8, 8])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from robustscope.shifts.base import Identity, Shift, sample_seed
from robustscope.shifts.registry import SHIFTS, check_shift_spec, load_shift

if TYPE_CHECKING:
    from robustscope.shifts.corruptions import corrupt

__all__ = ["SHIFTS", "Identity", "Shift", "check_shift_spec", "corrupt", "load_shift", "sample_seed"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the shift base classes should not import every corruption family.
    if name == "corrupt":
        from robustscope.shifts.corruptions import corrupt

        return corrupt
    raise AttributeError(f"module 'robustscope.shifts' has no attribute {name!r}")
