"""Attribute values → column values: one converter per column type, type inference and widening, and
the plan entries the staging loop (Python and C) works from.

Each converter takes ``(column, tag, value)`` and returns what goes into the column's Python list, raises
:class:`_Overflow` with the JSON for the ``_overflow`` column, :class:`_Truncated` with the prefix that
fits, or :class:`RecordDecodeError`. Numbers stay text until the Arrow build, so a column that widens
halfway through a batch converts every row the same way. Pure.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from thermocline.lake.table_schema import Column
from thermocline.lake.types import (
    BOOLEAN,
    KEY_VARCHAR,
    SUPER,
    VARBYTE,
    ColumnType,
    infer_key_number_type,
    infer_number_type,
    number_shape,
    varchar_for,
    widen_for_number,
    widen_for_text,
)
from thermocline.sources.dynamodb_streams.envelope import MAX_EPOCH_S, MIN_EPOCH_S, _datetime_us
from thermocline.sources.dynamodb_streams.errors import RecordDecodeError
from thermocline.sources.dynamodb_streams.super_json import (
    _JSON_NUMBER,
    _binary_bytes,
    _binary_text,
    _check_number,
    _check_str,
    _encode_str,
    _overflow_json,
    _super_text,
    _truncate_utf8,
    _utf8_length,
)

Converter = Callable[[Column, str, Any], Any]
# The plan entry of one attribute of a batch: ``(column, values, convert, fast_tag, fast_check, c_spec)``.
#
# * ``column`` — the recorded :class:`Column`; ``values`` — its value list in the batch (row i at index i);
# * ``convert`` — the column type's converter (below), the reference for every value;
# * ``fast_tag`` — the AttributeValue tag the Python fast path accepts: ``"S"`` (VARCHAR), ``"N"``
#   (numbers), ``""`` (SUPER: every tag but NULL is JSON), ``"\x00"`` (no fast path);
# * ``fast_check`` — decides a value certainly fits without converting: for VARCHAR its length in bytes
#   (the fast path takes only ASCII strings there, one byte a character), for numbers a C regex ``fullmatch`` of text that
#   certainly fits, None for SUPER, ``_never`` otherwise;
# * ``c_spec`` — the same decision for the C fast path, as three ints ``(kind, a, b)``: ``(C_VARCHAR,
#   length in bytes, 0)``, ``(C_FIXED, integer digits, scale)`` for plain numbers that fit (BIGINT is 18
#   digits, scale 0), ``(C_JSON_NUMBER, 0, 0)``, ``(C_SUPER, 0, 0)``, ``(C_BOOLEAN, 0, 0)``,
#   ``(C_VARBYTE, length in bytes, 0)``, ``(C_OTHER, 0, 0)`` (the converter decides every value);
# * ``buffer`` — the column's ``fastpath.ColumnBuffer`` (``_Batch.buffer_for``), where the C fast path puts
#   the values it stages instead of the list, or None (the Python path never uses it).
#
# ``staging.stage_record`` and the C ``stage_row``/``decode_records`` (``_speedups.c``) read these fields;
# change one only with the other.
PlanEntry = tuple[Column, list[Any], Converter, str, Any, tuple[int, int, int], Any]
C_OTHER, C_VARCHAR, C_FIXED, C_JSON_NUMBER, C_SUPER, C_BOOLEAN, C_VARBYTE = range(7)


class _Overflow(Exception):
    """This value does not fit its column; it goes to ``_overflow``."""

    def __init__(self, json_text: str) -> None:
        self.json_text = json_text


class _Truncated(Exception):
    """A string longer than its VARCHAR; the column gets this prefix, ``_overflow`` the whole."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix


def _null_or_overflow(tag: str, value: Any) -> None:
    if tag == "NULL":
        return None
    raise _Overflow(_overflow_json(tag, value))


_PLAIN_SMALL_INT = re.compile(r"-?\d{1,18}", re.ASCII)


