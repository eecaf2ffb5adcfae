"""Files that are written whole or not at all, carry a checksum, and are moved aside when they fail it.

Three tools the stores share:

- :func:`atomic_write_bytes` / :func:`atomic_path`: write to a temporary file in the same folder,
  ``fsync``, then ``os.replace`` (atomic on POSIX). A full disk or a read-only folder becomes one
  :class:`~robustscope.errors.StorageError` naming the path and the cause, and leaves no temporary file.
- :func:`checksummed_json` / :func:`verified_json`: JSON that carries the sha256 of its own content.
- :func:`quarantine`: move a file that failed its check to ``NAME.corrupt-<UTC time>`` (kept for a
  post-mortem, ignored by every reader) and warn with both paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from robustscope.errors import StorageError, StoreIntegrityWarning

#: The JSON field that holds the sha256 of the rest of the document.
CHECKSUM_FIELD = "content_sha256"
#: Temporary files end with this; readers ignore them and ``PredictionStore.clean`` removes stale ones.
TMP_SUFFIX = ".tmp"
#: What a quarantined file's name gets: ``shard-00001.parquet.corrupt-20250101T120000.123456Z``.
CORRUPT_MARK = ".corrupt-"


class IntegrityFailure(ValueError):
    """Internal: a file's content does not match its checksum (the reason is the message)."""


def host_name() -> str:
    """This machine's name without dots (temporary file names are split on dots)."""
    return socket.gethostname().replace(".", "_") or "host"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "sub" / "a.txt"
        >>> atomic_write_bytes(target, b"hello")
        >>> target.read_bytes(), sorted(p.name for p in target.parent.iterdir())
        (b'hello', ['a.txt'])
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write; on success it replaces ``path`` atomically, on failure it is removed.

    Raises :class:`~robustscope.errors.StorageError` (disk full, read-only, no permission) naming
    ``path``; whatever was at ``path`` before stays as it was.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "b.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    tmp: Path | None = None
    try:
        # The temp name carries host and pid so that clean() can tell a live writer from a dead one.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=f".{path.name}.{host_name()}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=path.parent
        )
        os.close(fd)
        tmp = Path(name)
        yield tmp
        with open(tmp, "rb+") as handle:  # data on disk before the rename makes it visible
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise StorageError.from_os_error(path, err) from err
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def checksummed_json(document: dict[str, Any]) -> bytes:
    """``document`` as indented JSON with a :data:`CHECKSUM_FIELD` over its content.

    Values that are not JSON types are written as strings (``default=str``); the checksum covers
    what is written, so :func:`verified_json` reads back exactly the checked content.

    Example:
        >>> data = checksummed_json({"a": 1})
        >>> verified_json(data)
        {'a': 1}
        >>> verified_json(data.replace(b"1", b"2"))
        Traceback (most recent call last):
        ...
        robustscope.engine.integrity.IntegrityFailure: content does not match its sha256
    """
    content = json.loads(json.dumps({k: v for k, v in document.items() if k != CHECKSUM_FIELD}, default=str))
    content[CHECKSUM_FIELD] = hashlib.sha256(_canonical(content)).hexdigest()
    return json.dumps(content, indent=2, sort_keys=True).encode()


def parse_json_object(data: bytes) -> dict[str, Any]:
    """``data`` parsed as a JSON object; :class:`IntegrityFailure` when it is not one."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IntegrityFailure(f"not valid JSON: {err}") from None
    if not isinstance(document, dict):
        raise IntegrityFailure(f"not a JSON object but a {type(document).__name__}")
    return document


def verify_json_object(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without its checksum field, after checking it; :class:`IntegrityFailure` otherwise."""
    content = dict(document)
    stored = content.pop(CHECKSUM_FIELD, None)
    if not isinstance(stored, str):
        raise IntegrityFailure(f"no {CHECKSUM_FIELD} field")
    if hashlib.sha256(_canonical(content)).hexdigest() != stored:
        raise IntegrityFailure("content does not match its sha256")
    return content


def verified_json(data: bytes) -> dict[str, Any]:
    """The content of a :func:`checksummed_json` document; :class:`IntegrityFailure` when it fails its check."""
    return verify_json_object(parse_json_object(data))


def quarantine(path: Path, reason: str, warn: bool = True) -> Path | None:
    """Move ``path`` aside to ``NAME.corrupt-<UTC time>`` and warn; the new path (None if it was gone).

    Example:
        >>> import tempfile, warnings
        >>> bad = Path(tempfile.mkdtemp()) / "meta.json"
        >>> _ = bad.write_text("{")
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     moved = quarantine(bad, "not valid JSON")
        >>> bad.exists(), moved.name.startswith("meta.json.corrupt-"), "meta.json" in str(caught[0].message)
        (False, True, True)
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}")
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another process moved it first
        return None
    except OSError as err:
        raise StorageError.from_os_error(target, err) from err
    if warn:
        warnings.warn(
            f"{path} failed its integrity check ({reason}); moved aside to {target.name}, to be recomputed",
            StoreIntegrityWarning,
            stacklevel=3,
        )
    return target
