"""Shift specs (``none``, and later ``corruption:NAME:SEVERITY``, ``pgd:EPS``…) resolved by name."""

from __future__ import annotations

from robustscope.registry import Registry
from robustscope.shifts.base import Identity, Shift

SHIFTS: Registry[Shift] = Registry("shift")
SHIFTS.add("none", Identity, summary="no shift: the clean images", example="none")


def load_shift(spec: str | Shift) -> Shift:
    """Build a shift from ``NAME[:ARGS]``; an existing :class:`Shift` passes through.

    The part after the first colon is handed to the shift's factory as one string.

    Example:
        >>> load_shift("none").spec()
        'none'
    """
    if isinstance(spec, Shift):
        return spec
    name, sep, argument = spec.partition(":")
    factory = SHIFTS.get(name)
    return factory(argument) if sep else factory()
