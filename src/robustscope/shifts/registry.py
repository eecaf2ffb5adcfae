"""Shift specs (``none``, ``corruption:NAME:SEVERITY``, ``pgd:linf:eps=1/255``, ``background_swap:solid``…) by name."""

from __future__ import annotations

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
