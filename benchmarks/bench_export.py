"""Restoring an RDS export: rows per second, and peak memory that follows a part, not the table.

An export of one table (customers-like: ids, names, a numeric(12,2), a timestamptz, a json document, an
integer array; all but the id exported as text, as RDS does for PostgreSQL) is written in the RDS layout
to moto's S3 (in-process), then turned into snapshot lake files by the source the function uses
(``sources.rds_export.source.write_table``). Baseline, in the same run: reading the same parts with
pyarrow into Python values and nothing else. Memory: the peak of Python allocations (tracemalloc),
for tables of 1 and 4 parts of the same size — the peak stays that of one part.

    python benchmarks/bench_export.py [--rows-per-part 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import time
import tracemalloc
from decimal import Decimal

os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from moto import mock_aws  # noqa: E402

from thermocline.local.catalogue import pg_text  # noqa: E402
from thermocline.local.export_writer import write_rows_export  # noqa: E402
from thermocline.sources.rds_export.layout import SourceColumn  # noqa: E402
from thermocline.sources.rds_export.reader import list_parts, read_export  # noqa: E402
from thermocline.sources.rds_export.source import write_table  # noqa: E402

COLUMNS = (
    SourceColumn("id", "bigint", "int64"),
    SourceColumn("name", "text", "binary (UTF8)"),
    SourceColumn("balance", "numeric", "binary (UTF8)", 0, 12),
    SourceColumn("created_at", "timestamp with time zone", "binary (UTF8)", 0, 0, 6),
    SourceColumn("profile", "jsonb", "binary (UTF8)"),
    SourceColumn("scores", "ARRAY", "binary (UTF8)"),
)


def _render(value: object) -> str | None:
    return value if isinstance(value, str) or value is None else pg_text(value)


def _rows(n: int) -> list[tuple[object, ...]]:
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    return [
        (
            i,
            f"Customer Zoë {i}",
            Decimal(i % 100000) / 100,
            start + dt.timedelta(seconds=i),
            f'{{"tier": {i % 5}, "tags": ["a", "b"]}}',
            f"{{{i % 7},{i % 11},{i % 13}}}",
        )
        for i in range(n)
    ]


def _seconds(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def _peak(fn: object) -> int:
    """Peak bytes of Python allocations above what stays allocated after the run (moto's in-process S3
    keeps every object written); tracemalloc runs separately from the timing, as it slows allocation."""
    tracemalloc.start()
    fn()  # type: ignore[operator]
    retained, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return python_peak - retained


def run(rows_per_part: int) -> None:
    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in ("exports", "lake"):
            s3.create_bucket(Bucket=bucket)
        results = {}
        for parts in (1, 4):
            export_id = f"bench-{parts}"
            rows = _rows(rows_per_part * parts)
            write_rows_export(
                s3,
                bucket="exports",
                export_id=export_id,
                source_arn="arn:aws:rds:us-east-1:123456789012:cluster-snapshot:bench",
                database="bench",
                tables=[("customers", COLUMNS, rows)],
                render=_render,
                rows_per_part=rows_per_part,
            )
            del rows
            info, tables = read_export(s3, "exports", "", export_id)

            def baseline(info=info, tables=tables) -> None:
                for key, _ in list_parts(s3, "exports", "", info.export_id, tables[0]):
                    body = s3.get_object(Bucket="exports", Key=key)["Body"].read()
                    for column in pq.read_table(io.BytesIO(body)).columns:
                        column.to_pylist()

            def restore(info=info, tables=tables) -> None:
                write_table(
                    s3,
                    export_bucket="exports",
                    info=info,
                    export_prefix="",
                    table=tables[0],
                    warehouse_table=f"customers_{info.export_id.replace('-', '_')}",
                    lake_bucket="lake",
                    snapshot_prefix="snapshot/",
                )

            base_s = _seconds(baseline)
            rest_s = _seconds(restore)
            rest_peak = _peak(restore)
            results[parts] = (base_s, rest_s, rest_peak)
            total = rows_per_part * parts
            print(
                f"{parts} part(s) x {rows_per_part:,} rows: restore {total / rest_s:,.0f} rows/s "
                f"({rest_s:.2f} s), baseline read to Python {total / base_s:,.0f} rows/s ({base_s:.2f} s), "
                f"restore is {rest_s / base_s:.1f}x the baseline's time; peak memory {rest_peak / 1e6:,.0f} MB"
            )
        one, four = results[1][2], results[4][2]
        print(
            f"peak memory, 4 parts vs 1 part: {four / one:.2f}x (part by part: the table's size does not count)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows-per-part", type=int, default=100_000)
    run(parser.parse_args().rows_per_part)
