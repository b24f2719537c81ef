# ruff: noqa: S608 -- building SQL is this module's job: every identifier goes through quote_ident and
# every value through sql_literal, so nothing reaches SQL unquoted.
"""The first steps of every load: COPY the manifest's Parquet files into a staging table, and the column
expressions both kinds of load read from it.

The staging table's columns are the files' columns in file order (Parquet COPY matches columns by
position, so their names are the loader's to choose: ``staged_names``). SUPER columns arrive as JSON text
and are staged as VARCHAR, then ``JSON_PARSE``-d into the target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from thermocline.lake.metadata import TableSpec
from thermocline.lake.types import VARCHAR_MAX, ColumnType, varchar_for
from thermocline.load.sql.bookkeeping import STAGE_TABLE
from thermocline.load.sql.ddl import column_defs
from thermocline.load.sql.literals import sql_literal
from thermocline.names import quote_ident

__all__ = [
    "copy_sql",
    "key_list",
    "keys_match",
    "stage_sql",
    "staged_names",
    "staging_type",
    "target_value",
    "text_keys",
]


def staging_type(ctype: ColumnType, nbytes: int | None = None) -> ColumnType:
    """The staging column type for a file column: SUPER is staged as its JSON text, in the VARCHAR step
    that holds ``nbytes`` (its files' longest text, ``lake.metadata.super_bytes``) as inferred strings
    are sized, or Redshift's largest VARCHAR when that is not known
    (https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html)."""
    if ctype.kind != "SUPER":
        return ctype
    return varchar_for(nbytes) if nbytes is not None else ColumnType("VARCHAR", length=VARCHAR_MAX)


def copy_sql(table: str, manifest_url: str, iam_role: str | None) -> str:
    """COPY Parquet files listed in a manifest. SERIALIZETOJSON turns nested Parquet columns into JSON."""
    role = sql_literal(iam_role) if iam_role else "default"
    return (
        f"COPY {quote_ident(table)} FROM {sql_literal(manifest_url)} IAM_ROLE {role} "
        "FORMAT AS PARQUET SERIALIZETOJSON MANIFEST"
    )


def staged_names(spec: TableSpec, max_statement_bytes: int | None) -> dict[str, str]:
    """The staging table's name of each file column: its own, unless the staging table's CREATE would
    exceed ``max_statement_bytes`` (1,599 columns with long names). Then every data column that is no key
    is staged under a short name by its position, ``thermocline$<n>``: the staging table is a temporary
    table of the load's one transaction, so it cannot be grown by ALTERs in batches as a target is (a
    batch holds at most 40 statements), and COPY from Parquet matches columns by position anyway
    (https://docs.aws.amazon.com/redshift/latest/dg/copy-usage_notes-copy-from-columnar.html). The keys and
    the CDC columns keep their names: the load's statements read them by name."""
    own = {name: name for name in spec.column_names}
    if max_statement_bytes is None or len(_create_stage(spec, own).encode()) <= max_statement_bytes:
        return own
    kept = {*spec.primary_key} | {name for name in own if name not in dict(spec.data_columns)}
    return {name: name if name in kept else f"thermocline${i}" for i, name in enumerate(spec.column_names)}


def stage_sql(
    spec: TableSpec,
    manifest_url: str,
    iam_role: str | None,
    names: dict[str, str] | None = None,
    super_bytes: Mapping[str, int] | None = None,
) -> list[str]:
    """A fresh staging table holding the manifest's rows; its columns named by ``names``
    (:func:`staged_names`; default: their own names), its SUPER columns sized by ``super_bytes`` (the
    files' longest JSON text of each; a column not in it, or None: the largest VARCHAR)."""
    stage = quote_ident(STAGE_TABLE)
    return [
        f"DROP TABLE IF EXISTS {stage}",
        _create_stage(spec, names or {n: n for n in spec.column_names}, super_bytes or {}),
        copy_sql(STAGE_TABLE, manifest_url, iam_role),
    ]


def _create_stage(
    spec: TableSpec, names: dict[str, str], super_bytes: Mapping[str, int] | None = None
) -> str:
    widths = super_bytes or {}
    cols = [(names[name], staging_type(ctype, widths.get(name))) for name, ctype in spec.columns]
    return f"CREATE TEMP TABLE {quote_ident(STAGE_TABLE)} ({column_defs(cols)})"


def text_keys(spec: TableSpec) -> frozenset[str]:
    """The key columns of ``spec`` that hold text.

    Redshift ignores trailing blanks when it compares VARCHAR values ('a' = 'a '; "Significance of
    trailing blanks", https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html), and DynamoDB
    keys 'a' and 'a ' are two items: a load matching, grouping or ranking on such a key alone would let one
    item replace or delete the other's row. LENGTH counts the trailing blanks of a VARCHAR
    (https://docs.aws.amazon.com/redshift/latest/dg/r_Examples_with_character_types.html), so comparing it
    too keeps them apart on every engine.
    """
    key = set(spec.primary_key)
    return frozenset(n for n, t in spec.columns if n in key and t.kind == "VARCHAR")


def keys_match(left: str, right: str, pk: Sequence[str], text: frozenset[str] = frozenset()) -> str:
    """``left.k = right.k AND ...`` over the key columns (``left`` and ``right`` already quoted); a text
    key (``text``) compares its length too (``text_keys``)."""
    parts = []
    for c in pk:
        lhs, rhs = f"{left}.{quote_ident(c)}", f"{right}.{quote_ident(c)}"
        parts.append(f"{lhs} = {rhs}")
        if c in text:
            parts.append(f"LENGTH({lhs}) = LENGTH({rhs})")
    return " AND ".join(parts)


def key_list(pk: Sequence[str], text: frozenset[str] = frozenset(), prefix: str = "") -> str:
    """The key columns for a GROUP BY or PARTITION BY (``prefix``: ``"s."``); a text key with its length
    (``text_keys``)."""
    parts = []
    for c in pk:
        ref = f"{prefix}{quote_ident(c)}"
        parts.append(f"{ref}, LENGTH({ref})" if c in text else ref)
    return ", ".join(parts)


def target_value(source: str, name: str, ctype: ColumnType) -> str:
    """The target's value of column ``name`` read from ``source``: staged SUPER text is parsed back."""
    ref = f"{source}.{quote_ident(name)}"
    return f"JSON_PARSE({ref})" if ctype.kind == "SUPER" else ref
