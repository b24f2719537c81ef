"""Data API result values as the Python types the other engines return.

The Data API sends DECIMAL, DATE, TIME, TIMESTAMP(TZ) and SUPER values as ``stringValue`` and integers as
``longValue`` ("Mapping SQL data types when calling the Data API",
https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html). ``ColumnMetadata.typeName`` says what
each column really is (GetStatementResult,
https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_ColumnMetadata.html), so values are
converted by it here: ``numeric`` to ``Decimal``, dates and times to ``datetime`` objects, ``bool`` to
``bool``, integers to ``int``; SUPER stays its JSON text, as DuckDB returns JSON. Whatever reads a query
result (reports, reconciliation) then sees the same values from every engine.

Pure: no boto3 here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any


def _same(value: Any) -> Any:
    return value


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value).strip())


def _integer(value: Any) -> int:
    return int(value) if not isinstance(value, str) else int(value.strip())


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"t", "true", "1"}:
        return True
    if text in {"f", "false", "0"}:
        return False
    raise ValueError(f"{value!r} is not a boolean")


def _timestamp(value: Any) -> dt.datetime:
    # Redshift writes '2026-11-01 10:00:00.5' and, for TIMESTAMPTZ, '2026-11-01 10:00:00+00'; both are
    # ISO 8601 as Python 3.11 reads it.
    return dt.datetime.fromisoformat(str(value).strip())


def _date(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(value).strip())


def _time(value: Any) -> dt.time:
    return dt.time.fromisoformat(str(value).strip())


def _float(value: Any) -> float:
    return float(value)


# Redshift's type names as ColumnMetadata.typeName gives them (PostgreSQL's internal names).
_BY_TYPE: dict[str, Callable[[Any], Any]] = {
    "numeric": _decimal,
    "decimal": _decimal,
    "int2": _integer,
    "int4": _integer,
    "int8": _integer,
    "smallint": _integer,
    "integer": _integer,
    "bigint": _integer,
    "float4": _float,
    "float8": _float,
    "real": _float,
    "double precision": _float,
    "bool": _boolean,
    "boolean": _boolean,
    "date": _date,
    "timestamp": _timestamp,
    "timestamptz": _timestamp,
    "timestamp without time zone": _timestamp,
    "timestamp with time zone": _timestamp,
    "time": _time,
    "timetz": _time,
    "time without time zone": _time,
    "time with time zone": _time,
}


def result_converter(metadata: Mapping[str, Any]) -> Callable[[Any], Any]:
    """The function turning one column's non-null Data API value into its Python value."""
    return _BY_TYPE.get(str(metadata.get("typeName") or "").strip().lower(), _same)
