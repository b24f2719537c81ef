"""Staging one record's item image into its table's batch, and recording what the schema gains.

The hot loop of decoding. The C fast path (``fastpath.stage_row``) stages a record whose attributes all
take the fast paths below; anything else, and every doubt, takes this Python code, the reference. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from thermocline.contracts import Route
from thermocline.lake.columns import MAX_ATTRIBUTE_COLUMNS
from thermocline.lake.table_schema import Column, TableSchema
from thermocline.lake.types import ColumnType
from thermocline.sources.dynamodb_streams import fastpath
from thermocline.sources.dynamodb_streams.batch import _Batch
from thermocline.sources.dynamodb_streams.errors import RecordDecodeError
from thermocline.sources.dynamodb_streams.super_json import (
    _KNOWN_TAGS,
    _encode_str,
    _overflow_json,
    _single,
    _super_text,
    _utf8_length,
)
from thermocline.sources.dynamodb_streams.values import (
    _CONVERT,
    _infer_key_type,
    _infer_type,
    _Overflow,
    _plan_entry,
    _Truncated,
    _widen,
)


class Staged(NamedTuple):
    """What staging one record did besides appending its values."""

    overflow: list[tuple[str, str]] | None  # (attribute, value JSON) of values kept in ``_overflow``
    truncated: int  # how many of those are strings cut to their VARCHAR (the column holds the prefix)
    added: list[Column]  # columns recorded for this record
    widened: list[tuple[Column, ColumnType]]  # columns widened for it, with their previous type


_NOTHING = Staged(None, 0, [], [])


def first_type(attribute: Any, tag: Any, value: Any) -> ColumnType | None:
    """The type of a new column for ``attribute`` from its first value, or None for NULL (no column until
    the attribute has a value). Raises :class:`RecordDecodeError` for what no column can record."""
    if tag not in _KNOWN_TAGS:
        raise RecordDecodeError(
            f"attribute {str(attribute)[:60]!r}: unknown DynamoDB type tag {str(tag)[:40]!r}"
        )
    if type(attribute) is not str:
        raise RecordDecodeError("attribute name is not a string")
    _utf8_length(attribute)
    return _infer_type(tag, value)


def add_column(batch: _Batch, attribute: str, type_: ColumnType) -> Column:
    """Record a new column in the batch's schema, with its value list and plan entry."""
    column = batch.schema.add(attribute, type_)
    batch.plan[attribute] = _plan_entry(
        column, batch.values.setdefault(column.name, []), batch.buffer_for(column.name)
    )
    return column


def forget_column(batch: _Batch, column: Column) -> None:
    """Undo :func:`add_column` for a record that was not staged after all."""
    batch.schema.remove(column)
    del batch.values[column.name]
    batch.buffers.pop(column.name, None)
    batch.plan.pop(column.attribute, None)


def _missing_key(batch: _Batch, row: int) -> str | None:
    """Why row ``row`` has no value in a primary key column, or None: a row without its key cannot be
    merged, so the record is quarantined instead."""
    values = batch.values
    for name in batch.schema.primary_key:
        column_values = values.get(name)
        if column_values is None or len(column_values) <= row or column_values[row] is None:
            attribute = batch.schema.columns[name].attribute
            return f"primary key attribute {attribute!r} is missing or NULL"
    return None


