"""Content hashes of image files, made cheap by a stat index kept in the workspace (like git's index).

A dataset's fingerprint covers the bytes of every image, so overwriting a file in place (even with
one of the same size) changes the cache key. Reading every byte on every run would cost a pass over
the data; instead a small SQLite table remembers, per absolute path, the file's ``(size, mtime_ns,
ctime_ns, inode, device)`` and the blake2b hash of its contents. A file whose stat is unchanged is
not read again; any other file is re-hashed.

**Racy entries.** A file rewritten within the same timestamp tick as it was hashed keeps its stat
(same size and, on a coarse-grained filesystem, the same mtime). As git does ("racy git"), an entry
whose ``max(mtime, ctime)`` is not older than the moment it was hashed by more than
:data:`RACY_WINDOW_NS` is never trusted: it is re-hashed until it is old enough. The window covers
filesystems with 1- or 2-second timestamps; it assumes the filesystem's clock agrees with this
machine's (true for local disks; keep network filesystems' clocks synchronised, as git needs too).

**Sharing and crashes.** Each lookup opens its own connection; SQLite's locking lets several
processes share one index and its journal rolls back a write that a crash interrupted. The index is
only a cache: if it cannot be opened, written, or is corrupt, digests are still computed (a corrupt
file is moved aside and rebuilt), so a fingerprint is never wrong because of it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat as stat_module
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

#: How much newer than its hashing an entry's timestamps may be before the entry is trusted.
RACY_WINDOW_NS = 2_000_000_000
#: Digest of a path that does not exist (or is not a regular file) / cannot be read.
MISSING, UNREADABLE = "missing", "unreadable"
#: Bumped when the table's meaning changes; an index of another version is rebuilt.
SCHEMA_VERSION = 1
_CHUNK_BYTES = 1 << 20
_SQL_CHUNK = 500  # well under SQLite's limit on bound parameters
_CREATE = (
    "CREATE TABLE IF NOT EXISTS entries (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
    "ctime_ns INTEGER, inode INTEGER, device INTEGER, digest TEXT, hashed_ns INTEGER)"
)
_warned: set[str] = set()


def hash_file(path: str | Path) -> str:
    """blake2b (128-bit) of a file's bytes, read in 1 MiB chunks.

    Example:
        >>> import tempfile
        >>> f = tempfile.NamedTemporaryFile(delete=False); _ = f.write(b"abc"); f.close()
        >>> hash_file(f.name) == hashlib.blake2b(b"abc", digest_size=16).hexdigest()
        True
    """
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _stat(path: str) -> os.stat_result:
    return os.stat(path)


@dataclass(frozen=True)
class _Seen:
    """One file as stat saw it, and when (``checked_ns``: this machine's clock just before the stat)."""

    path: str
    signature: tuple[int, int, int, int, int]  # size, mtime_ns, ctime_ns, inode, device
    checked_ns: int


def _signature(info: os.stat_result) -> tuple[int, int, int, int, int]:
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


class ContentIndex:
    """Content digests of files, remembered in a SQLite stat index at ``path`` (``None``: not remembered).

    Args:
        path: the index file (usually :attr:`robustscope.config.Workspace.content_index`); ``None``
            hashes every file on every call.
        racy_window_ns: see the module docstring; 0 trusts any entry with an unchanged stat
            (only safe where timestamps are exact).

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.png").write_bytes(b"pixels")
        >>> index = ContentIndex(folder / "index.sqlite")
        >>> first = index.digests([folder / "a.png", folder / "gone.png"])
        >>> first[1], first == index.digests([folder / "a.png", folder / "gone.png"])
        ('missing', True)
    """

    def __init__(self, path: str | Path | None, racy_window_ns: int = RACY_WINDOW_NS):
        self.path = Path(path) if path is not None else None
        self.racy_window_ns = racy_window_ns

    def __repr__(self) -> str:
        return f"ContentIndex({str(self.path) if self.path else None!r})"

    def digests(self, paths: Sequence[str | Path]) -> list[str]:
        """The content digest of each file, in order (:data:`MISSING` / :data:`UNREADABLE` for those
        that are not readable regular files); unchanged files known to the index are not read."""
        absolute = [os.path.abspath(p) for p in paths]
        seen: dict[str, _Seen] = {}
        result: dict[str, str] = {}
        for path in dict.fromkeys(absolute):
            checked_ns = time.time_ns()  # before the stat: a later write cannot carry an older stamp
            try:
                info = _stat(path)
            except OSError:
                result[path] = MISSING
                continue
            if not stat_module.S_ISREG(info.st_mode):
                result[path] = MISSING
                continue
            seen[path] = _Seen(path, _signature(info), checked_ns)
        known = self._read(list(seen)) if seen else {}
        fresh: list[tuple[_Seen, str]] = []
        for path, entry in seen.items():
            row = known.get(path)
            if row is not None and row[0] == entry.signature and not self._racy(row[0], row[2]):
                result[path] = row[1]
                continue
            try:
                digest = hash_file(path)
                changed_while_read = _signature(_stat(path)) != entry.signature
            except OSError:
                result[path] = UNREADABLE
                continue
            result[path] = digest
            if not changed_while_read:  # a file written during the read may hold a torn mix: not kept
                fresh.append((entry, digest))
        if fresh:
            self._write(fresh)
        return [result[path] for path in absolute]

    def _racy(self, signature: tuple[int, int, int, int, int], hashed_ns: int) -> bool:
        return max(signature[1], signature[2]) + self.racy_window_ns >= hashed_ns

    # -- storage ---------------------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection | None]:
        """A connection to the index, or ``None`` (with a warning, once) where it cannot be used."""
        if self.path is None:
            yield None
            return
        try:
            connection = self._open()
        except sqlite3.DatabaseError as err:
            if not _is_corrupt(err) or not self._move_aside(err):
                self._warn(f"cannot open the content index {self.path} ({err}); hashing every image on every run")
                yield None
                return
            connection = self._open()
        with closing(connection):
            yield connection

    def _open(self) -> sqlite3.Connection:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise sqlite3.OperationalError(str(err)) from None
        connection = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        try:
            if connection.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                connection.execute("BEGIN IMMEDIATE")
                # Checked again under the write lock: another process may have just created it.
                if connection.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    connection.execute("DROP TABLE IF EXISTS entries")
                    connection.execute(_CREATE)
                    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                connection.execute("COMMIT")
        except sqlite3.DatabaseError:
            connection.close()
            raise
        return connection

    def _move_aside(self, err: sqlite3.DatabaseError) -> bool:
        assert self.path is not None
        aside = self.path.with_name(self.path.name + ".corrupt")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:  # another process moved it first
            pass
        except OSError:
            return False
        self._warn(f"the content index {self.path} was corrupt ({err}); moved it to {aside.name} and rebuilt it")
        return True

    def _read(self, paths: list[str]) -> dict[str, tuple[tuple[int, int, int, int, int], str, int]]:
        rows: dict[str, tuple[tuple[int, int, int, int, int], str, int]] = {}
        try:
            with self._connection() as connection:
                if connection is None:
                    return rows
                for start in range(0, len(paths), _SQL_CHUNK):
                    chunk = paths[start : start + _SQL_CHUNK]
                    query = (
                        "SELECT path, size, mtime_ns, ctime_ns, inode, device, digest, hashed_ns FROM entries "
                        f"WHERE path IN ({','.join('?' * len(chunk))})"
                    )
                    for path, size, mtime, ctime, inode, device, digest, hashed in connection.execute(query, chunk):
                        rows[path] = ((size, mtime, ctime, inode, device), digest, hashed)
        except sqlite3.DatabaseError as err:  # locked for too long, or damaged mid-way: hash instead
            self._warn(f"cannot read the content index {self.path} ({err}); hashing the images instead")
            return {}
        return rows

    def _write(self, fresh: list[tuple[_Seen, str]]) -> None:
        records = [(e.path, *e.signature, digest, e.checked_ns) for e, digest in fresh]
        try:
            with self._connection() as connection:
                if connection is None:
                    return
                # One transaction: a crash leaves the index as it was before, never half-written.
                connection.execute("BEGIN IMMEDIATE")
                try:
                    connection.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records)
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
        except sqlite3.DatabaseError as err:  # the digests stay correct; only the caching is lost
            self._warn(f"cannot update the content index {self.path} ({err}); images will be re-hashed next time")

    def _warn(self, message: str) -> None:
        if str(self.path) not in _warned:
            _warned.add(str(self.path))
            warnings.warn(message, stacklevel=4)


def _is_corrupt(err: sqlite3.DatabaseError) -> bool:
    return not isinstance(err, sqlite3.OperationalError) or "malformed" in str(err)


def default_index() -> ContentIndex:
    """The content index of the current workspace (``$ROBUSTSCOPE_HOME``, else ``./.robustscope``).

    Example:
        >>> default_index().path.name
        'content-index.sqlite'
    """
    from robustscope.config import workspace

    return ContentIndex(workspace().content_index)
