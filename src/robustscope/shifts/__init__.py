"""Shifts: corruptions, attacks, overlays — seeded, versioned functions of [0,1] image batches."""

from robustscope.shifts.base import Identity, Shift, sample_seed

__all__ = ["Identity", "Shift", "sample_seed"]
