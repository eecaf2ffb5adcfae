"""``robustscope serve``: the explorer folder on localhost, with ``/api/query`` answered from the result store.

Read-only: GET and HEAD only; files are served from the explorer folder only (no path outside it, no
directory listings); the database is opened read-only per query and every filter is a bound parameter of
one fixed SQL text (:func:`query_sql`): nothing the client sends becomes SQL. The server binds to 127.0.0.1
unless the caller passes ``allow_remote=True`` (the CLI does when ``--host`` is given explicitly).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from robustscope.errors import OptionError, RobustscopeError

__all__ = ["LOOPBACK_HOSTS", "QUERY_FILTERS", "make_server", "query_results", "query_sql", "serve_explorer"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: The columns a client may filter on (each value list becomes ``column IN (?, ?, …)``).
QUERY_FILTERS = ("model", "dataset", "shift", "metric", "slice_factor", "slice_value", "suite", "axis")
_COLUMNS = ("model", "dataset", "shift", "metric", "slice_factor", "slice_value", "value", "ci_low", "ci_high",
            "n", "suite", "axis")  # fmt: skip
MAX_LIMIT = 5000


def query_sql(filters: Mapping[str, Sequence[str]], limit: int) -> tuple[str, list[Any]]:
    """The SQL text (fixed column names, ``?`` placeholders) and its parameters for ``filters``.

    Unknown filter names are ignored; values only ever travel as parameters.

    Example:
        >>> sql, params = query_sql({"model": ["a'; DROP TABLE results; --"], "nope": ["x"]}, 10)
        >>> "DROP" in sql, params
        (False, ["a'; DROP TABLE results; --", 10])
    """
    clauses, params = [], []
    for name in QUERY_FILTERS:
        values = [str(v) for v in filters.get(name, [])]
        if values:
            clauses.append(f'COALESCE(CAST("{name}" AS VARCHAR), \'\') IN ({", ".join("?" * len(values))})')
            params.extend(values)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    params.append(max(1, min(int(limit), MAX_LIMIT)))
    return f"SELECT {columns} FROM results{where} ORDER BY model, dataset, shift, metric LIMIT ?", params


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def query_results(db: Path, filters: Mapping[str, Sequence[str]], limit: int = 500) -> list[dict[str, Any]]:
    """Rows of the result store at ``db`` matching ``filters``, opened read-only for this one query.

    Example:
        >>> query_results(Path("/nonexistent.duckdb"), {})
        Traceback (most recent call last):
        ...
        robustscope.errors.RobustscopeError: no results at /nonexistent.duckdb; run `robustscope run` first
    """
    import duckdb

    if not Path(db).is_file():
        raise RobustscopeError(f"no results at {db}; run `robustscope run` first")
    sql, params = query_sql(filters, limit)
    with duckdb.connect(str(db), read_only=True) as connection:
        cursor = connection.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [{n: _clean(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


class _Handler(SimpleHTTPRequestHandler):
    """Files of the explorer folder, ``/api/query``, and ``data/server.js`` saying a server is there."""

    db: Path

    def __init__(self, *args: Any, db: Path, **kwargs: Any) -> None:
        self.db = db
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the explorer asks for many thumbnails

    def list_directory(self, path: Any) -> None:
        self.send_error(HTTPStatus.NOT_FOUND, "no directory listings")
        return None

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.endswith("/data/server.js"):
            self._send(HTTPStatus.OK, b"window.RS_SERVER = true;\n", "text/javascript")
            return
        if url.path.endswith("/api/query"):
            query = parse_qs(url.query, keep_blank_values=True)
            try:
                limit = int(query.get("limit", ["500"])[0])
                rows = query_results(self.db, query, limit)
            except (ValueError, RobustscopeError) as err:
                self._send(HTTPStatus.BAD_REQUEST, json.dumps({"error": str(err)}).encode(), "application/json")
                return
            body = json.dumps({"rows": rows}, default=str, allow_nan=False).encode()
            self._send(HTTPStatus.OK, body, "application/json")
            return
        super().do_GET()

    def _refuse(self) -> None:
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "read-only: GET and HEAD only")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse


def make_server(folder: Path, db: Path, host: str = "127.0.0.1", port: int = 8765,
                allow_remote: bool = False) -> ThreadingHTTPServer:  # fmt: skip
    """A server of ``folder`` and ``/api/query`` over ``db``, bound (not started); port 0 picks a free one.

    Example:
        >>> make_server(Path("."), Path("r.duckdb"), host="0.0.0.0")
        Traceback (most recent call last):
        ...
        robustscope.errors.OptionError: refusing to serve on 0.0.0.0 (reachable from other machines); pass \
--host 0.0.0.0 explicitly to allow it, or use 127.0.0.1
    """
    if host not in LOOPBACK_HOSTS and not allow_remote:
        raise OptionError(
            f"refusing to serve on {host} (reachable from other machines); pass --host {host} explicitly to allow "
            "it, or use 127.0.0.1"
        )
    if not (Path(folder) / "index.html").is_file():
        raise RobustscopeError(f"no explorer at {folder}; build it first with `robustscope explore --out {folder}`")
    handler = partial(_Handler, directory=str(Path(folder).resolve()), db=Path(db))
    return ThreadingHTTPServer((host, int(port)), handler)


def serve_explorer(folder: Path, db: Path, host: str = "127.0.0.1", port: int = 8765,
                   allow_remote: bool = False) -> None:  # fmt: skip
    """Serve the explorer folder until interrupted (Ctrl-C).

    Example:
        >>> serve_explorer(Path(".robustscope/reports/explorer"), Path(".robustscope/results.duckdb"))  # doctest: +SKIP
    """
    server = make_server(folder, db, host, port, allow_remote)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
