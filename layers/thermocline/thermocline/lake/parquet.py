"""Lake files as Parquet bytes: how every source writes them, and how a batch splits by event date.

The metadata they carry is ``lake.metadata``; their keys are ``lake.keys``. Pure: builds bytes, never
talks to S3.

The writer settings are chosen for a Lambda batch (1,000 to 10,000 rows over up to hundreds of mostly
sparse columns), where Parquet's work per column is a large share of the ingest's CPU; every setting
leaves the Parquet physical and logical types as they are, which is all Redshift's COPY reads:

* Statistics (min/max/null count) only for ``_seq`` and ``_event_time``, the columns a query engine
  reading the lake directly (Athena, Redshift Spectrum) can skip files by. Nothing in the pipeline reads
  statistics: COPY and the local engines read every row, the loader reads the footer's schema.
* Dictionary encoding only where values can repeat enough to pay for it: not for ``_seq``, which is
  unique per row (a sequence number is never repeated in a batch), and not for a column with fewer than
  256 values in the file (a sparse attribute, or any column of a small table): there the dictionary costs
  its fixed work per column and, measured on the benchmark workloads, saves nothing in size. Those
  columns are PLAIN, Parquet's base encoding, which pyarrow falls back to by itself whenever a column's
  dictionary outgrows its page limit, so every reader of the lake already reads it (COPY reads Parquet
  through Redshift Spectrum: https://docs.aws.amazon.com/redshift/latest/dg/copy-usage_notes-copy-from-columnar.html).
* The ``thermocline`` metadata once, as the file's key-value metadata, and no serialized Arrow schema
  (``ARROW:schema``) when Parquet's own schema gives back every column's Arrow type as written (every type
  the lake uses does): pyarrow would otherwise store the metadata a second time, base64-encoded inside
  that schema, which makes the footer the loader reads (``lake.reader``) about twice as large.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thermocline.lake.columns import EVENT_TIME, SEQ

__all__ = ["COMPRESSION", "ROW_GROUP_ROWS", "split_by_event_date", "to_parquet_bytes"]

# Snappy: every reader of the lake (Redshift COPY and Spectrum, Athena, DuckDB, Spark) decodes it, and it
# is cheap for Lambda's CPU (zstd level 1 made files ~30% smaller but took 1.5-2x the write time). One
# Lambda batch is at most 10,000 records, so a file is one row group; the cap keeps row groups near the
# 128 MB Athena and Spectrum split on, should a caller write bigger tables.
COMPRESSION = "snappy"
ROW_GROUP_ROWS = 1_000_000
_STATISTICS_COLUMNS = (SEQ.name, EVENT_TIME.name)
_PLAIN_COLUMNS = frozenset((SEQ.name,))
_DICTIONARY_MIN_VALUES = 256

# Arrow types that pyarrow reads back from Parquet's schema alone exactly as written (physical type plus
# logical type: INT(16), DATE, TIME(MICROS), TIMESTAMP(MICROS, UTC-adjusted), DECIMAL, STRING, ...).
_SELF_DESCRIBING = frozenset(
    (
        pa.string(),
        pa.binary(),
        pa.bool_(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.float32(),
        pa.float64(),
        pa.date32(),
        pa.time64("us"),
        pa.timestamp("us"),
        pa.timestamp("us", tz="UTC"),
    )
)


# The same types by Arrow type id, where the id alone decides (the width and units of these are fixed);
# a time, timestamp or decimal id is decided by the whole type. Reading ids is a small share of comparing
# each type, which matters for a batch of many small tables.
_SELF_DESCRIBING_IDS = frozenset(
    t.id for t in _SELF_DESCRIBING if not pa.types.is_temporal(t) or t == pa.date32()
)
_DECIMAL128_ID = pa.decimal128(1, 0).id


def _needs_arrow_schema(schema: pa.Schema) -> bool:
    """Whether reading ``schema`` back needs the serialized Arrow schema (a type Parquet's schema does not
    name exactly, or field-level metadata)."""
    for arrow_type in schema.types:
        type_id = arrow_type.id
        if (
            type_id not in _SELF_DESCRIBING_IDS
            and type_id != _DECIMAL128_ID
            and arrow_type not in _SELF_DESCRIBING
        ):
            return True
    return any(f.metadata for f in schema)


def _dictionary_columns(table: pa.Table, names: list[str]) -> list[str]:
    """The columns worth a dictionary (``_DICTIONARY_MIN_VALUES`` values or more, and not plain by rule)."""
    rows = table.num_rows
    if rows < _DICTIONARY_MIN_VALUES:
        return []  # no column of a small table has the values to pay for one: no pass over its columns
    return [
        name
        for name, column in zip(names, table.columns, strict=True)
        if name not in _PLAIN_COLUMNS and rows - column.null_count >= _DICTIONARY_MIN_VALUES
    ]


def to_parquet_bytes(table: pa.Table) -> bytes:
    """Parquet bytes of a lake table (its schema metadata preserved, as the file's key-value metadata)."""
    schema = table.schema
    metadata: Mapping[bytes, bytes] | None = schema.metadata
    # Without the Arrow schema pyarrow writes no schema metadata itself; it goes in once, below.
    store_schema = _needs_arrow_schema(schema)
    names = schema.names
    # A native sink: pyarrow writes each page into it without a call back into Python.
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(
        sink,
        schema,
        compression=COMPRESSION,
        use_dictionary=_dictionary_columns(table, names),
        write_statistics=[n for n in _STATISTICS_COLUMNS if n in names],
        # Redshift and Athena read microsecond timestamps; never let a writer default to nanoseconds.
        coerce_timestamps="us",
        allow_truncated_timestamps=False,
        store_schema=store_schema,
    ) as writer:
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        if not store_schema and metadata:
            writer.add_key_value_metadata(metadata)
    return sink.getvalue().to_pybytes()


def split_by_event_date(table: pa.Table, default_date: str) -> list[tuple[str, pa.Table]]:
    """Split lake rows by the UTC date of ``_event_time`` (``YYYY-MM-DD``), in date order.

    Rows without an event time (hand-written events lacking ``ApproximateCreationDateTime``) go to
    ``default_date``.
    """
    if table.num_rows == 0:
        return []
    times = table["_event_time"]
    if times.null_count == 0:
        # The common case, a batch within one UTC day: two scalars instead of a date text per row.
        bounds = pc.min_max(times)
        first, last = bounds["min"].as_py().date(), bounds["max"].as_py().date()
        if first == last:
            return [(first.isoformat(), table)]
    dates = pc.strftime(table["_event_time"], format="%Y-%m-%d").fill_null(default_date)
    unique = sorted(pc.unique(dates).to_pylist())
    if len(unique) == 1:
        return [(unique[0], table)]
    return [(d, table.filter(pc.equal(dates, d))) for d in unique]
