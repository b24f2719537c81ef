"""Redshift's 127-byte names on PostgreSQL, which keeps at most 63 bytes of a name and silently cuts a
longer one (https://www.postgresql.org/docs/15/sql-syntax-lexical.html#SQL-SYNTAX-IDENTIFIERS): two names
sharing their first 63 bytes would become one, and the catalog would answer with names nobody asked for.

So a name longer than 63 bytes is written, in every statement, as its own short form (:func:`short_name`:
its first bytes, ``$`` and eight hex digits of the SHA-256 of the whole name), the same every time. The
engine remembers each long name beside its short form in a table of its own (:data:`REGISTRY`), in the
transaction that uses it, and answers with the Redshift names: the column labels of every result, and the
names a catalog query (``information_schema``, ``pg_catalog``) returns. A short form holds a digest of the
name it stands for, so the registry can only ever hold true pairs.

Pure: sqlglot trees and text in, no driver.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from thermocline.names import qualified_name

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = [
    "MAX_BYTES",
    "REGISTRY",
    "REGISTRY_DDL",
    "is_catalog_query",
    "long_names",
    "looks_short",
    "register_sql",
    "short_name",
    "shorten_catalog_literals",
    "shorten_identifiers",
    "shorten_quoted",
]

# NAMEDATALEN - 1 in a standard PostgreSQL build.
MAX_BYTES = 63
_DIGITS = 8
REGISTRY = qualified_name("thermocline", "postgres_long_names")
REGISTRY_DDL = [
    'CREATE SCHEMA IF NOT EXISTS "thermocline"',
    f"CREATE TABLE IF NOT EXISTS {REGISTRY} (short_name TEXT PRIMARY KEY, long_name TEXT NOT NULL)",
]
_SHORT = re.compile(r"\$[0-9a-f]{8}\Z")
_QUOTED = re.compile(r'"((?:[^"]|"")+)"')
# An unquoted name longer than MAX_BYTES (PostgreSQL and Redshift fold it to lower case).
_UNQUOTED = re.compile(rf"(?<![\w$\"])[A-Za-z_][A-Za-z0-9_$]{{{MAX_BYTES},}}")
_CATALOG = re.compile(r'\b(?:information_schema|pg_catalog)"?\s*\.|\bpg_[a-z_]+\b', re.I)


def short_name(name: str) -> str:
    """``name`` itself when it fits 63 bytes; else its first bytes (whole characters), ``$`` and eight hex
    digits of its SHA-256: 63 bytes at most, and distinct for names that share their beginning."""
    data = name.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_BYTES:
        return name
    prefix = data[: MAX_BYTES - _DIGITS - 1].decode("utf-8", "ignore")
    return prefix + "$" + hashlib.sha256(data).hexdigest()[:_DIGITS]


def looks_short(name: str) -> bool:
    """Whether ``name`` has the shape of a short form (only the registry says whose)."""
    return _SHORT.search(name) is not None


def shorten_identifiers(tree: exp.Expression) -> exp.Expression:
    """``tree`` (a Redshift statement) with every identifier longer than 63 bytes in its short form."""
    from sqlglot import exp

    for node in tree.find_all(exp.Identifier):
        name = str(node.this) if node.quoted else str(node.this).lower()
        if len(name.encode("utf-8", "surrogatepass")) > MAX_BYTES:
            node.set("this", short_name(name))
            node.set("quoted", True)
    return tree


def is_catalog_query(sql: str) -> bool:
    """Whether ``sql`` reads the catalog (``information_schema``, ``pg_catalog``, a ``pg_`` table), which
    holds names in their short form."""
    return _CATALOG.search(sql) is not None


def shorten_catalog_literals(tree: exp.Expression) -> exp.Expression:
    """A catalog query's text literals longer than 63 bytes in their short form: such a literal can only
    name something (``table_name = '...'``), and the catalog holds the short form."""
    from sqlglot import exp

    for node in tree.find_all(exp.Literal):
        if node.is_string and len(str(node.this).encode("utf-8", "surrogatepass")) > MAX_BYTES:
            node.set("this", short_name(str(node.this)))
    return tree


def shorten_quoted(text: str) -> str:
    """A name as written in SQL (``"schema"."table"``: quoted parts) with each long part in short form."""

    def short(match: re.Match[str]) -> str:
        name = match.group(1).replace('""', '"')
        return '"' + short_name(name).replace('"', '""') + '"'

    return _QUOTED.sub(short, text)


def long_names(sql: str) -> set[str]:
    """Every name longer than 63 bytes ``sql`` may use: quoted ones as written, unquoted ones in lower
    case. Text that only looks like a name (inside a string literal) does no harm: the registry holds
    it beside its true short form."""
    found = {m.group(1).replace('""', '"') for m in _QUOTED.finditer(sql)}
    found.update(m.group(0).lower() for m in _UNQUOTED.finditer(sql))
    return {n for n in found if len(n.encode("utf-8", "surrogatepass")) > MAX_BYTES}


def register_sql(names: Iterable[str]) -> tuple[str, list[str]]:
    """The INSERT (PostgreSQL, ``%s`` parameters) that records ``names`` beside their short forms."""
    values: list[str] = []
    rows = []
    for name in sorted(names):
        values += [short_name(name), name]
        rows.append("(%s, %s)")
    # Only %s placeholders go into the text; the names travel as parameters.
    sql = f"INSERT INTO {REGISTRY} (short_name, long_name) VALUES {', '.join(rows)} ON CONFLICT DO NOTHING"  # noqa: S608
    return sql, values