def _conv_varchar(column: Column, tag: str, value: Any) -> Any:
    if tag == "S":
        if type(value) is not str:
            raise RecordDecodeError("S value is not a string")
        if _utf8_length(value) > column.type.length:
            raise _Truncated(_truncate_utf8(value, column.type.length))
        return value
    if tag == "N":
        text = _check_number(value)
        if len(text) > column.type.length:
            # A number is never cut to a prefix (that would be another number): kept whole in _overflow,
            # so a declared VARCHAR(n) never receives text longer than n and COPY never refuses the file.
            raise _Overflow(_encode_str(text))
        return text
    return _null_or_overflow(tag, value)


def _conv_bigint(column: Column, tag: str, value: Any) -> Any:
    if tag == "N":
        text = _check_number(value)
        if _PLAIN_SMALL_INT.fullmatch(text):
            return text
        shape = number_shape(text)
        if shape.fits_bigint():
            return shape.integer_text
        raise _Overflow(_encode_str(text))
    return _null_or_overflow(tag, value)


def _conv_decimal(column: Column, tag: str, value: Any) -> Any:
    if tag == "N":
        text = _check_number(value)
        shape = number_shape(text)
        if shape.fits_decimal(column.type.precision, column.type.scale):
            return _plain_decimal(text, shape)
        raise _Overflow(_encode_str(text))
    return _null_or_overflow(tag, value)


def _plain_decimal(text: str, shape: Any) -> str:
    """A number that fits its DECIMAL column, in plain digits without trailing fractional zeros. Arrow's
    string→decimal cast counts the digits as written: ``0E+116`` or ``1.50000000000000000000`` (more than
    38 digits) would fail the cast, and with it the whole batch. Exact: no context rounding."""
    if shape.integer_text is not None:
        return str(shape.integer_text)
    sign, digits, exponent = Decimal(text).as_tuple()
    assert isinstance(exponent, int)
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    return format(Decimal((sign, digits, exponent)), "f")


def _conv_double(column: Column, tag: str, value: Any) -> Any:
    if tag == "N":
        return _check_number(value)
    return _null_or_overflow(tag, value)


def _conv_boolean(column: Column, tag: str, value: Any) -> Any:
    if tag == "BOOL":
        if type(value) is not bool:
            raise RecordDecodeError("BOOL value is not a boolean")
        return value
    return _null_or_overflow(tag, value)


def _conv_varbyte(column: Column, tag: str, value: Any) -> Any:
    if tag == "B":
        data = _binary_bytes(value)
        if len(data) > column.type.length:
            raise _Overflow(_encode_str(_binary_text(value)))
        return data
    return _null_or_overflow(tag, value)


def _conv_super(column: Column, tag: str, value: Any) -> Any:
    if tag == "NULL":
        return None
    return _super_text(tag, value)


def _conv_timestamp(column: Column, tag: str, value: Any) -> Any:
    if tag == "S":
        text = _check_str(value)
        try:
            micros = _datetime_us(datetime.fromisoformat(text))
        except (ValueError, OverflowError):
            raise _Overflow(_encode_str(text)) from None
    elif tag == "N":
        # Epoch seconds, as DynamoDB TTL attributes hold them.
        text = _check_number(value)
        shape = number_shape(text)
        if not (shape.scale <= 6 and shape.int_digits <= 11):
            raise _Overflow(_encode_str(text))
        micros = int(Decimal(text) * 1_000_000)
    else:
        return _null_or_overflow(tag, value)
    if not _MIN_TIMESTAMP_US <= micros <= _MAX_TIMESTAMP_US:
        # Years 1 to 9999 (UTC), as for event times: a time before year 1 (-99999999999, or 0001-01-01 with an
        # offset east of UTC) fails the local engines' COPY and every Python client that reads it back.
        raise _Overflow(_encode_str(text))
    return micros


_MIN_TIMESTAMP_US = MIN_EPOCH_S * 1_000_000
_MAX_TIMESTAMP_US = MAX_EPOCH_S * 1_000_000 + 999_999


@functools.lru_cache(maxsize=256)
def _decimal_pattern(precision: int, scale: int) -> re.Pattern[str]:
    """Plain-notation numbers that certainly fit DECIMAL(precision, scale) (others take the exact path)."""
    int_digits = precision - scale
    whole = "0" if int_digits == 0 else f"(?:0|[1-9]\\d{{0,{int_digits - 1}}})"
    frac = f"(?:\\.\\d{{1,{scale}}})?" if scale else ""
    return re.compile(f"-?{whole}{frac}", re.ASCII)


