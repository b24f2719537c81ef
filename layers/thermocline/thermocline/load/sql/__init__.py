"""The SQL of the load leg, in the Redshift dialect, as ``list[str]``.

Pure: nothing here talks to a database. Engines run the statements (translated with sqlglot for DuckDB and
PostgreSQL); tests read them as text and parse them with sqlglot's Redshift dialect.

* ``literals`` — string literals every engine reads the same; reasons cut to fit their column;
* ``bookkeeping`` — the names of the loader's own objects (bookkeeping schema, tombstone and load-lock
  tables, a load's temporary tables) and the LOCK that serialises a table's loaders;
* ``ledger`` — creating the bookkeeping schema and ledger, looking files up, recording them;
* ``ddl`` — creating, growing, widening and retyping target tables;
* ``staging`` — COPY of a manifest into the staging table, and the expressions both loads share;
* ``cdc`` — one CDC load: dedupe, replays and deletes, rows replaced, ledger, in one transaction;
* ``full_refresh`` — a snapshot replacing a table's contents in one transaction.
"""

from __future__ import annotations

from thermocline.load.sql.bookkeeping import (
    BOOKKEEPING_SCHEMA,
    LEDGER_TABLE,
    load_lock_sql,
    load_lock_table,
    tombstone_table,
)
from thermocline.load.sql.cdc import SEAM_MARGIN_SECONDS, DeleteMode, load_sql
from thermocline.load.sql.ddl import (
    dependent_views_sql,
    ensure_table_sql,
    is_integer_to_decimal,
    rebuild_sql,
    table_columns_sql,
    tombstone_columns_sql,
    varchar_length,
    widen_column_sql,
    widen_tombstone_key_sql,
)
from thermocline.load.sql.full_refresh import full_refresh_sql
from thermocline.load.sql.ledger import (
    LedgerEntry,
    ensure_bookkeeping_sql,
    ledger_insert_sql,
    ledger_lookup_sql,
)
from thermocline.load.sql.literals import printable, sql_literal
from thermocline.load.sql.staging import copy_sql, staging_type

__all__ = [
    "BOOKKEEPING_SCHEMA",
    "LEDGER_TABLE",
    "SEAM_MARGIN_SECONDS",
    "DeleteMode",
    "LedgerEntry",
    "copy_sql",
    "dependent_views_sql",
    "ensure_bookkeeping_sql",
    "ensure_table_sql",
    "full_refresh_sql",
    "is_integer_to_decimal",
    "ledger_insert_sql",
    "ledger_lookup_sql",
    "load_lock_sql",
    "load_lock_table",
    "load_sql",
    "printable",
    "rebuild_sql",
    "sql_literal",
    "staging_type",
    "table_columns_sql",
    "tombstone_columns_sql",
    "tombstone_table",
    "varchar_length",
    "widen_column_sql",
    "widen_tombstone_key_sql",
]
