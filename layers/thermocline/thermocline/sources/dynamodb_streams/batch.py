"""The rows of one warehouse table while a batch decodes, and their Arrow build.

Values go straight from the AttributeValue JSON into per-column Python lists and then into Arrow with
vectorised casts (number text → int64/decimal128): no ``Decimal`` per value, no per-item dicts. That is
where the naive ``TypeDeserializer`` → ``Table.from_pylist`` path spends its time. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from thermocline.contracts import Route
from thermocline.lake.columns import CDC_COLUMNS, OVERFLOW
from thermocline.lake.table_schema import TableSchema
from thermocline.sources.dynamodb_streams.values import PlanEntry


@dataclass
class _Batch:
    """Per-table state while decoding: column lists, row count, bookkeeping columns."""

    schema: TableSchema
    route: Route | None
    values: dict[str, list[Any]] = field(default_factory=dict)
    overflow: list[str | None] = field(default_factory=list)
    op: list[str] = field(default_factory=list)
    seq: list[str] = field(default_factory=list)
    seq_original: list[str] = field(default_factory=list)
    event_time: list[int | None] = field(default_factory=list)
    ttl: list[bool] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    record_index: list[int] = field(default_factory=list)
    # attribute → its PlanEntry: one dict lookup per attribute in the hot loop.
    plan: dict[str, PlanEntry] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.op)

    def bookkeeping(self) -> dict[str, list[Any]]:
        """The lake's bookkeeping columns (``_overflow`` and the CDC columns) by name."""
        return {
            "_overflow": self.overflow,
            "_op": self.op,
            "_seq": self.seq,
            "_event_time": self.event_time,
            "_ttl_expired": self.ttl,
            "_source": self.source,
        }


class _BadRows(Exception):
    """Rows whose values Arrow refuses; the decoder rejects them and builds again."""

    def __init__(self, rows: set[int], reason: str) -> None:
        self.rows = rows
        self.reason = reason


_STRING_CAST = {"BIGINT", "DECIMAL", "DOUBLE PRECISION"}
_LAKE_COLUMNS = (OVERFLOW, *CDC_COLUMNS)


def _padded(values: list[Any], n: int) -> list[Any]:
    if len(values) < n:
        values.extend([None] * (n - len(values)))
    return values


def _string_array(values: list[Any], column: str) -> pa.Array:
    try:
        return pa.array(values, pa.string())
    except (UnicodeEncodeError, pa.ArrowException):
        bad = set()
        for i, v in enumerate(values):
            if v is not None:
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    bad.add(i)
        if not bad:
            raise
        raise _BadRows(bad, f"column {column!r}: text is not valid Unicode (lone surrogate)") from None


def _arrow_table(batch: _Batch) -> pa.Table:
    """The batch as lake rows: the attribute columns in recorded order, then ``_overflow`` and the CDC
    columns (``lake.columns``). Raises :class:`_BadRows` for rows Arrow refuses."""
    n = batch.rows
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for name, column in batch.schema.columns.items():
        values = _padded(batch.values.setdefault(name, []), n)
        kind = column.type.kind
        arrow_type = column.type.arrow()
        if kind in ("VARCHAR", "SUPER"):
            array = _string_array(values, name)
        elif kind in _STRING_CAST:
            array = pa.array(values, pa.string()).cast(arrow_type)
        else:
            array = pa.array(values, arrow_type)
        arrays.append(array)
        fields.append(pa.field(name, arrow_type))
    bookkeeping = batch.bookkeeping()
    for column in _LAKE_COLUMNS:
        arrow_field = column.arrow_field
        values = bookkeeping[column.name]
        if arrow_field.type == pa.string():
            arrays.append(_string_array(values, column.name))
        else:
            arrays.append(pa.array(values, arrow_field.type))
        fields.append(arrow_field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
