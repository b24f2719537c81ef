# ruff: noqa: S608 -- building SQL is this module's job: every identifier goes through quote_ident and
# every value through sql_literal (or int()), so nothing reaches SQL unquoted.
"""The SQL of one warehouse load, in the Redshift dialect, as ``list[str]``.

Pure: nothing here talks to a database. Engines run the statements (translated with sqlglot for DuckDB and
PostgreSQL); tests read them as text and parse them with sqlglot's Redshift dialect.

One load of one table (``load_sql``), all in one transaction:

1. ``LOCK`` the target's load-lock table (a small table of its own in the bookkeeping schema), so two
   loaders of one table never overlap. Never the target itself: Redshift's LOCK is an exclusive lock
   that would make every reader of the target wait for the whole load
   (https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html); readers see the old rows until commit.
   Each load transaction takes exactly this one lock, first, so loaders cannot deadlock.
2. ``COPY`` the manifest's Parquet files into a staging table whose columns are the files' columns in file
   order (Parquet COPY matches columns by position). SUPER columns arrive as JSON text and are staged as
   VARCHAR, then ``JSON_PARSE``-d into the target.
3. Keep the newest ``_seq`` per primary key; drop versions not newer than what the target (or, for hard
   deletes, the tombstone table) already holds, so replays and out-of-order batches change nothing.
4. Apply deletes (hard: delete the row and remember a tombstone; soft: flag ``_deleted``), then MERGE the
   rest (update and insert).
5. Record every file in the ledger.

Deleted keys are remembered in a tombstone table because a hard-deleted row leaves nothing in the target
to compare a late, older version against: without it an out-of-order insert would bring the row back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from thermocline.lake.columns import DELETED, TARGET_COLUMNS, TTL_EXPIRED, VERSION_COLUMNS
from thermocline.lake.metadata import TableSpec
from thermocline.lake.types import VARCHAR_MAX, ColumnType
from thermocline.names import qualified_name, quote_ident

__all__ = [
    "BOOKKEEPING_SCHEMA",
    "LEDGER_TABLE",
    "LedgerEntry",
    "TableSpec",
    "ensure_bookkeeping_sql",
    "ensure_table_sql",
    "full_refresh_sql",
    "ledger_lookup_sql",
    "load_error_detail_sql",
    "load_lock_sql",
    "load_lock_table",
    "widen_tombstone_key_sql",
    "load_sql",
    "printable",
    "sql_literal",
    "staging_type",
    "table_columns_sql",
    "widen_column_sql",
    "retype_column_sql",
    "retype_tombstone_key_sql",
    "is_integer_to_decimal",
    "tombstone_table",
    "copy_sql",
    "ledger_insert_sql",
    "varchar_length",
    "DeleteMode",
]

DeleteMode = Literal["hard", "soft"]

BOOKKEEPING_SCHEMA = "thermocline"
LEDGER_TABLE = "load_ledger"
# The loader's own temporary tables and columns carry a `$`, which no safe identifier (``[a-z0-9_]``)
# holds, so no source table or attribute can ever be named like them.
STAGE_TABLE = "thermocline$stage"
LATEST_TABLE = "thermocline$latest"
_RANK = quote_ident("thermocline$rank")


@dataclass(frozen=True)
class LedgerEntry:
    """One lake file as recorded in the ledger."""

    key: str
    content_length: int
    row_count: int | None = None
    status: Literal["loaded", "quarantined"] = "loaded"
    reason: str | None = field(default=None)


def sql_literal(value: str) -> str:
    """A string expression for ``value``, exact in Redshift, PostgreSQL and DuckDB alike.

    A backslash inside a literal means different things to the engines (an escape character in Redshift's
    string literals, https://docs.aws.amazon.com/redshift/latest/dg/r_Literals.html; plain text in
    standard SQL), so none is ever written into one: each is spelled ``CHR(92)`` and concatenated, which
    every engine reads the same. NUL, which no engine's text type holds, and text that is not Unicode
    (lone surrogates) are refused with ``ValueError``; :func:`printable` makes any text safe first.
    """
    if "\x00" in value:
        raise ValueError(f"refusing to put NUL into SQL: {value[:80]!r}")
    value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for lone surrogates
    parts = ["'" + part.replace("'", "''") + "'" for part in value.split("\\")]
    if len(parts) == 1:
        return parts[0]
    return "(" + " || CHR(92) || ".join(parts) + ")"


def printable(text: str, limit: int = 4096) -> str:
    """``text`` made safe for :func:`sql_literal`: NUL shown as ``\\0``, text that is not Unicode with
    replacement characters, cut to at most ``limit`` UTF-8 bytes at a character boundary — Redshift's
    VARCHAR(n) counts bytes (https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html) —
    (for reasons and messages, not for keys)."""
    text = text.replace("\x00", "\\0")
    data = text.encode("utf-8", "replace")
    return data[:limit].decode("utf-8", "ignore") if len(data) > limit or not text.isascii() else text


def staging_type(ctype: ColumnType) -> ColumnType:
    """The staging column type for a file column: SUPER is staged as its JSON text (Redshift's largest
    VARCHAR: https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html)."""
    return ColumnType("VARCHAR", length=VARCHAR_MAX) if ctype.kind == "SUPER" else ctype


def _ledger() -> str:
    return qualified_name(BOOKKEEPING_SCHEMA, LEDGER_TABLE)


def tombstone_table(table: str) -> str:
    """The (unqualified) name of ``table``'s tombstone table in the bookkeeping schema, within 127 bytes."""
    name = f"tombstones__{table}"
    if len(name.encode()) > 127:
        name = name[:118] + "_" + hashlib.sha256(table.encode()).hexdigest()[:8]
    return name


