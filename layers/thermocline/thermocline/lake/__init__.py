"""The lake contract, end to end: what every lake file is, wherever it comes from.

* ``types`` — :class:`ColumnType` (both legs type columns with it), widening rules;
* ``table_schema`` — :class:`TableSchema`, the recorded attribute→column mapping of a table;
* ``columns`` — the bookkeeping columns (``_op``, ``_seq``, ... ``_overflow``, ``_deleted``), defined once;
* ``metadata`` — the ``thermocline`` Parquet metadata, written and read (:class:`TableSpec`);
* ``parquet`` — Parquet bytes of a lake table; ``keys`` — every object key layout; ``manifest`` — COPY
  manifests;
* adapters taking an injected S3 client: ``schema_store`` (conditional writes), ``quarantine`` (the one
  quarantine writer), ``reader`` (a lake file's footer).

This ``__init__`` re-exports the pure part only, so importing it loads no AWS SDK.
"""

from __future__ import annotations

from thermocline.lake.columns import (
    CDC_COLUMNS,
    METADATA_COLUMNS,
    OVERFLOW_COLUMN,
    RESERVED_COLUMNS,
    SEQ_WIDTH,
    TARGET_COLUMNS,
    LakeColumn,
)
from thermocline.lake.metadata import (
    TableSpec,
    UnreadableLakeFileError,
    read_file_spec,
    read_lake_metadata,
    with_lake_metadata,
)
from thermocline.lake.parquet import split_by_event_date, to_parquet_bytes
from thermocline.lake.table_schema import Column, TableSchema
from thermocline.lake.types import VARBYTE_MAX, VARCHAR_MAX, ColumnType, SchemaError

__all__ = [
    "CDC_COLUMNS",
    "METADATA_COLUMNS",
    "OVERFLOW_COLUMN",
    "RESERVED_COLUMNS",
    "SEQ_WIDTH",
    "TARGET_COLUMNS",
    "VARBYTE_MAX",
    "VARCHAR_MAX",
    "Column",
    "ColumnType",
    "LakeColumn",
    "SchemaError",
    "TableSchema",
    "TableSpec",
    "UnreadableLakeFileError",
    "read_file_spec",
    "read_lake_metadata",
    "split_by_event_date",
    "to_parquet_bytes",
    "with_lake_metadata",
]
