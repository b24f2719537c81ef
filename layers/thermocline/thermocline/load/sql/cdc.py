# ruff: noqa: S608 -- building SQL is this module's job: every identifier goes through quote_ident and
# every value through sql_literal (or int()), so nothing reaches SQL unquoted.
"""One CDC load of one table (``load_sql``), all in one transaction:

1. ``LOCK`` the target's load-lock table (``bookkeeping.load_lock_sql``), so two loaders of one table
   never overlap while readers keep seeing the old rows.
2. ``COPY`` the manifest's Parquet files into the staging table (``staging.stage_sql``).
3. Keep the newest ``_seq`` per primary key; drop versions not newer than what the target (or, for hard
   deletes, the tombstone table) already holds, so replays and out-of-order batches change nothing.
4. Apply deletes (hard: delete the row and remember a tombstone; soft: flag ``_deleted``), then MERGE the
   rest (update and insert). An updated row takes the whole version: a target column the files lack is
   set to NULL, since a version's file has every column recorded when it was decoded
   (``lake.schema_store``), so it lacks a column only when none of its items had the attribute.
5. Record every file in the ledger.

Deleted keys are remembered in a tombstone table because a hard-deleted row leaves nothing in the target
to compare a late, older version against: without it an out-of-order insert would bring the row back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from thermocline.lake.columns import (
    DELETED,
    OVERFLOW_COLUMN,
    RESERVED_COLUMNS,
    TARGET_COLUMNS,
    VERSION_COLUMNS,
)
from thermocline.lake.metadata import TableSpec
from thermocline.load.sql.bookkeeping import LATEST_TABLE, STAGE_TABLE, load_lock_sql, tombstones_name
from thermocline.load.sql.ledger import LedgerEntry, ledger_insert_sql
from thermocline.load.sql.staging import keys_match, stage_sql, target_value
from thermocline.names import quote_ident

__all__ = ["SEAM_MARGIN_SECONDS", "DeleteMode", "load_sql"]

DeleteMode = Literal["hard", "soft"]

_RANK = quote_ident("thermocline$rank")
# Columns that describe a load, not an item: never cleared. ``_overflow`` holds the item's own values.
_BOOKKEEPING = RESERVED_COLUMNS - {OVERFLOW_COLUMN}


def load_sql(
    spec: TableSpec,
    *,
    manifest_url: str,
    files: Sequence[LedgerEntry],
    load_id: str,
    iam_role: str | None = None,
    delete_mode: DeleteMode = "hard",
    target_columns: Iterable[str] = (),
) -> list[str]:
    """Every statement of one CDC load of ``spec.table`` from the files in ``manifest_url``.

    ``target_columns``: the target's columns as the warehouse names them; each item column among them the
    files lack is set to NULL in every row the load updates.
    """
    if not spec.is_cdc:
        raise ValueError(f"table {spec.table}: files without _op/_seq are snapshots; use full_refresh_sql")
    if not files:
        raise ValueError("a load needs at least one file")
    target = quote_ident(spec.table)
    stage = quote_ident(STAGE_TABLE)
    latest = quote_ident(LATEST_TABLE)
    tombs = tombstones_name(spec.table)
    pk = spec.primary_key
    file_cols = ", ".join(quote_ident(c) for c in spec.column_names)
    partition = ", ".join(quote_ident(c) for c in pk)
    data = spec.data_columns
    meta = [c.name for c in TARGET_COLUMNS if c is not DELETED]
    # Data and bookkeeping columns of a target row made from a version in ``latest``; ``_deleted`` follows.
    insert_cols = ", ".join(quote_ident(c) for c in [*(n for n, _ in data), *meta, DELETED.name])
    insert_values = [target_value(latest, n, t) for n, t in data] + [
        f"{latest}.{quote_ident(c)}" for c in meta
    ]

    statements = [load_lock_sql(spec.table), *stage_sql(spec, manifest_url, iam_role)]
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
            f"DELETE FROM {latest} USING {target} WHERE {keys_match(latest, target, pk)} "
            f'AND {latest}."_seq" <= {target}."_seq"'
        )
        if delete_mode == "hard":
            statements.append(
                f"DELETE FROM {latest} USING {tombs} WHERE {keys_match(latest, tombs, pk)} "
                f'AND {latest}."_seq" <= {tombs}."_seq"'
            )
    if delete_mode == "hard":
        tomb_cols = ", ".join(quote_ident(c) for c in [*pk, *(t.name for t in VERSION_COLUMNS)])
        statements += [
            f"DELETE FROM {target} USING {latest} WHERE {keys_match(target, latest, pk)} "
            f"AND {latest}.\"_op\" = 'D'",
            f"DELETE FROM {tombs} USING {latest} WHERE {keys_match(tombs, latest, pk)}",
            f"INSERT INTO {tombs} ({tomb_cols}) SELECT {tomb_cols} FROM {latest} WHERE \"_op\" = 'D'",
        ]
    else:
        sets = ", ".join(f"{quote_ident(c.name)} = {latest}.{quote_ident(c.name)}" for c in VERSION_COLUMNS)
        statements += [
            f"UPDATE {target} SET {quote_ident(DELETED.name)} = TRUE, {sets} FROM {latest} "
            f"WHERE {keys_match(target, latest, pk)} AND {latest}.\"_op\" = 'D'",
            f"INSERT INTO {target} ({insert_cols}) "
            f"SELECT {', '.join(insert_values)}, TRUE FROM {latest} WHERE {latest}.\"_op\" = 'D' "
            f"AND NOT EXISTS (SELECT 1 FROM {target} WHERE {keys_match(target, latest, pk)})",
        ]
    statements.append(f"DELETE FROM {latest} WHERE \"_op\" = 'D'")

    updates = [f"{quote_ident(n)} = {target_value(latest, n, t)}" for n, t in data if n not in pk]
    updates += [f"{quote_ident(c)} = NULL" for c in _absent_columns(spec, target_columns)]
    updates += [f"{quote_ident(c)} = {latest}.{quote_ident(c)}" for c in meta]
    updates.append(f"{quote_ident(DELETED.name)} = FALSE")
    statements.append(
        f"MERGE INTO {target} USING {latest} ON {keys_match(target, latest, pk)} "
        f"WHEN MATCHED THEN UPDATE SET {', '.join(updates)} "
        f"WHEN NOT MATCHED THEN INSERT ({insert_cols}) VALUES ({', '.join(insert_values)}, FALSE)"
    )
    statements += ledger_insert_sql(spec.table, files, load_id)
    statements += [f"DROP TABLE {latest}", f"DROP TABLE {stage}"]
    return statements


def _absent_columns(spec: TableSpec, target_columns: Iterable[str]) -> list[str]:
    """The item columns of the target (``target_columns``) that ``spec``'s files lack."""
    have = {name.lower() for name in spec.column_names}
    return [c for c in target_columns if c.lower() not in have and c.lower() not in _BOOKKEEPING]


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
    holders = [target, tombstones_name(table)] if hard else [target]
    statements = []
    for holder in holders:
        statements.append(
            f"DELETE FROM {latest} USING {holder} WHERE {keys_match(latest, holder, pk)} "
            f'AND NOT COALESCE({holder}."_event_time" < {seam}, FALSE)'
        )
    for holder in holders:
        statements.append(
            f'UPDATE {latest} SET "_seq" = {holder}."_seq" FROM {holder} WHERE {keys_match(latest, holder, pk)} '
            f'AND {holder}."_seq" > {latest}."_seq"'
        )
    return statements
