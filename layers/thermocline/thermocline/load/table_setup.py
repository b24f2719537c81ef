"""Target tables: created from a lake file's spec, grown and widened as the lake's types widen, and lake
files conformed to a table's types where no widening bridges the two (``thermocline.conform``)."""

from __future__ import annotations

import io
from typing import Any

from thermocline.lake import keys as lake_keys
from thermocline.lake.metadata import TableSpec, read_file_spec, read_super_bytes
from thermocline.lake.reader import LakeFile
from thermocline.lake.types import ColumnType
from thermocline.load.sql import (
    dependent_views_sql,
    ensure_table_sql,
    is_integer_to_decimal,
    rebuild_sql,
    table_columns_sql,
    tombstone_columns_sql,
    varchar_length,
    widen_column_sql,
    widen_tombstone_key_sql,
)
from thermocline.observability import logger
from thermocline.warehouse.errors import TerminalLoadError, WarehouseError
from thermocline.warehouse.port import Warehouse

__all__ = ["conformed", "ensure_table"]

# One information_schema.columns row: name, data type, VARCHAR length, DECIMAL precision and scale.
_Row = tuple[Any, ...]


def ensure_table(warehouse: Warehouse, spec: TableSpec) -> dict[str, str]:
    """Create or grow the target for ``spec`` and change the column types the lake widened; returns the
    target's column types (after the changes).

    A VARCHAR that is no key widens in place, alone (Redshift cannot alter a column's type inside a
    transaction block). A key column (primary key, DISTKEY, SORTKEY) that must change, and any BIGINT that
    becomes DECIMAL, is changed by rebuilding the table (``load.sql.rebuild_sql``). The tombstone table's
    key columns follow the target's, also when the tombstone table is older and narrower than its target.
    """
    rows = warehouse.query(table_columns_sql(spec.table)).rows
    types = {str(r[0]).lower(): str(r[1]) for r in rows}
    # No columns: the table does not exist yet, and is created with the file's types.
    statements = ensure_table_sql(spec, types or None, warehouse.capabilities.max_statement_bytes)
    # A table that gains many columns at once, or is created too wide for one CREATE: in batches the Data
    # API accepts (each ADD COLUMN is decided again from information_schema on a retry, so a partial
    # growth is picked up where it stopped, in the same order).
    step = warehouse.capabilities.max_statements
    for start in range(0, len(statements), step):
        warehouse.execute(statements[start : start + step])
    if not types:
        return types
    current = {str(r[0]).lower(): r for r in rows}
    changes = {name: wanted for name, ctype in spec.columns if (wanted := _change(current.get(name), ctype))}
    keys = {*spec.primary_key, *spec.sort_key, *([spec.dist_key] if spec.dist_key else [])}
    tomb_rows = warehouse.query(tombstone_columns_sql(spec.table)).rows
    after = {
        name: changes.get(name) or _column_type(current[name]) for name in spec.primary_key if name in current
    }
    tomb_changes = {
        str(r[0]): wanted
        for r in tomb_rows
        if (target := after.get(str(r[0]).lower())) is not None and (wanted := _change(r, target))
    }
    if any(name in keys or changes[name].kind != "VARCHAR" for name in changes):
        logger.info("rebuilding table", table=spec.table, columns={n: t.sql for n, t in changes.items()})
        # Read again: the columns ensure_table_sql just added are copied too.
        now = warehouse.query(table_columns_sql(spec.table)).rows
        try:
            warehouse.execute(rebuild_sql(spec, now, changes, tomb_rows, tomb_changes))
        except TerminalLoadError as exc:
            raise _naming_views(warehouse, spec.table, exc) from exc
        tomb_changes = {}
    else:
        for name, wider in changes.items():
            # Each alone: Redshift cannot alter a column's type inside a transaction block.
            logger.info("widening column", table=spec.table, column=name, type=wider.sql)
            warehouse.execute([widen_column_sql(spec.table, name, wider)])
    # The tombstone table's keys catch up with the target's (tables older than this rule lag behind):
    # a delete of a longer key must land there too.
    for name, wider in tomb_changes.items():
        logger.info("widening tombstone key", table=spec.table, column=name, type=wider.sql)
        if wider.kind == "VARCHAR":
            warehouse.execute([widen_tombstone_key_sql(spec.table, name, wider)])
        else:
            warehouse.execute(rebuild_sql(spec, [], {}, tomb_rows, {name: wider}))
    types.update({name.lower(): ctype.sql for name, ctype in changes.items()})
    return types


def _naming_views(warehouse: Warehouse, table: str, exc: TerminalLoadError) -> TerminalLoadError:
    """``exc`` with the ordinary views that hold ``table`` named (Redshift's "other objects depend on it"
    does not name them), when the catalog knows any."""
    try:
        views = [f"{r[0]}.{r[1]}" for r in warehouse.query(dependent_views_sql(table)).rows]
    except WarehouseError:
        views = []
    if not views:
        return exc
    return TerminalLoadError(
        f"{exc}; views that depend on {table!r}: {', '.join(views)} "
        "(recreate them WITH NO SCHEMA BINDING so that the table can change)"
    )


def _column_type(row: _Row) -> ColumnType | None:
    """The lake type of a warehouse column as information_schema describes it, for the types the loader
    changes (BIGINT, DECIMAL, VARCHAR with a known length); None for any other."""
    data_type = str(row[1]).strip().lower()
    if data_type in {"bigint", "int8"}:
        return ColumnType("BIGINT")
    if data_type.startswith(("numeric", "decimal")) and row[3] is not None:
        return ColumnType("DECIMAL", precision=int(row[3]), scale=int(row[4] or 0))
    if data_type in {"character varying", "varchar"} and row[2] is not None:
        return ColumnType("VARCHAR", length=int(row[2]))
    return None


def _change(row: _Row | None, wanted: ColumnType) -> ColumnType | None:
    """The type a warehouse column (an information_schema row) must change to so that it holds the values
    of ``wanted``: BIGINT → DECIMAL, a longer VARCHAR, or None for no change."""
    if row is None or wanted is None:
        return None
    if is_integer_to_decimal(str(row[1]), wanted):
        return wanted
    length = varchar_length(wanted)
    if length and row[2] is not None and int(row[2]) < length:
        return ColumnType("VARCHAR", length=length)
    return None


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
        spec = read_file_spec(table.schema)
        widths = read_super_bytes(table.schema)
        out.append(LakeFile(key, len(data), table.num_rows, spec, f.landed_at, f.key, widths))
    return out
