"""Errors robustscope raises on bad input: each names what was wrong and how to fix it."""

from __future__ import annotations

import errno
from typing import ClassVar


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


class CorruptStoreError(StoreVersionError):
    """A stored file that fails its checksum or cannot be parsed (a damaged disk, a flipped byte).

    A damaged prediction shard or meta.json is moved aside and recomputed by the next run; a damaged
    results database is rebuilt from stored predictions by ``robustscope results --rebuild``. It is a
    :class:`StoreVersionError` because callers treat both alike: a file this robustscope cannot use.
    """


class StorageError(RobustscopeError):
    """A file that cannot be written: disk full, read-only file system, no permission.

    Example:
        >>> import errno
        >>> err = StorageError.from_os_error("/ws/results.duckdb", OSError(errno.ENOSPC, "No space left on device"))
        >>> str(err).split(". ")[0]
        'cannot write /ws/results.duckdb: no space left on device'
    """

    #: errno → (cause, what to do); anything else is named by its own message.
    CAUSES: ClassVar[dict[int, tuple[str, str]]] = {
        errno.ENOSPC: ("no space left on device", "free space on that disk, or point --workspace "
                       "(ROBUSTSCOPE_HOME) at another one, and rerun: the work already stored is kept"),
        errno.EDQUOT: ("disk quota exceeded", "free space within your quota, or point --workspace "
                       "(ROBUSTSCOPE_HOME) at another disk, and rerun: the work already stored is kept"),
        errno.EROFS: ("read-only file system", "point --workspace (ROBUSTSCOPE_HOME) at a writable folder"),
        errno.EACCES: ("permission denied", "make the folder writable for this user, or point --workspace "
                       "(ROBUSTSCOPE_HOME) at a writable folder"),
        errno.EPERM: ("operation not permitted", "make the folder writable for this user, or point --workspace "
                      "(ROBUSTSCOPE_HOME) at a writable folder"),
    }

    @classmethod
    def for_cause(cls, path: object, code: int | None, detail: str = "") -> StorageError:
        """The one-line error for a write to ``path`` that failed with errno ``code`` (``detail``: raw message)."""
        raw = detail.strip().splitlines()[0] if detail.strip() else "I/O error"
        cause, fix = cls.CAUSES.get(code or 0, (raw, "check the disk and the folder's permissions, and rerun"))
        return cls(f"cannot write {path}: {cause}. To fix: {fix}.")

    @classmethod
    def from_os_error(cls, path: object, err: OSError) -> StorageError:
        """The one-line error for ``err``, an ``OSError`` raised while writing ``path``."""
        return cls.for_cause(path, err.errno, err.strerror or str(err))


class StoreLockedError(RobustscopeError, TimeoutError):
    """A store another process kept locked for longer than the wait allowed."""


class StoreIntegrityWarning(UserWarning):
    """A stored file failed its check and was moved aside; it is recomputed, never used."""


class CheckpointError(RobustscopeError):
    """A checkpoint that is not plain weights (or cannot be loaded safely)."""


class WeightsUnavailableError(RobustscopeError):
    """Hub-hosted weights that cannot be fetched (offline) and are not cached."""


class FeatureSplitError(RobustscopeError):
    """A model that cannot be split into penultimate features and a final linear head (a compiled format,
    no final ``nn.Linear``, or a split that does not reproduce the model's logits); the message says how to
    get one (``Model.from_module(network, ..., head="fc")``)."""


class SpecError(RobustscopeError):
    """A declarative spec (world, suite, shift) with an invalid field."""


class ShiftSpecError(SpecError, ValueError):
    """A shift spec (``fgsm:eps=1/255``, ``pgd:linf:steps=20``, ``watermark:opacity=0.5``) that cannot be used.

    Also a ``ValueError``, which the shift constructors raised before it existed.

    Example:
        >>> from robustscope.shifts.registry import load_shift
        >>> try:
        ...     load_shift("fgsm:eps=abc")
        ... except ShiftSpecError as err:
        ...     print(err)
        fgsm:eps=abc: eps must be a number or a fraction (e.g. eps=1/255), got 'abc'
    """


class ManifestError(SpecError):
    """A CSV manifest that cannot be read as a table of samples (empty, not UTF-8, ragged, duplicate rows)."""


class OptionError(RobustscopeError, ValueError):
    """An option the call cannot use: out of its range, absent hardware, a dataset of the wrong kind.

    Example:
        >>> from robustscope.engine.options import check_run_options
        >>> try:
        ...     check_run_options(batch_size=0)
        ... except OptionError as err:
        ...     print(err)
        batch_size (--batch-size) must be a positive integer, got 0
    """


class MissingDependencyError(RobustscopeError, ImportError):
    """An optional dependency (a package, a font) is not installed; the message names what to install."""
