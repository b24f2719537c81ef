"""The local stand-in for RDS's export: a real PostgreSQL database → an export in the RDS layout in S3.

It writes what AWS's export writes for PostgreSQL ("Data conversion when exporting to an Amazon S3
bucket", Amazon RDS User Guide): smallint, integer, bigint, real, double precision and boolean typed,
bytea as bytes, and every other type as its PostgreSQL text (``DateStyle ISO``, ``TimeZone UTC``,
``IntervalStyle postgres``), in gzip-compressed Parquet parts under
``<export-id>/<database>/<schema>.<table>/1/part-<n>-<uuid>.gz.parquet``, and the ``export_info`` and
``export_tables_info`` files the ingest reads (:mod:`thermocline.sources.rds_export.layout`).

All tables are read in one REPEATABLE READ transaction, so they are consistent as a snapshot is, through a
server-side cursor, one part at a time.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from thermocline.names import quote_ident
from thermocline.sources.rds_export.layout import (
    SourceColumn,
    TableExport,
    export_info_doc,
    export_info_key,
    table_prefix,
    tables_info_doc,
    tables_info_key,
)

__all__ = ["ExportWriteResult", "write_postgres_export", "write_rows_export"]

# PostgreSQL types the export writes typed (AWS's table); everything else is written as text.
_TYPED: dict[str, tuple[pa.DataType, str]] = {
    "smallint": (pa.int16(), "int32"),
    "integer": (pa.int32(), "int32"),
    "bigint": (pa.int64(), "int64"),
    "real": (pa.float32(), "float"),
    "double precision": (pa.float64(), "double"),
    "boolean": (pa.bool_(), "boolean"),
    "bytea": (pa.binary(), "binary"),
}
# Column names AWS cannot export: a table with one is skipped ("Limitations", Exporting DB snapshot data).
_UNEXPORTABLE = set(",;{}()\n\t= ")
ROWS_PER_PART = 50_000
ROWS_PER_GROUP = 10_000


@dataclass
class ExportWriteResult:
    export_id: str
    snapshot_time: dt.datetime
    tables: dict[str, int] = field(default_factory=dict)  # target → rows
    skipped: dict[str, str] = field(default_factory=dict)
    parts: int = 0
    bytes: int = 0


def _tables(cur: Any, wanted: list[str] | None) -> list[tuple[str, str]]:
    cur.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p' AND NOT c.relispartition "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
        "ORDER BY 1, 2"
    )
    found = [(str(s), str(t)) for s, t in cur.fetchall()]
    if not wanted:
        return found
    selected = []
    for w in wanted:
        schema, _, table = w.rpartition(".")
        key = (schema or "public", table)
        if key not in found:
            raise ValueError(
                f"no table {w!r} in the database (tables: {', '.join(f'{s}.{t}' for s, t in found)})"
            )
        selected.append(key)
    return selected


def _columns(cur: Any, schema: str, table: str) -> list[SourceColumn]:
    cur.execute(
        "SELECT column_name, data_type, COALESCE(character_maximum_length, 0), COALESCE(numeric_precision, 0), "
        "COALESCE(datetime_precision, 0) FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table),
    )
    columns = []
    for name, data_type, chars, precision, dt_precision in cur.fetchall():
        exported = _TYPED.get(str(data_type), (pa.string(), "binary (UTF8)"))[1]
        columns.append(
            SourceColumn(str(name), str(data_type), exported, int(chars), int(precision), int(dt_precision))
        )
    return columns


def _part_body(rows: list[tuple[Any, ...]], schema: pa.Schema) -> bytes:
    arrays = [pa.array([r[i] for r in rows], f.type) for i, f in enumerate(schema)]
    sink = io.BytesIO()
    pq.write_table(
        pa.Table.from_arrays(arrays, schema=schema), sink, compression="gzip", row_group_size=ROWS_PER_GROUP
    )
    return sink.getvalue()


def write_postgres_export(
    conn: Any,
    s3_client: Any,
    *,
    bucket: str,
    export_id: str,
    source_arn: str,
    s3_prefix: str = "",
    tables: list[str] | None = None,
    rows_per_part: int = ROWS_PER_PART,
) -> ExportWriteResult:
    """Export every (or each named ``schema.table``) table of the database ``conn`` is connected to."""
    started = dt.datetime.now(dt.UTC)
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        with conn.cursor() as cur:
            for setting in ("DateStyle = 'ISO, MDY'", "TimeZone = 'UTC'", "IntervalStyle = 'postgres'"):
                cur.execute(f"SET LOCAL {setting}")
            cur.execute("SELECT current_database(), now()")
            database, snapshot_time = cur.fetchone()
            result = ExportWriteResult(export_id, snapshot_time)
            entries = []
            for schema, table in _tables(cur, tables):
                target = f"{database}.{schema}.{table}"
                columns = _columns(cur, schema, table)
                bad = [c.name for c in columns if _UNEXPORTABLE & set(c.name)]
                if bad:
                    result.skipped[target] = f"column names AWS cannot export: {bad}"
                    continue
                export = TableExport(target, "COMPLETE", tuple(columns))
                stats, rows = _write_table(
                    conn,
                    s3_client,
                    bucket,
                    s3_prefix,
                    export_id,
                    export,
                    (schema, table),
                    rows_per_part,
                    result,
                )
                entries.append((export, stats))
                result.tables[target] = rows
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    _finish(s3_client, bucket, s3_prefix, export_id, source_arn, started, entries, result, list(tables or []))
    return result


def _finish(
    s3_client: Any,
    bucket: str,
    s3_prefix: str,
    export_id: str,
    source_arn: str,
    started: dt.datetime,
    entries: list[tuple[TableExport, dict[str, Any]]],
    result: ExportWriteResult,
    export_only: list[str],
) -> None:
    """The metadata files, written last: an export is readable once ``export_info`` says COMPLETE."""
    s3_client.put_object(
        Bucket=bucket,
        Key=tables_info_key(s3_prefix, export_id, 1, max(1, len(entries))),
        Body=json.dumps(tables_info_doc(entries)).encode(),
    )
    info = export_info_doc(
        export_id=export_id,
        source_arn=source_arn,
        snapshot_time=result.snapshot_time,
        started=started,
        ended=dt.datetime.now(dt.UTC),
        s3_bucket=bucket,
        s3_prefix=s3_prefix,
        iam_role_arn="",
        kms_key_id="",
        export_only=export_only,
        total_gb=round(result.bytes / 1e9, 6),
    )
    s3_client.put_object(
        Bucket=bucket, Key=export_info_key(s3_prefix, export_id), Body=json.dumps(info).encode()
    )


def write_rows_export(
    s3_client: Any,
    *,
    bucket: str,
    export_id: str,
    source_arn: str,
    database: str,
    tables: list[tuple[str, tuple[SourceColumn, ...], list[tuple[Any, ...]]]],
    render: Any,
    s3_prefix: str = "",
    rows_per_part: int = ROWS_PER_PART,
) -> ExportWriteResult:
    """The same export from rows in memory (``public`` schema), for machines without PostgreSQL:
    typed columns as values, the others as ``render(value)`` (PostgreSQL's text of the value)."""
    started = dt.datetime.now(dt.UTC)
    result = ExportWriteResult(export_id, started)
    entries = []
    for name, columns, rows in tables:
        export = TableExport(f"{database}.public.{name}", "COMPLETE", columns)
        typed = [c.original_type in _TYPED for c in columns]
        text_rows = [tuple(v if t else render(v) for v, t in zip(row, typed, strict=True)) for row in rows]
        batches = (text_rows[i : i + rows_per_part] for i in range(0, len(text_rows), rows_per_part))
        stats, count = _put_parts(s3_client, bucket, s3_prefix, export_id, export, batches, result)
        entries.append((export, stats))
        result.tables[export.target] = count
    _finish(s3_client, bucket, s3_prefix, export_id, source_arn, started, entries, result, [])
    return result


def _write_table(
    conn: Any,
    s3_client: Any,
    bucket: str,
    s3_prefix: str,
    export_id: str,
    export: TableExport,
    name: tuple[str, str],
    rows_per_part: int,
    result: ExportWriteResult,
) -> tuple[dict[str, Any], int]:
    select = ", ".join(
        quote_ident(c.name) if c.original_type in _TYPED else f"{quote_ident(c.name)}::text"
        for c in export.columns
    )
    with conn.cursor(name=f"export_{uuid.uuid4().hex[:12]}") as cur:
        cur.itersize = ROWS_PER_GROUP
        cur.execute(f"SELECT {select} FROM {quote_ident(name[0])}.{quote_ident(name[1])}")  # noqa: S608
        batches = iter(lambda: cur.fetchmany(rows_per_part), [])
        return _put_parts(s3_client, bucket, s3_prefix, export_id, export, batches, result)


def _put_parts(
    s3_client: Any,
    bucket: str,
    s3_prefix: str,
    export_id: str,
    export: TableExport,
    batches: Any,
    result: ExportWriteResult,
) -> tuple[dict[str, Any], int]:
    arrow = pa.schema(
        [pa.field(c.name, _TYPED.get(c.original_type, (pa.string(), ""))[0]) for c in export.columns]
    )
    prefix = table_prefix(s3_prefix, export_id, export) + "1/"
    extraction_start = dt.datetime.now(dt.UTC)
    rows = parts = size = 0
    for batch in batches:
        body = _part_body(batch, arrow)
        key = f"{prefix}part-{parts:05d}-{uuid.uuid4()}-c000.gz.parquet"
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
        rows += len(batch)
        parts += 1
        size += len(body)
    result.parts += parts
    result.bytes += size
    stats = {
        "ExtractionStartTime": extraction_start.isoformat(),
        "ExtractionEndTime": dt.datetime.now(dt.UTC).isoformat(),
        "partitioningInfo": {
            "numberOfPartitions": max(parts, 1),
            "numberOfCompletedPartitions": max(parts, 1),
        },
        "sizeGB": round(size / 1e9, 6),
    }
    return stats, rows
