"""Safe warehouse identifiers and the one quoting function.

Every table and column name Thermocline puts into SQL goes through :func:`safe_identifier` (to choose it)
and :func:`quote_ident` (to write it). Both are pure and deterministic.

The rule (docs/ingest.md, "Column names and schema evolution"): lower-case, then replace every run of characters outside
``[a-z0-9_]`` with one ``_``. Redshift limits identifiers to 127 bytes; a longer name is cut and ends
with ``_`` and eight hex digits of the SHA-256 of the *original* name, so two long names that share
a prefix stay apart and the same name always maps to the same identifier.
https://docs.aws.amazon.com/redshift/latest/dg/r_names.html
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Container

__all__ = [
    "MAX_IDENTIFIER_BYTES",
    "SYSTEM_TABLE_PREFIXES",
    "Taken",
    "quote_ident",
    "qualified_name",
    "safe_identifier",
    "table_identifier",
    "unique_identifier",
]

MAX_IDENTIFIER_BYTES = 127
_UNSAFE_RUN = re.compile(r"[^a-z0-9_]+")
_HASH_LEN = 8


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]


# Remembered per process: a batch without a recorded schema names every column of its tables again, and
# the same few hundred attribute names recur in every batch.
@functools.lru_cache(maxsize=8192)
def safe_identifier(name: str) -> str:
    """Map any source name (table or attribute) to a safe, lower-case warehouse identifier.

    ``Example-Table`` → ``example_table``; ``Prénom`` → ``pr_nom``; an empty name → ``_``.
    The result matches ``[a-z0-9_]{1,127}``.
    """
    ident = _UNSAFE_RUN.sub("_", name.lower()) or "_"
    if len(ident) > MAX_IDENTIFIER_BYTES:
        ident = ident[: MAX_IDENTIFIER_BYTES - _HASH_LEN - 1] + "_" + _digest(name)
    return ident


# Names of system catalogs, which the engines search before the current schema: a table of ours named
# like one (a source table `STL_Query`) would be shadowed by it. PostgreSQL's and Redshift's catalog tables
# and views begin with these (https://docs.aws.amazon.com/redshift/latest/dg/cm_chap_system-tables.html).
SYSTEM_TABLE_PREFIXES = ("pg_", "stl_", "stv_", "svl_", "svv_", "svcs_", "stcs_", "sys_", "duckdb_")
_SOURCE_PREFIX = "src_"


def table_identifier(name: str) -> str:
    """The warehouse table for a source table under default routing: :func:`safe_identifier`, with
    ``src_`` in front of a name a system catalog could shadow (``STL_Query`` → ``src_stl_query``)."""
    ident = safe_identifier(name)
    if ident.startswith(SYSTEM_TABLE_PREFIXES):
        ident = safe_identifier(_SOURCE_PREFIX + ident)
    return ident


def unique_identifier(base: str, taken: Container[str]) -> str:
    """``base`` itself, or ``base_2``, ``base_3``... — the first not in ``taken``, within 127 bytes.

    Used in first-seen order so that attributes colliding on one identifier (``Email`` and ``email``)
    get stable, distinct columns.
    """
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"_{n}"
        candidate = base[: MAX_IDENTIFIER_BYTES - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1


class Taken:
    """A container answering ``name in taken`` with a predicate (for :func:`unique_identifier`, when
    whether a name is taken must be looked up)."""

    def __init__(self, predicate: Callable[[str], bool]) -> None:
        self._predicate = predicate

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._predicate(name)


def quote_ident(name: str) -> str:
    """Quote one identifier for Redshift-dialect SQL (also valid for PostgreSQL and DuckDB).

    Embedded double quotes are doubled. Names that no engine accepts (empty, containing NUL, longer
    than 127 UTF-8 bytes) raise ``ValueError`` here rather than as an obscure SQL error later.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("identifier must be a non-empty string")
    if "\x00" in name:
        raise ValueError("identifier must not contain NUL")
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ValueError(f"identifier longer than {MAX_IDENTIFIER_BYTES} bytes: {name[:40]!r}...")
    return '"' + name.replace('"', '""') + '"'


def qualified_name(*parts: str) -> str:
    """``schema.table`` (or any dotted path), each part quoted by :func:`quote_ident`."""
    return ".".join(quote_ident(p) for p in parts)
