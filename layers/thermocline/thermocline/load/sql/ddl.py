# ruff: noqa: S608 -- building SQL is this module's job: every identifier goes through quote_ident and
# every value through sql_literal, so nothing reaches SQL unquoted.
"""Target tables: create them with their tombstone and load-lock tables, add the columns the lake gained,
widen VARCHARs in place, and rebuild a table whose key columns (or any BIGINT column) must change type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from thermocline.lake.columns import VERSION_COLUMNS
from thermocline.lake.metadata import TableSpec
from thermocline.lake.types import ColumnType
from thermocline.load.sql.bookkeeping import (
    BOOKKEEPING_SCHEMA,
    load_lock_name,
    load_lock_sql,
    rebuild_table,
    tombstone_table,
    tombstones_name,
)
from thermocline.load.sql.literals import sql_literal
from thermocline.names import qualified_name, quote_ident

__all__ = [
    "column_defs",
    "dependent_views_sql",
    "ensure_table_sql",
    "is_integer_to_decimal",
    "rebuild_sql",
    "table_columns_sql",
    "tombstone_columns_sql",
    "varchar_length",
    "widen_column_sql",
    "widen_tombstone_key_sql",
]


def table_columns_sql(table: str, schema: str | None = None) -> str:
    """Columns of ``table`` in ``schema`` (default: the current schema), in declared order, with type,
    VARCHAR length, DECIMAL precision and scale."""
    where = f"table_schema = {sql_literal(schema)}" if schema else "table_schema = CURRENT_SCHEMA()"
    return (
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "
        f"FROM information_schema.columns WHERE {where} AND table_name = {sql_literal(table)} "
        "ORDER BY ordinal_position"
    )


def tombstone_columns_sql(table: str) -> str:
    """:func:`table_columns_sql` of ``table``'s tombstone table."""
    return table_columns_sql(tombstone_table(table), BOOKKEEPING_SCHEMA)


def column_defs(columns: Sequence[tuple[str, ColumnType]]) -> str:
    """``"name" TYPE, ...`` for a CREATE TABLE."""
    return ", ".join(f"{quote_ident(name)} {ctype.sql}" for name, ctype in columns)


def ensure_table_sql(
    spec: TableSpec, existing: Mapping[str, str] | None, max_statement_bytes: int | None = None
) -> list[str]:
    """Create the target and its tombstone table, or add the columns the lake gained since.

    ``existing`` maps the target's current columns to their types (``None``: the table does not exist).
    No PRIMARY KEY is declared: on Redshift it is informational only (the load keeps keys
    unique), and a declared key column can neither be altered nor dropped
    (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html), which would freeze a table whose
    key widens. DISTKEY and SORTKEY stay: they are what makes the load's joins fast.

    A CREATE TABLE over ``max_statement_bytes`` (1,599 columns with long names) creates the leading
    columns that fit, the keys among them, and adds the others one ALTER TABLE ADD COLUMN each, as
    Redshift adds columns (same ALTER TABLE document): the columns end in the order one CREATE gives.
    """
    target = quote_ident(spec.table)
    columns = spec.target_columns()
    if existing is None:
        # A SUPER column cannot be a DISTKEY or SORTKEY
        # (https://docs.aws.amazon.com/redshift/latest/dg/limitations-super.html): a contract's key whose
        # values turned out to be maps or lists is left out.
        super_columns = {n for n, t in columns if t.kind == "SUPER"}
        keys = ""
        if spec.dist_key and spec.dist_key not in super_columns:
            keys += f" DISTKEY({quote_ident(spec.dist_key)})"
        sort = [c for c in spec.sort_key if c not in super_columns]
        if sort:
            keys += f" SORTKEY({', '.join(quote_ident(c) for c in sort)})"
        first = _leading_columns(spec, f"CREATE TABLE IF NOT EXISTS {target} (){keys}", max_statement_bytes)
        statements = [f"CREATE TABLE IF NOT EXISTS {target} ({column_defs(columns[:first])}){keys}"]
        statements += [_add_column_sql(target, name, ctype) for name, ctype in columns[first:]]
    else:
        known = {name.lower() for name in existing}
        statements = [
            _add_column_sql(target, name, ctype) for name, ctype in columns if name.lower() not in known
        ]
    pk_types = dict(spec.columns)
    tomb_cols = [(c, pk_types[c]) for c in spec.primary_key] + [(c.name, c.type) for c in VERSION_COLUMNS]
    statements.append(f"CREATE TABLE IF NOT EXISTS {tombstones_name(spec.table)} ({column_defs(tomb_cols)})")
    statements.append(f"CREATE TABLE IF NOT EXISTS {load_lock_name(spec.table)} (load_id VARCHAR(64))")
    return statements