def _tombstones(table: str) -> str:
    return qualified_name(BOOKKEEPING_SCHEMA, tombstone_table(table))


def load_lock_table(table: str) -> str:
    """The (unqualified) name of ``table``'s load-lock table in the bookkeeping schema, within 127 bytes."""
    name = f"load_lock__{table}"
    if len(name.encode()) > 127:
        name = name[:118] + "_" + hashlib.sha256(table.encode()).hexdigest()[:8]
    return name


def load_lock_sql(table: str) -> str:
    """The first statement of every transaction that writes ``table``: serialises its loaders only."""
    return f"LOCK {qualified_name(BOOKKEEPING_SCHEMA, load_lock_table(table))}"


def ensure_bookkeeping_sql() -> list[str]:
    """The bookkeeping schema and the ledger (idempotent)."""
    return [
        f"CREATE SCHEMA IF NOT EXISTS {quote_ident(BOOKKEEPING_SCHEMA)}",
        f"CREATE TABLE IF NOT EXISTS {_ledger()} ("
        "file_key VARCHAR(1024) NOT NULL, table_name VARCHAR(127) NOT NULL, status VARCHAR(16) NOT NULL, "
        "content_length BIGINT, row_count BIGINT, load_id VARCHAR(64) NOT NULL, loaded_at TIMESTAMP NOT NULL, "
        "reason VARCHAR(4096))",
    ]


def table_columns_sql(table: str) -> str:
    """Columns of ``table`` in the current schema, with type and VARCHAR length, in declared order."""
    return (
        "SELECT column_name, data_type, character_maximum_length FROM information_schema.columns "
        f"WHERE table_schema = CURRENT_SCHEMA() AND table_name = {sql_literal(table)} "
        "ORDER BY ordinal_position"
    )


def ledger_lookup_sql(keys: Sequence[str]) -> str:
    """Which of ``keys`` the ledger already holds (loaded or quarantined)."""
    listed = ", ".join(sql_literal(k) for k in keys)
    return f"SELECT file_key, status FROM {_ledger()} WHERE file_key IN ({listed})"


def _column_defs(columns: Sequence[tuple[str, ColumnType]]) -> str:
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
        ddl = f"CREATE TABLE IF NOT EXISTS {target} ({_column_defs(spec.target_columns())})"
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
    statements.append(f"CREATE TABLE IF NOT EXISTS {_tombstones(spec.table)} ({_column_defs(tomb_cols)})")
    lock = qualified_name(BOOKKEEPING_SCHEMA, load_lock_table(spec.table))
    statements.append(f"CREATE TABLE IF NOT EXISTS {lock} (load_id VARCHAR(64))")
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
    return f"ALTER TABLE {_tombstones(table)} ALTER COLUMN {quote_ident(column)} TYPE {new_type.sql}"


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
    return _retype(_tombstones(table), column, new_type)


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


