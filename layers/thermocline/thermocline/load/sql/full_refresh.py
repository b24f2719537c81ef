# ruff: noqa: S608 -- building SQL is this module's job: every identifier goes through quote_ident and
# every value through sql_literal, so nothing reaches SQL unquoted.
"""A full refresh: a table's contents replaced by a snapshot (an RDS/Aurora export), atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from thermocline.lake.columns import DELETED, TARGET_COLUMNS, TTL_EXPIRED
from thermocline.lake.metadata import TableSpec
from thermocline.load.sql.bookkeeping import STAGE_TABLE, load_lock_sql, tombstones_name
from thermocline.load.sql.ledger import LedgerEntry, ledger_insert_sql
from thermocline.load.sql.staging import stage_sql, staged_names, target_value
from thermocline.names import quote_ident

__all__ = ["full_refresh_sql"]


def full_refresh_sql(
    spec: TableSpec,
    *,
    manifest_url: str,
    files: Sequence[LedgerEntry],
    load_id: str,
    iam_role: str | None = None,
    max_statement_bytes: int | None = None,
    super_bytes: Mapping[str, int] | None = None,
    target_columns: Sequence[str] = (),
) -> list[str]:
    """Replace the table's contents with the snapshot files in ``manifest_url``, atomically.

    DELETE and INSERT in one transaction: readers keep seeing the old rows until the commit and the new
    ones after, never an empty or half-loaded table. (TRUNCATE would commit on Redshift and open exactly
    that window: https://docs.aws.amazon.com/redshift/latest/dg/r_TRUNCATE.html.) The tombstones of the
    table go too: the snapshot is the whole truth as of its export.

    The INSERT names every column twice. Over ``max_statement_bytes`` (``Capabilities``: 1,599 columns
    with long names) it names none of the target's: it gives a value for each of ``target_columns`` (the
    target's columns in order, as ``table_columns_sql`` reads them; NULL for those the snapshot lacks),
    and the staging table's columns have short names (``staging.staged_names``). A column another loader
    adds after ``target_columns`` were read gets NULL: given fewer values than columns, Redshift loads the
    first n (https://docs.aws.amazon.com/redshift/latest/dg/r_INSERT_30.html), as the snapshot lacks it.
    ``super_bytes`` sizes the staging table's SUPER columns (``staging.stage_sql``).
    """
    if not files:
        raise ValueError("a full refresh needs at least one file")
    target = quote_ident(spec.table)
    stage = quote_ident(STAGE_TABLE)
    names = staged_names(spec, max_statement_bytes)
    present = {n for n, _ in spec.columns}
    # Each target column's value, the data columns first and ``_deleted`` last. A snapshot file may lack
    # the version columns: the rows then have no version (NULL), and are not TTL expiries.
    # The stage is read under a one-letter alias: at 1,599 columns each byte a column costs is 1.6 KB of a
    # statement the Data API limits to 100,000 bytes.
    values = {n: target_value("s", names[n], t) for n, t in spec.data_columns}
    for c in TARGET_COLUMNS:
        if c is not DELETED:
            values[c.name] = (
                f"s.{quote_ident(c.name)}" if c.name in present else ("FALSE" if c is TTL_EXPIRED else "NULL")
            )
    values[DELETED.name] = "FALSE"
    where = " WHERE s.\"_op\" <> 'D'" if "_op" in present else ""
    source = f" FROM {stage} AS s{where}"
    insert = (
        f"INSERT INTO {target} ({', '.join(quote_ident(c) for c in values)}) SELECT {', '.join(values.values())}"
        + source
    )
    if max_statement_bytes is not None and target_columns and len(insert.encode()) > max_statement_bytes:
        by_name = {name.lower(): value for name, value in values.items()}
        every = ", ".join(by_name.get(str(c).lower(), "NULL") for c in target_columns)
        insert = f"INSERT INTO {target} SELECT {every}{source}"
    return [
        load_lock_sql(spec.table),
        *stage_sql(spec, manifest_url, iam_role, names, super_bytes),
        f"DELETE FROM {target}",
        f"DELETE FROM {tombstones_name(spec.table)}",
        insert,
        *ledger_insert_sql(spec.table, files, load_id),
        f"DROP TABLE {stage}",
    ]
