"""Errors robustscope raises on bad input: each names what was wrong and how to fix it."""

from __future__ import annotations


class RobustscopeError(Exception):
    """Base class of every error robustscope raises on purpose."""


class UnknownNameError(RobustscopeError, KeyError):
    """A model, dataset, metric, shift or suite name that no registry knows.

    Example:
        >>> from robustscope.registry import Registry
        >>> reg = Registry("metric")
        >>> reg.add("top1", lambda: 1, summary="top-1 accuracy")
        >>> try:
        ...     reg.get("tpo1")
        ... except UnknownNameError as err:
        ...     print(err.suggestions)
        ['top1']
    """

    def __init__(self, kind: str, name: str, suggestions: list[str], known: list[str] | None = None):
        self.kind, self.name, self.suggestions = kind, name, suggestions
        message = f"unknown {kind} {name!r}"
        if suggestions:
            message += f"; did you mean {', '.join(repr(s) for s in suggestions)}?"
        elif known:
            shown = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
            message += f"; known: {shown}"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


class BadImageError(RobustscopeError):
    """An image file that cannot be decoded; the message names the file."""

    def __init__(self, path: str, reason: str):
        self.path = path
        super().__init__(
            f"cannot read image {path}: {reason}. Replace or remove the file, "
            "or pass --on-bad-image skip (on_bad_image='skip') to skip and count such files."
        )


class MissingDataError(RobustscopeError):
    """A dataset folder or file that is not where it was expected."""


class LabelSpaceError(RobustscopeError):
    """A dataset label that falls outside the model's label space."""


class NonFiniteLogitsError(RobustscopeError):
    """A model produced NaN or infinite logits."""


class StoreVersionError(RobustscopeError):
    """A store on disk written by another, incompatible robustscope format version."""


class CheckpointError(RobustscopeError):
    """A checkpoint that is not plain weights (or cannot be loaded safely)."""


class WeightsUnavailableError(RobustscopeError):
    """Hub-hosted weights that cannot be fetched (offline) and are not cached."""


class SpecError(RobustscopeError):
    """A declarative spec (world, suite, shift) with an invalid field."""
