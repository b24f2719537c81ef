"""The rows of one warehouse table while a batch decodes, and their Arrow build.

Values go straight from the AttributeValue JSON into per-column Python lists and then into Arrow with
vectorised casts (number text → int64/decimal128): no ``Decimal`` per value, no per-item dicts. That is
where the naive ``TypeDeserializer`` → ``Table.from_pylist`` path spends its time. Pure.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from thermocline.contracts import Route
from thermocline.lake.columns import CDC_COLUMNS, OVERFLOW
from thermocline.lake.metadata import METADATA_KEY, lake_metadata_bytes, with_lake_metadata
from thermocline.lake.table_schema import TableSchema
from thermocline.sources.dynamodb_streams import fastpath
from thermocline.sources.dynamodb_streams.super_json import _encode_str
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
    # column name → the fastpath.ColumnBuffer holding the values C staged for it (buffer_for), and the
    # buffers of the bookkeeping columns C writes itself (_seq, padded, and _event_time).
    buffers: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        make = fastpath.ColumnBuffer
        if make is not None:
            self.buffers["_seq"] = make(_TEXT)
            self.buffers["_event_time"] = make(_INT64)

    @property
    def rows(self) -> int:
        return len(self.op)

    def buffer_for(self, name: str) -> Any:
        """The C buffer for column ``name``'s values, or None: without the fast path, for a primary key
        column (its list is where the key check reads it) and for kinds the Arrow build in C does not
        take from a buffer (DOUBLE PRECISION, TIMESTAMP)."""
        make = fastpath.ColumnBuffer
        storage = _BUFFER_STORAGE.get(self.schema.columns[name].type.kind)
        if make is None or storage is None or name in self.schema.primary_key:
            return None
        buffer = self.buffers.get(name)
        if buffer is None:
            buffer = self.buffers[name] = make(storage)
        return buffer

    def unbuffer(self, name: str | None = None) -> None:
        """Move the values C staged into the column lists (of ``name``, or of every column), where the
        Python path reads them; the buffers are left empty and the bookkeeping lists hold every row."""
        lists = {"_seq": self.seq, "_event_time": self.event_time}
        for column, buffer in self.buffers.items():
            if name is None or column == name:
                buffer.move_to(lists[column] if column in lists else self.values.setdefault(column, []))
        for values in lists.values():
            _padded(values, self.rows)

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


class _Unholdable(Exception):
    """Rows of ``column`` whose value no warehouse column can hold (NUL in text, ±infinity)."""

    def __init__(self, column: str, rows: list[int], reason: str) -> None:
        self.column = column
        self.rows = rows
        self.reason = reason


def _marker(kind: str, text: str) -> str:
    """``{"$utf8_base64": ...}`` / ``{"$json_base64": ...}``: text no warehouse can store as text (it holds
    NUL, which neither Redshift's VARCHAR nor PostgreSQL's text or JSONB accept), kept exactly."""
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return "{" + _encode_str(kind) + ":" + _encode_str(encoded) + "}"


def _unholdable(name: str, kind: str, array: pa.Array) -> None:
    """Raise ``_Unholdable`` for the rows of a built column whose value a warehouse cannot hold: NUL in
    text (in SUPER JSON: the escape ``\\u0000``), and numbers a DOUBLE PRECISION turns into ±infinity or
    NaN (``1e400``). Vectorised: the common case costs one pass of Arrow's compute."""
    if kind == "DOUBLE PRECISION":
        bad = pc.or_kleene(pc.is_inf(array), pc.is_nan(array))
        reason = "number out of DOUBLE PRECISION's range"
    elif kind == "VARCHAR":
        bad = pc.match_substring(array, "\x00")
        reason = "text holds NUL"
    elif kind == "SUPER":
        bad = pc.match_substring(array, "\\u0000")
        reason = "JSON holds NUL"
    else:
        return
    if pc.any(bad).as_py():
        raise _Unholdable(name, [i for i, flag in enumerate(bad.to_pylist()) if flag], reason)


