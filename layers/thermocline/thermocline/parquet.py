"""Lake files: Parquet bytes carrying the ``thermocline`` schema metadata, and the lake's object keys.

The key layout and the metadata JSON are the contract between ingest and load (docs/architecture.md,
"Lake files"). Pure: builds bytes and strings, never talks to S3.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thermocline.schema import METADATA_COLUMNS, OVERFLOW_COLUMN, TableSchema

__all__ = [
    "METADATA_KEY",
    "export_lake_key",
    "export_token",
    "lake_key",
    "lake_metadata",
    "oversize_key",
    "quarantine_key",
    "read_lake_metadata",
    "shard_token",
    "snapshot_key",
    "snapshot_stamp",
    "split_by_event_date",
    "to_parquet_bytes",
    "with_lake_metadata",
]

METADATA_KEY = b"thermocline"
# Snappy: every reader of the lake (Redshift COPY and Spectrum, Athena, DuckDB, Spark) decodes it, and it
# is cheap for Lambda's CPU. One Lambda batch is at most 10,000 records, so a file is one row group; the cap
# keeps row groups near the 128 MB Athena and Spectrum split on, should a caller write bigger tables.
COMPRESSION = "snappy"
ROW_GROUP_ROWS = 1_000_000


def lake_metadata(
    schema: TableSchema, file_columns: list[str] | None = None, kind: str | None = None
) -> dict[str, Any]:
    """The ``thermocline`` metadata JSON object for a file of ``schema``'s table.

    ``columns`` maps every data column of the file (the item's attributes and ``_overflow``; not the
    ``_op``/``_seq``/... bookkeeping columns, whose types are fixed) to its Redshift type; ``attributes``
    maps each attribute column to the source attribute name it holds. ``kind`` ``"export"`` marks rows
    that are a table's state at a point in time (a DynamoDB export), which the loader applies across the
    seam with the stream (docs/backfill.md); change files carry no ``kind``.
    """
    names = [c for c in (file_columns or list(schema.columns)) if c in schema.columns]
    columns = {name: schema.columns[name].type.sql for name in names}
    columns[OVERFLOW_COLUMN] = "SUPER"
    meta: dict[str, Any] = {
        "version": 1,
        "table": schema.table,
        "primary_key": list(schema.primary_key),
        "columns": columns,
        "sort_key": list(schema.sort_key),
        "dist_key": schema.dist_key,
        "attributes": {name: schema.columns[name].attribute for name in names},
        "overflow_column": OVERFLOW_COLUMN,
        "metadata_columns": list(METADATA_COLUMNS),
    }
    if kind is not None:
        meta["kind"] = kind
    return meta


def with_lake_metadata(table: pa.Table, schema: TableSchema, kind: str | None = None) -> pa.Table:
    meta = lake_metadata(schema, table.column_names, kind)
    # ensure_ascii keeps the metadata valid UTF-8 even for attribute names no encoder would accept.
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(meta, ensure_ascii=True).encode()})


def read_lake_metadata(source: pa.Schema | pa.Table) -> dict[str, Any]:
    """The ``thermocline`` metadata of an Arrow table or schema (as read back from a lake file)."""
    schema = source.schema if isinstance(source, pa.Table) else source
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError("no 'thermocline' schema metadata")
    return json.loads(raw)


def to_parquet_bytes(table: pa.Table) -> bytes:
    """Parquet bytes of a lake table (metadata preserved)."""
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression=COMPRESSION,
        row_group_size=ROW_GROUP_ROWS,
        # Redshift and Athena read microsecond timestamps; never let a writer default to nanoseconds.
        coerce_timestamps="us",
        allow_truncated_timestamps=False,
        store_schema=True,
    )
    return sink.getvalue()


def split_by_event_date(table: pa.Table, default_date: str) -> list[tuple[str, pa.Table]]:
    """Split lake rows by the UTC date of ``_event_time`` (``YYYY-MM-DD``), in date order.

    Rows without an event time (hand-written events lacking ``ApproximateCreationDateTime``) go to
    ``default_date``.
    """
    if table.num_rows == 0:
        return []
    dates = pc.strftime(table["_event_time"], format="%Y-%m-%d").fill_null(default_date)
    unique = sorted(pc.unique(dates).to_pylist())
    if len(unique) == 1:
        return [(unique[0], table)]
    return [(d, table.filter(pc.equal(dates, d))) for d in unique]


def shard_token(event_source_arn: str) -> str:
    """A stable, key-safe stand-in for the shard id.

    Lambda does not tell the function which shard a batch came from; one invocation holds records of one
    shard of one stream, and sequence numbers do not repeat within a stream, so the stream ARN (hashed)
    plus the sequence range identifies the batch.
    """
    return "s" + hashlib.sha256(event_source_arn.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def lake_key(prefix: str, table: str, date: str, shard: str, first_seq: str, last_seq: str) -> str:
    """``cdc/<table>/dt=YYYY-MM-DD/<shard>-<first-seq>-<last-seq>.parquet`` (sequence numbers padded).

    A pure function of the batch: a retried batch overwrites its own file instead of adding a duplicate.
    """
    return f"{_prefix(prefix)}{table}/dt={date}/{shard}-{first_seq}-{last_seq}.parquet"


def export_lake_key(prefix: str, table: str, date: str, export_arn: str, file_index: int, chunk: int) -> str:
    """``cdc/<table>/dt=YYYY-MM-DD/x<export-token>-<file>-<chunk>.parquet`` for rows of a table export.

    A pure function of the export and the chunk of its data file, so a chunk written again after an
    interruption overwrites its own file.
    """
    return (
        f"{_prefix(prefix)}{table}/dt={date}/{export_token(export_arn)}-{file_index:06d}-{chunk:06d}.parquet"
    )


def export_token(export_arn: str) -> str:
    """The name part every lake file of one export shares (``x`` and 12 hex digits)."""
    return "x" + hashlib.sha256(export_arn.encode("utf-8")).hexdigest()[:12]


def quarantine_key(prefix: str, table: str | None, date: str, shard: str, seq: str) -> str:
    """``quarantine/<table-or-unknown>/dt=YYYY-MM-DD/<shard>-<seq>.json``."""
    return f"{_prefix(prefix)}{table or 'unknown'}/dt={date}/{shard}-{seq}.json"


def oversize_key(prefix: str, table: str, sha256: str) -> str:
    """``cdc/<table>/_oversize/<sha256>.json``: a value too large for a warehouse row, stored whole.

    Beside the table's lake files, in a folder Athena, Spectrum and Hive skip (leading ``_``), and not a
    ``.parquet`` object, so the loader's discovery never sees it.
    """
    return f"{_prefix(prefix)}{table}/_oversize/{sha256}.json"


def snapshot_stamp(snapshot_time: datetime) -> str:
    """``YYYYMMDDTHHMMSSffffffZ``: fixed width, so text order is time order (the newest applied export
    of a table is the largest key in the ledger)."""
    return snapshot_time.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def snapshot_key(prefix: str, table: str, snapshot_time: datetime, export_id: str, index: int) -> str:
    """``snapshot/<table>/at=<stamp>/<export-id>/part-<index>.parquet``: one lake file per exported part.

    A pure function of the export, so a retried export rewrites its own files.
    """
    return f"{_prefix(prefix)}{table}/at={snapshot_stamp(snapshot_time)}/{export_id}/part-{index:05d}.parquet"


def utc_date(epoch_us: int | None, default: datetime) -> str:
    if epoch_us is None:
        return default.astimezone(UTC).strftime("%Y-%m-%d")
    return datetime.fromtimestamp(epoch_us / 1_000_000, tz=UTC).strftime("%Y-%m-%d")


def _prefix(prefix: str) -> str:
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"
