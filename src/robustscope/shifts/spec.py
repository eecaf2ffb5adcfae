"""The one shift-spec grammar: ``NAME[:positional…][:key=value…]``, one parser, one binder, one writer.

A spec names a registered shift and its parameters: ``none``, ``corruption:fog:3``, ``fgsm:eps=1/255``,
``pgd:linf:eps=1/255:steps=20:alpha=2/255``, ``background_swap:solid:colour=0,0.5,1``. Parts are
separated by ``:``; a part is a bare value (filling the shift's positional parameters in order) or
``key=value``. Within a part, ``,`` also separates ``key=value`` pairs when the next pair starts with
``key=`` (``pgd:alpha=2/255,eps=1/255``, the form older result rows carry), while a value may itself hold
commas (``colour=0,128,255``). Numbers may be fractions (``1/255``).

Each :class:`~robustscope.shifts.base.Shift` declares its parameters once, as a tuple of :class:`Param`
(``PARAMS``; declared in :mod:`robustscope.shifts.params`, re-exported here); :func:`bind_spec` turns a
:class:`ParsedSpec` into the constructor's keyword arguments, with one-line errors that name the spec, and
:func:`write_spec` writes the canonical spec back (positional parameters in order, then every keyword
parameter whose value is not its default).

Example:
    >>> parse_spec("pgd:linf:eps=1/255:steps=20").items
    ((None, 'linf'), ('eps', '1/255'), ('steps', '20'))
    >>> params = (Param("norm", "str", positional=True, default="linf", choices=("linf", "l2")),
    ...           Param("eps", "number", default=8 / 255, range=(0, None)))
    >>> bind_spec(parse_spec("pgd:l2:eps=0.5"), params)
    {'norm': 'l2', 'eps': 0.5}
    >>> write_spec("pgd", params, {"norm": "l2", "eps": 0.5})
    'pgd:l2:eps=0.5'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from robustscope.errors import ShiftSpecError
from robustscope.shifts.params import KINDS, REQUIRED, Param, format_number

_NAME = re.compile(r"[A-Za-z0-9_]+")
# A comma starts a new key=value pair only when a key follows; otherwise it belongs to the value (colours).
_PAIR_BREAK = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*\s*=)")


@dataclass(frozen=True)
class ParsedSpec:
    """A spec split into its name and its parts, in the order written: ``(None, value)`` for a bare value,
    ``(key, value)`` for ``key=value``. Knows nothing of any shift: :func:`bind_spec` checks the parts.

    Example:
        >>> parsed = parse_spec("corruption:fog:3")
        >>> parsed.name, parsed.positional, parsed.keywords
        ('corruption', ('fog', '3'), {})
    """

    text: str
    name: str
    items: tuple[tuple[str | None, str], ...] = ()

    @property
    def positional(self) -> tuple[str, ...]:
        """The bare values, in order."""
        return tuple(value for key, value in self.items if key is None)

    @property
    def keywords(self) -> dict[str, str]:
        """The ``key=value`` parts (a key given twice keeps its last value; :func:`bind_spec` refuses it)."""
        return {key: value for key, value in self.items if key is not None}


def parse_spec(text: str) -> ParsedSpec:
    """Split ``NAME[:positional…][:key=value…]`` into a :class:`ParsedSpec` (syntax only).

    Empty parts are skipped; keys and values are stripped of spaces.

    Example:
        >>> parse_spec("pgd:alpha=2/255,eps=1/255,norm=linf").keywords
        {'alpha': '2/255', 'eps': '1/255', 'norm': 'linf'}
        >>> parse_spec("background_swap:solid:colour=0,128,255").items
        ((None, 'solid'), ('colour', '0,128,255'))
    """
    if not isinstance(text, str) or not text.strip():
        raise ShiftSpecError(
            f"a shift is a spec string such as 'none' or 'fgsm:eps=1/255' (robustscope list shifts), got {text!r}"
        )
    text = text.strip()
    name, _, rest = text.partition(":")
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise ShiftSpecError(f"{text}: a spec starts with a shift name such as 'corruption' or 'pgd', got {name!r}")
    items: list[tuple[str | None, str]] = []
    for part in rest.split(":"):
        for token in _PAIR_BREAK.split(part):
            token = token.strip()
            if not token:
                continue
            key, sep, value = token.partition("=")
            items.append((key.strip(), value.strip()) if sep else (None, token))
    return ParsedSpec(text, name, tuple(items))


def usage(name: str, params: Sequence[Param]) -> str:
    """The spec's shape: ``corruption:NAME:SEVERITY``, ``pgd[:NORM][:eps=...]…``.

    Example:
        >>> usage("fgsm", (Param("eps", "number", positional=True, named=True),))
        'fgsm:eps=...'
    """
    out = name
    for param in params:
        part = ":" + ((param.metavar or param.name.upper()) if param.bare else f"{param.name}=...")
        out += part if param.required else f"[{part}]"
    return out


def bind_spec(parsed: ParsedSpec, params: Sequence[Param], example: str = "") -> dict[str, Any]:
    """The constructor keywords a spec gives (only those it gives: the constructor holds the defaults).

    Bare values fill the positional parameters not given by name, in order; every value is read
    (:meth:`Param.read`) and checked (:meth:`Param.check`). Errors are one :class:`ShiftSpecError` line
    that starts with the spec and names the parameter and the fix; ``example`` (a valid spec) ends the
    message of a missing parameter.

    Example:
        >>> sev = (Param("corruption", positional=True, metavar="NAME"),
        ...        Param("severity", "int", positional=True, range=(1, 5)))
        >>> bind_spec(parse_spec("corruption:fog:3"), sev)
        {'corruption': 'fog', 'severity': 3}
        >>> bind_spec(parse_spec("corruption:fog:9"), sev)
        Traceback (most recent call last):
        ...
        robustscope.errors.ShiftSpecError: corruption:fog:9: give a severity of 1-5, got 9
    """
    where, name = parsed.text, parsed.name
    if not params and parsed.items:
        raise ShiftSpecError(f"{where}: {name} takes no parameters; write {name!r}")
    by_key = {key: p for p in params for key in (p.name, *p.aliases)}
    takes = ", ".join(p.describe() for p in params)
    free = [p for p in params if p.positional]
    given: dict[str, Any] = {}
    for key, text in parsed.items:
        if key is None:
            if not free:
                raise ShiftSpecError(f"{where}: unexpected {text!r}; {name} takes {takes}")
            param = free.pop(0)
        elif key not in by_key:
            raise ShiftSpecError(f"{where}: unknown parameter {key!r}; {name} takes {takes}")
        else:
            param = by_key[key]
        if param.name in given:
            raise ShiftSpecError(f"{where}: {param.name} is given twice")
        free = [p for p in free if p is not param]  # a parameter given by name takes no bare value
        value = param.read(text, where)
        try:
            param.check(value)
        except ShiftSpecError as err:
            raise ShiftSpecError(f"{where}: {err}") from None
        given[param.name] = value
    missing = [p.name for p in params if p.required and p.name not in given]
    if missing:
        hint = f", e.g. {example}" if example else ""
        raise ShiftSpecError(f"{where}: {name} needs {' and '.join(missing)}; write {usage(name, params)}{hint}")
    return {p.keyword: given[p.name] for p in params if p.name in given}


def write_spec(name: str, params: Sequence[Param], values: Mapping[str, Any]) -> str:
    """The canonical spec: positional parameters bare, in order; then ``key=value`` for each other
    parameter that is required or differs from its default. ``values`` maps parameter names to values.

    Example:
        >>> write_spec("corruption", (Param("corruption", positional=True), Param("severity", "int", positional=True)),
        ...            {"corruption": "fog", "severity": 3})
        'corruption:fog:3'
    """
    parts = [name]
    for param in params:
        value = values[param.name]
        if param.bare:
            parts.append(param.write(value))
        elif param.required or value != param.default:
            parts.append(f"{param.name}={param.write(value)}")
    return ":".join(parts)


__all__ = [
    "KINDS",
    "REQUIRED",
    "Param",
    "ParsedSpec",
    "bind_spec",
    "format_number",
    "parse_spec",
    "usage",
    "write_spec",
]
