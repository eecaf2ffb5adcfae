"""Shift specs (``none``, ``corruption:NAME:SEVERITY``, ``pgd:linf:eps=1/255``, ``background_swap:solid``…) by name."""

from __future__ import annotations

import contextlib

from robustscope.errors import MissingDependencyError, ShiftSpecError
from robustscope.registry import Registry
from robustscope.shifts.base import Identity, Shift

SHIFTS: Registry[Shift] = Registry("shift")
SHIFTS.add("none", Identity, summary="no shift: the clean images", example="none")
SHIFTS.add(
    "corruption",
    "robustscope.shifts.corruptions:corruption_shift",
    summary="an ImageNet-C corruption at severity 1-5 (robustscope list corruptions)",
    example="corruption:glass_blur:3",
)
SHIFTS.add(
    "fgsm",
    "robustscope.shifts.attacks:fgsm_shift",
    summary="FGSM L-inf attack (Goodfellow et al. 2015) at budget eps in [0,1] pixels",
    example="fgsm:eps=1/255",
)
SHIFTS.add(
    "pgd",
    "robustscope.shifts.attacks:pgd_shift",
    summary="PGD attack (Madry et al. 2018), linf or l2, seeded random start",
    example="pgd:linf:eps=1/255:steps=20:alpha=2/255",
)
SHIFTS.add(
    "autoattack",
    "robustscope.shifts.attacks:autoattack_shift",
    summary="AutoAttack (Croce & Hein 2020), linf or l2; needs the optional autoattack extra (pyautoattack)",
    example="autoattack:linf:eps=4/255",
)
SHIFTS.add(
    "watermark",
    "robustscope.shifts.overlays:watermark_shift",
    summary="the ImageNet-W watermark overlay (Li et al. 2023); needs a CJK font (pip install imagenet-w)",
    example="watermark",
)
SHIFTS.add(
    "background_swap",
    "robustscope.shifts.overlays:background_swap_shift",
    summary="replace the background outside each object's mask with noise or a solid colour (needs dataset masks)",
    example="background_swap:solid:colour=0.5,0.5,0.5",
)


def load_shift(spec: str | Shift) -> Shift:
    """Build a shift from ``NAME[:ARGS]``; an existing :class:`Shift` passes through.

    The part after the first colon is handed to the shift's factory as one string. A spec that cannot be
    parsed raises :class:`~robustscope.errors.ShiftSpecError` naming the spec and what the shift takes.

    Example:
        >>> load_shift("none").spec()
        'none'
    """
    if isinstance(spec, Shift):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ShiftSpecError(
            f"a shift is a spec string such as 'none' or 'fgsm:eps=1/255' (robustscope list shifts), got {spec!r}"
        )
    name, _, argument = spec.partition(":")
    factory = SHIFTS.get(name)
    if factory is Identity:
        if argument.strip():
            raise ShiftSpecError(f"{spec}: the clean set takes no parameters; write 'none'")
        return Identity()
    return factory(argument)  # "" when the spec is the bare name: every factory then uses its defaults


def check_shift_spec(spec: str | Shift) -> None:
    """Parse ``spec`` as :func:`load_shift` does, raising what it raises for a bad spec.

    A spec that is well formed but needs something not installed here (the watermark's CJK font,
    AutoAttack's package) passes: that is reported, or skipped, where the shift runs.

    Example:
        >>> check_shift_spec("pgd:linf:eps=1/255:steps=20")
        >>> check_shift_spec("pgd:linf:steps=-3")
        Traceback (most recent call last):
        ...
        robustscope.errors.ShiftSpecError: pgd:linf:steps=-3: steps must be >= 0, got -3
    """
    # A missing font or package is no fault of the spec.
    with contextlib.suppress(MissingDependencyError):
        load_shift(spec)
