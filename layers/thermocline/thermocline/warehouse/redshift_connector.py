"""Amazon Redshift over ``redshift_connector``: direct connections (VPC deployments, the CLI).

The SQL goes to Redshift as written: COPY, LOCK, MERGE and JSON_PARSE run natively, inside one explicit
transaction per ``execute``. When a COPY fails, the transaction is rolled back and
``sys_load_error_detail`` is read for ``pg_last_copy_id()`` so the error names file, line, column and
reason.

``?dialect=postgres`` points the same driver at PostgreSQL (the test suite does, through a wire-level
shim): statements are then translated and COPY and LOCK emulated, as in the PostgreSQL engine.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redshift_connector

from thermocline.observability import logger
from thermocline.warehouse.emulation import (
    arrow_rows,
    parse_copy,
    parse_lock,
    postgres_lock_sql,
    read_manifest_files,
    read_parquet,
    translate,
    translate_query,
)
from thermocline.warehouse.errors import (
    BadDataError,
    LoadErrorDetail,
    TerminalLoadError,
    TransientLoadError,
    WarehouseError,
    load_error_details,
)
from thermocline.warehouse.port import QueryResult, WarehouseBase, log_statement
from thermocline.warehouse.redshift_errors import (
    details_from_text,
    kind_of,
    load_error_detail_sql,
    load_errors_by_session_sql,
    session_params,
)

# SQLSTATE classes and codes that succeed on retry: connection trouble, serialization failures and
# deadlocks, lock timeouts, resource shortage, operator intervention, and catalog races on CREATE.
_TRANSIENT_STATES = ("08", "40", "53", "57", "55P03", "23505")
_DATA_STATES = ("22",)
_OUTSIDE_TRANSACTION = re.compile(r"^\s*ALTER\s+TABLE\s+.+\s+ALTER\s+COLUMN\s+.+\s+TYPE\s", re.I | re.S)


def _sqlstate(exc: Exception) -> tuple[str, str]:
    info = exc.args[0] if exc.args else None
    if isinstance(info, dict):
        return str(info.get("C", "")), str(info.get("M", ""))
    return "", str(exc)


def classify(exc: Exception, doing: str) -> WarehouseError:
    """By SQLSTATE first; Redshift reports many errors (JSON parsing among them) as XX000, so the text
    decides those (``redshift_errors.kind_of``)."""
    state, message = _sqlstate(exc)
    if isinstance(exc, redshift_connector.InterfaceError) or isinstance(exc, OSError):
        return TransientLoadError(f"{doing}: {message or exc}")
    if state.startswith(_TRANSIENT_STATES):
        return TransientLoadError(f"{doing}: {state} {message}")
    kind = "data" if state.startswith(_DATA_STATES) else kind_of(message)
    if kind == "data":
        return BadDataError(f"{doing}: {state} {message}", details=details_from_text(message))
    if kind == "transient":
        return TransientLoadError(f"{doing}: {state} {message}")
    return TerminalLoadError(f"{doing}: {state} {message}")


class RedshiftConnectorWarehouse(WarehouseBase):
    def __init__(
        self,
        connect_kwargs: dict[str, Any],
        *,
        target_dialect: str = "redshift",
        s3_client: Any = None,
    ) -> None:
        if target_dialect not in {"redshift", "postgres"}:
            raise ValueError(f"dialect must be redshift or postgres, not {target_dialect!r}")
        self.dialect = target_dialect
        self._s3 = s3_client
        try:
            self._conn = redshift_connector.connect(**connect_kwargs)
        except (redshift_connector.InterfaceError, redshift_connector.OperationalError, OSError) as exc:
            raise TransientLoadError(f"connecting to Redshift: {exc}") from exc
        self._conn.autocommit = False
        if self.dialect == "postgres":
            self._simple("SET TIME ZONE 'UTC'")
            self._conn.commit()

    @classmethod
    def from_url(cls, url: str, *, s3_client: Any = None) -> RedshiftConnectorWarehouse:
        """``redshift://user[:password]@host:port/db`` with optional ``?iam=1&cluster_identifier=...``,
        ``ssl=0``, ``dialect=postgres``. Without a password in the URL, ``REDSHIFT_PASSWORD`` is used."""
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        kwargs: dict[str, Any] = {
            "host": parts.hostname,
            "port": parts.port or 5439,
            "database": unquote(parts.path.lstrip("/")) or "dev",
            "user": unquote(parts.username or ""),
        }
        if query.pop("iam", "").lower() in {"1", "true", "yes"}:
            kwargs.update(iam=True, db_user=kwargs["user"])
            for key in ("cluster_identifier", "region", "serverless_work_group"):
                if key in query:
                    kwargs[key] = query.pop(key)
            if "serverless_work_group" in kwargs:
                kwargs["is_serverless"] = True
        else:
            kwargs["password"] = unquote(parts.password or "") or os.environ.get("REDSHIFT_PASSWORD", "")
        if query.pop("ssl", "1").lower() in {"0", "false", "no"}:
            kwargs["ssl"] = False
        dialect = query.pop("dialect", "redshift")
        return cls(kwargs, target_dialect=dialect, s3_client=s3_client)

    def _simple(self, sql: str) -> Any:
        cursor = self._conn.cursor()
        cursor.execute(sql)
        return cursor

    def execute(self, statements: Sequence[str]) -> None:
        if len(statements) == 1 and _OUTSIDE_TRANSACTION.match(statements[0]):
            self._autocommitted(statements[0])
            return
        current = ""
        copy_session: tuple[int, int, dt.datetime] | None = None
        try:
            cursor = self._conn.cursor()
            for sql in statements:
                current = sql
                log_statement(self.dialect, sql)
                if self.dialect == "redshift" and parse_copy(sql) is not None:
                    # What a failed COPY's load errors are linked to: this session's process id and the
                    # time (sys_load_error_detail.session_id, start_time), and pg_last_copy_id() before.
                    cursor.execute("SELECT pg_last_copy_id(), pg_backend_pid(), GETDATE()")
                    before, pid, now = cursor.fetchone()
                    copy_session = (int(before), int(pid), now)
                self._run(cursor, sql)
            self._conn.commit()
        except WarehouseError:
            self._rollback()
            raise
        except Exception as exc:
            if not isinstance(exc, redshift_connector.Error | OSError):
                self._rollback()
                raise
            copy_id = self._last_copy_id() if copy_session is not None else None
            self._rollback()
            error = classify(exc, "load")
            if copy_session is not None and parse_copy(current) is not None:
                details = self._load_errors(copy_session, copy_id)
                if details:
                    raise BadDataError(f"COPY failed: {exc}", details=details) from exc
            raise error from exc

    def _autocommitted(self, sql: str) -> None:
        """One statement Redshift refuses inside a transaction block (ALTER COLUMN ... TYPE,
        https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html). With autocommit off the driver
        would open a transaction first, so it runs with autocommit on."""
        log_statement(self.dialect, sql)
        self._conn.rollback()
        self._conn.autocommit = True
        try:
            self._conn.cursor().execute(sql if self.dialect == "redshift" else translate(sql, self.dialect))
        except (redshift_connector.Error, OSError) as exc:
            raise classify(exc, "load") from exc
        finally:
            self._conn.autocommit = False

    def _last_copy_id(self) -> int | None:
        """``pg_last_copy_id()`` read before the rollback: a rolled-back COPY transaction does not update it
        (https://docs.aws.amazon.com/redshift/latest/dg/PG_LAST_COPY_ID.html). Where the failed
        transaction refuses further statements, the lookup goes by session and time instead."""
        try:
            row = self._simple("SELECT pg_last_copy_id()").fetchone()
            return int(row[0]) if row else None
        except (redshift_connector.Error, OSError, TypeError, ValueError):
            return None

    def _rollback(self) -> None:
        try:
            self._conn.rollback()
        except (redshift_connector.Error, OSError) as exc:
            logger.warning("rollback failed", error=str(exc))

    def _run(self, cursor: Any, sql: str) -> None:
        if self.dialect == "redshift":
            cursor.execute(sql)
            return
        table = parse_lock(sql)
        if table is not None:
            cursor.execute(postgres_lock_sql(table))
            return
        copy = parse_copy(sql)
        if copy is not None:
            self._emulate_copy(cursor, *copy)
            return
        cursor.execute(translate(sql, self.dialect))

    def _emulate_copy(self, cursor: Any, table: str, manifest_url: str) -> None:
        cursor.execute(f"SELECT * FROM {table} LIMIT 0")  # noqa: S608
        width = len(cursor.description or [])
        for entry, body in read_manifest_files(self._s3, manifest_url):
            arrow = read_parquet(entry, body, width)
            # The driver sends bytes as Redshift's VARBYTE hex text, which PostgreSQL would store as
            # those ASCII characters; bytea's own text form ('\\x' + hex) keeps the bytes.
            rows = [[("\\x" + v.hex()) if isinstance(v, bytes) else v for v in r] for r in arrow_rows(arrow)]
            if not rows:
                continue
            placeholders = ", ".join(["%s"] * width)
            try:
                cursor.executemany(f"INSERT INTO {table} VALUES ({placeholders})", rows)  # noqa: S608
            except redshift_connector.Error as exc:
                error = classify(exc, "COPY")
                if isinstance(error, BadDataError):
                    raise BadDataError(
                        "COPY failed", details=[LoadErrorDetail(entry.url, None, None, _sqlstate(exc)[1])]
                    ) from exc
                raise error from exc

    def _load_errors(
        self, copy_session: tuple[int, int, dt.datetime], copy_id: int | None
    ) -> list[LoadErrorDetail]:
        """``sys_load_error_detail`` rows of the COPY that just failed (read after the rollback): by its
        query id when pg_last_copy_id() moved past the one before it, else by session and time."""
        before, pid, started = copy_session
        try:
            if copy_id is not None and copy_id >= 0 and copy_id != before:
                return load_error_details(self.query(load_error_detail_sql(copy_id)))
            return load_error_details(self.query(load_errors_by_session_sql(), session_params(pid, started)))
        except (redshift_connector.Error, WarehouseError, TypeError, ValueError) as exc:
            logger.warning("could not read sys_load_error_detail", error=str(exc))
            return []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        log_statement(self.dialect, sql)
        try:
            if self.dialect == "redshift":
                # The driver binds :name placeholders itself (paramstyle "named").
                cursor = redshift_connector.Cursor(self._conn, paramstyle="named")
                cursor.execute(sql, dict(params) if params else None)
            else:
                text, values = translate_query(sql, self.dialect, params or {})
                # Already numbered $n: the "numeric" style leaves them as they are.
                cursor = redshift_connector.Cursor(self._conn, paramstyle="numeric")
                cursor.execute(text, values or None)
            description = cursor.description or []
            rows = [tuple(r) for r in cursor.fetchall()] if description else []
            self._conn.rollback()
        except (redshift_connector.Error, OSError) as exc:
            self._rollback()
            raise classify(exc, "query") from exc
        return QueryResult(columns=[str(d[0]) for d in description], rows=rows)

    def close(self) -> None:
        try:
            self._conn.close()
        except (redshift_connector.Error, OSError):
            pass
