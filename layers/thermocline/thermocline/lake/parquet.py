"""Lake files as Parquet bytes: how every source writes them, and how a batch splits by event date.

The metadata they carry is ``lake.metadata``; their keys are ``lake.keys``. Pure: builds bytes, never
talks to S3.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["COMPRESSION", "ROW_GROUP_ROWS", "split_by_event_date", "to_parquet_bytes"]

# Snappy: every reader of the lake (Redshift COPY and Spectrum, Athena, DuckDB, Spark) decodes it, and it
# is cheap for Lambda's CPU. One Lambda batch is at most 10,000 records, so a file is one row group; the cap
# keeps row groups near the 128 MB Athena and Spectrum split on, should a caller write bigger tables.
COMPRESSION = "snappy"
ROW_GROUP_ROWS = 1_000_000


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
