"""Results in an embedded DuckDB file: one row per model × dataset × shift × metric × slice.

Every operation opens its own connection and closes it, so several processes can share one file:
DuckDB lets one process hold a file at a time, and a process that finds it locked retries
briefly. Writes run in one transaction and replace rows with the same identity, so recomputing a
metric never duplicates it.

Each write records its recipe (:mod:`robustscope.engine.recipes`) beside the database, so a damaged
database is rebuilt from stored predictions (``robustscope results --rebuild``); a damaged file, a full
disk or a read-only folder is one error line (:mod:`robustscope.engine.database_health`).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from robustscope.engine.database_health import explain, is_lock_error, remove_if_not_created, rollback
from robustscope.engine.integrity import atomic_write_bytes
from robustscope.engine.recipes import RecipeBook
from robustscope.engine.result_schema import (
    IDENTITY_COLUMNS,
    RESULT_COLUMNS,
    check_schema,
    create_tables,
    normalise_rows,
)
from robustscope.errors import StorageError, StoreLockedError
from robustscope.registry import suggest

__all__ = ["ResultStore"]

_ORDER = "model, dataset, shift, metric, slice_factor, slice_value"


class ResultStore:
    """Metric results in a DuckDB file (table ``results``; schema version in table ``meta``).

    Args:
        path: the ``.duckdb`` file (created with its folder if missing).
        lock_timeout: seconds to keep retrying while another process holds the file.

    Example:
        >>> import tempfile, pandas as pd
        >>> store = ResultStore(tempfile.mkdtemp() + "/results.duckdb")
        >>> row = dict(model="m", model_fingerprint="f", dataset="d", dataset_fingerprint="g",
        ...            shift="none", metric="top1", slice_factor="", slice_value="", value=0.9,
        ...            n=100, protocol="{}", prediction_key="k")
        >>> store.write(pd.DataFrame([row]))
        1
        >>> store.write(pd.DataFrame([{**row, "value": 0.8}]))  # same identity: replaced
        1
        >>> store.query(metric="top1")["value"].tolist()
        [0.8]
    """

    def __init__(self, path: str | Path, lock_timeout: float = 30.0):
        self.path = Path(path).expanduser()
        self.lock_timeout = lock_timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError.from_os_error(self.path.parent, err) from None
        self._initialise()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    # -- connections ----------------------------------------------------------------------------
    @property
    def recipes(self) -> RecipeBook:
        """How each group of rows was computed (``results.recipes/`` beside ``results.duckdb``)."""
        return RecipeBook(self.path.with_name(self.path.stem + ".recipes"))

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection, retried while another process holds the file's lock.

        A damaged file, a full disk or a read-only folder is one error naming the file and the fix
        (:func:`~robustscope.engine.database_health.explain`); errors in the caller's SQL stay DuckDB's.
        """
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.Error as err:
                if not is_lock_error(err):
                    raise explain(self.path, err) from None
                if time.monotonic() > deadline:
                    raise StoreLockedError(
                        f"{self.path} stayed locked by another process for {self.lock_timeout:.0f} s ({err}); "
                        "wait for it to finish, or stop it"
                    ) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)
        try:
            yield con
        except duckdb.ProgrammingError:  # the SQL itself is wrong (parser, binder, catalog): not the file
            raise
        except duckdb.Error as err:
            raise explain(self.path, err) from None
        finally:
            con.close()

    def _initialise(self) -> None:
        if not self.path.exists():
            with remove_if_not_created(self.path):  # a full disk would leave a shell that reads as corrupt
                self._create_or_migrate()
            return
        # Most opens find an initialised store: check without taking the write lock.
        with self.connect(read_only=True) as con:
            if check_schema(con, self.path, migrate=False):
                return
        self._create_or_migrate()

    def _create_or_migrate(self) -> None:
        with self.connect() as con:
            if check_schema(con, self.path, migrate=True):
                return
            create_tables(con)

    # -- writing --------------------------------------------------------------------------------
    def normalise(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Check and coerce result rows to the table's columns, filling optional ones (:func:`normalise_rows`).

        Raises ``ValueError`` naming unknown or missing columns.
        """
        return normalise_rows(rows)

    def write(self, rows: pd.DataFrame, recipe: dict[str, Any] | None = None) -> int:
        """Insert rows, replacing stored rows with the same identity; returns the number written.

        Identity: :data:`IDENTITY_COLUMNS` (model and dataset fingerprints, shift, metric, slice).
        ``recipe`` says how the rows were computed from stored predictions (see
        :mod:`robustscope.engine.recipes`), so ``robustscope results --rebuild`` can recompute them;
        it is recorded first, and undone if the rows cannot be written.
        """
        frame = self.normalise(rows)
        if frame.empty:
            return 0
        match = " AND ".join(f"r.{c} = i.{c}" for c in IDENTITY_COLUMNS)
        columns = ", ".join(RESULT_COLUMNS)
        with self.recipes.recording(recipe), self.connect() as con:
            con.register("incoming", frame)
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM results r WHERE EXISTS (SELECT 1 FROM incoming i WHERE {match})")
                con.execute(f"INSERT INTO results ({columns}) SELECT {columns} FROM incoming")
                con.execute("COMMIT")
            except BaseException:
                rollback(con)  # the original error, not DuckDB's "cannot rollback", is what went wrong
                raise
            finally:
                con.unregister("incoming")
        return len(frame)

    def delete(self, **equals_filters: Any) -> int:
        """Delete the rows matching every filter (at least one); returns how many were removed."""
        if not equals_filters:
            raise ValueError("delete() needs at least one filter; remove the file to clear the store")
        where, params = self._where(equals_filters)
        with self.connect() as con:
            before = con.execute("SELECT count(*) FROM results").fetchone()[0]
            con.execute(f"DELETE FROM results WHERE {where}", params)
            after = con.execute("SELECT count(*) FROM results").fetchone()[0]
        return int(before - after)

    # -- reading --------------------------------------------------------------------------------
    def query(self, sql: str | None = None, **equals_filters: Any) -> pd.DataFrame:
        """Rows as a DataFrame: all of ``results``, or the result of ``sql``, filtered by equality.

        A filter value that is a list/tuple/set matches any of its items. The connection is
        read-only, so ``sql`` cannot change the store.

        Example:
            >>> # store.query(metric="top1", shift=["none", "gaussian_noise:severity=3"])
            >>> # store.query("SELECT model, avg(value) AS v FROM results GROUP BY model")
        """
        params: list[Any] = []
        if sql is None:
            statement = "SELECT * FROM results"
            if equals_filters:
                where, params = self._where(equals_filters)
                statement += f" WHERE {where}"
            statement += f" ORDER BY {_ORDER}"
        else:
            statement = sql
            if equals_filters:
                where, params = self._where(equals_filters, check=False)
                statement = f"SELECT * FROM ({sql}) AS q WHERE {where}"
        with self.connect(read_only=True) as con:
            return con.execute(statement, params).df()

    def __len__(self) -> int:
        with self.connect(read_only=True) as con:
            return int(con.execute("SELECT count(*) FROM results").fetchone()[0])

    def export(self, path: str | Path, format: str = "csv", **equals_filters: Any) -> Path:
        """Write (filtered) results to ``path`` as ``csv`` or ``json`` (a list of records); atomic.

        Example:
            >>> # store.export("results.json", format="json", metric="ece")
        """
        if format not in ("csv", "json"):
            raise ValueError(f"format must be 'csv' or 'json', got {format!r}")
        frame = self.query(**equals_filters)
        target = Path(path).expanduser()
        if format == "csv":
            data = frame.to_csv(index=False).encode()
        else:
            frame = frame.astype({"created_at": "string"}) if "created_at" in frame else frame
            records = frame.to_dict(orient="records")
            for record in records:
                for column, value in record.items():
                    if isinstance(value, float) and math.isnan(value):
                        record[column] = None  # JSON has no NaN
                    elif value is pd.NA:
                        record[column] = None
            data = json.dumps(records, indent=2, default=str).encode()
        atomic_write_bytes(target, data)
        return target

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _where(filters: dict[str, Any], check: bool = True) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in filters.items():
            quoted = '"' + column.replace('"', '""') + '"'
            if check and column not in RESULT_COLUMNS:
                near = suggest(column, RESULT_COLUMNS)
                raise ValueError(f"unknown result column {column!r}" + (f"; did you mean {near[0]!r}?" if near else ""))
            if isinstance(value, (list, tuple, set, frozenset)):
                items = list(value)
                if not items:
                    clauses.append("FALSE")
                    continue
                clauses.append(f"{quoted} IN ({', '.join('?' for _ in items)})")
                params.extend(items)
            else:
                clauses.append(f"{quoted} = ?")
                params.append(value)
        return " AND ".join(clauses), params
