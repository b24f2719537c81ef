"""PostgreSQL: the closest relative of Redshift that runs on a laptop; the test suite's real server.

Redshift-dialect SQL is translated with sqlglot (SUPER becomes JSONB, primary keys are not declared
because Redshift does not enforce them; names longer than PostgreSQL's 63 bytes are written in a short
form and answered with their Redshift names, ``postgres_names``). COPY is emulated by streaming the manifest's Parquet objects
through ``COPY ... FROM STDIN``. ``LOCK t`` takes ACCESS EXCLUSIVE, as on Redshift (``emulation.postgres_lock_sql``). Access-control statements
(the warehouse bootstrap) are rewritten by ``access_control``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import psycopg.sql
from psycopg import errors as pg_errors

from thermocline.names import quote_ident
from thermocline.warehouse import postgres_names
from thermocline.warehouse.access_control import postgres_form
from thermocline.warehouse.ddl_rules import (
    Change,
    TableRef,
    ViewInfo,
    is_late_binding,
    late_binding_query,
    parse_roles,
)
from thermocline.warehouse.emulation import (
    arrow_rows,
    parse_copy,
    parse_lock,
    postgres_lock_sql,
    read_manifest_files,
    read_parquet,
    translate,
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

_TRANSIENT = (
    psycopg.OperationalError,
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
    # Two loaders creating the same table at once collide in the catalog; the retry finds it created.
    pg_errors.UniqueViolation,
)


def classify_postgres_error(exc: Exception, doing: str) -> WarehouseError:
    """The error kind of a psycopg error."""
    if isinstance(exc, _TRANSIENT):
        return TransientLoadError(f"{doing}: {exc}")
    if isinstance(exc, psycopg.DataError):
        return BadDataError(f"{doing}: {exc}", details=[LoadErrorDetail(None, None, None, str(exc))])
    return TerminalLoadError(f"{doing}: {exc}")


def postgres_sql(sql: str) -> str:
    """PostgreSQL's form of one Redshift statement other than COPY ('' when PostgreSQL has nothing to run):
    LOCK in Redshift's mode, access control in PostgreSQL's words, anything else translated."""
    table = parse_lock(sql)
    if table is not None:
        return postgres_lock_sql(table)
    access = postgres_form(sql)
    if access is not None:
        return access
    return translate(sql, "postgres")


class PostgresWarehouse(WarehouseBase):
    dialect = "postgres"

    def __init__(self, url: str, *, s3_client: Any = None) -> None:
        self._s3 = s3_client
        try:
            self._conn = psycopg.connect(url, autocommit=False, options="-c TimeZone=UTC")
        except psycopg.OperationalError as exc:
            raise TransientLoadError(f"connecting to PostgreSQL: {exc}") from exc
        # Long names known to be in the registry (postgres_names): their short form → the name.
        self._long_names: dict[str, str] = {}

    def execute(self, statements: Sequence[str]) -> None:
        check_batch(statements, self.capabilities)
        try:
            with self._conn.cursor() as cur:
                views = _Views(cur)
                for sql in statements:
                    self._run(cur, sql, views)
                views.restore()
                names = {n for sql in statements for n in postgres_names.long_names(sql)}
                new = {n for n in names if postgres_names.short_name(n) not in self._long_names}
                if new:
                    # In the transaction that uses them: the registry never names what was rolled back.
                    for ddl in postgres_names.REGISTRY_DDL:
                        cur.execute(ddl)
                    cur.execute(*postgres_names.register_sql(new))
            self._conn.commit()
            self._long_names.update({postgres_names.short_name(n): n for n in new})
        except BaseException as exc:
            self._conn.rollback()
            if isinstance(exc, psycopg.Error):
                raise classify_postgres_error(exc, "load") from exc
            raise

    def _run(self, cur: psycopg.Cursor[Any], sql: str, views: _Views) -> None:
        log_statement(self.dialect, sql)
        copy = parse_copy(sql)
        if copy is not None:
            self._copy(cur, *copy)
            return
        if parse_lock(sql) is not None or postgres_form(sql) is not None:
            statement = postgres_sql(sql)
            if statement:
                cur.execute(statement)
            return
        translated, change = translate_statement(sql, self.dialect, views)
        if change is not None:
            views.detach(change)
        for statement in translated:
            cur.execute(statement)

    def _copy(self, cur: psycopg.Cursor[Any], table: str, manifest_url: str) -> None:
        table = postgres_names.shorten_quoted(table)
        cur.execute(f"SELECT * FROM {table} LIMIT 0")  # noqa: S608
        names = [d.name for d in cur.description or []]
        for entry, body in read_manifest_files(self._s3, manifest_url):
            arrow = read_parquet(entry, body, len(names))
            columns = ", ".join(quote_ident(n) for n in names)
            try:
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in arrow_rows(arrow):
                        copy.write_row(row)
            except psycopg.DataError as exc:
                raise BadDataError(
                    "COPY failed", details=[LoadErrorDetail(entry.url, None, None, str(exc))]
                ) from exc

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        log_statement(self.dialect, sql)
        try:
            # Redshift's access-control catalog (the warehouse bootstrap) has a PostgreSQL form of its own.
            access = postgres_form(sql)
            text, values = (access, []) if access else translate_query(sql, self.dialect, params or {})
            # RawCursor: PostgreSQL's own $n placeholders, values sent apart from the SQL text.
            with psycopg.RawCursor(self._conn) as cur:
                cur.execute(text, values)
                rows = cur.fetchall() if cur.description else []
                columns = [d.name for d in cur.description or []]
            # Answered with the Redshift names: the labels always, the values of a catalog query.
            catalog = access is None and postgres_names.is_catalog_query(text)
            seen = set(columns) | ({v for r in rows for v in r if isinstance(v, str)} if catalog else set())
            long = self._lookup_long_names(seen)
            self._conn.rollback()
        except psycopg.Error as exc:
            self._conn.rollback()
            raise classify_postgres_error(exc, "query") from exc
        if long:
            columns = [long.get(c, c) for c in columns]
            if catalog:
                rows = [tuple(long.get(v, v) if isinstance(v, str) else v for v in r) for r in rows]
        return QueryResult(columns=columns, rows=[tuple(r) for r in rows])

    def _lookup_long_names(self, names: set[str]) -> dict[str, str]:
        """The long names of those of ``names`` that are short forms in the registry."""
        wanted = {n for n in names if postgres_names.looks_short(n)}
        unknown = sorted(wanted - self._long_names.keys())
        if unknown:
            with self._conn.cursor() as cur:
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", [postgres_names.REGISTRY])
                if cur.fetchone() == (True,):
                    cur.execute(
                        f"SELECT short_name, long_name FROM {postgres_names.REGISTRY} "  # noqa: S608
                        "WHERE short_name = ANY(%s)",
                        [unknown],
                    )
                    self._long_names.update({str(s): str(n) for s, n in cur.fetchall()})
        return {n: self._long_names[n] for n in wanted if n in self._long_names}

    def close(self) -> None:
        self._conn.close()


class _Views:
    """Redshift's catalog rules on PostgreSQL (warehouse/ddl_rules.py), within one transaction.

    PostgreSQL binds every view to its table's columns and refuses to change a column a view reads;
    Redshift refuses only what an ordinary view needs (DROP), and a late-binding view needs nothing. So
    the views a change would trip over are dropped before it and created again, from their definitions,
    at the end of the transaction: a late-binding view then reads whatever table has its name.
    """

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur
        self._detached: list[tuple[str, str, str | None]] = []  # (name, definition, comment)

    def key_roles(self, table: TableRef) -> dict[str, str]:
        self._cur.execute(
            "SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
            [table.sql()],
        )
        return {str(n).lower(): roles for n, c in self._cur.fetchall() if (roles := parse_roles(c))}

    def _views(self, table: TableRef) -> list[tuple[int, str, str | None, list[str]]]:
        self._cur.execute(
            "SELECT v.oid, format('%%I.%%I', n.nspname, v.relname), obj_description(v.oid, 'pg_class'), "
            "array_remove(array_agg(DISTINCT a.attname::text), NULL) "
            "FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class "
            "JOIN pg_namespace n ON n.oid = v.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
            "WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = to_regclass(%s) AND v.oid <> d.refobjid "
            "GROUP BY 1, 2, 3",
            [table.sql()],
        )
        return [(int(o), str(name), comment, list(cols)) for o, name, comment, cols in self._cur.fetchall()]

    def views_on(self, table: TableRef) -> list[ViewInfo]:
        return [
            ViewInfo(name, not is_late_binding(comment), frozenset(c.lower() for c in cols))
            for _, name, comment, cols in self._views(table)
        ]

    def detach(self, change: Change) -> None:
        """Drop the views ``change`` would trip over on PostgreSQL but not on Redshift (the rules have
        already refused the change if an ordinary view holds it there)."""
        for oid, name, comment, cols in self._views(change.table):
            late = is_late_binding(comment)
            reads_column = change.column is None or change.column.lower() in {c.lower() for c in cols}
            if reads_column and (late or change.kind == "alter type"):
                if late:
                    definition = late_binding_query(str(comment))
                else:
                    self._cur.execute("SELECT pg_get_viewdef(%s::oid)", [oid])
                    definition = str(self._cur.fetchone()[0])  # type: ignore[index]
                self._cur.execute(f"DROP VIEW {name}")
                self._detached.append((name, definition, comment))

    def restore(self) -> None:
        """Create the detached views again; a late-binding view whose table is gone stays away (on
        Redshift it would remain and fail when queried)."""
        for name, definition, comment in self._detached:
            self._cur.execute("SAVEPOINT thermocline_view")
            try:
                self._cur.execute(f"CREATE VIEW {name} AS {definition}")
                if comment is not None:
                    self._cur.execute(
                        psycopg.sql.SQL("COMMENT ON VIEW {} IS {}").format(
                            psycopg.sql.SQL(name),  # type: ignore[arg-type]
                            psycopg.sql.Literal(comment),
                        )
                    )
            except psycopg.Error:
                self._cur.execute("ROLLBACK TO SAVEPOINT thermocline_view")
            self._cur.execute("RELEASE SAVEPOINT thermocline_view")
        self._detached.clear()