def _add_column_sql(target: str, name: str, ctype: ColumnType) -> str:
    return f"ALTER TABLE {target} ADD COLUMN {quote_ident(name)} {ctype.sql}"


def _leading_columns(spec: TableSpec, frame: str, max_statement_bytes: int | None) -> int:
    """How many of the target's leading columns a CREATE TABLE (``frame`` without its column list) holds
    within ``max_statement_bytes``: all when it fits, and never fewer than reach the last key column (the
    DISTKEY and SORTKEY must exist when the table is created)."""
    columns = spec.target_columns()
    if max_statement_bytes is None:
        return len(columns)
    keys = {*spec.primary_key, *spec.sort_key, *([spec.dist_key] if spec.dist_key else [])}
    needed = max((i + 1 for i, (name, _) in enumerate(columns) if name in keys), default=1)
    size = len(frame.encode())
    for count, definition in enumerate(column_defs([c]) for c in columns):
        size += len(definition.encode()) + (2 if count else 0)  # ", " between definitions
        if size > max_statement_bytes:
            return max(count, needed)
    return len(columns)


def varchar_length(ctype: ColumnType) -> int | None:
    return ctype.length if ctype.kind == "VARCHAR" else None


def widen_column_sql(table: str, column: str, new_type: ColumnType) -> str:
    """Widen a VARCHAR column. On Redshift this cannot run inside a transaction block
    (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html), so it is a statement of its own,
    which every engine runs outside any transaction."""
    return f"ALTER TABLE {quote_ident(table)} ALTER COLUMN {quote_ident(column)} TYPE {new_type.sql}"


def widen_tombstone_key_sql(table: str, column: str, new_type: ColumnType) -> str:
    """The same widening of a key column in ``table``'s tombstone table: a delete of a longer key lands
    there too."""
    return f"ALTER TABLE {tombstones_name(table)} ALTER COLUMN {quote_ident(column)} TYPE {new_type.sql}"


def dependent_views_sql(table: str) -> str:
    """The views that depend on ``table`` (in the current schema) as the catalog records them, to name
    them when a rebuild is refused: Redshift's own error does not. The dependency query of
    https://docs.aws.amazon.com/redshift/latest/dg/r_DROP_TABLE.html ("Viewing the dependencies for a
    table"), joined on ``oid`` (which PostgreSQL's views also match; their ``relfilenode`` is 0)."""
    return (
        "SELECT DISTINCT n_c.nspname, c_c.relname FROM pg_catalog.pg_class AS c_p "
        "JOIN pg_catalog.pg_depend AS d_p ON c_p.oid = d_p.refobjid "
        "JOIN pg_catalog.pg_depend AS d_c ON d_p.objid = d_c.objid "
        "JOIN pg_catalog.pg_class AS c_c ON d_c.refobjid = c_c.oid "
        "JOIN pg_catalog.pg_namespace AS n_p ON c_p.relnamespace = n_p.oid "
        "JOIN pg_catalog.pg_namespace AS n_c ON c_c.relnamespace = n_c.oid "
        f"WHERE d_c.deptype = 'i' AND c_c.relkind = 'v' AND c_c.oid <> c_p.oid "
        f"AND c_p.relname = {sql_literal(table)} AND n_p.nspname = CURRENT_SCHEMA() ORDER BY 1, 2"
    )


# One row of table_columns_sql: name, data type, VARCHAR length, DECIMAL precision, scale.
ColumnRow = Sequence[Any]
# SUPER as the catalogs name it: Redshift, and the local engines' stand-ins (DuckDB JSON, PostgreSQL JSONB).
_SUPER_TYPES = frozenset(("super", "json", "jsonb"))


