# ruff: noqa: S608 -- building SQL is this module's job: every identifier goes through quote_ident and
# every value through sql_literal, so nothing reaches SQL unquoted.
"""The first steps of every load: COPY the manifest's Parquet files into a staging table, and the column
expressions both kinds of load read from it.

The staging table's columns are the files' columns in file order (Parquet COPY matches columns by
position). SUPER columns arrive as JSON text and are staged as VARCHAR, then ``JSON_PARSE``-d into the
target.
"""

from __future__ import annotations

from collections.abc import Sequence

from thermocline.lake.metadata import TableSpec
from thermocline.lake.types import VARCHAR_MAX, ColumnType
from thermocline.load.sql.bookkeeping import STAGE_TABLE
from thermocline.load.sql.ddl import column_defs
from thermocline.load.sql.literals import sql_literal
from thermocline.names import quote_ident

__all__ = ["copy_sql", "keys_match", "stage_sql", "staging_type", "target_value"]


def staging_type(ctype: ColumnType) -> ColumnType:
    """The staging column type for a file column: SUPER is staged as its JSON text (Redshift's largest
    VARCHAR: https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html)."""
    return ColumnType("VARCHAR", length=VARCHAR_MAX) if ctype.kind == "SUPER" else ctype


def copy_sql(table: str, manifest_url: str, iam_role: str | None) -> str:
    """COPY Parquet files listed in a manifest. SERIALIZETOJSON turns nested Parquet columns into JSON."""
    role = sql_literal(iam_role) if iam_role else "default"
    return (
        f"COPY {quote_ident(table)} FROM {sql_literal(manifest_url)} IAM_ROLE {role} "
        "FORMAT AS PARQUET SERIALIZETOJSON MANIFEST"
    )


def stage_sql(spec: TableSpec, manifest_url: str, iam_role: str | None) -> list[str]:
    """A fresh staging table holding the manifest's rows."""
    stage = quote_ident(STAGE_TABLE)
    cols = [(name, staging_type(ctype)) for name, ctype in spec.columns]
    return [
        f"DROP TABLE IF EXISTS {stage}",
        f"CREATE TEMP TABLE {stage} ({column_defs(cols)})",
        copy_sql(STAGE_TABLE, manifest_url, iam_role),
    ]


def keys_match(left: str, right: str, pk: Sequence[str]) -> str:
    """``left.k = right.k AND ...`` over the key columns (``left`` and ``right`` already quoted)."""
    return " AND ".join(f"{left}.{quote_ident(c)} = {right}.{quote_ident(c)}" for c in pk)


def target_value(source: str, name: str, ctype: ColumnType) -> str:
    """The target's value of column ``name`` read from ``source``: staged SUPER text is parsed back."""
    ref = f"{source}.{quote_ident(name)}"
    return f"JSON_PARSE({ref})" if ctype.kind == "SUPER" else ref
