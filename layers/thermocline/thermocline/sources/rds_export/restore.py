"""Exported Parquet parts → lake snapshot rows with the warehouse types restored (pure).

One table at a time, in two passes over its parts, each part on its own so memory stays bounded:

1. :meth:`TableRestorer.observe` reads only the numeric-as-text and array columns of a part and records
   what their values need (a numeric's scale is not in the export's metadata; see ``types``).
2. :meth:`TableRestorer.restore` turns a part into lake rows: every column converted to its warehouse
   type, plus ``_overflow`` (SUPER: ``{"<source column>": "<exported text>"}`` for the values the
   warehouse type cannot hold exactly, e.g. ``NaN``, ``infinity``, BC dates), ``_source``, ``_export_id``
   and ``_event_time`` (the export's snapshot time). A value is never rounded, truncated or dropped.

A table wider than a warehouse table can be (Redshift's 1,600 columns, bookkeeping included; MySQL allows
4,096) keeps its first :data:`MAX_SNAPSHOT_COLUMNS` columns as columns and the values of the others in
``_overflow``, as their exported text, as the stream ingest does for attributes past the limit.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from thermocline.lake.columns import (
    MAX_ATTRIBUTE_COLUMNS,
    OVERFLOW_COLUMN,
    SNAPSHOT_COLUMNS,
    TARGET_COLUMNS,
)
from thermocline.lake.keys import oversize_key
from thermocline.lake.metadata import with_lake_metadata
from thermocline.lake.table_schema import TableSchema
from thermocline.sources.rds_export import values as v
from thermocline.sources.rds_export.layout import TableExport
from thermocline.sources.rds_export.types import (
    ArrayStats,
    ColumnRestore,
    NumericStats,
    needs_array_stats,
    needs_numeric_stats,
    restore_plan,
)

__all__ = ["MAX_SNAPSHOT_COLUMNS", "TableRestorer"]

# The stream's limit on attribute columns, less the snapshot's own bookkeeping column its target keeps
# beside the target's (``_export_id``).
MAX_SNAPSHOT_COLUMNS = MAX_ATTRIBUTE_COLUMNS - len(
    {c.name for c in SNAPSHOT_COLUMNS} - {c.name for c in TARGET_COLUMNS}
)

# A value kept in ``_overflow`` larger than this is stored as its own object and referenced, as the
# stream ingest does: the whole ``_overflow`` JSON of a row must stay within a VARCHAR(65535) stage.
INLINE_OVERFLOW_BYTES = 4096


class TableRestorer:
    """Restores the parts of one exported table; ``prefix`` is where oversized values are stored."""

    def __init__(self, table: TableExport, warehouse_table: str, *, prefix: str = "snapshot/") -> None:
        self.export = table
        self.engine = table.engine
        self.warehouse_table = warehouse_table
        self.prefix = prefix
        self.numeric: dict[str, NumericStats] = {
            c.name: NumericStats() for c in table.columns if needs_numeric_stats(self.engine, c)
        }
        self.arrays: dict[str, ArrayStats] = {
            c.name: ArrayStats() for c in table.columns if needs_array_stats(self.engine, c)
        }
        self._plan: list[tuple[str, ColumnRestore]] | None = None
        # Source columns past the warehouse's column limit: their values go to ``_overflow``.
        self._overflowed: list[str] = []
        self._schema: TableSchema | None = None

    # --- pass 1 ------------------------------------------------------------------------------------------

    @property
    def observed_columns(self) -> list[str]:
        """The columns pass 1 reads (project the Parquet read to these)."""
        return [*self.numeric, *self.arrays]

    def observe(self, part: pa.Table) -> None:
        if self._plan is not None:
            raise RuntimeError("observe() after the plan was fixed by schema() or restore()")
        for name, stats in self.numeric.items():
            if name not in part.column_names:
                continue
            column = part[name]
            if pa.types.is_decimal(column.type):
                if column.null_count < len(column):
                    stats.observe(column.type.precision - column.type.scale, column.type.scale)
                continue
            for text in column.to_pylist():
                shape = v.numeric_shape(text) if isinstance(text, str) else None
                if shape is not None:
                    stats.observe(shape.int_digits, shape.scale)
        for name, astats in self.arrays.items():
            if name not in part.column_names or not astats.integers:
                continue
            for text in part[name].to_pylist():
                if text is None:
                    continue
                try:
                    items, unquoted = v.parse_pg_array(text)
                except v.ArrayLiteralError:
                    astats.integers = False
                    break
                flat = _flatten(items)
                astats.seen = astats.seen or any(x is not None for x in flat)
                if not unquoted or not all(x is None or _is_int(x) for x in flat):
                    astats.integers = False
                    break

    # --- the plan ----------------------------------------------------------------------------------------

    def schema(self) -> TableSchema:
        """The lake schema of this table: source columns under safe names, types fixed by pass 1."""
        if self._schema is None:
            schema = TableSchema(table=self.warehouse_table)
            plan = []
            for source in self.export.columns:
                if len(schema.columns) >= MAX_SNAPSHOT_COLUMNS:
                    self._overflowed.append(source.name)
                    continue
                restore = restore_plan(
                    self.engine, source, self.numeric.get(source.name), self.arrays.get(source.name)
                )
                column = schema.add(source.name, restore.type)
                plan.append((column.name, restore))
            self._plan, self._schema = plan, schema
        return self._schema

    # --- pass 2 ------------------------------------------------------------------------------------------

    def restore(
        self, part: pa.Table, *, source: str, export_id: str, snapshot_time: dt.datetime | None
    ) -> tuple[pa.Table, dict[str, bytes]]:
        """Lake rows of one part, and the oversized values to store first (lake key → JSON bytes)."""
        schema = self.schema()
        assert self._plan is not None
        rows = part.num_rows
        overflow: list[dict[str, Any] | None] = [None] * rows
        spilled: dict[str, bytes] = {}
        arrays: list[pa.Array] = []
        names: list[str] = []
        for name, restore in self._plan:
            names.append(name)
            if restore.source.name not in part.column_names:
                arrays.append(pa.nulls(rows, restore.type.arrow()))
                continue
            arrays.append(self._column(part[restore.source.name], restore, overflow))
        for name in self._overflowed:
            if name in part.column_names:
                for i, value in enumerate(part[name].to_pylist()):
                    if value is not None:
                        overflow[i] = overflow[i] or {}
                        overflow[i][name] = _as_text(value)
        for row in overflow:
            if row:
                for key, value in list(row.items()):
                    if (
                        isinstance(value, str)
                        and len(value.encode("utf-8", "surrogatepass")) > INLINE_OVERFLOW_BYTES
                    ):
                        row[key] = self._spill(value, spilled)
        names += [OVERFLOW_COLUMN, *(c.name for c in SNAPSHOT_COLUMNS)]
        arrays.append(
            pa.array(
                [json.dumps(o, ensure_ascii=False, separators=(",", ":")) if o else None for o in overflow],
                pa.string(),
            )
        )
        arrays.append(pa.array([source] * rows, pa.string()))
        arrays.append(pa.array([export_id] * rows, pa.string()))
        arrays.append(pa.array([snapshot_time] * rows, pa.timestamp("us", tz="UTC")))
        table = pa.Table.from_arrays(arrays, names=names)
        return with_lake_metadata(table, schema, kind="snapshot"), spilled

    def _spill(self, value: str, spilled: dict[str, bytes]) -> dict[str, Any]:
        data = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(data).hexdigest()
        key = oversize_key(self.prefix, self.warehouse_table, digest)
        spilled[key] = data
        return {"$oversize": {"key": key, "bytes": len(data), "sha256": digest}}

    def _column(self, column: pa.ChunkedArray, restore: ColumnRestore, overflow: list[Any]) -> pa.Array:
        target = restore.type
        arrow_type = target.arrow()
        typed = _typed_cast(column, restore)
        if typed is not None:
            return typed
        convert = _converter(restore)
        name = restore.source.name
        out: list[Any] = []
        for i, value in enumerate(column.to_pylist()):
            if value is None:
                out.append(None)
                continue
            try:
                out.append(convert(value))
            except (v.NotRepresentableError, v.ArrayLiteralError, ValueError, OverflowError):
                out.append(None)
                overflow[i] = overflow[i] or {}
                overflow[i][name] = _as_text(value)
        return pa.array(out, arrow_type)


# --- converters ----------------------------------------------------------------------------------------


def _typed_cast(column: pa.ChunkedArray, restore: ColumnRestore) -> pa.Array | None:
    """The whole column at once where no value needs a look: text that fits its VARCHAR, and columns the
    export already typed (integers, floats, booleans, bytes, decimals, timestamps), cast safely (pyarrow
    raises on any value the target cannot hold). None: convert value by value."""
    source = column.type
    if pa.types.is_string(source) or pa.types.is_large_string(source):
        if restore.kind != "text":
            return None
        # Fine unless a value is longer in bytes than the VARCHAR; then each value is checked.
        longest = pc.max(pc.binary_length(column)).as_py()
        return column.combine_chunks() if longest is None or longest <= restore.type.length else None
    if restore.kind in ("array", "array_int", "json", "text"):
        return None
    try:
        return pc.cast(column, restore.type.arrow(), safe=True).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _converter(restore: ColumnRestore) -> Callable[[Any], Any]:
    ctype = restore.type
    kind = restore.kind
    if kind == "decimal":
        return lambda x: v.parse_decimal(_as_text(x), ctype.precision, ctype.scale)
    if kind == "int":
        return lambda x: _int_in_range(int(x) if not isinstance(x, str) else int(x.strip()), ctype.kind)
    if kind == "float":
        return lambda x: float(x)
    if kind == "bool":
        return _bool
    if kind == "date":
        return lambda x: x if isinstance(x, dt.date) else v.parse_date(x)
    if kind == "time":
        return lambda x: x if isinstance(x, dt.time) else v.parse_time(x)
    if kind == "timestamp":
        return lambda x: x if isinstance(x, dt.datetime) else v.parse_timestamp(x)
    if kind == "json":
        return _json
    if kind in ("array", "array_int"):
        return lambda x: _array_json(x, integers=kind == "array_int")
    if kind == "binary":
        return lambda x: x if isinstance(x, bytes) else str(x).encode()
    return lambda x: _text(x, ctype.length)


def _text(value: Any, length: int) -> str:
    text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    if len(text.encode("utf-8", "surrogatepass")) > length:
        raise v.NotRepresentableError(f"longer than VARCHAR({length})")
    return text


def _as_text(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"$base64": base64.b64encode(value).decode()}
    return value if isinstance(value, str) else str(value)


_INT_RANGE = {"SMALLINT": 2**15, "INTEGER": 2**31, "BIGINT": 2**63}


def _int_in_range(value: int, kind: str) -> int:
    bound = _INT_RANGE.get(kind, 2**63)
    if not -bound <= value < bound:
        raise v.NotRepresentableError(f"{value} does not fit {kind}")
    return value


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("t", "true", "1", "y", "yes", "on"):
        return True
    if text in ("f", "false", "0", "n", "no", "off"):
        return False
    raise v.NotRepresentableError(f"not a boolean: {text[:20]!r}")


def _json(value: Any) -> str:
    text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    json.loads(text)  # ValueError → _overflow: the loader's JSON_PARSE would refuse it
    if len(text.encode("utf-8", "surrogatepass")) > 65535:
        raise v.NotRepresentableError("JSON longer than a SUPER stage holds")
    return text


def _array_json(text: str, *, integers: bool) -> str:
    items, _ = v.parse_pg_array(text)
    if integers:
        items = _map(items, int)
    out = json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    if len(out.encode("utf-8", "surrogatepass")) > 65535:
        raise v.NotRepresentableError("array longer than a SUPER stage holds")
    return out


def _map(items: list[Any], fn: Callable[[str], Any]) -> list[Any]:
    return [_map(x, fn) if isinstance(x, list) else (None if x is None else fn(x)) for x in items]


def _flatten(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for x in items:
        out.extend(_flatten(x) if isinstance(x, list) else [x])
    return out


def _is_int(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return body.isascii() and body.isdigit()