def move_to_overflow(batch: _Batch, found: _Unholdable) -> int:
    """Move the values ``found`` into ``_overflow``, exactly (text with NUL as a base64 marker, a number
    as the string of its digits); the column is NULL in those rows. Returns how many moved."""
    if found.column == OVERFLOW.name:
        for row in found.rows:
            batch.overflow[row] = _marker("$json_base64", batch.overflow[row])  # type: ignore[arg-type]
        return 0
    column = batch.schema.columns[found.column]
    values = batch.values[found.column]
    entry_key = _encode_str(column.attribute)
    for row in found.rows:
        value, values[row] = values[row], None
        if column.type.kind == "VARCHAR":
            entry = _marker("$utf8_base64", value)
        elif column.type.kind == "SUPER":
            entry = _marker("$json_base64", value)
        else:
            entry = _encode_str(value)
        current = batch.overflow[row]
        joined = f"{entry_key}:{entry}"
        batch.overflow[row] = "{" + joined + "}" if not current else current[:-1] + "," + joined + "}"
    return len(found.rows)


_STRING_CAST = {"BIGINT", "DECIMAL", "DOUBLE PRECISION"}
# The storage of a column's fastpath.ColumnBuffer by kind: text (as UTF-8), booleans, bytes.
_TEXT, _BOOL, _BYTES, _INT64 = range(1, 5)
_BUFFER_STORAGE = {
    "VARCHAR": _TEXT,
    "BIGINT": _TEXT,
    "DECIMAL": _TEXT,
    "SUPER": _TEXT,
    "BOOLEAN": _BOOL,
    "VARBYTE": _BYTES,
}
_LAKE_COLUMNS = (OVERFLOW, *CDC_COLUMNS)
# How ``fastpath.arrow_column`` builds a column of each kind (``_speedups.c``, the A_* codes): text with no
# NUL check (the bookkeeping columns), VARCHAR and SUPER text (NUL and its JSON escape left to the Python
# path, which moves them), number text to int64 and decimal128, ints (microseconds), bools, bytes.
_A_STRING, _A_VARCHAR, _A_SUPER, _A_INT64_TEXT, _A_DECIMAL_TEXT, _A_INT64, _A_BOOL, _A_BINARY = range(1, 9)
_FAST_KIND = {
    "VARCHAR": _A_VARCHAR,
    "SUPER": _A_SUPER,
    "BIGINT": _A_INT64_TEXT,
    "DECIMAL": _A_DECIMAL_TEXT,
    "TIMESTAMP": _A_INT64,
    "BOOLEAN": _A_BOOL,
    "VARBYTE": _A_BINARY,
}


def _padded(values: list[Any], n: int) -> list[Any]:
    if len(values) < n:
        values.extend([None] * (n - len(values)))
    return values


def _fast_array(
    values: list[Any],
    n: int,
    kind: int,
    arrow_type: pa.DataType,
    precision: int,
    scale: int,
    buffer: Any = None,
) -> Any:
    """The column built from Arrow buffers in C (a row's value from ``buffer`` or ``values``, rows past both
    null), or None: then the caller moves the buffer's values into ``values`` and builds it with
    ``pa.array`` and casts, which is the reference and raises what the build refuses."""
    build = fastpath.arrow_column
    built = None if build is None else build(values, n, kind, precision, scale, buffer)
    if built is None:
        return None
    nulls, buffers = built
    return pa.Array.from_buffers(
        arrow_type, n, [None if b is None else pa.py_buffer(b) for b in buffers], null_count=nulls
    )


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


_FIELDS: dict[tuple[str, str], pa.Field] = {}


def _field(name: str, column_type: Any) -> pa.Field:
    """The Arrow field of a column (the same few for every batch of a table: built once)."""
    key = (name, column_type.sql)
    found = _FIELDS.get(key)
    if found is None:
        if len(_FIELDS) > 10_000:
            _FIELDS.clear()
        found = _FIELDS[key] = pa.field(name, column_type.arrow())
    return found


