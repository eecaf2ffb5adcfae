"""What a DuckDB error on the results database means for the user: locked, full, read-only, or corrupt.

DuckDB reports all of these as exceptions whose class says little (a corrupt block is a bare
``duckdb.Error``, a full disk a ``TransactionException`` at ``COMMIT``), so the message decides. Each
becomes one line naming the database and the fix; a corrupt database names
``robustscope results --rebuild``, which rebuilds it from stored predictions after
:func:`set_aside` has moved the damaged file (and its write-ahead log) out of the way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from robustscope.errors import CorruptStoreError, RobustscopeError, StorageError, StoreVersionError

REBUILD_HINT = "run `robustscope results --rebuild` to rebuild it from stored predictions"

# "Could not set lock on file ...: Conflicting lock is held in ...": another process has the file.
# (A bare "lock" would also match the "block" of a corrupt-block message.)
_LOCK = re.compile(r"could not set lock|conflicting lock|being used by another process", re.IGNORECASE)
_STORAGE = (
    ("no space left on device", errno.ENOSPC),
    ("disk quota exceeded", errno.EDQUOT),
    ("read-only file system", errno.EROFS),
    ("permission denied", errno.EACCES),
)
# DuckDB names the storage version when a file comes from an incompatible DuckDB release.
_VERSION = re.compile(r"version number|created with (duckdb|an? (older|newer))|storage version", re.IGNORECASE)


def is_lock_error(err: Exception) -> bool:
    """Whether ``err`` says another process holds the database (worth retrying).

    Example:
        >>> is_lock_error(OSError('IO Error: Could not set lock on file "r.duckdb": Conflicting lock is held'))
        True
        >>> is_lock_error(OSError("Corrupt database file: computed checksum 1 does not match in block at 0"))
        False
    """
    return bool(_LOCK.search(str(err)))


def explain(path: Path, err: Exception) -> RobustscopeError:
    """The one-line error for a DuckDB failure on the results database at ``path``.

    Example:
        >>> print(explain(Path("ws/results.duckdb"), OSError("Corrupt database file: computed checksum 7")))
        ... # doctest: +NORMALIZE_WHITESPACE
        results database ws/results.duckdb is corrupt (Corrupt database file: computed checksum 7); run
        `robustscope results --rebuild` to rebuild it from stored predictions
    """
    text = " ".join(str(err).split())  # one line, whatever DuckDB put in it
    lowered = text.lower()
    for needle, code in _STORAGE:
        if needle in lowered:
            return StorageError.for_cause(path, code, text)
    if _VERSION.search(text):
        return StoreVersionError(
            f"{path} was written by an incompatible DuckDB version ({text}); use that version to export it, "
            f"or {REBUILD_HINT}"
        )
    return CorruptStoreError(f"results database {path} is corrupt ({text}); {REBUILD_HINT}")


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is still open: a failed COMMIT (a full disk) has already ended it.

    Example:
        >>> con = duckdb.connect()
        >>> rollback(con)  # no transaction open: nothing to do, and no "cannot rollback" error
    """
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


@contextlib.contextmanager
def remove_if_not_created(path: Path) -> Iterator[None]:
    """Around creating a new database: if that fails on a full disk or a read-only folder, remove what was left.

    DuckDB creates the file before it writes its headers; the shell a full disk leaves behind would
    read as a corrupt database on the next run. It held nothing, so it (and its log) goes.

    Example:
        >>> import tempfile
        >>> db = Path(tempfile.mkdtemp()) / "results.duckdb"
        >>> try:
        ...     with remove_if_not_created(db):
        ...         _ = db.write_bytes(b"headers half written")
        ...         raise StorageError("cannot write: no space left on device")
        ... except StorageError:
        ...     pass
        >>> db.exists()
        False
    """
    try:
        yield
    except StorageError:
        for leftover in (path, path.with_name(path.name + ".wal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise


def set_aside(path: Path, label: str = "corrupt") -> Path | None:
    """Move a results database (and its write-ahead log) to ``NAME.<label>-<UTC time>``; never deletes.

    Returns the new path of the database file, or None when there was none.

    Example:
        >>> import tempfile
        >>> db = Path(tempfile.mkdtemp()) / "results.duckdb"
        >>> _ = db.write_bytes(b"damaged")
        >>> moved = set_aside(db)
        >>> db.exists(), moved.read_bytes(), moved.name.startswith("results.duckdb.corrupt-")
        (False, b'damaged', True)
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    moved = None
    # The log goes too: replayed into a new database, it would bring back what the old one held.
    for source in (path.with_name(path.name + ".wal"), path):
        if not source.exists():
            continue
        target = source.with_name(f"{source.name}.{label}-{stamp}")
        try:
            os.replace(source, target)
        except OSError as err:
            raise StorageError.from_os_error(target, err) from err
        moved = target if source == path else moved
    return moved
