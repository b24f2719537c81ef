# ruff: noqa: S608 -- building SQL is this module's job: every identifier goes through quote_ident and
# every value through sql_literal, so nothing reaches SQL unquoted.
"""Target tables: create them with their tombstone and load-lock tables, add the columns the lake gained,
widen VARCHARs in place and retype BIGINT columns to DECIMAL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from thermocline.lake.columns import VERSION_COLUMNS
from thermocline.lake.metadata import TableSpec
from thermocline.lake.types import ColumnType
from thermocline.load.sql.bookkeeping import load_lock_name, load_lock_sql, tombstones_name
from thermocline.load.sql.literals import sql_literal
from thermocline.names import quote_ident

__all__ = [
    "column_defs",
    "ensure_table_sql",
    "is_integer_to_decimal",
    "retype_column_sql",
    "retype_tombstone_key_sql",
    "table_columns_sql",
    "varchar_length",
    "widen_column_sql",
    "widen_tombstone_key_sql",
]


def table_columns_sql(table: str) -> str:
    """Columns of ``table`` in the current schema, with type and VARCHAR length, in declared order."""
    return (
        "SELECT column_name, data_type, character_maximum_length FROM information_schema.columns "
        f"WHERE table_schema = CURRENT_SCHEMA() AND table_name = {sql_literal(table)} "
        "ORDER BY ordinal_position"
    )


def column_defs(columns: Sequence[tuple[str, ColumnType]]) -> str:
    """``"name" TYPE, ...`` for a CREATE TABLE."""
    return ", ".join(f"{quote_ident(name)} {ctype.sql}" for name, ctype in columns)


def ensure_table_sql(spec: TableSpec, existing: Mapping[str, str] | None) -> list[str]:
    """Create the target and its tombstone table, or add the columns the lake gained since.

    ``existing`` maps the target's current columns to their types (``None``: the table does not exist).
    No PRIMARY KEY is declared: on Redshift it is informational only (the loader's MERGE keeps keys
    unique), and a declared key column can neither be altered nor dropped
    (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html), which would freeze a table whose
    key widens. DISTKEY and SORTKEY stay: they are what makes the MERGE's join fast.
    """
    target = quote_ident(spec.table)
    if existing is None:
        ddl = f"CREATE TABLE IF NOT EXISTS {target} ({column_defs(spec.target_columns())})"
        if spec.dist_key:
            ddl += f" DISTKEY({quote_ident(spec.dist_key)})"
        if spec.sort_key:
            ddl += f" SORTKEY({', '.join(quote_ident(c) for c in spec.sort_key)})"
        statements = [ddl]
    else:
        known = {name.lower() for name in existing}
        statements = [
            f"ALTER TABLE {target} ADD COLUMN {quote_ident(name)} {ctype.sql}"
            for name, ctype in spec.target_columns()
            if name.lower() not in known
        ]
    pk_types = dict(spec.columns)
    tomb_cols = [(c, pk_types[c]) for c in spec.primary_key] + [(c.name, c.type) for c in VERSION_COLUMNS]
    statements.append(f"CREATE TABLE IF NOT EXISTS {tombstones_name(spec.table)} ({column_defs(tomb_cols)})")
    statements.append(f"CREATE TABLE IF NOT EXISTS {load_lock_name(spec.table)} (load_id VARCHAR(64))")
    return statements


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


_WIDENING = "thermocline$widening"


def retype_column_sql(table: str, column: str, new_type: ColumnType) -> list[str]:
    """Change a column to a wider type Redshift cannot ALTER to (BIGINT → DECIMAL), keeping every value.

    Redshift alters only VARCHAR lengths in place; anything else is add, copy, drop, rename, in one
    transaction under the load lock. The column moves to the end of the table, which nothing relies on:
    loads match target columns by name. The tombstone table's key column, if it is one, follows.
    """
    target = quote_ident(table)
    return [load_lock_sql(table), *_retype(target, column, new_type)]


def retype_tombstone_key_sql(table: str, column: str, new_type: ColumnType) -> list[str]:
    """The same change to a primary key column in ``table``'s tombstone table."""
    return _retype(tombstones_name(table), column, new_type)


def _retype(target: str, column: str, new_type: ColumnType) -> list[str]:
    """Add, copy, drop, rename: ``target`` is already quoted (and qualified where needed)."""
    col, tmp = quote_ident(column), quote_ident(_WIDENING)
    return [
        f"ALTER TABLE {target} ADD COLUMN {tmp} {new_type.sql}",
        f"UPDATE {target} SET {tmp} = {col}",
        f"ALTER TABLE {target} DROP COLUMN {col}",
        f"ALTER TABLE {target} RENAME COLUMN {tmp} TO {col}",
    ]


def is_integer_to_decimal(existing_type: str, file_type: ColumnType) -> bool:
    """The one numeric widening the lake makes (``lake.types.widen_for_number``): BIGINT → DECIMAL(38, s).

    ``existing_type`` is the warehouse's own name for the target column's type (information_schema).
    """
    return existing_type.strip().lower() in {"bigint", "int8"} and file_type.kind == "DECIMAL"
