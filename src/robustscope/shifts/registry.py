"""Shift specs (``none``, ``corruption:NAME:SEVERITY``, ``pgd:linf:eps=1/255``, ``background_swap:solid``…) by name."""

from __future__ import annotations

import contextlib
from typing import Any

from robustscope.errors import MissingDependencyError
from robustscope.registry import Registry
from robustscope.shifts.base import Identity, Shift
from robustscope.shifts.spec import parse_spec

SHIFTS: Registry[Shift] = Registry("shift")
SHIFTS.add("none", Identity, summary="no shift: the clean images", example="none")
SHIFTS.add(
    "corruption",
    "robustscope.shifts.corruptions:Corruption",
    summary="an ImageNet-C corruption at severity 1-5 (robustscope list corruptions)",
    example="corruption:glass_blur:3",
)
SHIFTS.add(
    "fgsm",
    "robustscope.shifts.attacks:FGSM",
    summary="FGSM L-inf attack (Goodfellow et al. 2015) at budget eps in [0,1] pixels",
    example="fgsm:eps=1/255",
)
SHIFTS.add(
    "pgd",
    "robustscope.shifts.attacks:PGD",
    summary="PGD attack (Madry et al. 2018), linf or l2, seeded random start",
    example="pgd:linf:eps=1/255:steps=20:alpha=2/255",
)
SHIFTS.add(
    "autoattack",
    "robustscope.shifts.autoattack:AutoAttack",
    summary="AutoAttack (Croce & Hein 2020), linf or l2; needs the optional autoattack extra (pyautoattack)",
    example="autoattack:linf:eps=4/255",
)
SHIFTS.add(
    "watermark",
    "robustscope.shifts.watermark:Watermark",
    summary="the ImageNet-W watermark overlay (Li et al. 2023); needs a CJK font (pip install imagenet-w)",
    example="watermark",
)
SHIFTS.add(
    "background_swap",
    "robustscope.shifts.background:BackgroundSwap",
    summary="replace the background outside each object's mask with noise or a solid colour (needs dataset masks)",
    example="background_swap:solid:colour=0.5,0.5,0.5",
)


def load_shift(spec: str | Shift) -> Shift:
    """Build a shift from its spec ``NAME[:positional…][:key=value…]``; an existing :class:`Shift` passes through.

    One grammar for every shift (:mod:`robustscope.shifts.spec`); each shift class declares the parameters
    it reads. A spec that cannot be used raises :class:`~robustscope.errors.ShiftSpecError` naming the spec,
    the parameter and the fix; an unknown name raises :class:`~robustscope.errors.UnknownNameError`.

    Example:
        >>> load_shift("corruption:fog:3").spec()
        'corruption:fog:3'
        >>> load_shift("pgd:alpha=2/255,eps=1/255,norm=linf,random_start=True,steps=20").spec()  # older rows' form
        'pgd:linf:eps=1/255:steps=20:alpha=2/255'
    """
    if isinstance(spec, Shift):
        return spec
    parsed = parse_spec(spec)
    return SHIFTS.get(parsed.name).from_spec(parsed)  # type: ignore[attr-defined]


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


def canonical_spec(spec: str | Shift) -> str:
    """The canonical form of a spec, e.g. to match result rows written before specs had one form.

    Example:
        >>> canonical_spec("corruption:corruption=fog,severity=3")
        'corruption:fog:3'
        >>> canonical_spec("pgd:l2:eps=0.5:steps=3")
        'pgd:l2:eps=0.5:steps=3'
    """
    return load_shift(spec).spec()


def shift_params(spec: str | Shift) -> dict[str, Any]:
    """The parameters of the shift a spec describes, as result rows carry them (:meth:`Shift.params`, JSON-able).

    For a report that reads a row's shift without parsing its text (building the shift may need what
    the shift needs, e.g. the watermark's font).

    Example:
        >>> shift_params("corruption:fog:3")
        {'corruption': 'fog', 'severity': 3}
        >>> shift_params("pgd:linf:eps=1/255:steps=20:alpha=2/255")["eps"]
        '1/255'
    """
    return load_shift(spec).params()


__all__ = ["SHIFTS", "canonical_spec", "check_shift_spec", "load_shift", "shift_params"]
