"""A lazy, typed registry of named things with near-miss suggestions.

Entries are registered as ``"module.path:attribute"`` strings, so looking a name up imports
only what that entry needs (timm, open_clip, mitsuba stay unimported until used).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from robustscope.errors import UnknownNameError

T = TypeVar("T")


def suggest(name: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Return up to ``n`` near misses of ``name`` among ``candidates`` (case-insensitive).

    Example:
        >>> suggest("resnt50", ["resnet50", "resnet18", "vit_base"])
        ['resnet50', 'resnet18']
    """
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=cutoff)
    return [lowered[h] for h in hits]


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered name: where its object lives, and a line of help."""

    key: str
    target: str | Callable[..., T]
    summary: str = ""
    example: str = ""

    def load(self) -> Callable[..., T]:
        if not isinstance(self.target, str):
            return self.target
        module_name, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module_name), attribute)


class Registry(Generic[T]):
    """Names to factories, resolved lazily; unknown names raise :class:`UnknownNameError`.

    Example:
        >>> reg: Registry[int] = Registry("thing")
        >>> reg.add("answer", lambda: 42, summary="the answer")
        >>> reg.get("answer")()
        42
        >>> "answer" in reg
        True
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, key: str, target: str | Callable[..., T], summary: str = "", example: str = "") -> None:
        if key in self._entries:
            raise ValueError(f"{self.kind} {key!r} is already registered")
        self._entries[key] = Entry(key, target, summary, example)

    def entry(self, key: str) -> Entry[T]:
        try:
            return self._entries[key]
        except KeyError:
            raise UnknownNameError(self.kind, key, suggest(key, self._entries), sorted(self._entries)) from None

    def get(self, key: str) -> Callable[..., T]:
        return self.entry(key).load()

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[k] for k in self.keys()]


def split_scheme(name: str, kind: str, schemes: Iterable[str]) -> tuple[str, str]:
    """Split ``"scheme:rest"`` and check the scheme; raise with suggestions when it is unknown.

    Example:
        >>> split_scheme("timm:resnet18", "model", ["timm", "tv"])
        ('timm', 'resnet18')
    """
    scheme, sep, rest = name.partition(":")
    known = list(schemes)
    if not sep or scheme not in known:
        raise UnknownNameError(
            f"{kind} scheme", name, [f"{s}:{rest or scheme}" for s in suggest(scheme, known)], known
        )
    return scheme, rest

