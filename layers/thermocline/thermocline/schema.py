"""Moved: ``thermocline.lake`` (``types``, ``table_schema``, ``columns``). This alias goes away once nothing
imports it."""

from thermocline.lake.columns import METADATA_COLUMNS, OVERFLOW_COLUMN, RESERVED_COLUMNS, SYSTEM_COLUMNS
from thermocline.lake.table_schema import Column, TableSchema
from thermocline.lake.types import (
    AUTO_DECIMAL,
    AUTO_DECIMAL_SCALE,
    BIGINT,
    BOOLEAN,
    DECIMAL_MAX_PRECISION,
    INTEGRAL_DECIMAL,
    STREAM_KINDS,
    SUPER,
    TIMESTAMP,
    VARBYTE,
    VARBYTE_MAX,
    VARCHAR,
    VARCHAR_MAX,
    ColumnType,
    NumberShape,
    SchemaError,
    infer_number_type,
    number_shape,
    widen_for_number,
)

__all__ = [
    "AUTO_DECIMAL",
    "AUTO_DECIMAL_SCALE",
    "BIGINT",
    "BOOLEAN",
    "DECIMAL_MAX_PRECISION",
    "INTEGRAL_DECIMAL",
    "METADATA_COLUMNS",
    "OVERFLOW_COLUMN",
    "RESERVED_COLUMNS",
    "STREAM_KINDS",
    "SUPER",
    "SYSTEM_COLUMNS",
    "TIMESTAMP",
    "VARBYTE",
    "VARBYTE_MAX",
    "VARCHAR",
    "VARCHAR_MAX",
    "Column",
    "ColumnType",
    "NumberShape",
    "SchemaError",
    "TableSchema",
    "infer_number_type",
    "number_shape",
    "widen_for_number",
]