def stage_record(batch: _Batch, image: Mapping[str, Any], spill: int | None) -> Staged:
    """Append one record's attribute values to the batch's column lists, as row ``batch.rows``.

    All or nothing: on any error the lists are cut back, widened types restored and columns recorded
    for this record forgotten, then the error propagates. ``spill`` (bytes): a SUPER value larger than
    this goes to ``_overflow`` instead of its column (the decoder then moves it out of the row).
    """
    stage_row = fastpath.stage_row
    if stage_row is not None and stage_row(image, batch.plan, batch.rows, spill):
        missing = _missing_key(batch, batch.rows)
        if missing is not None:
            for column_values in batch.values.values():
                del column_values[batch.rows :]
            for buffer in batch.buffers.values():
                buffer.truncate(batch.rows)
            raise RecordDecodeError(missing)
        return _NOTHING
    schema = batch.schema
    plan = batch.plan
    values = batch.values
    row = batch.rows
    overflow: list[tuple[str, str]] | None = None
    added: list[Column] = []
    widened: list[tuple[Column, ColumnType]] = []
    truncated = 0
    try:
        for attribute, av in image.items():
            try:
                ((tag, value),) = av.items()
            except (AttributeError, ValueError):
                raise RecordDecodeError(
                    f"attribute {str(attribute)[:60]!r} is not a DynamoDB AttributeValue"
                ) from None
            entry = plan.get(attribute)
            if entry is None:
                column = schema.by_attribute.get(attribute)
                if column is None:
                    new_type = first_type(attribute, tag, value)
                    if new_type is None:  # NULL: no column until the attribute has a value
                        continue
                    if len(schema.columns) >= MAX_ATTRIBUTE_COLUMNS:
                        # A table at the warehouse's column limit takes no new column, which would stop
                        # every later load of it: the attribute is kept in _overflow, now and from then on.
                        if overflow is None:
                            overflow = []
                        overflow.append((attribute, _overflow_json(tag, value)))
                        continue
                    added.append(add_column(batch, attribute, new_type))
                    entry = plan[attribute]
                else:
                    entry = plan[attribute] = _plan_entry(
                        column, values.setdefault(column.name, []), batch.buffer_for(column.name)
                    )
            column, column_values, convert, fast_tag, fast_check, _c_spec, buffer = entry
            try:
                # Fast paths for the common cases; everything else (and every doubt) goes to `convert`.
                if tag == fast_tag:
                    if fast_tag == "S":
                        if type(value) is str and len(value) <= fast_check and value.isascii():
                            converted = value
                        else:
                            converted = convert(column, tag, value)
                    elif fast_check(value):
                        converted = value
                    else:
                        converted = convert(column, tag, value)
                elif fast_check is None and tag != "NULL":
                    converted = _super_text(tag, value)
                else:
                    converted = convert(column, tag, value)
            except (_Overflow, _Truncated) as first_miss:
                miss: _Overflow | _Truncated = first_miss
                # A value the column cannot hold: the column widens if it can (a key column too: the
                # loader then rebuilds the table, load/table_setup.py); otherwise a key is refused
                # (a cut or moved key could merge into another row) and any other value is kept whole in
                # _overflow (a string's prefix stays in its column).
                key = column.name in schema.primary_key
                widened_type = _widen(column, value, tag, key=key)
                if widened_type is not None:
                    widened.append((column, column.type))
                    column.type = widened_type
                    entry = plan[attribute] = _plan_entry(column, column_values, buffer)
                    try:
                        converted = _CONVERT[widened_type.kind](column, tag, value)
                    except (_Overflow, _Truncated) as again:
                        miss = again
                        widened_type = None
                if widened_type is None:
                    if key:
                        what = "is longer than" if isinstance(miss, _Truncated) else "does not fit"
                        raise RecordDecodeError(
                            f"primary key attribute {attribute!r} {what} column type {column.type.sql}"
                        ) from None
                    if overflow is None:
                        overflow = []
                    if isinstance(miss, _Truncated):
                        converted = miss.prefix
                        overflow.append((attribute, _encode_str(value)))
                        truncated += 1
                    else:
                        overflow.append((attribute, miss.json_text))
                        continue
            except RecordDecodeError as exc:
                raise RecordDecodeError(f"attribute {str(attribute)[:60]!r}: {exc}") from None
            if (
                spill is not None
                and fast_check is None
                and converted is not None
                and len(converted) * 4 > spill
                and len(converted.encode("utf-8")) > spill
            ):
                # A SUPER value larger than a warehouse can stage: it is spilled (see super_json.overflow_object).
                if overflow is None:
                    overflow = []
                overflow.append((attribute, converted))
                converted = None
            filled = len(column_values)
            if filled != row:
                column_values.extend([None] * (row - filled))
            column_values.append(converted)
        missing = _missing_key(batch, row)
        if missing is not None:
            raise RecordDecodeError(missing)
    except BaseException:
        for column_values in values.values():
            del column_values[row:]
        for column, old_type in widened:
            column.type = old_type
        for column in reversed(added):
            forget_column(batch, column)
        batch.plan = {a: _plan_entry(e[0], e[1], e[6]) for a, e in plan.items() if a in schema.by_attribute}
        raise
    return Staged(overflow, truncated, added, widened)


def _apply_contract(
    schema: TableSchema,
    route: Route | None,
    keys: Mapping[str, Any],
    image: Mapping[str, Any],
    conflicts: list[tuple[str, str, str, str]],
) -> bool:
    """Record key columns first, then the contract's declared columns; set PK/sort/dist. True if changed.

    A contract's ``primary_key`` is honoured even when it names attributes outside the record's ``Keys``:
    such an attribute is recorded from the item (typed by the contract or its first value), and a record
    that lacks it is quarantined (``_missing_key``), never merged on a NULL key."""
    changed = False
    for attribute, av in keys.items():
        if attribute not in schema.by_attribute:
            tag, value = _single(av)
            new_type = _infer_key_type(tag, value)
            if new_type is None:
                raise RecordDecodeError(f"key attribute {attribute!r} is NULL")
            declared = route.columns.get(attribute) if route else None
            schema.add(attribute, declared or new_type, declared=declared is not None)
            changed = True
    if route is not None:
        for attribute, type_ in route.columns.items():
            recorded = schema.by_attribute.get(attribute)
            if recorded is None:
                schema.add(attribute, type_, declared=True)
                changed = True
            elif recorded.type != type_:
                # The recorded type wins: files already in the lake and the warehouse table use it.
                conflicts.append((schema.table, recorded.name, recorded.type.sql, type_.sql))
    if not schema.primary_key:
        pk_attributes = (route.primary_key if route and route.primary_key else None) or list(keys)
        for attribute in pk_attributes:
            if attribute in schema.by_attribute:
                continue
            av = image.get(attribute)
            new_type = _infer_type(*_single(av)) if av is not None else None
            if new_type is None:
                raise RecordDecodeError(f"primary key attribute {attribute!r} is missing or NULL")
            schema.add(attribute, new_type)
        schema.primary_key = [schema.by_attribute[a].name for a in pk_attributes]
        changed = True
    if route is not None and not schema.sort_key and route.sort_key:
        schema.sort_key = [schema.by_attribute[a].name for a in route.sort_key if a in schema.by_attribute]
        changed = True
    if route is not None and schema.dist_key is None and route.dist_key in schema.by_attribute:
        schema.dist_key = schema.by_attribute[route.dist_key].name
        changed = True
    return changed
