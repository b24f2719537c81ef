"""Column types of the lake and the warehouse: :class:`ColumnType`, its Arrow type, and number widening.

Both legs speak :class:`ColumnType`: sources record it for every column, the lake metadata writes its
``.sql`` text, and the loader reads that text back with :meth:`ColumnType.parse`. A column's type may only
*widen* (``BIGINT`` → ``DECIMAL``, see :func:`widen_for_number`). Pure.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

import pyarrow as pa

__all__ = [
    "AUTO_DECIMAL",
    "AUTO_DECIMAL_SCALE",
    "BIGINT",
    "BOOLEAN",
    "DECIMAL_MAX_PRECISION",
    "INTEGRAL_DECIMAL",
    "KEY_VARCHAR",
    "STREAM_KINDS",
    "SUPER",
    "TIMESTAMP",
    "VARBYTE",
    "VARBYTE_MAX",
    "VARCHAR",
    "VARCHAR_MAX",
    "ColumnType",
    "NumberShape",
    "SchemaError",
    "infer_key_number_type",
    "infer_number_type",
    "number_shape",
    "varchar_for",
    "widen_for_number",
    "widen_for_text",
]

VARCHAR_MAX = 65535  # bytes: https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html
VARBYTE_MAX = 1024000  # bytes; a DynamoDB item is at most 400 KB, so any B value fits.
DECIMAL_MAX_PRECISION = 38
# Scale of a number column inferred without a contract. Fixed, never taken from one batch: DynamoDB turns
# 150.00 into 150, so a batch says nothing reliable about scale. 38-18 leaves 20 integer digits, which holds
# every BIGINT, so BIGINT → DECIMAL(38,18) loses nothing.
AUTO_DECIMAL_SCALE = 18
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# An inferred string column is as long as the longest value it has held (in UTF-8 bytes, which is what
# Redshift's VARCHAR(n) counts), rounded up to one of these steps, and widens to the next as longer values
# arrive: narrow columns keep Redshift's query processing within its memory (it sizes intermediate rows
# by declared widths: https://docs.aws.amazon.com/redshift/latest/dg/c_best-practices-smallest-column-size.html),
# and few steps keep the ALTERs few. Longer than VARCHAR_MAX: the column holds a prefix, _overflow the whole.
VARCHAR_STEPS = (256, 1024, 4096, 16384, VARCHAR_MAX)


class SchemaError(ValueError):
    """A type declaration or recorded schema is malformed."""


@dataclass(frozen=True)
class ColumnType:
    """One Redshift column type, as used in the lake file contract."""

    # BIGINT | DECIMAL | DOUBLE PRECISION | VARCHAR | VARBYTE | BOOLEAN | SUPER | TIMESTAMP; relational
    # sources (RDS exports) also restore SMALLINT | INTEGER | REAL | DATE | TIME | TIMESTAMPTZ.
    kind: str
    precision: int = 0
    scale: int = 0
    length: int = 0

    # Read for every column of every batch (metadata, Arrow fields, staging): spelled once per instance.
    @functools.cached_property
    def sql(self) -> str:
        if self.kind == "DECIMAL":
            return f"DECIMAL({self.precision},{self.scale})"
        if self.kind in ("VARCHAR", "VARBYTE"):
            return f"{self.kind}({self.length})"
        return self.kind

    def __str__(self) -> str:
        return self.sql

    def arrow(self) -> pa.DataType:
        """The Parquet/Arrow type of this column in lake files."""
        kind = self.kind
        if kind == "DECIMAL":
            return pa.decimal128(self.precision, self.scale)
        return _ARROW[kind]

    @classmethod
    def from_arrow(cls, arrow_type: pa.DataType) -> ColumnType:
        """The type of a lake column that the metadata does not declare, from its Arrow type."""
        if pa.types.is_decimal(arrow_type):
            return cls("DECIMAL", precision=arrow_type.precision, scale=arrow_type.scale)
        if pa.types.is_timestamp(arrow_type):
            return TIMESTAMP
        if pa.types.is_integer(arrow_type) and pa.types.is_signed_integer(arrow_type):
            return BIGINT
        if pa.types.is_floating(arrow_type) and arrow_type.bit_width >= 32:
            return DOUBLE_PRECISION
        if pa.types.is_boolean(arrow_type):
            return BOOLEAN
        if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
            return VARBYTE
        return VARCHAR

    @classmethod
    def parse(cls, text: str) -> ColumnType:
        """Parse a declared type (``DECIMAL(12,2)``, ``varchar(64)``, ``TIMESTAMP``, aliases included)."""
        if type(text) is str and cls is ColumnType:
            # Every recorded schema and lake file footer spells its columns' types again: a table's few
            # distinct types are parsed once per process.
            return _parse_cached(text)
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> ColumnType:
        m = _TYPE_RE.fullmatch(text.strip().upper())
        if not m:
            raise SchemaError(f"unsupported column type: {text!r}")
        name = _ALIASES.get(" ".join(m["name"].split()), " ".join(m["name"].split()))
        args_text = (m["args"] or "").replace(" ", "")
        if name in ("VARCHAR", "VARBYTE") and args_text == "MAX":
            args_text = str(VARCHAR_MAX if name == "VARCHAR" else VARBYTE_MAX)
        try:
            args = [int(a) for a in args_text.split(",")] if args_text else []
        except ValueError:
            raise SchemaError(f"unsupported column type: {text!r}") from None
        if name == "DECIMAL":
            precision, scale = (args + [18, 0][len(args) :])[:2] if args else (18, 0)
            if not (1 <= precision <= DECIMAL_MAX_PRECISION and 0 <= scale <= precision) or len(args) > 2:
                raise SchemaError(f"DECIMAL precision 1..38 and scale 0..precision: {text!r}")
            return cls("DECIMAL", precision=precision, scale=scale)
        if name in ("VARCHAR", "VARBYTE"):
            limit = VARCHAR_MAX if name == "VARCHAR" else VARBYTE_MAX
            length = args[0] if args else (256 if name == "VARCHAR" else 64000)
            if len(args) > 1 or not 1 <= length <= limit:
                raise SchemaError(f"{name} length 1..{limit}: {text!r}")
            return cls(name, length=length)
        if name in _ARROW and not args:
            return cls(name)
        raise SchemaError(f"unsupported column type: {text!r}")


_ARROW: dict[str, pa.DataType] = {
    "BIGINT": pa.int64(),
    "DOUBLE PRECISION": pa.float64(),
    "VARCHAR": pa.string(),
    "VARBYTE": pa.binary(),
    "BOOLEAN": pa.bool_(),
    "SUPER": pa.string(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "SMALLINT": pa.int16(),
    "INTEGER": pa.int32(),
    "REAL": pa.float32(),
    "DATE": pa.date32(),
    "TIME": pa.time64("us"),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}
# The kinds DynamoDB values decode to (a contract may declare only these); the others are restored from
# relational sources' exports.
STREAM_KINDS = frozenset(
    ("BIGINT", "DECIMAL", "DOUBLE PRECISION", "VARCHAR", "VARBYTE", "BOOLEAN", "SUPER", "TIMESTAMP")
)
_ALIASES = {
    "INT8": "BIGINT",
    "NUMERIC": "DECIMAL",
    "FLOAT8": "DOUBLE PRECISION",
    "FLOAT": "DOUBLE PRECISION",
    "DOUBLE": "DOUBLE PRECISION",
    "BOOL": "BOOLEAN",
    "CHARACTER VARYING": "VARCHAR",
    "TEXT": "VARCHAR",
    "BINARY VARYING": "VARBYTE",
    "VARBINARY": "VARBYTE",
    "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
    "INT2": "SMALLINT",
    "INT4": "INTEGER",
    "INT": "INTEGER",
    "FLOAT4": "REAL",
    "TIME WITHOUT TIME ZONE": "TIME",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
}
_TYPE_RE = re.compile(r"(?P<name>[A-Z][A-Z0-9 ]*?)\s*(?:\((?P<args>[^)]*)\))?")


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str) -> ColumnType:
    return ColumnType._parse(text)


BIGINT = ColumnType("BIGINT")
BOOLEAN = ColumnType("BOOLEAN")
DOUBLE_PRECISION = ColumnType("DOUBLE PRECISION")
SUPER = ColumnType("SUPER")
TIMESTAMP = ColumnType("TIMESTAMP")
VARCHAR = ColumnType("VARCHAR", length=VARCHAR_MAX)
VARBYTE = ColumnType("VARBYTE", length=VARBYTE_MAX)
AUTO_DECIMAL = ColumnType("DECIMAL", precision=DECIMAL_MAX_PRECISION, scale=AUTO_DECIMAL_SCALE)
INTEGRAL_DECIMAL = ColumnType("DECIMAL", precision=DECIMAL_MAX_PRECISION, scale=0)
# A DynamoDB key attribute's string or binary value is at most 2,048 bytes (a sort key's 1,024)
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html, "Partition keys and
# sort keys"), so a key column of this width never has to change: on Redshift a key column is the
# one column that cannot simply be altered.
KEY_VARCHAR = ColumnType("VARCHAR", length=2048)


# One value per step: every string column a batch records takes one of these (a new ColumnType each time
# cost as much as the rest of recording the column).
_VARCHAR_STEP_TYPES = tuple(ColumnType("VARCHAR", length=step) for step in VARCHAR_STEPS)


def varchar_for(nbytes: int) -> ColumnType:
    """The VARCHAR of an inferred string column whose longest value has ``nbytes`` UTF-8 bytes."""
    for step, type_ in zip(VARCHAR_STEPS, _VARCHAR_STEP_TYPES, strict=True):
        if nbytes <= step:
            return type_
    return _VARCHAR_STEP_TYPES[-1]


def widen_for_text(recorded: ColumnType, nbytes: int) -> ColumnType | None:
    """A wider VARCHAR that holds a string of ``nbytes`` bytes (or as much of it as any VARCHAR can), or
    None when ``recorded`` is no VARCHAR or already as wide as it gets."""
    if recorded.kind != "VARCHAR" or nbytes <= recorded.length or recorded.length >= VARCHAR_MAX:
        return None
    return varchar_for(nbytes)


class NumberShape(NamedTuple):
    """What a DynamoDB number needs: digits left of the point, digits right of it (trailing zeros
    dropped), and its exact text without exponent when it is an integer. A named tuple, not a frozen
    dataclass: one is made for every number a column records or widens for, and a tuple is made in a
    third of the time."""

    int_digits: int
    scale: int
    integer_text: str | None  # canonical integer text when the value is integral, else None

    def fits_decimal(self, precision: int, scale: int) -> bool:
        return self.scale <= scale and self.int_digits <= precision - scale

    def fits_bigint(self) -> bool:
        if self.integer_text is None or self.int_digits > 19:
            return False
        return INT64_MIN <= int(self.integer_text) <= INT64_MAX


# re.ASCII: Python's \d also matches digits of other scripts, which are not DynamoDB numbers.
_PLAIN_NUMBER = re.compile(r"(-?)(\d+)(?:\.(\d+))?", re.ASCII)
_ANY_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def number_shape(text: str) -> NumberShape:
    """Analyse a DynamoDB ``N`` string exactly (no float anywhere). Raises ``ValueError`` if it is not a
    number."""
    m = _PLAIN_NUMBER.fullmatch(text)
    if m:
        sign, whole, frac = m.groups()
        whole = whole.lstrip("0")
        frac = (frac or "").rstrip("0")
        if frac:
            return NumberShape(len(whole), len(frac), None)
        return NumberShape(len(whole), 0, (sign + whole) if whole else "0")
    if not _ANY_NUMBER.fullmatch(text):
        raise ValueError(f"not a number: {text[:50]!r}")
    try:
        sign, digits, exponent = Decimal(text).as_tuple()
    except InvalidOperation:
        raise ValueError(f"not a number: {text[:50]!r}") from None
    assert isinstance(exponent, int)
    digits_t = list(digits)
    while len(digits_t) > 1 and digits_t[-1] == 0 and exponent < 0:
        digits_t.pop()
        exponent += 1
    while digits_t and digits_t[0] == 0 and len(digits_t) > 1:
        digits_t.pop(0)
    if digits_t == [0]:
        return NumberShape(0, 0, "0")
    if exponent >= 0:
        # Cap the materialised text: DynamoDB allows 1E+125, which is harmless, but a hostile 1E+999999999
        # must not allocate a billion digits.
        int_digits = len(digits_t) + exponent
        if int_digits > 40:
            return NumberShape(int_digits, 0, None)
        text_int = "".join(map(str, digits_t)) + "0" * exponent
        return NumberShape(int_digits, 0, ("-" if sign else "") + text_int)
    int_digits = max(0, len(digits_t) + exponent)
    return NumberShape(int_digits, -exponent, None)


def infer_number_type(shape: NumberShape) -> ColumnType:
    """The recorded type of a new number column, from its first value (see AUTO_DECIMAL_SCALE)."""
    if shape.integer_text is not None:
        if shape.fits_bigint():
            return BIGINT
        if shape.int_digits <= DECIMAL_MAX_PRECISION:
            return INTEGRAL_DECIMAL
    return AUTO_DECIMAL


def infer_key_number_type(shape: NumberShape) -> ColumnType:
    """The recorded type of a new number *key* column: DECIMAL(38,0) for an integer, whatever its size,
    so that a key that grows past BIGINT's 19 digits needs no change of a key column; a fractional key
    DECIMAL(38,18) (see AUTO_DECIMAL_SCALE). A key no DECIMAL(38, s) holds is refused at ingest."""
    return INTEGRAL_DECIMAL if shape.integer_text is not None else AUTO_DECIMAL


def widen_for_number(recorded: ColumnType, shape: NumberShape, *, key: bool = False) -> ColumnType | None:
    """A wider type that holds every value ``recorded`` holds *and* this number, or None. A ``key``
    column prefers DECIMAL(38,0) for an integer (room for 38-digit keys later)."""
    if recorded.kind != "BIGINT":
        return None
    candidates = (INTEGRAL_DECIMAL, AUTO_DECIMAL) if key else (AUTO_DECIMAL, INTEGRAL_DECIMAL)
    for candidate in candidates:
        if shape.fits_decimal(candidate.precision, candidate.scale):
            return candidate
    return None