_FAST_BIGINT = re.compile(r"-?(?:0|[1-9]\d{0,17})", re.ASCII).fullmatch


def _plan_entry(column: Column, values: list[Any], buffer: Any = None) -> PlanEntry:
    """The :data:`PlanEntry` of ``column`` whose batch value list is ``values`` (and C buffer ``buffer``)."""
    return (*_fast_paths(column, values), buffer)


def _fast_paths(column: Column, values: list[Any]) -> tuple[Any, ...]:
    kind = column.type.kind
    convert = _CONVERT[kind]
    if kind == "VARCHAR":
        return column, values, convert, "S", column.type.length, (C_VARCHAR, column.type.length, 0)
    if kind == "BIGINT":
        return column, values, convert, "N", _FAST_BIGINT, (C_FIXED, 18, 0)
    if kind == "DECIMAL":
        precision, scale = column.type.precision, column.type.scale
        return (
            column,
            values,
            convert,
            "N",
            _decimal_pattern(precision, scale).fullmatch,
            (C_FIXED, precision - scale, scale),
        )
    if kind == "DOUBLE PRECISION":
        return column, values, convert, "N", _JSON_NUMBER.fullmatch, (C_JSON_NUMBER, 0, 0)
    if kind == "SUPER":
        return column, values, convert, "", None, (C_SUPER, 0, 0)
    if kind == "BOOLEAN":
        return column, values, convert, "\x00", _never, (C_BOOLEAN, 0, 0)
    if kind == "VARBYTE":
        return column, values, convert, "\x00", _never, (C_VARBYTE, column.type.length, 0)
    return column, values, convert, "\x00", _never, (C_OTHER, 0, 0)


def _never(_value: Any) -> bool:
    return False


_CONVERT = {
    "VARCHAR": _conv_varchar,
    "BIGINT": _conv_bigint,
    "DECIMAL": _conv_decimal,
    "DOUBLE PRECISION": _conv_double,
    "BOOLEAN": _conv_boolean,
    "VARBYTE": _conv_varbyte,
    "SUPER": _conv_super,
    "TIMESTAMP": _conv_timestamp,
}


def _infer_type(tag: str, value: Any) -> ColumnType | None:
    """The type of a new column from its first value (strings sized by it: ``lake.types.varchar_for``)."""
    if tag == "S":
        return varchar_for(_utf8_length(_check_str(value)))
    if tag == "N":
        return infer_number_type(_shape(value))
    if tag == "BOOL":
        return BOOLEAN
    if tag == "B":
        return VARBYTE
    if tag == "NULL":
        return None
    return SUPER


def _shape(value: Any) -> Any:
    try:
        return number_shape(_check_number(value))
    except ValueError:
        raise RecordDecodeError(f"N value is not a number: {str(value)[:60]!r}") from None


def _infer_key_type(tag: str, value: Any) -> ColumnType | None:
    """The type of a new column for a DynamoDB key attribute: one that no later key needs changed
    (``lake.types.KEY_VARCHAR``, ``infer_key_number_type``)."""
    if tag == "S":
        return KEY_VARCHAR
    if tag == "N":
        return infer_key_number_type(_shape(value))
    return _infer_type(tag, value)


def _widen(column: Column, value: Any, tag: str = "N", *, key: bool = False) -> ColumnType | None:
    """A wider type for ``column`` that holds ``value`` too, or None (declared columns never widen). The
    C fast path calls it as ``_widen(column, value)`` for a number its column could not hold."""
    if column.declared:
        return None
    try:
        if column.type.kind == "VARCHAR" and tag in ("S", "N") and type(value) is str:
            return widen_for_text(column.type, _utf8_length(value))
        if tag == "N":
            return widen_for_number(column.type, number_shape(_check_number(value)), key=key)
    except (ValueError, RecordDecodeError):
        return None
    return None
    return None
