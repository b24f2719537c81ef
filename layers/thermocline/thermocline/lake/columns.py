"""The bookkeeping columns of the lake and the warehouse, defined once.

Every CDC lake file carries, after the item's attribute columns, ``_overflow`` (values that do not fit
their column) and the CDC columns below, in this order. The loader keeps some of them in every target
table, adds ``_deleted``, and keeps deleted keys in a tombstone table. Arrow fields, metadata and the
loader's SQL column lists are all derived from these definitions (docs/architecture.md, "Lake files").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pyarrow as pa

from thermocline.lake.types import BOOLEAN, SUPER, TIMESTAMP, ColumnType

__all__ = [
    "CDC_COLUMNS",
    "DELETED",
    "MAX_ATTRIBUTE_COLUMNS",
    "METADATA_COLUMNS",
    "OVERFLOW",
    "OVERFLOW_COLUMN",
    "RESERVED_COLUMNS",
    "SEQ_WIDTH",
    "SNAPSHOT_COLUMNS",
    "SYSTEM_COLUMNS",
    "TARGET_COLUMNS",
    "VERSION_COLUMNS",
    "LakeColumn",
    "cdc_column_types",
]

# Stream sequence numbers are 21 to 40 digits; ``_seq`` holds them left-padded with zeros to 40 so that
# text order is numeric order.
SEQ_WIDTH = 40


@dataclass(frozen=True)
class LakeColumn:
    name: str
    type: ColumnType
    nullable: bool = True

    @functools.cached_property
    def arrow_field(self) -> pa.Field:
        return pa.field(self.name, self.type.arrow(), nullable=self.nullable)


OP = LakeColumn("_op", ColumnType("VARCHAR", length=1), nullable=False)  # I, U or D
SEQ = LakeColumn("_seq", ColumnType("VARCHAR", length=SEQ_WIDTH), nullable=False)
EVENT_TIME = LakeColumn("_event_time", TIMESTAMP)  # microseconds, UTC
TTL_EXPIRED = LakeColumn("_ttl_expired", BOOLEAN, nullable=False)
# Where a row came from, sized for the longest the sources write: ``dynamodb:`` and a DynamoDB table name
# (up to 255 ASCII characters: 264 bytes); ``postgres:`` and database.schema.table (three PostgreSQL
# identifiers of up to 63 bytes each: 200 bytes); ``mysql:`` and database.table (two MySQL identifiers of
# up to 64 characters, 3 bytes each in MySQL's utf8mb3: 391 bytes). VARCHAR lengths count bytes
# (https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html); tables created with the old
# VARCHAR(256) are widened by the loader's table setup like any column whose file type grew.
SOURCE = LakeColumn("_source", ColumnType("VARCHAR", length=512), nullable=False)  # e.g. dynamodb:Orders
# SUPER: per row, a JSON object keyed by source attribute name holding the values that did not fit.
OVERFLOW = LakeColumn("_overflow", SUPER)
# Target tables only: the soft-delete flag (always FALSE under hard deletes).
DELETED = LakeColumn("_deleted", BOOLEAN)

# The CDC columns, in file order, after the attribute columns and ``_overflow``.
CDC_COLUMNS: tuple[LakeColumn, ...] = (OP, SEQ, EVENT_TIME, TTL_EXPIRED, SOURCE)
METADATA_COLUMNS: tuple[str, ...] = tuple(c.name for c in CDC_COLUMNS)
OVERFLOW_COLUMN = OVERFLOW.name
EXPORT_ID = LakeColumn("_export_id", ColumnType("VARCHAR", length=255), nullable=False)
# A snapshot file (an RDS/Aurora export, loaded only as a full refresh of its table) carries these after
# the columns and ``_overflow``: where the rows came from, which export, and the export's snapshot time.
SNAPSHOT_COLUMNS: tuple[LakeColumn, ...] = (SOURCE, EXPORT_ID, EVENT_TIME)
# Bookkeeping columns of every target table, after its data columns. ``_op`` is not kept: a kept row is
# never a delete (hard) or says so in ``_deleted`` (soft).
TARGET_COLUMNS: tuple[LakeColumn, ...] = (SEQ, EVENT_TIME, TTL_EXPIRED, SOURCE, DELETED)
# Redshift holds at most 1,600 columns in a table
# (https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_TABLE_NEW.html). A target table keeps its
# attribute columns, ``_overflow`` and TARGET_COLUMNS, and needs one column more while a column changes type
# (``load.sql.ddl.retype_column_sql``: add, copy, drop, rename): attributes beyond this many stay in ``_overflow``.
MAX_ATTRIBUTE_COLUMNS = 1600 - 1 - len(TARGET_COLUMNS) - 1
# Which version of a row a change is: what a tombstone row keeps after the deleted key's columns, and
# what a soft delete updates.
VERSION_COLUMNS: tuple[LakeColumn, ...] = (SEQ, EVENT_TIME, TTL_EXPIRED)
# System columns the engines keep on every table, which no quoting makes available: PostgreSQL's
# (https://www.postgresql.org/docs/current/ddl-system-columns.html) and Redshift's (which adds its hidden
# insert/delete transaction and row ids), and DuckDB's `rowid`.
SYSTEM_COLUMNS = frozenset(
    ("oid", "tableoid", "xmin", "xmax", "cmin", "cmax", "ctid", "insertxid", "deletexid", "rowid")
)
# Names an attribute may never take (it gets the collision suffix instead, `_deleted` → `_deleted_2`): the
# lake's columns, the warehouse's own (`_deleted`), and the system columns.
RESERVED_COLUMNS = frozenset(
    (*METADATA_COLUMNS, OVERFLOW_COLUMN, DELETED.name, EXPORT_ID.name, *SYSTEM_COLUMNS)
)


def cdc_column_types() -> dict[str, ColumnType]:
    """``{name: type}`` of the CDC columns."""
    return {c.name: c.type for c in CDC_COLUMNS}
