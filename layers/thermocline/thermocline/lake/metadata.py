"""The ``thermocline`` Parquet metadata: written and read here, side by side.

Sources write it (:func:`with_lake_metadata`) from a :class:`~thermocline.lake.table_schema.TableSchema`;
the loader reads it back (:func:`read_file_spec`) as a :class:`TableSpec`: the file's table, keys and
typed columns. The loader never needs to know which source wrote a file beyond what this says.
Pure (docs/architecture.md, "Lake files").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from thermocline.lake.columns import (
    METADATA_COLUMNS,
    OVERFLOW,
    OVERFLOW_COLUMN,
    SNAPSHOT_COLUMNS,
    TARGET_COLUMNS,
    cdc_column_types,
)
from thermocline.lake.table_schema import TableSchema
from thermocline.lake.types import ColumnType
from thermocline.names import safe_identifier, table_identifier

__all__ = [
    "METADATA_KEY",
    "TableSpec",
    "UnreadableLakeFileError",
    "lake_metadata",
    "lake_metadata_bytes",
    "read_file_spec",
    "read_lake_metadata",
    "read_super_bytes",
    "super_bytes",
    "super_bytes_of_files",
    "with_lake_metadata",
]

METADATA_KEY = b"thermocline"
_CDC_NAMES = frozenset(METADATA_COLUMNS)


class UnreadableLakeFileError(ValueError):
    """A lake object is not a Parquet file with the ``thermocline`` metadata the loader needs."""


def lake_metadata(
    schema: TableSchema, file_columns: list[str] | None = None, kind: str | None = None
) -> dict[str, Any]:
    """The ``thermocline`` metadata JSON object for a file of ``schema``'s table.

    ``columns`` maps every data column of the file (the item's attributes and ``_overflow``; not the
    ``_op``/``_seq``/... bookkeeping columns, whose types are fixed) to its Redshift type; ``attributes``
    maps each attribute column to the source attribute name it holds. ``kind`` ``"export"`` marks rows
    that are a table's state at a point in time (a DynamoDB export), which the loader applies across the
    seam with the stream (docs/backfill.md); ``"snapshot"`` marks a table's whole contents from an RDS
    export, loaded only as a full refresh (docs/exports.md); change files carry no ``kind``.
    """
    names = [c for c in (file_columns or list(schema.columns)) if c in schema.columns]
    columns = {name: schema.columns[name].type.sql for name in names}
    columns[OVERFLOW_COLUMN] = OVERFLOW.type.sql
    meta: dict[str, Any] = {
        "version": 1,
        "table": schema.table,
        "primary_key": list(schema.primary_key),
        "columns": columns,
        "sort_key": list(schema.sort_key),
        "dist_key": schema.dist_key,
        "attributes": {name: schema.columns[name].attribute for name in names},
        "overflow_column": OVERFLOW_COLUMN,
        "metadata_columns": list(METADATA_COLUMNS),
    }
    if kind == "snapshot":
        # Snapshot files carry their own bookkeeping columns (not the CDC ones), typed here.
        columns.update({c.name: c.type.sql for c in SNAPSHOT_COLUMNS})
        meta["metadata_columns"] = [c.name for c in SNAPSHOT_COLUMNS]
    if kind is not None:
        meta["kind"] = kind
    return meta


def with_lake_metadata(table: pa.Table, schema: TableSchema, kind: str | None = None) -> pa.Table:
    """``table`` carrying the ``thermocline`` metadata of ``schema``'s table (``kind``: see
    :func:`lake_metadata`)."""
    meta = lake_metadata(schema, table.schema.names, kind)
    meta["super_bytes"] = super_bytes(table, meta["columns"])
    return table.replace_schema_metadata({METADATA_KEY: _encoded(meta)})


def lake_metadata_bytes(
    schema: TableSchema, file_columns: list[str], super_sizes: Mapping[str, int]
) -> bytes:
    """The ``thermocline`` metadata of a change file with columns ``file_columns``, as stored, for a writer
    that measured its SUPER columns as it built them: ``super_sizes`` holds each one's longest JSON text in
    bytes (every SUPER column of the file, ``_overflow`` included). The same bytes as
    :func:`with_lake_metadata` gives the built table (the stream decoder attaches them to the schema it
    builds the table with)."""
    meta = lake_metadata(schema, file_columns)
    meta["super_bytes"] = {name: super_sizes[name] for name in meta["columns"] if name in super_sizes}
    return _encoded(meta)


def _encoded(meta: Mapping[str, Any]) -> bytes:
    # ensure_ascii keeps the metadata valid UTF-8 even for attribute names no encoder would accept.
    return json.dumps(meta, ensure_ascii=True).encode()


def super_bytes(table: pa.Table, columns: Mapping[str, str]) -> dict[str, int]:
    """The ``super_bytes`` metadata: for each SUPER column of ``table`` held as JSON text (``columns``: the
    metadata's declared types), the UTF-8 byte length of its longest text. The loader stages SUPER as
    VARCHAR of at least that many bytes (``load.sql.staging``), the same steps as inferred strings; a
    SUPER column not held as text is left out, and the loader stages it at the largest VARCHAR."""
    out: dict[str, int] = {}
    present = set(table.schema.names)
    for name, sql_type in columns.items():
        if name not in present or str(sql_type).strip().upper() != "SUPER":
            continue
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            # A sparse table's SUPER columns are often empty in a batch: no kernel call for those.
            longest = pc.max(pc.binary_length(column)).as_py() if column.null_count < len(column) else 0
            out[name] = int(longest or 0)
    return out


def read_super_bytes(schema: pa.Schema) -> dict[str, int] | None:
    """The ``super_bytes`` a file's metadata records, or None for a file without them (written before
    they were recorded) or with any value in doubt: the loader then stages every SUPER column at the
    largest VARCHAR, as it always did, rather than risk cutting a value."""
    try:
        recorded = json.loads((schema.metadata or {})[METADATA_KEY]).get("super_bytes")
    except (KeyError, ValueError, AttributeError):
        return None
    if not isinstance(recorded, dict):
        return None
    if not all(type(n) is int and n >= 0 for n in recorded.values()):
        return None
    return {str(name): n for name, n in recorded.items()}


def super_bytes_of_files(recorded: Iterable[Mapping[str, int] | None]) -> dict[str, int] | None:
    """The ``super_bytes`` of files loaded together: each column's longest over all of them; None when
    any file records none, and a column only when every file records it."""
    merged: dict[str, int] | None = None
    for one in recorded:
        if one is None:
            return None
        if merged is None:
            merged = dict(one)
        else:
            merged = {name: max(n, one[name]) for name, n in merged.items() if name in one}
    return merged


def read_lake_metadata(source: pa.Schema | pa.Table) -> dict[str, Any]:
    """The ``thermocline`` metadata of an Arrow table or schema, as JSON (see :func:`read_file_spec` for
    the loader's typed view)."""
    schema = source.schema if isinstance(source, pa.Table) else source
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise UnreadableLakeFileError("no 'thermocline' schema metadata")
    return json.loads(raw)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class TableSpec:
    """What the loader knows about one lake file schema: its table, keys and typed columns.

    ``columns`` are the file's columns in file order with their types, the CDC columns included. Types may
    be given as text (``"DECIMAL(12,2)"``); they are parsed into :class:`ColumnType`.
    """

    table: str
    primary_key: tuple[str, ...]
    columns: tuple[tuple[str, ColumnType], ...]
    sort_key: tuple[str, ...] = ()
    dist_key: str | None = None
    # "export": the rows are the table's state at a point in time (a DynamoDB export), applied across the
    # seam with the stream (``load.sql.load_sql``); None: change rows.
    kind: str | None = None

    def __post_init__(self) -> None:
        typed = tuple(
            (name, ctype if isinstance(ctype, ColumnType) else ColumnType.parse(ctype))
            for name, ctype in self.columns
        )
        object.__setattr__(self, "columns", typed)
        names = [name for name, _ in typed]
        # A snapshot (full refresh) may come without a key: relational exports do not record one, and
        # Redshift's planner trusts a declared key, so none is better than a guessed one.
        if not self.primary_key and self.is_cdc:
            raise ValueError(f"table {self.table}: no primary key")
        missing = [c for c in self.primary_key if c not in names]
        if missing:
            raise ValueError(f"table {self.table}: primary key columns not in the file: {missing}")
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.table}: duplicate column names")

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def data_columns(self) -> list[tuple[str, ColumnType]]:
        """The item's columns (everything but the CDC bookkeeping), in file order."""
        return [(n, t) for n, t in self.columns if n not in _CDC_NAMES]

    @property
    def is_cdc(self) -> bool:
        """CDC files carry ``_op`` and ``_seq``; files without them are snapshots (full refresh)."""
        return "_seq" in self.column_names and "_op" in self.column_names

    def target_columns(self) -> list[tuple[str, ColumnType]]:
        """The target table's columns: the data columns, then the bookkeeping columns."""
        return self.data_columns + [(c.name, c.type) for c in TARGET_COLUMNS]


