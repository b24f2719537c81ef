# ruff: noqa: S608 -- building SQL is this module's job: every identifier goes through quote_ident and
# every value through sql_literal, so nothing reaches SQL unquoted.
"""A full refresh: a table's contents replaced by a snapshot (an RDS/Aurora export), atomically."""

from __future__ import annotations

from collections.abc import Sequence

from thermocline.lake.columns import DELETED, TARGET_COLUMNS, TTL_EXPIRED
from thermocline.lake.metadata import TableSpec
from thermocline.load.sql.bookkeeping import STAGE_TABLE, load_lock_sql, tombstones_name
from thermocline.load.sql.ledger import LedgerEntry, ledger_insert_sql
from thermocline.load.sql.staging import stage_sql, target_value
from thermocline.names import quote_ident

__all__ = ["full_refresh_sql"]


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
    # The stage is read under a one-letter alias: the INSERT names every column twice, and at 1,599
    # columns each byte a column costs is 1.6 KB of a statement the Data API limits to 100,000 bytes.
    meta_values = [
        f"s.{quote_ident(c.name)}" if c.name in names else ("FALSE" if c is TTL_EXPIRED else "NULL")
        for c in TARGET_COLUMNS
        if c is not DELETED
    ]
    insert_cols = [n for n, _ in data] + [c.name for c in TARGET_COLUMNS]
    values = [target_value("s", n, t) for n, t in data] + meta_values + ["FALSE"]
    where = " WHERE s.\"_op\" <> 'D'" if "_op" in names else ""
    return [
        load_lock_sql(spec.table),
        *stage_sql(spec, manifest_url, iam_role),
        f"DELETE FROM {target}",
        f"DELETE FROM {tombstones_name(spec.table)}",
        f"INSERT INTO {target} ({', '.join(quote_ident(c) for c in insert_cols)}) "
        f"SELECT {', '.join(values)} FROM {stage} AS s{where}",
        *ledger_insert_sql(spec.table, files, load_id),
        f"DROP TABLE {stage}",
    ]
