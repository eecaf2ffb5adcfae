"""Content-addressed, crash-safe storage of predictions as Parquet shards.

Layout::

    root/<key>/meta.json            format version, model, dataset, shift, seed, shard layout, class names
    root/<key>/shard-00000.parquet  sample_id, label, logits, factor.<name>… (+ skipped bad images in
    root/<key>/shard-00001.parquet  the schema metadata)

Every file is written to a temporary name in the same folder and moved into place with
``os.replace``, which is atomic on POSIX: a killed writer leaves either the complete file or none
(plus, at worst, a temporary file that readers ignore and :meth:`PredictionStore.clean` removes).
Two processes computing the same shard produce the same content, so last-writer-wins is harmless.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from robustscope.engine.fingerprint import STORE_FORMAT_VERSION
from robustscope.engine.predictions import Predictions
from robustscope.errors import RobustscopeError, StoreVersionError

META_NAME = "meta.json"
FACTOR_PREFIX = "factor."
_SHARD_RE = re.compile(r"^shard-(\d{5,})\.parquet$")
_TMP_SUFFIX = ".tmp"
# Parquet schema-metadata keys; their presence is what makes a shard "ours".
_MD_FORMAT = b"robustscope.format_version"
_MD_SHARD = b"robustscope.shard"
_MD_BAD = b"robustscope.bad_images"
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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    with _atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    # The temp name carries host and pid so that clean() can tell a live writer from a dead one.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{_host()}.{os.getpid()}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:  # data on disk before the rename makes it visible
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _host() -> str:
    # Dots would break the parsing of temp names in clean().
    return socket.gethostname().replace(".", "_") or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _to_str_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    return str(value)


@dataclass
class Shard:
    """One shard read back from disk."""

    index: int
    sample_ids: np.ndarray
    labels: np.ndarray
    logits: np.ndarray
    factors: pd.DataFrame
    bad_images: list[dict[str, str]] = field(default_factory=list)


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
        """Whether the key has been planned (its meta.json exists)."""
        return self.meta_path(key).is_file()

    def read_meta(self, key: str) -> dict[str, Any]:
        """The key's meta.json; raises :class:`StoreVersionError` when another format wrote it."""
        path = self.meta_path(key)
        try:
            meta = json.loads(path.read_text())
        except FileNotFoundError:
            raise RobustscopeError(f"no predictions stored under key {key} (missing {path})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise StoreVersionError(
                f"{path} is not a robustscope prediction meta file ({err}); delete {path.parent} to recompute"
            ) from None
        version = meta.get("format_version") if isinstance(meta, dict) else None
        if version != STORE_FORMAT_VERSION:
            raise StoreVersionError(
                f"{path} has prediction-store format version {version!r}, but this robustscope reads "
                f"version {STORE_FORMAT_VERSION}. Delete {path.parent} to recompute these predictions, or use "
                "the robustscope version that wrote them."
            )
        return meta

    def write_meta(self, key: str, meta: dict[str, Any]) -> dict[str, Any]:
        """Write meta.json atomically unless one exists (the existing one wins and is returned).

        ``format_version`` and ``key`` are filled in; ``num_rows``, ``shard_size``, ``num_shards``
        and ``class_names`` are required.
        """
        if self.has_meta(key):
            return self.read_meta(key)
        missing = [k for k in ("num_rows", "shard_size", "num_shards", "class_names") if k not in meta]
        if missing:
            raise ValueError(f"meta for {key} lacks {missing}")
        full = {"format_version": STORE_FORMAT_VERSION, "key": key, **meta}
        atomic_write_bytes(self.meta_path(key), json.dumps(full, indent=2, sort_keys=True, default=str).encode())
        return full

    # -- shards ------------------------------------------------------------------------------
    def has_shard(self, key: str, index: int) -> bool:
        """Whether shard ``index`` is on disk (atomic writes: present means complete)."""
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
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        n = len(sample_ids)
        if logits.ndim != 2 or logits.shape[0] != n or len(labels) != n:
            raise ValueError(f"shard {index}: {n} ids, {len(labels)} labels, logits {logits.shape}")
        num_classes = logits.shape[1]
        columns: dict[str, pa.Array] = {
            "sample_id": pa.array([str(s) for s in sample_ids], type=pa.string()),
            "label": pa.array(np.asarray(labels, dtype=np.int64), type=pa.int64()),
            "logits": pa.FixedSizeListArray.from_arrays(pa.array(logits.reshape(-1), type=pa.float32()), num_classes),
        }
        if factors is not None:
            if len(factors) != n:
                raise ValueError(f"shard {index}: factors have {len(factors)} rows, expected {n}")
            for name in factors.columns:
                values = [_to_str_or_none(v) for v in factors[name].tolist()]
                columns[FACTOR_PREFIX + str(name)] = pa.array(values, type=pa.string())
        shard_meta = {"index": index, "rows": n, "row_range": list(row_range) if row_range else None}
        table = pa.table(columns).replace_schema_metadata(
            {
                _MD_FORMAT: str(STORE_FORMAT_VERSION).encode(),
                _MD_SHARD: json.dumps(shard_meta).encode(),
                _MD_BAD: json.dumps(list(bad_images)).encode(),
            }
        )
        path = self.shard_path(key, index)
        with _atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path

    def read_shard(self, key: str, index: int) -> Shard:
        """Read one shard, checking that robustscope's current format wrote it."""
        path = self.shard_path(key, index)
        try:
            table = pq.read_table(path)
        except FileNotFoundError:
            raise RobustscopeError(f"shard {index} of {key} is missing ({path})") from None
        except (pa.ArrowException, OSError) as err:
            raise StoreVersionError(
                f"{path} is not a readable Parquet shard ({err}); delete it to recompute that shard"
            ) from None
        metadata = table.schema.metadata or {}
        version = metadata.get(_MD_FORMAT, b"").decode() or None
        expected = {"sample_id": pa.string(), "label": pa.int64()}
        wrong = [c for c, t in expected.items() if c not in table.column_names or table.schema.field(c).type != t]
        logits_ok = "logits" in table.column_names and pa.types.is_fixed_size_list(table.schema.field("logits").type)
        if version != str(STORE_FORMAT_VERSION) or wrong or not logits_ok:
            raise StoreVersionError(
                f"{path} is not a prediction shard of store format version {STORE_FORMAT_VERSION} "
                f"(format version {version!r}, columns {table.column_names}). Delete {path.parent} to recompute."
            )
        logits_type = table.schema.field("logits").type
        num_classes = logits_type.list_size
        logits_col = table.column("logits").combine_chunks()
        logits = logits_col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        factor_cols = [c for c in table.column_names if c.startswith(FACTOR_PREFIX)]
        factors = pd.DataFrame(
            {c[len(FACTOR_PREFIX) :]: table.column(c).to_pylist() for c in factor_cols}, index=range(table.num_rows)
        )
        return Shard(
            index=index,
            sample_ids=np.asarray(table.column("sample_id").to_pylist(), dtype=object).astype(str),
            labels=table.column("label").to_numpy().astype(np.int64),
            logits=logits.reshape(table.num_rows, num_classes),
            factors=factors,
            bad_images=json.loads(metadata.get(_MD_BAD, b"[]")),
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
        shards = [self.read_shard(key, i) for i in range(int(meta["num_shards"]))]
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
        host = _host()
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
