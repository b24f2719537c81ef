"""The loader's own objects: the bookkeeping schema, each target's tombstone and load-lock tables, and the
temporary tables of a load.

The loader's temporary tables and columns carry a `$`, which no safe identifier (``[a-z0-9_]``) holds, so
no source table or attribute can ever be named like them.
"""

from __future__ import annotations

import hashlib

from thermocline.names import qualified_name

__all__ = [
    "BOOKKEEPING_SCHEMA",
    "LATEST_TABLE",
    "LEDGER_TABLE",
    "NEWEST_TABLE",
    "STAGE_TABLE",
    "ledger_name",
    "load_lock_name",
    "load_lock_sql",
    "load_lock_table",
    "rebuild_table",
    "tombstone_table",
    "tombstones_name",
]

BOOKKEEPING_SCHEMA = "thermocline"
LEDGER_TABLE = "load_ledger"
STAGE_TABLE = "thermocline$stage"
LATEST_TABLE = "thermocline$latest"
NEWEST_TABLE = "thermocline$newest"


def _within_127_bytes(name: str, table: str) -> str:
    """``name`` cut to Redshift's 127-byte identifiers, kept distinct by a digest of ``table``."""
    if len(name.encode()) > 127:
        name = name[:118] + "_" + hashlib.sha256(table.encode()).hexdigest()[:8]
    return name


def ledger_name() -> str:
    """The ledger, qualified and quoted."""
    return qualified_name(BOOKKEEPING_SCHEMA, LEDGER_TABLE)


def tombstone_table(table: str) -> str:
    """The (unqualified) name of ``table``'s tombstone table in the bookkeeping schema, within 127 bytes."""
    return _within_127_bytes(f"tombstones__{table}", table)


def tombstones_name(table: str) -> str:
    """``table``'s tombstone table, qualified and quoted."""
    return qualified_name(BOOKKEEPING_SCHEMA, tombstone_table(table))


def load_lock_table(table: str) -> str:
    """The (unqualified) name of ``table``'s load-lock table in the bookkeeping schema, within 127 bytes."""
    return _within_127_bytes(f"load_lock__{table}", table)


def load_lock_name(table: str) -> str:
    """``table``'s load-lock table, qualified and quoted."""
    return qualified_name(BOOKKEEPING_SCHEMA, load_lock_table(table))


def rebuild_table(table: str) -> str:
    """The (unqualified) name under which ``table`` is rebuilt beside itself, within 127 bytes."""
    return _within_127_bytes(f"{table}$rebuild", table)


def load_lock_sql(table: str) -> str:
    """The first statement of every transaction that writes ``table``: serialises its loaders only.

    Never the target itself: Redshift's LOCK is an exclusive lock that would make every reader of the
    target wait for the whole load (https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html); readers
    see the old rows until commit. Each load transaction takes exactly this one lock, first, so loaders
    cannot deadlock.
    """
    return f"LOCK {load_lock_name(table)}"
