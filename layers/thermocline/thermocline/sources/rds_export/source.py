"""One exported table → snapshot lake files (adapter: reads the export bucket, writes the lake).

Two passes over the table's parts (:mod:`restore`), each part read batch by batch; each part becomes one
lake file, written with ``pyarrow``'s streaming writer into memory and put once it is complete, so one
part's compressed output is the largest thing held. Oversized values are stored before the file that
refers to them.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from thermocline.lake.keys import snapshot_key
from thermocline.lake.parquet import COMPRESSION
from thermocline.names import table_identifier
from thermocline.sources.rds_export.layout import ExportInfo, TableExport
from thermocline.sources.rds_export.reader import list_parts, read_part_batches
from thermocline.sources.rds_export.restore import TableRestorer

__all__ = ["TableFiles", "warehouse_table_name", "write_table"]


@dataclass
class TableFiles:
    """The lake files of one exported table, ready for a full refresh."""

    table: str
    keys: list[str] = field(default_factory=list)
    rows: int = 0
    parts: int = 0
    overflowed: int = 0
    spilled: int = 0


def warehouse_table_name(table: TableExport) -> str:
    """The source table's name, prefixed by its schema when that is not ``public`` (PostgreSQL)."""
    if table.engine == "postgres" and table.schema != "public":
        return table_identifier(f"{table.schema}_{table.table}")
    return table_identifier(table.table)


def write_table(
    s3_client: Any,
    *,
    export_bucket: str,
    info: ExportInfo,
    export_prefix: str,
    table: TableExport,
    warehouse_table: str,
    lake_bucket: str,
    snapshot_prefix: str,
    now: dt.datetime,
    primary_key: list[str] | None = None,
) -> TableFiles:
    """The lake files of one exported table; ``now`` stands for the snapshot time when the export names
    none (it is the order of snapshots in the lake keys)."""
    snapshot_time = info.snapshot_time or now
    parts = list_parts(s3_client, export_bucket, export_prefix, info.export_id, table)
    restorer = TableRestorer(table, warehouse_table, prefix=snapshot_prefix)
    observed = restorer.observed_columns
    if observed:
        for key, size in parts:
            for batch in read_part_batches(s3_client, export_bucket, key, size, observed):
                restorer.observe(batch)
    schema = restorer.schema()
    if primary_key:
        by_source = {c.attribute: c.name for c in schema.columns.values()}
        schema.primary_key = [
            by_source.get(c, c) for c in primary_key if by_source.get(c, c) in schema.columns
        ]
    source = f"{table.engine}:{table.target}"
    result = TableFiles(warehouse_table, parts=len(parts))
    for index, (key, size) in enumerate(parts or [("", 0)]):
        sink = io.BytesIO()
        writer: pq.ParquetWriter | None = None
        batches = read_part_batches(s3_client, export_bucket, key, size) if key else iter([_empty(table)])
        for batch in batches:
            lake, spilled = restorer.restore(
                batch, source=source, export_id=info.export_id, snapshot_time=snapshot_time
            )
            for spill_key, body in spilled.items():
                s3_client.put_object(
                    Bucket=lake_bucket, Key=spill_key, Body=body, ContentType="application/json"
                )
            result.spilled += len(spilled)
            result.overflowed += lake.num_rows - lake["_overflow"].null_count
            result.rows += lake.num_rows
            if writer is None:
                writer = pq.ParquetWriter(
                    sink, lake.schema, compression=COMPRESSION, coerce_timestamps="us", store_schema=True
                )
            writer.write_table(lake)
        if writer is None:  # a part without rows still makes a file: the refresh must see the schema
            lake, _ = restorer.restore(
                _empty(table), source=source, export_id=info.export_id, snapshot_time=snapshot_time
            )
            writer = pq.ParquetWriter(sink, lake.schema, compression=COMPRESSION, store_schema=True)
            writer.write_table(lake)
        writer.close()
        lake_key = snapshot_key(snapshot_prefix, warehouse_table, snapshot_time, info.export_id, index)
        s3_client.put_object(Bucket=lake_bucket, Key=lake_key, Body=sink.getvalue())
        result.keys.append(lake_key)
    return result


def _empty(table: TableExport) -> pa.Table:
    return pa.table({c.name: pa.nulls(0, pa.string()) for c in table.columns})
