"""The parameters a shift declares, once each: how a spec gives, reads, checks and writes one.

Each :class:`~robustscope.shifts.base.Shift` lists its parameters as a tuple of :class:`Param` (``PARAMS``);
the spec grammar (:mod:`robustscope.shifts.spec`) binds a spec's parts to them. A :class:`Param` knows the
kind of its value (:data:`KINDS`), its default (:data:`REQUIRED` when a spec must give it), its range or
choices, and how its value is written back so that reading the text gives the same value.

Example:
    >>> eps = Param("eps", "number", default=8 / 255, range=(0, None))
    >>> eps.read("1/255", "fgsm:eps=1/255") == 1 / 255, eps.write(1 / 255)
    (True, '1/255')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from robustscope.errors import ShiftSpecError

__all__ = ["KINDS", "REQUIRED", "Param", "format_number"]

#: The kinds of value a parameter takes (how its text is read and written).
KINDS = ("str", "int", "number", "bool", "rgb", "names")
_WHOLE = re.compile(r"[+-]?[0-9]+")
_TRUE, _FALSE = ("true", "1"), ("false", "0")


class _Required:
    """The default of a parameter that has none: a spec must give it."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def format_number(value: float) -> str:
    """A float as a short fraction when it is one (``1/255``), else ``repr``: how attacks key their budgets.

    Kept exactly as the attacks always wrote it: prediction keys hash this text.

    Example:
        >>> format_number(1 / 255), format_number(0.5), format_number(0.1234567891)
        ('1/255', '1/2', '0.1234567891')
    """
    if not math.isfinite(value):
        return repr(float(value))
    frac = Fraction(value).limit_denominator(10_000)
    if frac.denominator != 1 and abs(float(frac) - value) < 1e-12:
        return f"{frac.numerator}/{frac.denominator}"
    return repr(float(value))


