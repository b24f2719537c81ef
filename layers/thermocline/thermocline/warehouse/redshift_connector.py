"""Amazon Redshift over ``redshift_connector``: direct connections (VPC deployments, the CLI).

The SQL goes to Redshift as written: COPY, LOCK and JSON_PARSE run natively, inside one explicit
transaction per ``execute``. When a COPY fails, the transaction is rolled back and
``sys_load_error_detail`` is read for ``pg_last_copy_id()`` so the error names file, line, column and
reason. A batch is checked against Redshift's rules (``rules.check_batch``) before anything is sent.

This engine has no other mode: the test suite runs it against a wire-level stand-in for Redshift
(``tests/integration/redshift_shim``), which receives exactly the SQL this engine sends to Redshift.
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
from thermocline.warehouse.rules import check_batch, is_alter_column_type

# SQLSTATE classes and codes that succeed on retry: connection trouble, serialization failures and
# deadlocks, lock timeouts, resource shortage, operator intervention, and catalog races on CREATE.
_TRANSIENT_STATES = ("08", "40", "53", "57", "55P03", "23505")
_DATA_STATES = ("22",)
_COPY = re.compile(r"^\s*COPY\s", re.I)


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
    dialect = "redshift"

    def __init__(self, connect_kwargs: dict[str, Any]) -> None:
        try:
            self._conn = redshift_connector.connect(**connect_kwargs)
        except (redshift_connector.InterfaceError, redshift_connector.OperationalError, OSError) as exc:
            raise TransientLoadError(f"connecting to Redshift: {exc}") from exc
        self._conn.autocommit = False

    @classmethod
    def from_url(cls, url: str) -> RedshiftConnectorWarehouse:
        """``redshift://user[:password]@host:port/db`` with optional ``?iam=1&cluster_identifier=...`` and
        ``ssl=0``. Without a password in the URL, ``REDSHIFT_PASSWORD`` is used."""
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
        if query:
            raise ValueError(f"unknown redshift:// URL parameters: {sorted(query)}")
        return cls(kwargs)

    def _simple(self, sql: str) -> Any:
        cursor = self._conn.cursor()
        cursor.execute(sql)
        return cursor

    def execute(self, statements: Sequence[str]) -> None:
        check_batch(statements, self.capabilities)
        if len(statements) == 1 and is_alter_column_type(statements[0]):
            self._autocommitted(statements[0])
            return
        current = ""
        copy_session: tuple[int, int, dt.datetime] | None = None
        try:
            cursor = self._conn.cursor()
            for sql in statements:
                current = sql
                log_statement(self.dialect, sql)
                if _COPY.match(sql):
                    # What a failed COPY's load errors are linked to: this session's process id and the
                    # time (sys_load_error_detail.session_id, start_time), and pg_last_copy_id() before.
                    cursor.execute("SELECT pg_last_copy_id(), pg_backend_pid(), GETDATE()")
                    row = cursor.fetchone()
                    if row:
                        copy_session = (int(row[0]), int(row[1]), row[2])
                cursor.execute(sql)
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
            if copy_session is not None and _COPY.match(current):
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
            self._conn.cursor().execute(sql)
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
        check_batch([sql], self.capabilities)
        log_statement(self.dialect, sql)
        try:
            # The driver binds :name placeholders itself (paramstyle "named").
            cursor = redshift_connector.Cursor(self._conn, paramstyle="named")
            cursor.execute(sql, dict(params) if params else None)
            description = cursor.description or []
            rows = [tuple(r) for r in cursor.fetchall()] if description else []
            self._conn.rollback()
        except (redshift_connector.Error, OSError) as exc:
            self._rollback()
            raise classify(exc, "query") from exc
        except KeyError as exc:
            # The driver looks each :name up in ``params`` while binding, before anything is sent.
            self._rollback()
            raise TerminalLoadError(f"query parameter {exc.args[0]!r} has no value") from exc
        return QueryResult(columns=[str(d[0]) for d in description], rows=rows)

    def close(self) -> None:
        try:
            self._conn.close()
        except (redshift_connector.Error, OSError):
            pass