def rebuild_sql(
    spec: TableSpec,
    rows: Sequence[ColumnRow],
    changes: Mapping[str, ColumnType],
    tombstone_rows: Sequence[ColumnRow] = (),
    tombstone_changes: Mapping[str, ColumnType] | None = None,
) -> list[str]:
    """Change column types Redshift cannot ALTER by building the table anew, in one transaction under
    the load lock: the target (its columns as ``rows`` of :func:`table_columns_sql` read them, in order,
    ``changes`` cast to their new types, the same DISTKEY and SORTKEY) and, together with it, the
    tombstone table's key columns.

    Redshift alters only a VARCHAR's length in place, and not for a DISTKEY, SORTKEY or PRIMARY KEY
    column; DROP COLUMN is refused for those and for a column an ordinary view reads
    (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html). So: CREATE TABLE AS the old
    rows (exactly: every change widens), DROP the old table, RENAME the new one into its place. Readers
    see the old table until the commit, the new one after; the load lock keeps loaders out meanwhile.
    The DROP is refused while an ordinary view depends on the table
    (https://docs.aws.amazon.com/redshift/latest/dg/r_DROP_TABLE.html): the transaction then changes
    nothing and the error names the view (docs/loading.md, "Your views"); a late-binding view reads the
    new table.

    ``rows`` were read before the lock: another loader may have added a column or widened one since, and
    a CREATE TABLE AS from them would drop that column or CAST its values shorter. So the first statement
    under the lock checks that the table is still as read, and fails the transaction (nothing changed; the
    files are retried) if it is not.
    """
    statements = [load_lock_sql(spec.table)]
    if changes:
        statements.append(_still_as_read(None, spec.table, rows, changes))
        statements += _rebuild(None, spec.table, rows, changes, spec.dist_key, spec.sort_key)
    if tombstone_changes:
        tombstones = tombstone_table(spec.table)
        statements.append(_still_as_read(BOOKKEEPING_SCHEMA, tombstones, tombstone_rows, tombstone_changes))
        statements += _rebuild(BOOKKEEPING_SCHEMA, tombstones, tombstone_rows, tombstone_changes, None, ())
    return statements


def _still_as_read(
    schema: str | None, table: str, rows: Sequence[ColumnRow], changes: Mapping[str, Any]
) -> str:
    """A statement that fails (a text that is no integer, cast to one) unless ``table`` has as many
    columns as ``rows`` and each changed column still has the type and length ``rows`` read."""
    where = (
        "FROM information_schema.columns WHERE "
        + (f"table_schema = {sql_literal(schema)}" if schema else "table_schema = CURRENT_SCHEMA()")
        + f" AND table_name = {sql_literal(table)}"
    )
    same = []
    for row in rows:
        if str(row[0]) in changes:
            length = "IS NULL" if row[2] is None else f"= {int(row[2])}"
            same.append(
                f"(column_name = {sql_literal(str(row[0]))} AND LOWER(data_type) = {sql_literal(str(row[1]).lower())} "
                f"AND character_maximum_length {length})"
            )
    changed = sql_literal(f"{table} changed while it was being rebuilt; the load is retried")
    return (
        f"SELECT CAST(CASE WHEN (SELECT COUNT(*) {where}) = {len(rows)} "
        f"AND (SELECT COUNT(*) {where} AND ({' OR '.join(same)})) = {len(same)} "
        f"THEN '0' ELSE {changed} END AS INTEGER)"
    )


def _rebuild(
    schema: str | None,
    table: str,
    rows: Sequence[ColumnRow],
    changes: Mapping[str, ColumnType],
    dist_key: str | None,
    sort_key: Sequence[str],
) -> list[str]:
    def name(t: str) -> str:
        return qualified_name(schema, t) if schema else quote_ident(t)

    columns = [str(r[0]) for r in rows]
    new = rebuild_table(table)
    select = ", ".join(
        f"CAST({quote_ident(c)} AS {changes[c].sql}) AS {quote_ident(c)}" if c in changes else quote_ident(c)
        for c in columns
    )
    # As the table was created: no SUPER column as a key (see ensure_table_sql).
    keyable = {str(r[0]) for r in rows if str(r[1]).lower() not in _SUPER_TYPES and str(r[0]) not in changes}
    keyable |= {c for c, t in changes.items() if t.kind != "SUPER"}
    keys = f" DISTKEY({quote_ident(dist_key)})" if dist_key in keyable else ""
    sort = [c for c in sort_key if c in keyable]
    if sort:
        keys += f" SORTKEY({', '.join(quote_ident(c) for c in sort)})"
    return [
        f"CREATE TABLE {name(new)}{keys} AS SELECT {select} FROM {name(table)}",
        f"DROP TABLE {name(table)}",
        f"ALTER TABLE {name(new)} RENAME TO {quote_ident(table)}",
    ]


def is_integer_to_decimal(existing_type: str, file_type: ColumnType) -> bool:
    """The one numeric widening the lake makes (``lake.types.widen_for_number``): BIGINT → DECIMAL(38, s).

    ``existing_type`` is the warehouse's own name for the target column's type (information_schema).
    """
    return existing_type.strip().lower() in {"bigint", "int8"} and file_type.kind == "DECIMAL"