def _match(left: str, right: str, pk: Sequence[str]) -> str:
    return " AND ".join(f"{left}.{quote_ident(c)} = {right}.{quote_ident(c)}" for c in pk)


def _value(source: str, name: str, ctype: ColumnType) -> str:
    ref = f"{source}.{quote_ident(name)}"
    return f"JSON_PARSE({ref})" if ctype.kind == "SUPER" else ref


def copy_sql(table: str, manifest_url: str, iam_role: str | None) -> str:
    """COPY Parquet files listed in a manifest. SERIALIZETOJSON turns nested Parquet columns into JSON."""
    role = sql_literal(iam_role) if iam_role else "default"
    return (
        f"COPY {quote_ident(table)} FROM {sql_literal(manifest_url)} IAM_ROLE {role} "
        "FORMAT AS PARQUET SERIALIZETOJSON MANIFEST"
    )


def _stage(spec: TableSpec, manifest_url: str, iam_role: str | None) -> list[str]:
    stage = quote_ident(STAGE_TABLE)
    cols = [(name, staging_type(ctype)) for name, ctype in spec.columns]
    return [
        f"DROP TABLE IF EXISTS {stage}",
        f"CREATE TEMP TABLE {stage} ({_column_defs(cols)})",
        copy_sql(STAGE_TABLE, manifest_url, iam_role),
    ]


def _ledger_insert(table: str, files: Sequence[LedgerEntry], load_id: str) -> str:
    """One INSERT for all files; each key appears once, so 200 files stay far below 100 KB of SQL."""
    ledger = _ledger()
    rows = []
    for i, entry in enumerate(files):
        count = "NULL" if entry.row_count is None else str(int(entry.row_count))
        reason = "NULL" if entry.reason is None else sql_literal(printable(entry.reason))
        values = [
            sql_literal(entry.key),
            sql_literal(entry.status),
            str(int(entry.content_length)),
            count,
            reason,
        ]
        if i == 0:
            # The first row names and types the columns for every engine (a bare NULL has no type).
            types = ["VARCHAR(1024)", "VARCHAR(16)", "BIGINT", "BIGINT", "VARCHAR(4096)"]
            names = ["file_key", "status", "content_length", "row_count", "reason"]
            values = [f"CAST({v} AS {t}) AS {n}" for v, t, n in zip(values, types, names, strict=True)]
        rows.append("SELECT " + ", ".join(values))
    return (
        f"INSERT INTO {ledger} (file_key, table_name, status, content_length, row_count, load_id, loaded_at, reason) "
        f"SELECT f.file_key, {sql_literal(table)}, f.status, f.content_length, f.row_count, "
        f"{sql_literal(load_id)}, GETDATE(), f.reason FROM ({' UNION ALL '.join(rows)}) AS f "
        f"WHERE NOT EXISTS (SELECT 1 FROM {ledger} WHERE {ledger}.file_key = f.file_key)"
    )


# Files per ledger INSERT: about 250 bytes each, so one statement stays far below the Data API's 100 KB.
LEDGER_FILES_PER_INSERT = 200


def ledger_insert_sql(table: str, files: Sequence[LedgerEntry], load_id: str) -> list[str]:
    """As many ledger INSERTs as the files need (a large snapshot's refresh records thousands).

    Also how files are recorded without being loaded (quarantined files).
    """
    step = LEDGER_FILES_PER_INSERT
    return [_ledger_insert(table, files[i : i + step], load_id) for i in range(0, len(files), step)]