def _whole_table(batch: _Batch, n: int) -> pa.Table | None:
    """The table built in C in one call when every column can be (``fastpath.arrow_table``): the same
    columns as the per-column build below, without a Python call per column, and its lake metadata, with
    each SUPER column's longest JSON text as C measured it while building. None otherwise."""
    build = fastpath.arrow_table
    if build is None:
        return None
    specs: list[tuple[Any, ...]] = []
    fields: list[pa.Field] = []
    names: list[str] = []
    values, buffers = batch.values, batch.buffers
    for name, column in batch.schema.columns.items():
        column_type = column.type
        fast = _FAST_KIND.get(column_type.kind)
        if fast is None:
            return None
        specs.append(
            (values.setdefault(name, []), fast, column_type.precision, column_type.scale, buffers.get(name))
        )
        fields.append(_field(name, column_type))
        names.append(name)
    bookkeeping = batch.bookkeeping()
    for name, fast, arrow_field in _LAKE_SPECS:
        specs.append((bookkeeping[name], fast, 0, 0, buffers.get(name)))
        fields.append(arrow_field)
        names.append(name)
    built = build(specs, n)
    if built is None:
        return None
    capsule, longest, address = built
    supers = {
        name: size for name, spec, size in zip(names, specs, longest, strict=True) if spec[1] == _A_SUPER
    }
    schema = pa.schema(fields, metadata={METADATA_KEY: lake_metadata_bytes(batch.schema, names, supers)})
    # Imported from its address with the schema built here: pyarrow then reads no schema from C. The capsule
    # stays referenced until the import has moved the array out of it.
    table = pa.Table.from_batches([pa.RecordBatch._import_from_c(address, schema)])
    del capsule
    return table


def _bookkeeping_kind(column: Any) -> int | None:
    fast = _A_SUPER if column is OVERFLOW else _FAST_KIND.get(column.type.kind)
    return _A_STRING if fast == _A_VARCHAR else fast


# The bookkeeping columns as the whole-table build takes them: (name, build kind, Arrow field).
_LAKE_SPECS = tuple((column.name, _bookkeeping_kind(column), column.arrow_field) for column in _LAKE_COLUMNS)


def _arrow_table(batch: _Batch) -> pa.Table:
    """The batch as lake rows, with its lake metadata: the attribute columns in recorded order, then
    ``_overflow`` and the CDC columns (``lake.columns``). Raises :class:`_BadRows` for rows Arrow refuses and
    :class:`_Unholdable` for values no warehouse column holds."""
    n = batch.rows
    whole = _whole_table(batch, n)
    if whole is not None:
        return whole
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for name, column in batch.schema.columns.items():
        values = batch.values.setdefault(name, [])
        kind = column.type.kind
        arrow_type = column.type.arrow()
        fast = _FAST_KIND.get(kind)
        buffer = batch.buffers.get(name)
        array = (
            None
            if fast is None
            else _fast_array(values, n, fast, arrow_type, column.type.precision, column.type.scale, buffer)
        )
        if array is None:
            if buffer is not None:
                batch.unbuffer(name)
            values = _padded(values, n)
            if kind in ("VARCHAR", "SUPER"):
                array = _string_array(values, name)
            elif kind in _STRING_CAST:
                array = pa.array(values, pa.string()).cast(arrow_type)
            else:
                array = pa.array(values, arrow_type)
            _unholdable(name, kind, array)
        arrays.append(array)
        fields.append(pa.field(name, arrow_type))
    bookkeeping = batch.bookkeeping()
    for column in _LAKE_COLUMNS:
        arrow_field = column.arrow_field
        values = bookkeeping[column.name]
        fast = _bookkeeping_kind(column)
        buffer = batch.buffers.get(column.name)
        array = None if fast is None else _fast_array(values, n, fast, arrow_field.type, 0, 0, buffer)
        if array is None:
            if buffer is not None:
                batch.unbuffer(column.name)
            if arrow_field.type == pa.string():
                array = _string_array(values, column.name)
                if column is OVERFLOW:
                    _unholdable(column.name, "SUPER", array)
            else:
                array = pa.array(values, arrow_field.type)
        arrays.append(array)
        fields.append(arrow_field)
    return with_lake_metadata(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), batch.schema)
