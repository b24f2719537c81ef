# ruff: noqa: S608 -- building SQL is this module's job: every identifier goes through quote_ident and
# every value through sql_literal (or int()), so nothing reaches SQL unquoted.
"""The ledger: every lake file the loader has loaded or quarantined, recorded in the same transaction as
the rows it brought, so a file is never loaded twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from thermocline.load.sql.bookkeeping import BOOKKEEPING_SCHEMA, ledger_name
from thermocline.load.sql.literals import printable, sql_literal
from thermocline.names import quote_ident

__all__ = [
    "LEDGER_FILES_PER_INSERT",
    "LedgerEntry",
    "ensure_bookkeeping_sql",
    "ledger_insert_sql",
    "ledger_lookup_sql",
]

# Files per ledger INSERT: about 250 bytes each, so one statement stays far below the Data API's 100 KB.
LEDGER_FILES_PER_INSERT = 200


@dataclass(frozen=True)
class LedgerEntry:
    """One lake file as recorded in the ledger."""

    key: str
    content_length: int
    row_count: int | None = None
    status: Literal["loaded", "quarantined"] = "loaded"
    reason: str | None = field(default=None)


def ensure_bookkeeping_sql() -> list[str]:
    """The bookkeeping schema and the ledger (idempotent)."""
    return [
        f"CREATE SCHEMA IF NOT EXISTS {quote_ident(BOOKKEEPING_SCHEMA)}",
        f"CREATE TABLE IF NOT EXISTS {ledger_name()} ("
        "file_key VARCHAR(1024) NOT NULL, table_name VARCHAR(127) NOT NULL, status VARCHAR(16) NOT NULL, "
        "content_length BIGINT, row_count BIGINT, load_id VARCHAR(64) NOT NULL, loaded_at TIMESTAMP NOT NULL, "
        "reason VARCHAR(4096))",
    ]


def ledger_lookup_sql(keys: Sequence[str]) -> str:
    """Which of ``keys`` the ledger already holds (loaded or quarantined)."""
    listed = ", ".join(sql_literal(k) for k in keys)
    return f"SELECT file_key, status FROM {ledger_name()} WHERE file_key IN ({listed})"


def _ledger_insert(table: str, files: Sequence[LedgerEntry], load_id: str) -> str:
    """One INSERT for all files; each key appears once, so 200 files stay far below 100 KB of SQL."""
    ledger = ledger_name()
    rows = []
    for i, entry in enumerate(files):
        count = "NULL" if entry.row_count is None else str(int(entry.row_count))
        reason = "NULL" if entry.reason is None else sql_literal(printable(entry.reason))
        values = [
            sql_literal(entry.key),
            sql_literal(entry.status),
            str(int(entry.content_length)),
            count,
            reason,
        ]
        if i == 0:
            # The first row names and types the columns for every engine (a bare NULL has no type).
            types = ["VARCHAR(1024)", "VARCHAR(16)", "BIGINT", "BIGINT", "VARCHAR(4096)"]
            names = ["file_key", "status", "content_length", "row_count", "reason"]
            values = [f"CAST({v} AS {t}) AS {n}" for v, t, n in zip(values, types, names, strict=True)]
        rows.append("SELECT " + ", ".join(values))
    return (
        f"INSERT INTO {ledger} (file_key, table_name, status, content_length, row_count, load_id, loaded_at, reason) "
        f"SELECT f.file_key, {sql_literal(table)}, f.status, f.content_length, f.row_count, "
        f"{sql_literal(load_id)}, GETDATE(), f.reason FROM ({' UNION ALL '.join(rows)}) AS f "
        f"WHERE NOT EXISTS (SELECT 1 FROM {ledger} WHERE {ledger}.file_key = f.file_key)"
    )


def ledger_insert_sql(table: str, files: Sequence[LedgerEntry], load_id: str) -> list[str]:
    """As many ledger INSERTs as the files need (a large snapshot's refresh records thousands).

    Also how files are recorded without being loaded (quarantined files).
    """
    step = LEDGER_FILES_PER_INSERT
    return [_ledger_insert(table, files[i : i + step], load_id) for i in range(0, len(files), step)]
