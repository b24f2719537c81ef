"""Values written into SQL as text: string literals every engine reads the same, reasons cut to fit."""

from __future__ import annotations

__all__ = ["printable", "sql_literal"]


def sql_literal(value: str) -> str:
    """A string expression for ``value``, exact in Redshift, PostgreSQL and DuckDB alike.

    A backslash inside a literal means different things to the engines (an escape character in Redshift's
    string literals, https://docs.aws.amazon.com/redshift/latest/dg/r_Literals.html; plain text in
    standard SQL), so none is ever written into one: each is spelled ``CHR(92)`` and concatenated, which
    every engine reads the same. NUL, which no engine's text type holds, and text that is not Unicode
    (lone surrogates) are refused with ``ValueError``; :func:`printable` makes any text safe first.
    """
    if "\x00" in value:
        raise ValueError(f"refusing to put NUL into SQL: {value[:80]!r}")
    value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for lone surrogates
    parts = ["'" + part.replace("'", "''") + "'" for part in value.split("\\")]
    if len(parts) == 1:
        return parts[0]
    return "(" + " || CHR(92) || ".join(parts) + ")"


def printable(text: str, limit: int = 4096) -> str:
    """``text`` made safe for :func:`sql_literal`: NUL shown as ``\\0``, text that is not Unicode with
    replacement characters, cut to at most ``limit`` UTF-8 bytes at a character boundary — Redshift's
    VARCHAR(n) counts bytes (https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html) —
    (for reasons and messages, not for keys)."""
    text = text.replace("\x00", "\\0")
    data = text.encode("utf-8", "replace")
    return data[:limit].decode("utf-8", "ignore") if len(data) > limit or not text.isascii() else text
