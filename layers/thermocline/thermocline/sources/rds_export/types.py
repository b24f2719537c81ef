"""Source column types (as an RDS export records them) → warehouse column types (pure).

The export's ``originalTypeMappings`` name each column's source type; the Parquet parts carry numbers,
booleans and bytes typed, and PostgreSQL's numeric, date/time, interval, json, uuid, enum and arrays
(and MySQL's DATE and TIME) as strings. This module decides, per column, the warehouse type and how
its values are restored, following AWS's conversion tables ("Data conversion when exporting to an Amazon
S3 bucket", https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ExportSnapshot.data-types.html).

Decisions where the export is silent:

* The export records a numeric's precision but not its scale. PostgreSQL prints a ``numeric(p,s)`` value
  with exactly ``s`` decimals, so the scale is read from the values (:class:`NumericStats`). A numeric
  without a precision, or wider than Redshift's 38 digits, becomes ``DECIMAL(38, s)`` with the largest
  scale that still holds the widest value; values it cannot hold exactly go to ``_overflow``.
* Arrays arrive as PostgreSQL array literals and the export names them only ``ARRAY``: they become SUPER
  arrays, of numbers when every element in the column is an unquoted integer, else of strings.
* Types without a warehouse equivalent (interval, time with time zone, money, network, geometric, bit
  strings, ranges, enums and other user-defined types) keep their exported text in a VARCHAR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from thermocline.lake.types import DECIMAL_MAX_PRECISION, VARBYTE_MAX, VARCHAR_MAX, ColumnType
from thermocline.sources.rds_export.layout import SourceColumn

__all__ = ["ArrayStats", "ColumnRestore", "NumericStats", "restore_plan"]

SMALLINT = ColumnType("SMALLINT")
INTEGER = ColumnType("INTEGER")
BIGINT = ColumnType("BIGINT")
REAL = ColumnType("REAL")
DOUBLE = ColumnType("DOUBLE PRECISION")
BOOLEAN = ColumnType("BOOLEAN")
DATE = ColumnType("DATE")
TIME = ColumnType("TIME")
TIMESTAMP = ColumnType("TIMESTAMP")
TIMESTAMPTZ = ColumnType("TIMESTAMPTZ")
SUPER = ColumnType("SUPER")
TEXT = ColumnType("VARCHAR", length=VARCHAR_MAX)
BINARY = ColumnType("VARBYTE", length=VARBYTE_MAX)
UUID = ColumnType("VARCHAR", length=36)
# PostgreSQL's longest interval text ("-178000000 years -11 mons -2147483648 days -2562047788:00:54.775808")
# is 67 characters.
INTERVAL = ColumnType("VARCHAR", length=96)
UNSIGNED_BIGINT = ColumnType("DECIMAL", precision=20, scale=0)


@dataclass
class NumericStats:
    """What the values of a numeric-as-text column need: integer digits and decimals (finite values)."""

    int_digits: int = 0
    scale: int = 0

    def observe(self, int_digits: int, scale: int) -> None:
        if int_digits > DECIMAL_MAX_PRECISION:
            return  # no DECIMAL holds it: it goes to _overflow, and must not cost the others their decimals
        self.int_digits = max(self.int_digits, int_digits)
        self.scale = max(self.scale, scale)


@dataclass
class ArrayStats:
    """Whether every element of every array in the column was an unquoted integer."""

    integers: bool = True
    seen: bool = False


@dataclass(frozen=True)
class ColumnRestore:
    """How one exported column becomes a warehouse column.

    ``kind`` names the restoration: ``int``, ``decimal``, ``float``, ``bool``, ``text``, ``binary``,
    ``date``, ``time``, ``timestamp``, ``json``, ``array`` (``array_int`` for integer arrays).
    """

    source: SourceColumn
    type: ColumnType
    kind: str


def _varchar(chars: int) -> ColumnType:
    # Source lengths count characters, Redshift's count bytes: up to 4 UTF-8 bytes per character.
    if chars <= 0:
        return TEXT
    return ColumnType("VARCHAR", length=min(VARCHAR_MAX, 4 * chars))


def _decimal(precision: int, stats: NumericStats | None) -> ColumnType:
    scale = stats.scale if stats else 0
    if 1 <= precision <= DECIMAL_MAX_PRECISION:
        return ColumnType("DECIMAL", precision=precision, scale=min(scale, precision))
    # No usable precision: 38 digits, as many decimals as the values show while the widest value fits.
    int_digits = stats.int_digits if stats else 0
    room = max(0, DECIMAL_MAX_PRECISION - int_digits)
    return ColumnType("DECIMAL", precision=DECIMAL_MAX_PRECISION, scale=min(scale, room))


def _base(original: str) -> tuple[str, bool]:
    """``int(10) unsigned`` → (``int``, True); ``character varying`` → (``character varying``, False)."""
    text = original.strip().lower()
    unsigned = bool(re.search(r"\bunsigned\b", text))
    text = re.sub(r"\(.*?\)|\bunsigned\b|\bzerofill\b", " ", text)
    return " ".join(text.split()), unsigned


_PG: dict[str, tuple[ColumnType, str]] = {
    "smallint": (SMALLINT, "int"),
    "int2": (SMALLINT, "int"),
    "integer": (INTEGER, "int"),
    "int": (INTEGER, "int"),
    "int4": (INTEGER, "int"),
    "bigint": (BIGINT, "int"),
    "int8": (BIGINT, "int"),
    "real": (REAL, "float"),
    "float4": (REAL, "float"),
    "double precision": (DOUBLE, "float"),
    "float8": (DOUBLE, "float"),
    "boolean": (BOOLEAN, "bool"),
    "bool": (BOOLEAN, "bool"),
    "date": (DATE, "date"),
    "time": (TIME, "time"),
    "time without time zone": (TIME, "time"),
    "timestamp": (TIMESTAMP, "timestamp"),
    "timestamp without time zone": (TIMESTAMP, "timestamp"),
    "timestamptz": (TIMESTAMPTZ, "timestamp"),
    "timestamp with time zone": (TIMESTAMPTZ, "timestamp"),
    "json": (SUPER, "json"),
    "jsonb": (SUPER, "json"),
    "uuid": (UUID, "text"),
    "interval": (INTERVAL, "text"),
    "bytea": (BINARY, "binary"),
    "text": (TEXT, "text"),
}
_PG_CHAR = {"character varying", "varchar", "character", "char", "bpchar"}
_PG_NUMERIC = {"numeric", "decimal"}

_MYSQL: dict[str, tuple[ColumnType, str]] = {
    "tinyint": (SMALLINT, "int"),
    "smallint": (SMALLINT, "int"),
    "mediumint": (INTEGER, "int"),
    "int": (INTEGER, "int"),
    "integer": (INTEGER, "int"),
    "bigint": (BIGINT, "int"),
    "year": (SMALLINT, "int"),
    # MySQL FLOAT is single precision; the export widens it to DOUBLE, and REAL takes it back exactly.
    "float": (REAL, "float"),
    "double": (DOUBLE, "float"),
    "double precision": (DOUBLE, "float"),
    "real": (DOUBLE, "float"),
    "bool": (SMALLINT, "int"),
    "boolean": (SMALLINT, "int"),
    "date": (DATE, "date"),
    "time": (TIME, "time"),
    "datetime": (TIMESTAMP, "timestamp"),
    "timestamp": (TIMESTAMP, "timestamp"),
    "json": (SUPER, "json"),
    "bit": (ColumnType("VARBYTE", length=8), "binary"),
}
_MYSQL_UNSIGNED: dict[str, tuple[ColumnType, str]] = {
    "smallint": (INTEGER, "int"),
    "int": (BIGINT, "int"),
    "integer": (BIGINT, "int"),
    "bigint": (UNSIGNED_BIGINT, "decimal"),
}
_MYSQL_BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "point"}
_MYSQL_BINARY |= {
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
}
_MYSQL_NUMERIC = {"decimal", "numeric", "dec", "fixed"}


def restore_plan(
    engine: str, column: SourceColumn, numeric: NumericStats | None = None, array: ArrayStats | None = None
) -> ColumnRestore:
    """The warehouse type and restoration of one column; ``engine`` is ``postgres`` or ``mysql``."""
    base, unsigned = _base(column.original_type)
    if engine == "postgres":
        if base in _PG:
            ctype, kind = _PG[base]
        elif base in _PG_CHAR:
            ctype, kind = _varchar(column.char_max_length), "text"
        elif base in _PG_NUMERIC:
            ctype, kind = _decimal(column.num_precision, numeric), "decimal"
        elif base == "array" or base.endswith("[]") or base.startswith("_"):
            integers = array is not None and array.seen and array.integers
            ctype, kind = SUPER, "array_int" if integers else "array"
        else:
            ctype, kind = TEXT, "text"
        return ColumnRestore(column, ctype, kind)
    if unsigned and base in _MYSQL_UNSIGNED:
        ctype, kind = _MYSQL_UNSIGNED[base]
    elif base in _MYSQL:
        ctype, kind = _MYSQL[base]
    elif base in _MYSQL_NUMERIC:
        ctype, kind = _decimal(column.num_precision, numeric), "decimal"
    elif base in _MYSQL_BINARY:
        ctype, kind = BINARY, "binary"
    elif base in ("char", "varchar"):
        ctype, kind = _varchar(column.char_max_length), "text"
    else:  # text types, enum, set and anything newer than this table
        ctype, kind = TEXT, "text"
    return ColumnRestore(column, ctype, kind)


def needs_numeric_stats(engine: str, column: SourceColumn) -> bool:
    base, _ = _base(column.original_type)
    return base in (_PG_NUMERIC if engine == "postgres" else _MYSQL_NUMERIC)


def needs_array_stats(engine: str, column: SourceColumn) -> bool:
    base, _ = _base(column.original_type)
    return engine == "postgres" and (base == "array" or base.endswith("[]") or base.startswith("_"))
