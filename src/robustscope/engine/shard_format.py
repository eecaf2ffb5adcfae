"""The on-disk layout of one prediction shard: a Parquet table that carries the checksum of its content.

Columns: ``sample_id`` (string), ``label`` (int64), ``logits`` (fixed-size list of float32), and one
``factor.<name>`` string column per factor. Schema metadata: the store format version, the shard's
index and row range, the bad images it skipped, and the sha256 of all of that and of every value
(:func:`shard_digest`). The checksum lives inside the file, so it is written atomically with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from robustscope.engine.fingerprint import STORE_FORMAT_VERSION
from robustscope.engine.integrity import IntegrityFailure

FACTOR_PREFIX = "factor."
# Parquet schema-metadata keys; their presence is what makes a shard "ours".
_MD_FORMAT = b"robustscope.format_version"
_MD_SHARD = b"robustscope.shard"
_MD_BAD = b"robustscope.bad_images"
_MD_CHECKSUM = b"robustscope.content_sha256"
_MD_PREFIX = b"robustscope."


@dataclass
class Shard:
    """One shard read back from disk."""

    index: int
    sample_ids: np.ndarray
    labels: np.ndarray
    logits: np.ndarray
    factors: pd.DataFrame
    bad_images: list[dict[str, str]] = field(default_factory=list)


def _to_str_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _type_tag(kind: pa.DataType) -> bytes:
    # A written fixed_size_list<item: float> reads back as fixed_size_list<element: float>: tag without the name.
    if pa.types.is_fixed_size_list(kind):
        return f"fixed_size_list[{kind.list_size}]<{kind.value_type}>".encode()
    return str(kind).encode()


def shard_digest(table: pa.Table) -> str:
    """sha256 of a shard's content: robustscope's schema metadata (but the checksum), columns and values.

    Computed from the decoded values, so it is the same for the table written and the table read
    back, and a flipped byte anywhere that changes what is read (a logit, an id, a factor, a column
    name, the shard's metadata) changes it.

    Example:
        >>> table = pa.table({"label": pa.array([1, 2], pa.int64())})
        >>> shard_digest(table) == shard_digest(pa.table({"label": pa.array([1, 3], pa.int64())}))
        False
    """
    digest = hashlib.sha256()

    def framed(data: bytes) -> None:  # length-prefixed, so no two different contents hash alike
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)

    metadata = table.schema.metadata or {}
    for key in sorted(k for k in metadata if k.startswith(_MD_PREFIX) and k != _MD_CHECKSUM):
        framed(key)
        framed(metadata[key])
    framed(str(table.num_rows).encode())
    for field_ in table.schema:
        column = table.column(field_.name).combine_chunks()
        framed(field_.name.encode())
        framed(_type_tag(field_.type))
        framed(str(column.null_count).encode())
        if pa.types.is_fixed_size_list(field_.type):
            framed(column.flatten().to_numpy(zero_copy_only=False).astype("<f4").tobytes())
        elif pa.types.is_integer(field_.type):
            framed(column.to_numpy(zero_copy_only=False).astype("<i8").tobytes())
        else:
            framed(json.dumps(column.to_pylist()).encode())
    return digest.hexdigest()


def encode_shard(
    index: int,
    sample_ids: Sequence[str] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    logits: np.ndarray,
    factors: pd.DataFrame | None = None,
    bad_images: Sequence[dict[str, str]] = (),
    row_range: tuple[int, int] | None = None,
) -> pa.Table:
    """Shard ``index`` as an Arrow table whose schema metadata carries its checksum.

    Example:
        >>> table = encode_shard(0, ["a"], [1], np.zeros((1, 2), np.float32))
        >>> decode_shard(table, 0).labels.tolist()
        [1]
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
    metadata = {
        _MD_FORMAT: str(STORE_FORMAT_VERSION).encode(),
        _MD_SHARD: json.dumps(shard_meta).encode(),
        _MD_BAD: json.dumps(list(bad_images)).encode(),
    }
    table = pa.table(columns).replace_schema_metadata(metadata)
    metadata[_MD_CHECKSUM] = shard_digest(table).encode()
    return table.replace_schema_metadata(metadata)


def foreign_format_version(table: pa.Table) -> str | None:
    """The format version of a shard another store format wrote (no checksum, another version), else None."""
    metadata = table.schema.metadata or {}
    version = metadata.get(_MD_FORMAT, b"").decode(errors="replace") or None
    if _MD_CHECKSUM in metadata or version is None or version == str(STORE_FORMAT_VERSION):
        return None
    return version


def decode_shard(table: pa.Table, index: int) -> Shard:
    """Shard ``index`` as arrays, after checking its checksum; :class:`IntegrityFailure` when it fails.

    Example:
        >>> table = encode_shard(3, ["a"], [1], np.zeros((1, 2), np.float32))
        >>> decode_shard(table, 4)
        Traceback (most recent call last):
        ...
        robustscope.engine.integrity.IntegrityFailure: it holds shard 3, not 4
    """
    metadata = table.schema.metadata or {}
    stored = metadata.get(_MD_CHECKSUM, b"").decode(errors="replace")
    if not stored:
        raise IntegrityFailure("no robustscope checksum: not a shard this store wrote")
    if shard_digest(table) != stored:
        raise IntegrityFailure("content does not match its sha256")
    if metadata.get(_MD_FORMAT, b"").decode() != str(STORE_FORMAT_VERSION):
        raise IntegrityFailure(f"format version {metadata.get(_MD_FORMAT)!r}")
    expected = {"sample_id": pa.string(), "label": pa.int64()}
    wrong = [c for c, t in expected.items() if c not in table.column_names or table.schema.field(c).type != t]
    logits_ok = "logits" in table.column_names and pa.types.is_fixed_size_list(table.schema.field("logits").type)
    if wrong or not logits_ok:
        raise IntegrityFailure(f"columns {table.column_names} are not a prediction shard's")
    if json.loads(metadata[_MD_SHARD]).get("index") != index:
        raise IntegrityFailure(f"it holds shard {json.loads(metadata[_MD_SHARD]).get('index')}, not {index}")
    num_classes = table.schema.field("logits").type.list_size
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

