# ruff: noqa: S608 -- building SQL is this module's job: every identifier goes through quote_ident and
# every value through sql_literal (or int()), so nothing reaches SQL unquoted.
"""One CDC load of one table (``load_sql``), all in one transaction:

1. ``LOCK`` the target's load-lock table (``bookkeeping.load_lock_sql``), so two loaders of one table
   never overlap while readers keep seeing the old rows.
2. ``COPY`` the manifest's Parquet files into the staging table (``staging.stage_sql``).
3. Keep the newest ``_seq`` per primary key: found on the key and ``_seq`` alone, then joined back, so no
   step sorts whole rows (a wide table's rows are large, and Redshift advises against processing wider
   columns than needed: https://docs.aws.amazon.com/redshift/latest/dg/c_best-practices-smallest-column-size.html).
   Only a version that arrived more than once (a redelivered batch) is picked among its copies by a
   window, over those rows alone. Then drop versions not newer than what the target (or, for hard
   deletes, the tombstone table) already holds, so replays and out-of-order batches change nothing.
4. Apply deletes (hard: delete the row and remember a tombstone; soft: flag ``_deleted``), then replace
   the rows of the rest: delete them, insert the versions whole. A target column the files lack is so
   NULL in those rows, as it must be: a file has every column its table had recorded when it was decoded
   (``lake.schema_store``), so it lacks one only when none of its items had the attribute. An INSERT
   larger than the engine's statement limit (a wide table: it grows by about 110 bytes a column) is split:
   the keys are inserted, then the columns are set in groups that each fit, in the same transaction.
5. Record every file in the ledger.

Deleted keys are remembered in a tombstone table because a hard-deleted row leaves nothing in the target
to compare a late, older version against: without it an out-of-order insert would bring the row back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from thermocline.lake.columns import DELETED, TARGET_COLUMNS, VERSION_COLUMNS
from thermocline.lake.metadata import TableSpec
from thermocline.load.sql.bookkeeping import (
    LATEST_TABLE,
    NEWEST_TABLE,
    STAGE_TABLE,
    load_lock_sql,
    tombstones_name,
)
from thermocline.load.sql.ledger import LedgerEntry, ledger_insert_sql
from thermocline.load.sql.staging import (
    key_list,
    keys_match,
    stage_sql,
    staged_names,
    target_value,
    text_keys,
)
from thermocline.names import quote_ident

__all__ = ["SEAM_MARGIN_SECONDS", "DeleteMode", "load_sql"]

DeleteMode = Literal["hard", "soft"]

_RANK = quote_ident("thermocline$rank")
_COPIES = quote_ident("thermocline$copies")


def load_sql(
    spec: TableSpec,
    *,
    manifest_url: str,
    files: Sequence[LedgerEntry],
    load_id: str,
    iam_role: str | None = None,
    delete_mode: DeleteMode = "hard",
    max_statement_bytes: int | None = None,
    super_bytes: Mapping[str, int] | None = None,
) -> list[str]:
    """Every statement of one CDC load of ``spec.table`` from the files in ``manifest_url``.

    ``max_statement_bytes``: the engine's statement limit (``Capabilities``); an INSERT over it is split,
    and a staging table whose CREATE would exceed it has short column names (``staging.staged_names``).
    ``super_bytes``: the files' longest JSON text of each SUPER column, which sizes its staging column
    (``staging.stage_sql``).
    """
    if not spec.is_cdc:
        raise ValueError(f"table {spec.table}: files without _op/_seq are snapshots; use full_refresh_sql")
    if not files:
        raise ValueError("a load needs at least one file")
    target = quote_ident(spec.table)
    latest = quote_ident(LATEST_TABLE)
    tombs = tombstones_name(spec.table)
    pk = spec.primary_key
    text = text_keys(spec)

    names = staged_names(spec, max_statement_bytes)
    statements = [load_lock_sql(spec.table), *stage_sql(spec, manifest_url, iam_role, names, super_bytes)]
    statements += _newest_versions(spec, names)
    if spec.kind == "export":
        statements += _export_seam(spec.table, pk, text, hard=delete_mode == "hard")
    else:
        # Versions the warehouse has already seen (replays, out-of-order batches) change nothing.
        statements.append(
            f"DELETE FROM {latest} USING {target} WHERE {keys_match(latest, target, pk, text)} "
            f'AND {latest}."_seq" <= {target}."_seq"'
        )
        if delete_mode == "hard":
            statements.append(
                f"DELETE FROM {latest} USING {tombs} WHERE {keys_match(latest, tombs, pk, text)} "
                f'AND {latest}."_seq" <= {tombs}."_seq"'
            )
    deleted = "FALSE"
    if delete_mode == "hard":
        tomb_cols = ", ".join(quote_ident(c) for c in [*pk, *(t.name for t in VERSION_COLUMNS)])
        statements += [
            f"DELETE FROM {target} USING {latest} WHERE {keys_match(target, latest, pk, text)} "
            f"AND {latest}.\"_op\" = 'D'",
            f"DELETE FROM {tombs} USING {latest} WHERE {keys_match(tombs, latest, pk, text)}",
            f"INSERT INTO {tombs} ({tomb_cols}) SELECT {tomb_cols} FROM {latest} WHERE \"_op\" = 'D'",
            f"DELETE FROM {latest} WHERE \"_op\" = 'D'",
        ]
    else:
        # A delete of a row the target holds flags it and keeps its values; a delete of a key the target
        # never held is inserted below with its values, flagged.
        sets = ", ".join(f"{quote_ident(c.name)} = {latest}.{quote_ident(c.name)}" for c in VERSION_COLUMNS)
        statements += [
            f"UPDATE {target} SET {quote_ident(DELETED.name)} = TRUE, {sets} FROM {latest} "
            f"WHERE {keys_match(target, latest, pk, text)} AND {latest}.\"_op\" = 'D'",
            f"DELETE FROM {latest} USING {target} WHERE {keys_match(latest, target, pk, text)} "
            f"AND {latest}.\"_op\" = 'D'",
        ]
        deleted = f"{latest}.\"_op\" = 'D'"
    statements += _replace_rows(spec, names, deleted, max_statement_bytes)
    statements += ledger_insert_sql(spec.table, files, load_id)
    temporary = (LATEST_TABLE, NEWEST_TABLE, STAGE_TABLE)
    statements += [f"DROP TABLE {quote_ident(name)}" for name in temporary]
    return statements


def _newest_versions(spec: TableSpec, names: dict[str, str]) -> list[str]:
    """The load's newest version of each key, into ``LATEST_TABLE`` (columns as staged: ``names``).

    ``NEWEST_TABLE`` holds each key's newest ``_seq`` and how many copies of that version the files hold
    (a redelivered batch writes a change twice): the aggregation reads the key and ``_seq`` only.
    """
    stage, latest, newest = quote_ident(STAGE_TABLE), quote_ident(LATEST_TABLE), quote_ident(NEWEST_TABLE)
    pk = spec.primary_key
    text = text_keys(spec)
    keys = ", ".join(quote_ident(c) for c in pk)
    staged_keys = ", ".join(f"s.{quote_ident(c)}" for c in pk)
    on_newest = f'{keys_match("s", "n", pk, text)} AND s."_seq" = n."_seq"'
    file_cols = ", ".join(quote_ident(names[c]) for c in spec.column_names)
    return [
        f"DROP TABLE IF EXISTS {newest}",
        f'CREATE TEMP TABLE {newest} AS SELECT {staged_keys}, s."_seq", COUNT(*) AS {_COPIES} '
        f'FROM {stage} AS s JOIN (SELECT {keys}, MAX("_seq") AS "_seq" FROM {stage} '
        f"GROUP BY {key_list(pk, text)}) AS m "
        f'ON {keys_match("s", "m", pk, text)} AND s."_seq" = m."_seq" '
        f'GROUP BY {key_list(pk, text, "s.")}, s."_seq"',
        f"DROP TABLE IF EXISTS {latest}",
        f"CREATE TEMP TABLE {latest} AS SELECT s.* FROM {stage} AS s JOIN {newest} AS n ON {on_newest} "
        f"WHERE n.{_COPIES} = 1",
        # Copies of one change are the same row: any one of them will do.
        f"INSERT INTO {latest} SELECT {file_cols} FROM (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY "
        f"{key_list(pk, text, 's.')}) AS {_RANK} FROM {stage} AS s JOIN {newest} AS n ON {on_newest} "
        f"WHERE n.{_COPIES} > 1) AS copies WHERE {_RANK} = 1",
    ]


def _replace_rows(
    spec: TableSpec, names: dict[str, str], deleted: str, max_statement_bytes: int | None
) -> list[str]:
    """Every version left in ``LATEST_TABLE`` becomes its key's row in the target, whole: the rows it
    replaces are deleted, then it is inserted, Redshift's merge by replacing existing rows
    (https://docs.aws.amazon.com/redshift/latest/dg/t_updating-inserting-using-staging-tables-.html). A row
    so holds its version and nothing of an older one: a column the version's file lacks is NULL, even one
    another loader added to the table during this load (an UPDATE could clear only the columns known when
    the statements were written).

    One INSERT when it fits ``max_statement_bytes``; otherwise the keys are inserted and every other
    column is then set by UPDATEs over groups of columns that each fit (the same rows, in the same
    transaction). ``deleted`` is the value of ``_deleted``.
    """
    target, latest = quote_ident(spec.table), quote_ident(LATEST_TABLE)
    pk = spec.primary_key
    data = spec.data_columns
    meta = [c.name for c in TARGET_COLUMNS if c is not DELETED]
    on = keys_match(target, latest, pk, text_keys(spec))
    statements = [f"DELETE FROM {target} USING {latest} WHERE {on}"]
    # Data and bookkeeping columns of a target row made from a version in ``latest``; ``_deleted`` last.
    insert_cols = ", ".join(quote_ident(c) for c in [*(n for n, _ in data), *meta, DELETED.name])
    values = [target_value(latest, names[n], t) for n, t in data] + [
        f"{latest}.{quote_ident(c)}" for c in meta
    ]
    insert = f"INSERT INTO {target} ({insert_cols}) SELECT {', '.join(values)}, {deleted} FROM {latest}"
    if max_statement_bytes is None or len(insert.encode()) <= max_statement_bytes:
        return [*statements, insert]
    keys = ", ".join(quote_ident(c) for c in pk)
    statements.append(f"INSERT INTO {target} ({keys}) SELECT {keys} FROM {latest}")
    sets = [f"{quote_ident(n)} = {target_value(latest, names[n], t)}" for n, t in data if n not in pk]
    sets += [f"{quote_ident(c)} = {latest}.{quote_ident(c)}" for c in meta]
    sets.append(f"{quote_ident(DELETED.name)} = {deleted}")
    head, tail = f"UPDATE {target} SET ", f" FROM {latest} WHERE {on}"
    room = max_statement_bytes - len((head + tail).encode())
    group: list[str] = []
    size = 0
    for assignment in sets:
        cost = len(assignment.encode()) + 2
        if group and size + cost > room:
            statements.append(head + ", ".join(group) + tail)
            group, size = [], 0
        group.append(assignment)
        size += cost
    statements.append(head + ", ".join(group) + tail)
    return statements


# How much earlier than an export's time a warehouse version must be for the export to replace it. Stream
# records carry ApproximateCreationDateTime rounded down to the second, so a change made at or after the
# export time can carry a time up to one second before it; such a version must win.
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html
SEAM_MARGIN_SECONDS = 1


def _export_seam(table: str, pk: Sequence[str], text: frozenset[str], *, hard: bool) -> list[str]:
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
            f"DELETE FROM {latest} USING {holder} WHERE {keys_match(latest, holder, pk, text)} "
            f'AND NOT COALESCE({holder}."_event_time" < {seam}, FALSE)'
        )
    for holder in holders:
        statements.append(
            f'UPDATE {latest} SET "_seq" = {holder}."_seq" FROM {holder} WHERE {keys_match(latest, holder, pk, text)} '
            f'AND {holder}."_seq" > {latest}."_seq"'
        )
    return statements
