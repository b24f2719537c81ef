"""Moved: ``warehouse.port`` (the port), ``warehouse.errors`` (error kinds), ``warehouse.emulation`` (what
only the local engines need). This alias goes away once nothing imports it."""

from thermocline.warehouse.emulation import (
    arrow_rows,
    held_locks,
    parse_copy,
    parse_lock,
    postgres_lock_sql,
    read_manifest_files,
    read_parquet,
    translate,
    translate_query,
)
from thermocline.warehouse.errors import (
    BadDataError,
    LoadErrorDetail,
    TerminalLoadError,
    TransientLoadError,
    WarehouseError,
    load_error_details,
)
from thermocline.warehouse.port import QueryResult, Warehouse, log_statement

__all__ = [
    "BadDataError",
    "LoadErrorDetail",
    "QueryResult",
    "TerminalLoadError",
    "TransientLoadError",
    "Warehouse",
    "WarehouseError",
    "arrow_rows",
    "held_locks",
    "load_error_details",
    "log_statement",
    "parse_copy",
    "parse_lock",
    "postgres_lock_sql",
    "read_manifest_files",
    "read_parquet",
    "translate",
    "translate_query",
]
