"""DuckDB: the embedded warehouse of the local stack.

Redshift-dialect SQL is translated with sqlglot. COPY is emulated by reading the manifest's objects
through boto3 (DuckDB cannot load its S3 extension offline). LOCK is emulated with a per-table lock
inside this process: DuckDB lets only one process open a database file for writing, so loaders that
share a file share a process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from thermocline.warehouse.ddl_rules import (
    TableRef,
    ViewInfo,
    is_late_binding,
    parse_roles,
    view_reads,
)
from thermocline.warehouse.emulation import (
    held_locks,
    parse_copy,
    parse_lock,
    read_manifest_files,
    read_parquet,
    translate_query,
    translate_statement,
)
from thermocline.warehouse.errors import (
    BadDataError,
    LoadErrorDetail,
    TerminalLoadError,
    TransientLoadError,
    WarehouseError,
)
from thermocline.warehouse.port import QueryResult, WarehouseBase, log_statement
from thermocline.warehouse.rules import check_batch

_DATA_ERRORS = (duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.InvalidInputException)
_TRANSIENT_ERRORS = (duckdb.TransactionException, duckdb.IOException)


def _classify(exc: duckdb.Error, doing: str) -> WarehouseError:
    if isinstance(exc, _TRANSIENT_ERRORS):
        return TransientLoadError(f"{doing}: {exc}")
    if isinstance(exc, _DATA_ERRORS):
        # A value no column can hold (e.g. invalid JSON for a SUPER column): the loader finds the file.
        return BadDataError(f"{doing}: {exc}", details=[LoadErrorDetail(None, None, None, str(exc))])
    return TerminalLoadError(f"{doing}: {exc}")


class DuckDBWarehouse(WarehouseBase):
    dialect = "duckdb"

    def __init__(self, path: str, *, s3_client: Any = None) -> None:
        self.path = os.path.realpath(path) if path != ":memory:" else path
        self._s3 = s3_client
        try:
            self._conn = duckdb.connect(self.path)
        except duckdb.IOException as exc:
            # Another process holds the file open for writing.
            raise TransientLoadError(f"opening {self.path}: {exc}") from exc
        # Lake timestamps are UTC; so is every TIMESTAMP column.
        self._conn.execute("SET TimeZone = 'UTC'")
        # A checkpoint rewrites every row group a load touched, so checkpointing at each commit would
        # make a load's cost follow the table's size. Loads commit to the write-ahead log instead, and
        # the rewrite happens once the log is large or the database is closed.
        self._conn.execute("SET checkpoint_threshold = '256MB'")

    def execute(self, statements: Sequence[str]) -> None:
        check_batch(statements, self.capabilities)
        conn = self._conn
        with held_locks() as take_lock:
            conn.execute("BEGIN TRANSACTION")
            try:
                for sql in statements:
                    self._run(sql, take_lock)
                conn.execute("COMMIT")
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, duckdb.Error):
                    raise _classify(exc, "load") from exc
                raise

    def _run(self, sql: str, take_lock: Any) -> None:
        log_statement(self.dialect, sql)
        table = parse_lock(sql)
        if table is not None:
            take_lock(self.path, table)
            return
        copy = parse_copy(sql)
        if copy is not None:
            self._copy(*copy)
            return
        statements, _ = translate_statement(sql, self.dialect, self)
        for statement in statements:
            self._conn.execute(statement)

    # --- what Redshift's rules ask of the catalog (warehouse/ddl_rules.py) ----------------------

    def _schema(self, table: TableRef) -> str:
        if table.schema:
            return table.schema
        return str(self._conn.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]

    def key_roles(self, table: TableRef) -> dict[str, str]:
        rows = self._conn.execute(
            "SELECT column_name, comment FROM duckdb_columns() WHERE lower(schema_name) = lower($1) "
            "AND lower(table_name) = lower($2)",
            [self._schema(table), table.name],
        ).fetchall()
        return {str(name).lower(): roles for name, comment in rows if (roles := parse_roles(comment))}

    def views_on(self, table: TableRef) -> list[ViewInfo]:
        """DuckDB binds views by name when they are queried, as Redshift's late-binding views are; the
        views Redshift would bind to the table are those not marked late-binding."""
        found = []
        target = TableRef(self._schema(table), table.name)
        for schema, name, sql, comment in self._conn.execute(
            "SELECT schema_name, view_name, sql, comment FROM duckdb_views() WHERE NOT internal"
        ).fetchall():
            reads, columns = view_reads(str(sql), target, str(schema))
            if reads:
                found.append(ViewInfo(f"{schema}.{name}", not is_late_binding(comment), columns))
        return found

    def _copy(self, table: str, manifest_url: str) -> None:
        columns = self._conn.execute(f"SELECT * FROM {table} LIMIT 0").description  # noqa: S608
        for entry, body in read_manifest_files(self._s3, manifest_url):
            arrow = read_parquet(entry, body, len(columns))
            self._conn.register("thermocline_copy_source", arrow)
            try:
                # Positional, as COPY from Parquet is.
                self._conn.execute(f"INSERT INTO {table} SELECT * FROM thermocline_copy_source")  # noqa: S608
            except _DATA_ERRORS as exc:
                raise BadDataError(
                    "COPY failed", details=[LoadErrorDetail(entry.url, None, None, str(exc))]
                ) from exc
            finally:
                self._conn.unregister("thermocline_copy_source")

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        log_statement(self.dialect, sql)
        try:
            cursor = self._conn.execute(*translate_query(sql, self.dialect, params or {}))
            rows = cursor.fetchall()
        except duckdb.Error as exc:
            raise _classify(exc, "query") from exc
        return QueryResult(columns=[d[0] for d in cursor.description or []], rows=[tuple(r) for r in rows])

    def close(self) -> None:
        self._conn.close()
