"""Type conflicts between a lake file and its warehouse table, resolved by moving values to ``_overflow``.

A lake file's column can disagree with the warehouse column of the same name in a way no widening
bridges (text arriving for a BOOLEAN column) when the recorded schema was lost, a contract was edited,
or two versions of the function wrote files. The rule, deterministic and lossless: the warehouse column
keeps its type, the file's values of that column move into the row's ``_overflow`` object under the
source attribute name (exact JSON: numbers as their digits, text as JSON strings, SUPER as its JSON), and
the column is NULL in those rows, as it is for any value that did not fit its column at ingest. The
load goes on; the table never stops.

Pure: Arrow tables in, Arrow tables out.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pyarrow as pa

from thermocline.lake.columns import OVERFLOW_COLUMN
from thermocline.lake.metadata import METADATA_KEY, super_bytes
from thermocline.lake.types import ColumnType

__all__ = ["conflicts", "family", "move_to_overflow"]

# information_schema.columns.data_type as the engines spell it, and Redshift types → one family each.
_FAMILIES = {
    "bigint": "BIGINT",
    "int8": "BIGINT",
    "integer": "BIGINT",
    "numeric": "DECIMAL",
    "decimal": "DECIMAL",
    "double precision": "DOUBLE",
    "double": "DOUBLE",
    "float8": "DOUBLE",
    "character varying": "VARCHAR",
    "varchar": "VARCHAR",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "bool": "BOOLEAN",
    "super": "SUPER",
    "json": "SUPER",
    "jsonb": "SUPER",
    "timestamp": "TIMESTAMP",
    "timestamp without time zone": "TIMESTAMP",
    "varbyte": "VARBYTE",
    "binary varying": "VARBYTE",
    "bytea": "VARBYTE",
    "blob": "VARBYTE",
}
# A file column of the first family loads into a warehouse column of the second as it is.
_COMPATIBLE = {("BIGINT", "DECIMAL"), ("BIGINT", "DOUBLE"), ("DECIMAL", "DOUBLE")}
# The Redshift type a staged all-NULL column takes so that it matches the warehouse column.
_STAGED = {
    "BIGINT": "BIGINT",
    "DECIMAL": "DECIMAL(38,18)",
    "DOUBLE": "DOUBLE PRECISION",
    "VARCHAR": "VARCHAR(65535)",
    "BOOLEAN": "BOOLEAN",
    "SUPER": "SUPER",
    "TIMESTAMP": "TIMESTAMP",
    "VARBYTE": "VARBYTE(1024000)",
}


def family(type_text: str) -> str | None:
    """The family of a warehouse or lake type (``character varying`` → ``VARCHAR``), or None."""
    name = type_text.strip().lower().split("(", 1)[0].strip()
    return _FAMILIES.get(name)


def conflicts(file_columns: Mapping[str, str], target_types: Mapping[str, str]) -> dict[str, str]:
    """Columns whose file type cannot load into the warehouse column: column → Redshift type to stage."""
    out = {}
    for name, file_type in file_columns.items():
        have = target_types.get(name.lower())
        if have is None:
            continue
        mine, theirs = family(file_type), family(have)
        if mine is None or theirs is None or mine == theirs or (mine, theirs) in _COMPATIBLE:
            continue
        out[name] = _STAGED[theirs]
    return out


def _json(value: Any, type_text: str) -> str:
    kind = family(type_text)
    if kind == "SUPER":
        return str(value)  # already the value's JSON text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal, float)):
        # Exact digits as a JSON string, as ingest keeps a number that did not fit its column.
        return json.dumps(str(value) if not isinstance(value, float) or math.isfinite(value) else repr(value))
    if isinstance(value, bytes):
        return json.dumps(base64.b64encode(value).decode("ascii"))
    if hasattr(value, "isoformat"):
        return json.dumps(value.isoformat())
    return json.dumps(str(value), ensure_ascii=False)


def move_to_overflow(table: pa.Table, staged: Mapping[str, str]) -> pa.Table:
    """``table`` with the values of the ``staged`` columns moved into ``_overflow`` and each of those
    columns replaced by NULLs of its staged type; the ``thermocline`` metadata states the new types."""
    meta = json.loads((table.schema.metadata or {})[METADATA_KEY])
    attributes = meta.get("attributes") or {}
    declared = meta.get("columns") or {}
    if OVERFLOW_COLUMN not in table.column_names:
        table = table.append_column(
            pa.field(OVERFLOW_COLUMN, pa.string()), pa.nulls(table.num_rows, pa.string())
        )
        declared = {**declared, OVERFLOW_COLUMN: "SUPER"}
    overflow = list(table.column(OVERFLOW_COLUMN).to_pylist())
    for name in staged:
        key = json.dumps(attributes.get(name, name), ensure_ascii=False)
        values = table.column(name).to_pylist()
        for row, value in enumerate(values):
            if value is None:
                continue
            entry = f"{key}:{_json(value, declared.get(name, ''))}"
            current = overflow[row]
            overflow[row] = (
                "{" + entry + "}" if not current or current == "{}" else current[:-1] + "," + entry + "}"
            )
    arrays = []
    fields = []
    for field in table.schema:
        if field.name in staged:
            arrow_type = ColumnType.parse(staged[field.name]).arrow()
            arrays.append(pa.nulls(table.num_rows, arrow_type))
            fields.append(pa.field(field.name, arrow_type))
        elif field.name == OVERFLOW_COLUMN:
            arrays.append(pa.array(overflow, pa.string()))
            fields.append(field)
        else:
            arrays.append(table.column(field.name))
            fields.append(field)
    meta["columns"] = {**declared, **staged}
    conformed = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    # _overflow grew: its recorded longest text is measured again, or the loader would stage it too narrow.
    meta["super_bytes"] = super_bytes(conformed, meta["columns"])
    return conformed.replace_schema_metadata(
        {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(meta).encode()}
    )