def load_sql(
    spec: TableSpec,
    *,
    manifest_url: str,
    files: Sequence[LedgerEntry],
    load_id: str,
    iam_role: str | None = None,
    delete_mode: DeleteMode = "hard",
) -> list[str]:
    """Every statement of one CDC load of ``spec.table`` from the files in ``manifest_url``."""
    if not spec.is_cdc:
        raise ValueError(f"table {spec.table}: files without _op/_seq are snapshots; use full_refresh_sql")
    if not files:
        raise ValueError("a load needs at least one file")
    target = quote_ident(spec.table)
    stage = quote_ident(STAGE_TABLE)
    latest = quote_ident(LATEST_TABLE)
    tombs = _tombstones(spec.table)
    pk = spec.primary_key
    file_cols = ", ".join(quote_ident(c) for c in spec.column_names)
    partition = ", ".join(quote_ident(c) for c in pk)
    data = spec.data_columns
    meta = [c.name for c in TARGET_COLUMNS if c is not DELETED]
    # Data and bookkeeping columns of a target row made from a version in ``latest``; ``_deleted`` follows.
    insert_cols = ", ".join(quote_ident(c) for c in [*(n for n, _ in data), *meta, DELETED.name])
    insert_values = [_value(latest, n, t) for n, t in data] + [f"{latest}.{quote_ident(c)}" for c in meta]

    statements = [load_lock_sql(spec.table), *_stage(spec, manifest_url, iam_role)]
    statements += [
        f"DROP TABLE IF EXISTS {latest}",
        # Newest version per key within this load.
        f"CREATE TEMP TABLE {latest} AS SELECT {file_cols} FROM (SELECT {file_cols}, ROW_NUMBER() OVER "
        f'(PARTITION BY {partition} ORDER BY "_seq" DESC) AS {_RANK} FROM {stage}) AS ranked '
        f"WHERE {_RANK} = 1",
    ]
    if spec.kind == "export":
        statements += _export_seam(spec.table, pk, hard=delete_mode == "hard")
    else:
        # Versions the warehouse has already seen (replays, out-of-order batches) change nothing.
        statements.append(
            f"DELETE FROM {latest} USING {target} WHERE {_match(latest, target, pk)} "
            f'AND {latest}."_seq" <= {target}."_seq"'
        )
        if delete_mode == "hard":
            statements.append(
                f"DELETE FROM {latest} USING {tombs} WHERE {_match(latest, tombs, pk)} "
                f'AND {latest}."_seq" <= {tombs}."_seq"'
            )
    if delete_mode == "hard":
        tomb_cols = ", ".join(quote_ident(c) for c in [*pk, *(t.name for t in VERSION_COLUMNS)])
        statements += [
            f"DELETE FROM {target} USING {latest} WHERE {_match(target, latest, pk)} AND {latest}.\"_op\" = 'D'",
            f"DELETE FROM {tombs} USING {latest} WHERE {_match(tombs, latest, pk)}",
            f"INSERT INTO {tombs} ({tomb_cols}) SELECT {tomb_cols} FROM {latest} WHERE \"_op\" = 'D'",
        ]
    else:
        sets = ", ".join(f"{quote_ident(c.name)} = {latest}.{quote_ident(c.name)}" for c in VERSION_COLUMNS)
        statements += [
            f"UPDATE {target} SET {quote_ident(DELETED.name)} = TRUE, {sets} FROM {latest} "
            f"WHERE {_match(target, latest, pk)} AND {latest}.\"_op\" = 'D'",
            f"INSERT INTO {target} ({insert_cols}) "
            f"SELECT {', '.join(insert_values)}, TRUE FROM {latest} WHERE {latest}.\"_op\" = 'D' "
            f"AND NOT EXISTS (SELECT 1 FROM {target} WHERE {_match(target, latest, pk)})",
        ]
    statements.append(f"DELETE FROM {latest} WHERE \"_op\" = 'D'")

    updates = [f"{quote_ident(n)} = {_value(latest, n, t)}" for n, t in data if n not in pk]
    updates += [f"{quote_ident(c)} = {latest}.{quote_ident(c)}" for c in meta]
    updates.append(f"{quote_ident(DELETED.name)} = FALSE")
    statements.append(
        f"MERGE INTO {target} USING {latest} ON {_match(target, latest, pk)} "
        f"WHEN MATCHED THEN UPDATE SET {', '.join(updates)} "
        f"WHEN NOT MATCHED THEN INSERT ({insert_cols}) VALUES ({', '.join(insert_values)}, FALSE)"
    )
    statements += ledger_insert_sql(spec.table, files, load_id)
    statements += [f"DROP TABLE {latest}", f"DROP TABLE {stage}"]
    return statements


