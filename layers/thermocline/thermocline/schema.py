"""Warehouse column types, widening rules and the recorded attribute→column mapping of a table.

A :class:`TableSchema` is the memory of one warehouse table: which source attribute lives in which
column, with which type. Once a column is recorded its name never changes (the loader and every query
depend on it); its type may only *widen* (``BIGINT`` → ``DECIMAL``). Everything else that does not fit
lands in the table's ``_overflow`` column. The service persists schemas as JSON (``to_json``/
``from_json``); this module is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from thermocline.names import safe_identifier, unique_identifier

__all__ = [
    "AUTO_DECIMAL_SCALE",
    "METADATA_COLUMNS",
    "OVERFLOW_COLUMN",
    "RESERVED_COLUMNS",
    "SYSTEM_COLUMNS",
    "Column",
    "ColumnType",
    "STREAM_KINDS",
    "SchemaError",
    "TableSchema",
    "NumberShape",
    "number_shape",
]

# The columns every lake row carries besides the item (docs/architecture.md, "Lake files").
METADATA_COLUMNS = ("_op", "_seq", "_event_time", "_ttl_expired", "_source")
# SUPER column holding, per row, the attributes whose value did not fit their column (JSON object keyed by
# the source attribute name).
OVERFLOW_COLUMN = "_overflow"
# Names an attribute may never take (it gets the collision suffix instead, `_deleted` → `_deleted_2`): the
# lake's columns, the warehouse's own (`_deleted`), and system columns the engines keep on every table, which
# no quoting makes available: PostgreSQL's
# (https://www.postgresql.org/docs/current/ddl-system-columns.html) and Redshift's (which adds its
# hidden insert/delete transaction and row ids), and DuckDB's `rowid`.
SYSTEM_COLUMNS = frozenset(
    ("oid", "tableoid", "xmin", "xmax", "cmin", "cmax", "ctid", "insertxid", "deletexid", "rowid")
)
RESERVED_COLUMNS = frozenset((*METADATA_COLUMNS, OVERFLOW_COLUMN, "_deleted", *SYSTEM_COLUMNS))

VARCHAR_MAX = 65535  # bytes: https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html
VARBYTE_MAX = 1024000  # bytes; a DynamoDB item is at most 400 KB, so any B value fits.
DECIMAL_MAX_PRECISION = 38
# Scale of a number column inferred without a contract. Fixed, never taken from one batch: DynamoDB turns
# 150.00 into 150, so a batch says nothing reliable about scale. 38-18 leaves 20 integer digits, which holds
# every BIGINT, so BIGINT → DECIMAL(38,18) loses nothing.
AUTO_DECIMAL_SCALE = 18
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


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

    @property
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
    def parse(cls, text: str) -> ColumnType:
        """Parse a declared type (``DECIMAL(12,2)``, ``varchar(64)``, ``TIMESTAMP``, aliases included)."""
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

BIGINT = ColumnType("BIGINT")
BOOLEAN = ColumnType("BOOLEAN")
SUPER = ColumnType("SUPER")
TIMESTAMP = ColumnType("TIMESTAMP")
VARCHAR = ColumnType("VARCHAR", length=VARCHAR_MAX)
VARBYTE = ColumnType("VARBYTE", length=VARBYTE_MAX)
AUTO_DECIMAL = ColumnType("DECIMAL", precision=DECIMAL_MAX_PRECISION, scale=AUTO_DECIMAL_SCALE)
INTEGRAL_DECIMAL = ColumnType("DECIMAL", precision=DECIMAL_MAX_PRECISION, scale=0)


@dataclass(frozen=True)
class NumberShape:
    """What a DynamoDB number needs: digits left of the point, digits right of it (trailing zeros
    dropped), and its exact text without exponent when it is an integer."""

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


def widen_for_number(recorded: ColumnType, shape: NumberShape) -> ColumnType | None:
    """A wider type that holds every value ``recorded`` holds *and* this number, or None."""
    if recorded.kind != "BIGINT":
        return None
    for candidate in (AUTO_DECIMAL, INTEGRAL_DECIMAL):
        if shape.fits_decimal(candidate.precision, candidate.scale):
            return candidate
    return None


@dataclass
class Column:
    name: str
    attribute: str
    type: ColumnType
    declared: bool = False  # declared by a contract: never widened

    def to_json(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "type": self.type.sql, "declared": self.declared}


@dataclass
class TableSchema:
    """The recorded columns of one warehouse table, in first-seen order."""

    table: str
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: list[str] = field(default_factory=list)
    sort_key: list[str] = field(default_factory=list)
    dist_key: str | None = None
    revision: int = 0
    # Who the table belongs to: ``dynamodb:<table>`` under default routing, ``contract`` for a contract's
    # target, None in schemas recorded before owners were. A source table never writes into another's.
    source: str | None = None
    # Derived from ``columns`` (kept in step by add/remove): the column holding each source attribute.
    by_attribute: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.by_attribute = {c.attribute: c for c in self.columns.values()}

    def add(self, attribute: str, type_: ColumnType, *, declared: bool = False) -> Column:
        """Record a new attribute under a fresh safe column name (collisions get ``_2``, ``_3``...)."""
        if attribute in self.by_attribute:
            raise SchemaError(f"attribute already recorded: {attribute!r}")
        # A new column may not take a recorded name or a reserved metadata column's.
        name = unique_identifier(safe_identifier(attribute), RESERVED_COLUMNS | self.columns.keys())
        column = Column(name, attribute, type_, declared)
        self.columns[name] = column
        self.by_attribute[attribute] = column
        return column

    def remove(self, column: Column) -> None:
        """Forget a column recorded during a record that was then rejected."""
        del self.columns[column.name]
        del self.by_attribute[column.attribute]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "table": self.table,
            "revision": self.revision,
            "primary_key": self.primary_key,
            "sort_key": self.sort_key,
            "dist_key": self.dist_key,
            "source": self.source,
            "columns": {name: col.to_json() for name, col in self.columns.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableSchema:
        if data.get("version") != 1:
            raise SchemaError(f"unsupported schema version: {data.get('version')!r}")
        columns = {
            name: Column(name, spec["attribute"], ColumnType.parse(spec["type"]), bool(spec.get("declared")))
            for name, spec in data["columns"].items()
        }
        return cls(
            table=data["table"],
            columns=columns,
            primary_key=list(data.get("primary_key") or []),
            sort_key=list(data.get("sort_key") or []),
            dist_key=data.get("dist_key"),
            revision=int(data.get("revision", 0)),
            source=data.get("source"),
        )

    def copy(self) -> TableSchema:
        return TableSchema.from_json(self.to_json())

    def same_as(self, other: TableSchema) -> bool:
        mine, theirs = self.to_json(), other.to_json()
        mine.pop("revision")
        theirs.pop("revision")
        return mine == theirs