def read_file_spec(schema: pa.Schema) -> TableSpec:
    """The loader's view of a lake file, from its Arrow schema (as read from the Parquet footer).

    A lake file is input like any other: whatever its footer says is checked before it reaches SQL. The
    table and every column must be safe identifiers (what the sources write), every declared type a type
    the lake uses, and the keys must name columns; otherwise :class:`UnreadableLakeFileError` (the loader
    quarantines the file with the reason). A column's type is the CDC column's, else the one the metadata
    declares, else derived from its Arrow type.
    """
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise UnreadableLakeFileError("no 'thermocline' schema metadata")
    try:
        meta = json.loads(raw)
        if not isinstance(meta, dict) or meta.get("version") != 1:
            raise ValueError("not version 1")
        table = meta["table"]
        if not isinstance(table, str) or table_identifier(table) != table:
            raise ValueError(f"table {str(table)[:80]!r} is not a safe table name")
        declared = {str(k): ColumnType.parse(str(v)) for k, v in (meta.get("columns") or {}).items()}
        fixed = cdc_column_types()
        columns = []
        for f in schema:
            if safe_identifier(f.name) != f.name:
                raise ValueError(f"column {f.name[:80]!r} is not a safe column name")
            ctype = fixed.get(f.name) or declared.get(f.name) or ColumnType.from_arrow(f.type)
            columns.append((f.name, ctype))
        names = {name for name, _ in columns}
        sort_key = tuple(meta.get("sort_key") or ())
        dist_key = meta.get("dist_key") or None
        unknown = [c for c in (*sort_key, *([dist_key] if dist_key else [])) if c not in names]
        if unknown:
            raise ValueError(f"sort or distribution key names no column of the file: {unknown}")
        kind = meta.get("kind") or None
        if kind is not None and not isinstance(kind, str):
            raise ValueError("kind is not text")
        return TableSpec(
            table=table,
            primary_key=tuple(meta["primary_key"]),
            columns=tuple(columns),
            sort_key=sort_key,
            dist_key=dist_key,
            kind=kind,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UnreadableLakeFileError(f"bad 'thermocline' metadata: {exc}") from None