# How much earlier than an export's time a warehouse version must be for the export to replace it. Stream
# records carry ApproximateCreationDateTime rounded down to the second, so a change made at or after the
# export time can carry a time up to one second before it; such a version must win.
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html
SEAM_MARGIN_SECONDS = 1


def _export_seam(table: str, pk: Sequence[str], *, hard: bool) -> list[str]:
    """The seam between export rows (in the load's newest-per-key table) and what the warehouse holds.

    An export row describes its key at the export time T (its ``_event_time``). It replaces the
    warehouse's version, a row or a tombstone, only when that version is older than T (by more than
    :data:`SEAM_MARGIN_SECONDS`); a version from the stream at or after T, or of unknown time, wins. The
    row then takes over the sequence number of the version it replaced, so that later stream versions of
    the key (higher sequence numbers) still replace it and replays of older ones still change nothing.
    docs/backfill.md proves the cases.
    """
    target = quote_ident(table)
    latest = quote_ident(LATEST_TABLE)
    seam = f'DATEADD(second, -{SEAM_MARGIN_SECONDS}, {latest}."_event_time")'
    holders = [target, _tombstones(table)] if hard else [target]
    statements = []
    for holder in holders:
        statements.append(
            f"DELETE FROM {latest} USING {holder} WHERE {_match(latest, holder, pk)} "
            f'AND NOT COALESCE({holder}."_event_time" < {seam}, FALSE)'
        )
    for holder in holders:
        statements.append(
            f'UPDATE {latest} SET "_seq" = {holder}."_seq" FROM {holder} WHERE {_match(latest, holder, pk)} '
            f'AND {holder}."_seq" > {latest}."_seq"'
        )
    return statements


def full_refresh_sql(
    spec: TableSpec,
    *,
    manifest_url: str,
    files: Sequence[LedgerEntry],
    load_id: str,
    iam_role: str | None = None,
) -> list[str]:
    """Replace the table's contents with the snapshot files in ``manifest_url``, atomically.

    DELETE and INSERT in one transaction: readers keep seeing the old rows until the commit and the new
    ones after, never an empty or half-loaded table. (TRUNCATE would commit on Redshift and open exactly
    that window: https://docs.aws.amazon.com/redshift/latest/dg/r_TRUNCATE.html.) The tombstones of the
    table go too: the snapshot is the whole truth as of its export.
    """
    if not files:
        raise ValueError("a full refresh needs at least one file")
    target = quote_ident(spec.table)
    stage = quote_ident(STAGE_TABLE)
    data = spec.data_columns
    names = {n for n, _ in spec.columns}
    # A snapshot file may lack the version columns: the rows then have no version (NULL), and are not
    # TTL expiries.
    meta_values = [
        f"{stage}.{quote_ident(c.name)}" if c.name in names else ("FALSE" if c is TTL_EXPIRED else "NULL")
        for c in TARGET_COLUMNS
        if c is not DELETED
    ]
    insert_cols = [n for n, _ in data] + [c.name for c in TARGET_COLUMNS]
    values = [_value(stage, n, t) for n, t in data] + meta_values + ["FALSE"]
    where = f" WHERE {stage}.\"_op\" <> 'D'" if "_op" in names else ""
    return [
        load_lock_sql(spec.table),
        *_stage(spec, manifest_url, iam_role),
        f"DELETE FROM {target}",
        f"DELETE FROM {_tombstones(spec.table)}",
        f"INSERT INTO {target} ({', '.join(quote_ident(c) for c in insert_cols)}) "
        f"SELECT {', '.join(values)} FROM {stage}{where}",
        *ledger_insert_sql(spec.table, files, load_id),
        f"DROP TABLE {stage}",
    ]


def load_error_detail_sql(query_id: int) -> str:
    """File, line, column and reason of a failed COPY (Redshift's ``sys_load_error_detail``).

    https://docs.aws.amazon.com/redshift/latest/dg/SYS_LOAD_ERROR_DETAIL.html
    """
    return (
        "SELECT TRIM(file_name) AS file_name, line_number, TRIM(column_name) AS column_name, "
        "TRIM(error_message) AS error_message FROM sys_load_error_detail "
        f"WHERE query_id = {int(query_id)} ORDER BY start_time LIMIT 20"
    )
