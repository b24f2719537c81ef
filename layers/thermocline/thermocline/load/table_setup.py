"""Target tables: created from a lake file's spec, grown and widened as the lake's types widen, and lake
files conformed to a table's types where no widening bridges the two (``thermocline.conform``)."""

from __future__ import annotations

import io
from typing import Any

from thermocline.lake import keys as lake_keys
from thermocline.lake.metadata import TableSpec, read_file_spec
from thermocline.lake.reader import LakeFile
from thermocline.lake.types import ColumnType
from thermocline.load.sql import (
    ensure_table_sql,
    is_integer_to_decimal,
    retype_column_sql,
    retype_tombstone_key_sql,
    table_columns_sql,
    varchar_length,
    widen_column_sql,
    widen_tombstone_key_sql,
)
from thermocline.observability import logger
from thermocline.warehouse.port import Warehouse

__all__ = ["conformed", "ensure_table"]


def ensure_table(warehouse: Warehouse, spec: TableSpec) -> dict[str, str]:
    """Create or grow the target for ``spec``; returns the target's column types (after widening)."""
    rows = warehouse.query(table_columns_sql(spec.table)).rows
    types = {str(r[0]).lower(): str(r[1]) for r in rows}
    # No columns: the table does not exist yet, and is created with the file's types.
    statements = ensure_table_sql(spec, types or None)
    # A table that gains many columns at once: in batches the Data API accepts (each ADD COLUMN is decided
    # again from information_schema on a retry, so a partial growth is picked up where it stopped).
    step = warehouse.capabilities.max_statements
    for start in range(0, len(statements), step):
        warehouse.execute(statements[start : start + step])
    if not types:
        return types
    for name, ctype in spec.data_columns:
        have_type = types.get(name.lower())
        if have_type and is_integer_to_decimal(have_type, ctype):
            logger.info("widening column", table=spec.table, column=name, type=ctype)
            statements = retype_column_sql(spec.table, name, ctype)
            if name in spec.primary_key:
                statements += retype_tombstone_key_sql(spec.table, name, ctype)
            warehouse.execute(statements)
            types[name.lower()] = ctype.sql
    lengths = {str(r[0]).lower(): r[2] for r in rows}
    for name, ctype in spec.columns:
        wanted = varchar_length(ctype)
        have = lengths.get(name.lower())
        if wanted and have and int(have) < wanted:
            # Each alone: Redshift cannot alter a column's type inside a transaction block. A key column
            # widens in the tombstone table too, first, so a delete of a longer key always fits there.
            logger.info("widening column", table=spec.table, column=name, length=wanted)
            wider = ColumnType("VARCHAR", length=wanted)
            if name in spec.primary_key:
                warehouse.execute([widen_tombstone_key_sql(spec.table, name, wider)])
            warehouse.execute([widen_column_sql(spec.table, name, wider)])
    return types


def conformed(s3_client: Any, bucket: str, files: list[LakeFile], staged: dict[str, str]) -> list[LakeFile]:
    """Copies of ``files`` whose ``staged`` columns' values are moved to ``_overflow`` (conform.py), under
    ``lake.keys.conformed_key`` (outside the notified prefix), standing for the originals."""
    import pyarrow.parquet as pq

    from thermocline.conform import move_to_overflow
    from thermocline.lake.parquet import to_parquet_bytes

    out = []
    for f in files:
        body = s3_client.get_object(Bucket=bucket, Key=f.key)["Body"].read()
        table = move_to_overflow(pq.read_table(io.BytesIO(body)), staged)
        data = to_parquet_bytes(table)
        key = lake_keys.conformed_key(f.key)
        s3_client.put_object(Bucket=bucket, Key=key, Body=data)
        out.append(LakeFile(key, len(data), table.num_rows, read_file_spec(table.schema), f.landed_at, f.key))
    return out
