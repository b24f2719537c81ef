"""Column types of a report result: checking values into them, their Arrow type, and their text.

Engines hand back values of different kinds for the same column: DuckDB and psycopg give ``Decimal``,
``date`` and ``datetime``; the Redshift Data API gives strings for DECIMAL, DATE and TIMESTAMP (its
``stringValue``), numbers for BIGINT and DOUBLE. A report declares each column's type, and every value is
turned into that type here, exactly or not at all: a value that does not fit is an error naming the column,
never a silent rounding.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

KINDS = ("text", "integer", "decimal", "float", "date", "timestamp", "boolean")
_DECIMAL = re.compile(r"^decimal\(\s*(\d{1,2})\s*,\s*(\d{1,2})\s*\)$")
_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_TRUE, _FALSE = {"true", "t", "1", "yes"}, {"false", "f", "0", "no"}


class ValueTypeError(ValueError):
    """A value cannot be held exactly by its declared type."""


@dataclass(frozen=True)
class ColumnType:
    kind: str
    precision: int = 0
    scale: int = 0

    @classmethod
    def parse(cls, text: str) -> ColumnType:
        """``text``, ``integer``, ``decimal(p,s)``, ``float``, ``date``, ``timestamp`` or ``boolean``."""
        spec = str(text).strip().lower()
        match = _DECIMAL.match(spec)
        if match:
            precision, scale = int(match.group(1)), int(match.group(2))
            if not 1 <= precision <= 38 or scale > precision:
                raise ValueError(f"decimal({precision},{scale}): precision 1-38 and scale <= precision")
            return cls("decimal", precision, scale)
        if spec not in KINDS or spec == "decimal":
            raise ValueError(
                f"unknown type {text!r}: use {', '.join(KINDS[:2])}, decimal(p,s), {', '.join(KINDS[3:])}"
            )
        return cls(spec)

    @property
    def numeric(self) -> bool:
        return self.kind in ("integer", "decimal", "float")

    def arrow(self) -> pa.DataType:
        return {
            "text": pa.string(),
            "integer": pa.int64(),
            "decimal": pa.decimal128(self.precision or 38, self.scale),
            "float": pa.float64(),
            "date": pa.date32(),
            "timestamp": pa.timestamp("us", tz="UTC"),
            "boolean": pa.bool_(),
        }[self.kind]

    def __str__(self) -> str:
        return f"decimal({self.precision},{self.scale})" if self.kind == "decimal" else self.kind


def coerce(value: Any, ctype: ColumnType) -> Any:
    """``value`` as the Python value of ``ctype`` (``None`` stays ``None``), or :class:`ValueTypeError`."""
    if value is None:
        return None
    try:
        return _COERCE[ctype.kind](value, ctype)
    except (ValueError, InvalidOperation, TypeError, OverflowError) as exc:
        if isinstance(exc, ValueTypeError):
            raise
        raise ValueTypeError(f"{value!r} is not a {ctype}") from None


def _text(value: Any, _: ColumnType) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _integer(value: Any, _: ColumnType) -> int:
    if isinstance(value, bool):
        raise ValueTypeError(f"{value!r} is a boolean, not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER_TEXT.match(value.strip()):
        return int(value.strip())
    number = Decimal(str(value)) if isinstance(value, float | str) else Decimal(value)
    if number != number.to_integral_value():
        raise ValueTypeError(f"{value!r} is not a whole number")
    return int(number)


_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _decimal(value: Any, ctype: ColumnType) -> Decimal:
    if isinstance(value, bool):
        raise ValueTypeError(f"{value!r} is a boolean, not a number")
    # A float goes through its shortest repr (0.1, not 0.1000000000000000055...).
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    if not number.is_finite():
        raise ValueTypeError(f"{value!r} is not a finite number")
    # In a context as wide as the column: the default one (28 digits) refuses a DECIMAL(38, s) value.
    exact = _EXACT.quantize(number, Decimal(1).scaleb(-ctype.scale))
    if exact != number:
        raise ValueTypeError(f"{value!r} has more than {ctype.scale} decimal places")
    if len(exact.as_tuple().digits) > ctype.precision and exact != 0:
        raise ValueTypeError(f"{value!r} has more than {ctype.precision} digits")
    return exact


def _float(value: Any, _: ColumnType) -> float:
    if isinstance(value, bool):
        raise ValueTypeError(f"{value!r} is a boolean, not a number")
    return float(value)


def _date(value: Any, _: ColumnType) -> dt.date:
    if isinstance(value, dt.datetime):
        # DATE_TRUNC returns a timestamp in Redshift: midnight is a date, any other time is not.
        if value.time() != dt.time(0):
            raise ValueTypeError(f"{value!r} has a time of day, not a date")
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if len(text) > 10:
        return _date(_timestamp(text, ColumnType("timestamp")).replace(tzinfo=None), ColumnType("date"))
    return dt.date.fromisoformat(text)


def _timestamp(value: Any, _: ColumnType) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time(0))
    else:
        moment = dt.datetime.fromisoformat(str(value).strip())
    # The warehouse keeps UTC in TIMESTAMP columns (the lake's _event_time and the engines' session zone).
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _boolean(value: Any, _: ColumnType) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueTypeError(f"{value!r} is not a boolean")


_COERCE = {
    "text": _text,
    "integer": _integer,
    "decimal": _decimal,
    "float": _float,
    "date": _date,
    "timestamp": _timestamp,
    "boolean": _boolean,
}


def exact_text(value: Any) -> str:
    """The value as CSV text: exact digits, ISO dates, UTC timestamps, empty for NULL."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") + (
            f".{value.microsecond:06d}" if value.microsecond else ""
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def formatted(value: Any, ctype: ColumnType, spec: str | None) -> str:
    """The value as a person reads it: ``spec`` is a Python format spec for numbers (``,.2f``) or a
    ``strftime`` pattern for dates and timestamps (``%Y-%m``)."""
    if value is None:
        return ""
    if spec and ctype.kind in ("date", "timestamp"):
        return str(value.strftime(spec))
    if spec and ctype.numeric:
        return format(value, spec)
    if ctype.numeric and not spec:
        return format(value, ",")
    return exact_text(value)
