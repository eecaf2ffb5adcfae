"""The ``results`` table's contract: its columns, its schema version and migrations, and rows coerced to it.

:class:`~robustscope.engine.result_store.ResultStore` keeps rows in this table; this module says what a row is
(:data:`RESULT_COLUMNS`, the "Result rows" contract of docs/architecture.md), which columns make its identity,
how a store of an older schema version is upgraded (:data:`MIGRATIONS`), and how incoming rows are checked and
completed (:func:`normalise_rows`, with the :func:`package_versions` every row records).
"""

from __future__ import annotations

import contextlib
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from robustscope.engine.database_health import REBUILD_HINT, rollback
from robustscope.errors import StoreVersionError
from robustscope.registry import suggest

__all__ = [
    "IDENTITY_COLUMNS",
    "MIGRATIONS",
    "OPTIONAL_COLUMNS",
    "RESULT_COLUMNS",
    "SCHEMA_VERSION",
    "check_schema",
    "create_tables",
    "migrate_schema",
    "normalise_rows",
    "package_versions",
]

#: Bump when the ``results`` table changes; a file with another version is migrated (see
#: :data:`MIGRATIONS`) or refused, never misread.
SCHEMA_VERSION = 4

#: The ``results`` table: the "Result rows" contract of docs/architecture.md, in order.
RESULT_COLUMNS: dict[str, str] = {
    "model": "VARCHAR",
    "model_fingerprint": "VARCHAR",
    "dataset": "VARCHAR",
    "dataset_fingerprint": "VARCHAR",
    "shift": "VARCHAR",
    "metric": "VARCHAR",
    "slice_factor": "VARCHAR",
    "slice_value": "VARCHAR",
    "value": "DOUBLE",
    "ci_low": "DOUBLE",
    "ci_high": "DOUBLE",
    "n": "BIGINT",
    "protocol": "VARCHAR",
    "prediction_key": "VARCHAR",
    "versions": "VARCHAR",
    "created_at": "TIMESTAMP",  # naive UTC
    "suite": "VARCHAR",  # '' outside a suite
    "axis": "VARCHAR",  # the suite's robustness axis ('' outside a suite)
    "shift_params": "VARCHAR",  # JSON of Shift.params() ('{}' for clean rows and rows of no one shift)
    "private": "BOOLEAN",  # computed under secure two-party computation (robustscope.private)
    "private_protocol": "VARCHAR",  # JSON of its protocol: precision bits, parties, what was revealed ('{}' if not)
}

#: SQL that upgrades a store of schema version ``v`` to ``v + 1``.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE results ADD COLUMN suite VARCHAR DEFAULT ''",
        "ALTER TABLE results ADD COLUMN axis VARCHAR DEFAULT ''",
    ),
    # Rows written before version 3 keep their shift's spec; their parameters are not recovered from it.
    2: ("ALTER TABLE results ADD COLUMN shift_params VARCHAR DEFAULT '{}'",),
    # Rows written before version 4 were computed in plaintext.
    3: (
        "ALTER TABLE results ADD COLUMN private BOOLEAN DEFAULT FALSE",
        "ALTER TABLE results ADD COLUMN private_protocol VARCHAR DEFAULT '{}'",
    ),
}

#: A row's identity: a new row with the same values replaces the stored one.
IDENTITY_COLUMNS = (
    "model_fingerprint", "dataset_fingerprint", "shift", "metric", "slice_factor", "slice_value", "suite", "axis",
    "private_protocol",
)

#: Columns :meth:`ResultStore.write` fills in when absent.
OPTIONAL_COLUMNS = (
    "ci_low", "ci_high", "versions", "created_at", "suite", "axis", "shift_params", "private", "private_protocol",
)

_STRING_COLUMNS = [c for c, t in RESULT_COLUMNS.items() if t == "VARCHAR"]
_JSON_COLUMNS = ("protocol", "versions", "shift_params", "private_protocol")


