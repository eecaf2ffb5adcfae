"""Content-addressed, crash-safe storage of predictions as Parquet shards.

Layout::

    root/<key>/meta.json            format version, model, dataset, shift, seed, shard layout, class names
    root/<key>/shard-00000.parquet  sample_id, label, logits, factor.<name>… (+ skipped bad images in
    root/<key>/shard-00001.parquet  the schema metadata)

Every file is written to a temporary name in the same folder and moved into place with
``os.replace``, which is atomic on POSIX: a killed writer leaves either the complete file or none
(plus, at worst, a temporary file that readers ignore and :meth:`PredictionStore.clean` removes).
Two processes computing the same shard produce the same content, so last-writer-wins is harmless.

Every file carries a checksum of its content, verified on every read: meta.json the sha256 of its
JSON, a shard the sha256 of its sample ids, labels, logits, factors and robustscope metadata (in its
Parquet schema metadata, so it is written atomically with the shard). A file that fails its check, or
cannot be parsed at all, is moved aside (``NAME.corrupt-<time>``, with a warning naming it) and so
counts as missing: the Runner recomputes it, and nothing ever reads it. A corrupt meta.json takes the
key's shards with it, since the shard layout they were cut by is no longer known.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from robustscope.engine.fingerprint import STORE_FORMAT_VERSION
from robustscope.engine.integrity import (
    TMP_SUFFIX,
    IntegrityFailure,
    atomic_path,
    atomic_write_bytes,
    checksummed_json,
    host_name,
    parse_json_object,
    quarantine,
    verify_json_object,
)
from robustscope.engine.predictions import Predictions
from robustscope.engine.shard_format import FACTOR_PREFIX, Shard, decode_shard, encode_shard, foreign_format_version
from robustscope.errors import CorruptStoreError, RobustscopeError, StoreVersionError

__all__ = ["FACTOR_PREFIX", "META_NAME", "PredictionStore", "Shard", "atomic_write_bytes", "shard_ranges"]

META_NAME = "meta.json"
_SHARD_RE = re.compile(r"^shard-(\d{5,})\.parquet$")
_TMP_SUFFIX = TMP_SUFFIX
#: A temporary file older than this is a leftover of a killed writer, whatever its pid says.
STALE_TMP_SECONDS = 3600.0


def shard_name(index: int) -> str:
    """File name of shard ``index`` (``shard-00003.parquet``)."""
    return f"shard-{index:05d}.parquet"


def shard_ranges(num_rows: int, shard_size: int) -> list[tuple[int, int]]:
    """Row ranges ``[start, stop)`` of the shards of a dataset of ``num_rows`` rows.

    Example:
        >>> shard_ranges(5, 2)
        [(0, 2), (2, 4), (4, 5)]
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    return [(start, min(start + shard_size, num_rows)) for start in range(0, num_rows, shard_size)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PredictionStore:
    """Predictions on disk, one folder per prediction key, in atomically written Parquet shards.

    Example:
        >>> import tempfile, numpy as np, pandas as pd
        >>> store = PredictionStore(tempfile.mkdtemp())
        >>> _ = store.write_meta("k1", {"num_shards": 1, "num_rows": 2, "shard_size": 2,
        ...                             "class_names": ["cat", "dog"]})
        >>> _ = store.write_shard("k1", 0, ["a", "b"], np.array([0, 1]),
        ...                       np.zeros((2, 2), np.float32), pd.DataFrame({"pose": ["l", "r"]}))
        >>> store.is_complete("k1"), len(store.load("k1"))
        (True, 2)
    """

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"PredictionStore({str(self.root)!r})"

    # -- paths -------------------------------------------------------------------------------
    def key_dir(self, key: str) -> Path:
        """Folder of one key (``root/<key>``); rejects keys that could escape the root."""
        if not re.fullmatch(r"[0-9A-Za-z_\-]+", key):
            raise ValueError(f"invalid prediction key {key!r}")
        return self.root / key

    def meta_path(self, key: str) -> Path:
        """``root/<key>/meta.json``."""
        return self.key_dir(key) / META_NAME

    def shard_path(self, key: str, index: int) -> Path:
        """``root/<key>/shard-NNNNN.parquet``."""
        return self.key_dir(key) / shard_name(index)

    def keys(self) -> list[str]:
        """Every key with a meta.json under the root."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / META_NAME).is_file())

    # -- meta --------------------------------------------------------------------------------
    def has_meta(self, key: str) -> bool:
        """Whether the key has been planned: its meta.json exists and passes its checksum.

        A corrupt meta.json is moved aside here (with the key's shards, see :meth:`read_meta`), so a
        Runner planning the key writes a new one and recomputes its shards.
        """
        if not self.meta_path(key).is_file():
            return False
        try:
            self.read_meta(key)
        except CorruptStoreError:
            return False
        return True

    def read_meta(self, key: str) -> dict[str, Any]:
        """The key's meta.json, verified against its checksum.

        Raises :class:`StoreVersionError` when another format wrote it, and :class:`CorruptStoreError`
        when it fails its checksum or is not JSON: the file and the key's shards are then moved
        aside, so the next run recomputes the key.
        """
        path = self.meta_path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RobustscopeError(f"no predictions stored under key {key} (missing {path})") from None
        try:
            meta = parse_json_object(data)
            # A format change is reported as such (the checksum then says nothing).
            version = meta.get("format_version")
            if version != STORE_FORMAT_VERSION:
                raise StoreVersionError(
                    f"{path} has prediction-store format version {version!r}, but this robustscope reads "
                    f"version {STORE_FORMAT_VERSION}. Delete {path.parent} to recompute these predictions, or "
                    "use the robustscope version that wrote them."
                )
            return verify_json_object(meta)
        except IntegrityFailure as failure:
            self._quarantine_key(key, f"meta.json: {failure}")
            raise CorruptStoreError(
                f"prediction meta file {path} is corrupt ({failure}); moved aside with its shards: rerun to "
                f"recompute predictions {key}"
            ) from None

    def write_meta(self, key: str, meta: dict[str, Any]) -> dict[str, Any]:
        """Write meta.json atomically unless a valid one exists (the existing one wins and is returned).

        ``format_version`` and ``key`` are filled in; ``num_rows``, ``shard_size``, ``num_shards``
        and ``class_names`` are required.
        """
        if self.has_meta(key):
            return self.read_meta(key)
        missing = [k for k in ("num_rows", "shard_size", "num_shards", "class_names") if k not in meta]
        if missing:
            raise ValueError(f"meta for {key} lacks {missing}")
        data = checksummed_json({"format_version": STORE_FORMAT_VERSION, "key": key, **meta})
        atomic_write_bytes(self.meta_path(key), data)
        return verify_json_object(parse_json_object(data))

    def _quarantine_key(self, key: str, reason: str) -> None:
        """Move a key's meta.json and shards aside: its shard layout can no longer be trusted."""
        folder = self.key_dir(key)
        shards = sorted(p for p in folder.iterdir() if _SHARD_RE.match(p.name))
        quarantine(folder / META_NAME, f"{reason}; its {len(shards)} shard(s) moved aside too")
        for path in shards:
            quarantine(path, reason, warn=False)

    # -- shards ------------------------------------------------------------------------------
    def has_shard(self, key: str, index: int) -> bool:
        """Whether shard ``index`` is on disk (atomic writes: present means complete).

        Its checksum is verified when it is read; one that fails is moved aside then, and from
        then on counts as missing here.
        """
        return self.shard_path(key, index).is_file()

    def missing_shards(self, key: str, num_shards: int | None = None) -> list[int]:
        """Indices of shards not yet on disk (all of them if the key is new)."""
        if num_shards is None:
            num_shards = int(self.read_meta(key)["num_shards"])
        return [i for i in range(num_shards) if not self.has_shard(key, i)]

    def is_complete(self, key: str) -> bool:
        """Whether every shard of the key is on disk (a second run would be a pure cache hit)."""
        return self.has_meta(key) and not self.missing_shards(key)

    def write_shard(
        self,
        key: str,
        index: int,
        sample_ids: Sequence[str] | np.ndarray,
        labels: Sequence[int] | np.ndarray,
        logits: np.ndarray,
        factors: pd.DataFrame | None = None,
        bad_images: Sequence[dict[str, str]] = (),
        row_range: tuple[int, int] | None = None,
    ) -> Path:
        """Write shard ``index`` atomically and return its path.

        ``bad_images`` are ``{"sample_id", "path", "reason"}`` records of skipped files, kept in the
        shard so a resumed run still reports them.
        """
        table = encode_shard(index, sample_ids, labels, logits, factors, bad_images, row_range)
        path = self.shard_path(key, index)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path

    def read_shard(self, key: str, index: int) -> Shard:
        """Read one shard, verified against its checksum.

        Raises :class:`StoreVersionError` when another store format wrote it, and
        :class:`CorruptStoreError` when it fails its checksum or cannot be parsed: the file is then
        moved aside (a warning names it), so it counts as missing and the next run recomputes it.
        """
        path = self.shard_path(key, index)
        try:
            table = pq.read_table(path)
        except FileNotFoundError:
            raise RobustscopeError(f"shard {index} of {key} is missing ({path})") from None
        except PermissionError as err:
            raise RobustscopeError(f"cannot read {path}: {err.strerror}; make the workspace readable") from None
        except Exception as err:  # whatever a damaged file makes the Parquet reader raise
            raise self._corrupt(path, f"unreadable Parquet: {type(err).__name__}: {err}") from None
        version = foreign_format_version(table)
        if version is not None:
            raise StoreVersionError(
                f"{path} is a prediction shard of store format version {version!r}, but this robustscope "
                f"reads version {STORE_FORMAT_VERSION}. Delete {path.parent} to recompute."
            )
        try:
            return decode_shard(table, index)
        except Exception as err:  # a table that passed its check yet does not decode is damaged too
            raise self._corrupt(path, str(err) if isinstance(err, IntegrityFailure) else repr(err)) from None

    @staticmethod
    def _corrupt(path: Path, reason: str) -> CorruptStoreError:
        """Move a shard that failed its check aside; the error that reports it."""
        moved = quarantine(path, reason)
        return CorruptStoreError(
            f"prediction shard {path} is corrupt ({reason}); "
            + (f"moved aside to {moved.name}: " if moved else "")
            + "rerun to recompute it"
        )

    def load(self, key: str) -> Predictions:
        """All shards of ``key`` concatenated in order, after checking completeness and uniqueness.

        Raises :class:`StoreVersionError` for files written by another format, and
        :class:`RobustscopeError` when shards are missing or inconsistent.
        """
        predictions, _ = self.load_with_bad_images(key)
        return predictions

    def load_with_bad_images(self, key: str) -> tuple[Predictions, list[dict[str, str]]]:
        """Like :meth:`load`, also returning the bad-image records of every shard."""
        meta = self.read_meta(key)
        missing = self.missing_shards(key, int(meta["num_shards"]))
        if missing:
            raise RobustscopeError(
                f"predictions {key} are incomplete: shards {missing[:10]} of {meta['num_shards']} missing; "
                "run the Runner again to compute them"
            )
        class_names = list(meta["class_names"])
        shards, corrupt = [], []
        for index in range(int(meta["num_shards"])):
            try:  # check every shard, so that one rerun recomputes all the damaged ones
                shards.append(self.read_shard(key, index))
            except CorruptStoreError as err:
                corrupt.append(str(err))
        if corrupt:
            more = f" (and {len(corrupt) - 1} more corrupt shard(s))" if len(corrupt) > 1 else ""
            raise CorruptStoreError(corrupt[0] + more)
        bad = [record for shard in shards for record in shard.bad_images]
        ranges = shard_ranges(int(meta["num_rows"]), int(meta["shard_size"]))
        if len(ranges) != len(shards):
            raise RobustscopeError(f"{self.meta_path(key)}: num_shards does not match num_rows/shard_size")
        for shard, (start, stop) in zip(shards, ranges, strict=True):
            if len(shard.sample_ids) + len(shard.bad_images) != stop - start:
                raise RobustscopeError(
                    f"shard {shard.index} of {key} holds {len(shard.sample_ids)} rows + {len(shard.bad_images)} "
                    f"skipped, expected {stop - start}; delete {self.shard_path(key, shard.index)} to recompute"
                )
            if shard.logits.shape[1] != len(class_names):
                raise RobustscopeError(f"shard {shard.index} of {key} has {shard.logits.shape[1]} logit columns")
        if shards:
            sample_ids = np.concatenate([s.sample_ids for s in shards])
            logits = np.concatenate([s.logits for s in shards])
            labels = np.concatenate([s.labels for s in shards])
            factors = pd.concat([s.factors for s in shards], ignore_index=True)
        else:
            sample_ids = np.array([], dtype=str)
            logits = np.zeros((0, len(class_names)), dtype=np.float32)
            labels = np.zeros(0, dtype=np.int64)
            factors = pd.DataFrame(index=range(0))
        duplicated = pd.Index(sample_ids).duplicated()
        if duplicated.any():
            raise RobustscopeError(f"predictions {key} repeat sample ids, e.g. {sample_ids[duplicated][:3].tolist()}")
        return Predictions(sample_ids, logits, labels, factors, class_names), bad

    # -- housekeeping ------------------------------------------------------------------------
    def clean(self, key: str | None = None) -> list[Path]:
        """Remove temporary files left by killed writers (under ``key``, or every key); returns them.

        A temporary file is removed when its writer (host + pid in its name) is gone, or when it
        is older than :data:`STALE_TMP_SECONDS`; a live writer's file is left alone.
        """
        if key:
            folders = [self.key_dir(key)]
        else:
            folders = [p for p in self.root.iterdir() if p.is_dir()] if self.root.is_dir() else []
        removed: list[Path] = []
        host = host_name()
        now = time.time()
        for folder in folders:
            if not folder.is_dir():
                continue
            for tmp in folder.glob(f".*{_TMP_SUFFIX}"):
                parts = tmp.name.split(".")
                # .<target name with dots>.<host>.<pid>.<random>.tmp
                pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
                same_host = len(parts) >= 5 and parts[-4] == host
                try:
                    stale = now - tmp.stat().st_mtime > STALE_TMP_SECONDS
                except FileNotFoundError:
                    continue
                if stale or (same_host and pid is not None and not _pid_alive(pid)):
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                        removed.append(tmp)
        return removed