def _write_number(value: float) -> str:
    """A float as a spec writes it: short decimals as they are (``0.5``), others as an exact fraction
    (``8/255``) when one reads back to the very same float, else ``repr`` (exact)."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    if len(text) <= 6 or not math.isfinite(value):
        return text
    frac = Fraction(value).limit_denominator(10_000)
    return f"{frac.numerator}/{frac.denominator}" if float(frac) == value else text


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Param:
    """One parameter a shift takes, declared once: how a spec gives it, reads it, checks it and writes it.

    Args:
        name: the key in a spec (``eps``) and, unless ``arg`` says otherwise, the constructor's keyword.
        kind: ``str``, ``int``, ``number`` (float; fractions such as ``1/255`` allowed), ``bool``
            (``true``/``false``), ``rgb`` (``R,G,B`` in [0,1], or 0-255 when a value exceeds 1) or
            ``names`` (``a+b``, a tuple of strings).
        positional: may be given bare, filling the positional slots in declaration order.
        default: the value when the spec omits it (:data:`REQUIRED`: the spec must give it); equal to
            the constructor's default (a test checks this for every registered shift).
        range: inclusive ``(low, high)`` bounds of an ``int`` or ``number`` (``None``: unbounded).
        choices: the allowed values of a ``str`` (matched case-insensitively) or of each of ``names``.
        arg: the constructor's keyword when it differs from ``name`` (the watermark's ``x`` is ``x_pos``).
        aliases: other keys a spec may use (``color`` for ``colour``).
        named: written as ``key=value`` even though it may be given bare (``fgsm:eps=1/255``).
        metavar: how usage messages show a positional value (``NAME`` for ``corruption:NAME:SEVERITY``).
        example: a typical value, for messages (default: the default's text).

    Example:
        >>> Param("steps", "int", default=10, range=(0, None)).read("20", "pgd:steps=20")
        20
        >>> Param("steps", "int", default=10, range=(0, None)).check(-3)
        Traceback (most recent call last):
        ...
        robustscope.errors.ShiftSpecError: steps must be >= 0, got -3
    """

    name: str
    kind: str = "str"
    positional: bool = False
    default: Any = REQUIRED
    range: tuple[float | None, float | None] | None = None
    choices: tuple[str, ...] | None = None
    arg: str | None = None
    aliases: tuple[str, ...] = ()
    named: bool = False
    metavar: str = ""
    example: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name}: kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def required(self) -> bool:
        """Whether a spec must give this parameter (it has no default)."""
        return self.default is REQUIRED

    @property
    def keyword(self) -> str:
        """The constructor's keyword for this parameter."""
        return self.arg or self.name

    def sample(self) -> str:
        """A value to show in messages (``1/255``, ``20``)."""
        if self.example:
            return self.example
        if self.required or self.default is None:
            return {"int": "1", "number": "1/255", "bool": "true", "rgb": "0.5,0.5,0.5"}.get(self.kind, "...")
        return self.write(self.default)

    @property
    def bare(self) -> bool:
        """Whether the canonical spec writes this parameter as a bare value (positional, not ``named``)."""
        return self.positional and not self.named

    def describe(self) -> str:
        """How usage messages list this parameter: ``NORM (linf or l2)`` or ``eps=...``."""
        if not self.bare:
            return f"{self.name}=..."
        text = self.metavar or self.name.upper()
        return f"{text} ({' or '.join(self.choices)})" if self.choices and self.kind == "str" else text

    # -- reading --------------------------------------------------------------------------------------
    def read(self, text: str, where: str) -> Any:
        """The typed value of ``text``; a :class:`ShiftSpecError` naming ``where`` (the spec) when it is not one."""
        text = text.strip()
        shown = self.sample() if self.bare else f"{self.name}={self.sample()}"
        if self.kind == "number":
            try:
                return float(Fraction(text))
            except (ValueError, ZeroDivisionError, OverflowError):
                raise ShiftSpecError(
                    f"{where}: {self.name} must be a number or a fraction (e.g. {shown}), got {text!r}"
                ) from None
        if self.kind == "int":
            if not (text.isascii() and _WHOLE.fullmatch(text)):
                raise ShiftSpecError(f"{where}: {self.name} must be a whole number (e.g. {shown}), got {text!r}")
            return int(text)
        if self.kind == "bool":
            if text.lower() not in (*_TRUE, *_FALSE):
                raise ShiftSpecError(f"{where}: {self.name} must be true or false, got {text!r}")
            return text.lower() in _TRUE
        if self.kind == "rgb":
            return self._read_rgb(text, where)
        if self.kind == "names":
            return tuple(part.strip() for part in text.split("+") if part.strip())
        return text.lower() if self.choices else text

    def _read_rgb(self, text: str, where: str) -> tuple[float, float, float]:
        """``0,0.5,1`` ([0,1]) or ``0,128,255`` (0-255, when any value exceeds 1); ``[1.0, 1.0, 1.0]`` too."""
        try:
            values = [float(Fraction(v.strip())) for v in text.strip("[]() ").split(",")]
        except (ValueError, ZeroDivisionError, OverflowError):
            values = []
        if len(values) != 3 or any(not v >= 0 for v in values):
            raise ShiftSpecError(
                f"{where}: {self.name} must be R,G,B (e.g. {self.name}=0.5,0.5,0.5 or {self.name}=0,128,255), "
                f"got {text!r}"
            )
        if any(v > 1 for v in values):
            if any(v > 255 for v in values):
                raise ShiftSpecError(f"{where}: {self.name} values must be in [0,1] or 0-255, got {text!r}")
            values = [v / 255 for v in values]
        return (values[0], values[1], values[2])

    # -- checking -------------------------------------------------------------------------------------
    def check(self, value: Any) -> None:
        """Refuse a value outside the declared range or choices (constructors call this too).

        ``None`` passes where it is the default (an optional value left out).
        """
        if value is None and self.default is None:
            return
        if self.kind == "rgb" and (len(value) != 3 or not all(0.0 <= float(c) <= 1.0 for c in value)):
            raise ShiftSpecError(f"{self.name} must be 3 values in [0, 1], got {tuple(value)!r}")
        if self.choices is not None:
            values = value if self.kind == "names" else (value,)
            if self.kind == "names":
                if not values or len(set(values)) != len(values) or any(v not in self.choices for v in values):
                    raise ShiftSpecError(
                        f"{self.name} must be distinct names from {self.choices} joined by '+', got {tuple(values)}"
                    )
            elif value not in self.choices:
                raise ShiftSpecError(f"{self.name} must be {' or '.join(self.choices)}, got {value!r}")
        if self.range is not None and self.kind in ("int", "number"):
            low, high = self.range
            shown = str(value) if self.kind == "int" else format_number(float(value))
            inside = (low is None or value >= low) and (high is None or value <= high)
            if inside and not (self.kind == "number" and math.isnan(value)):
                return
            if low is not None and high is not None:
                if self.kind == "int":
                    raise ShiftSpecError(f"give a {self.name} of {_bound(low)}-{_bound(high)}, got {shown}")
                raise ShiftSpecError(f"{self.name} must lie in [{_bound(low)}, {_bound(high)}], got {shown}")
            if low is not None:
                raise ShiftSpecError(f"{self.name} must be >= {_bound(low)}, got {shown}")
            raise ShiftSpecError(f"{self.name} must be <= {_bound(high)}, got {shown}")  # type: ignore[arg-type]

    # -- writing --------------------------------------------------------------------------------------
    def write(self, value: Any) -> str:
        """The text of ``value`` in a spec (read back by :meth:`read` to an equal value)."""
        if self.kind == "number":
            return _write_number(value)
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "rgb":  # decimals, as colours are usually written (0.5, not 1/2); repr is exact
            return ",".join(str(int(v)) if float(v).is_integer() else repr(float(v)) for v in value)
        if self.kind == "names":
            return "+".join(value)
        return str(value)
