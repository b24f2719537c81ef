"""The recorded attribute→column mapping of one warehouse table (:class:`TableSchema`).

A :class:`TableSchema` is the memory of one warehouse table: which source attribute lives in which
column, with which type. Once a column is recorded its name never changes (the loader and every query
depend on it); its type may only widen. Everything else that does not fit lands in the table's
``_overflow`` column. ``lake.schema_store`` persists schemas as JSON (``to_json``/``from_json``); this
module is pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thermocline.lake.columns import RESERVED_COLUMNS
from thermocline.lake.types import ColumnType, SchemaError
from thermocline.names import safe_identifier, unique_identifier

__all__ = ["Column", "TableSchema"]


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
        # A new column may not take a recorded name or a reserved metadata column's (the union of the two
        # is built only for a name that collides: most do not).
        name = safe_identifier(attribute)
        if name in self.columns or name in RESERVED_COLUMNS:
            name = unique_identifier(name, RESERVED_COLUMNS | self.columns.keys())
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
        """An independent copy (columns, keys and owner), as :meth:`from_json` of :meth:`to_json` would
        make it: every batch decodes on copies of its tables' recorded schemas, so the copy is made
        directly (column types are immutable and shared)."""
        return TableSchema(
            table=self.table,
            columns={
                name: Column(name, c.attribute, c.type, bool(c.declared)) for name, c in self.columns.items()
            },
            primary_key=list(self.primary_key),
            sort_key=list(self.sort_key),
            dist_key=self.dist_key,
            revision=self.revision,
            source=self.source,
        )

    def same_as(self, other: TableSchema) -> bool:
        mine, theirs = self.to_json(), other.to_json()
        mine.pop("revision")
        theirs.pop("revision")
        return mine == theirs