def package_versions() -> dict[str, str]:
    """Versions of Python, robustscope and the packages that shape its numbers (the ``versions`` column).

    The one list every result row records (:class:`~robustscope.engine.evaluation.Evaluation`,
    ``results --rebuild`` and rows written without one).

    Example:
        >>> {"python", "numpy", "pandas"} <= set(package_versions())
        True
    """
    import platform
    from importlib import metadata

    versions: dict[str, str] = {"python": platform.python_version()}
    for name in ("robustscope", "torch", "torchvision", "numpy", "pandas", "timm", "open_clip_torch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "{}"
    return json.dumps(value, sort_keys=True, default=str)


def normalise_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce result rows to the table's columns, filling optional ones.

    Raises ``ValueError`` naming unknown or missing columns.

    Example:
        >>> row = dict(model="m", model_fingerprint="f", dataset="d", dataset_fingerprint="g", shift="none",
        ...            metric="top1", slice_factor="", slice_value="", value=1, n=10, protocol={}, prediction_key="k")
        >>> frame = normalise_rows(pd.DataFrame([row]))
        >>> list(frame.columns) == list(RESULT_COLUMNS), float(frame.at[0, "value"]), frame.at[0, "protocol"]
        (True, 1.0, '{}')
    """
    unknown = [c for c in rows.columns if c not in RESULT_COLUMNS]
    if unknown:
        hints = {c: suggest(str(c), RESULT_COLUMNS) for c in unknown}
        detail = ", ".join(f"{c!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for c, h in hints.items())
        raise ValueError(f"result rows have unknown columns {detail}; expected {list(RESULT_COLUMNS)}")
    missing = [c for c in RESULT_COLUMNS if c not in rows.columns and c not in OPTIONAL_COLUMNS]
    if missing:
        raise ValueError(f"result rows lack columns {missing}")
    frame = rows.copy().reset_index(drop=True)
    for column in ("ci_low", "ci_high"):
        if column not in frame.columns:
            frame[column] = np.nan
    if "versions" not in frame.columns:
        frame["versions"] = json.dumps(package_versions(), sort_keys=True)
    if "created_at" not in frame.columns:
        frame["created_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
    if "shift_params" not in frame.columns:
        frame["shift_params"] = "{}"
    if "private" not in frame.columns:
        frame["private"] = False
    if "private_protocol" not in frame.columns:
        frame["private_protocol"] = "{}"
    frame["private"] = frame["private"].fillna(False).astype(bool)
    for column in _JSON_COLUMNS:
        frame[column] = [_json_text(v) for v in frame[column]]
    for column in ("suite", "axis"):
        if column not in frame.columns:
            frame[column] = ""
    for column in ("slice_factor", "slice_value", "suite", "axis"):
        frame[column] = frame[column].where(frame[column].notna(), "")
    for column in _STRING_COLUMNS:
        frame[column] = frame[column].astype(str)
    frame["value"] = pd.to_numeric(frame["value"], errors="raise").astype("float64")
    for column in ("ci_low", "ci_high"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["n"] = pd.to_numeric(frame["n"], errors="raise").astype("int64")
    created = pd.to_datetime(frame["created_at"], utc=True)
    frame["created_at"] = created.dt.tz_localize(None)
    # Within one write the last row of an identity wins, as it would across writes.
    frame = frame.drop_duplicates(list(IDENTITY_COLUMNS), keep="last")
    return frame[list(RESULT_COLUMNS)].reset_index(drop=True)


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``meta`` and ``results`` tables of schema :data:`SCHEMA_VERSION`, in one transaction.

    Example:
        >>> con = duckdb.connect()
        >>> create_tables(con)
        >>> check_schema(con, Path("results.duckdb"), migrate=False)
        True
    """
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        columns = ", ".join(f"{name} {kind}" for name, kind in RESULT_COLUMNS.items())
        con.execute(f"CREATE TABLE IF NOT EXISTS results ({columns})")
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise


def check_schema(con: duckdb.DuckDBPyConnection, path: Path, migrate: bool) -> bool:
    """True when the store is initialised with our schema; raise when it has another one.

    An older schema is migrated when ``migrate`` (a writable connection); otherwise False asks the
    caller to come back with one. ``path`` is the database's file, which the errors name.

    Example:
        >>> check_schema(duckdb.connect(), Path("results.duckdb"), migrate=False)  # no table yet
        False
    """
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if not tables:
        return False
    version = None
    if "meta" in tables:
        found = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = found[0] if found else None
    if version is not None and version.isdigit() and int(version) in MIGRATIONS and "results" in tables:
        if not migrate:
            return False
        version = migrate_schema(con, int(version))
    if version != str(SCHEMA_VERSION):
        raise StoreVersionError(
            f"{path} has result-store schema version {version!r}, but this robustscope reads version "
            f"{SCHEMA_VERSION}. Use the robustscope version that wrote it to export it, "
            f"or {REBUILD_HINT}"
        )
    columns = [row[0] for row in con.execute("DESCRIBE results").fetchall()] if "results" in tables else []
    if columns != list(RESULT_COLUMNS):
        raise StoreVersionError(
            f"{path}: table results has columns {columns}, expected {list(RESULT_COLUMNS)} "
            f"(schema version {SCHEMA_VERSION}); {REBUILD_HINT}"
        )
    return True


def migrate_schema(con: duckdb.DuckDBPyConnection, version: int) -> str:
    """Upgrade a store of schema ``version`` in place, one version at a time, in one transaction.

    Example:
        >>> con = duckdb.connect()
        >>> _ = con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        >>> _ = con.execute("CREATE TABLE results (model VARCHAR)")
        >>> migrate_schema(con, 2), [row[0] for row in con.execute("DESCRIBE results").fetchall()]
        ('4', ['model', 'shift_params', 'private', 'private_protocol'])
    """
    con.execute("BEGIN TRANSACTION")
    try:
        while version < SCHEMA_VERSION:
            for statement in MIGRATIONS[version]:
                con.execute(statement)
            version += 1
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)])
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    return str(version)
