"""What only the local engines (DuckDB, PostgreSQL) need to run Redshift's SQL under Redshift's rules.

Translation from the Redshift dialect (sqlglot, imported only here and only when used, so the Lambda path
never loads it), COPY from a manifest emulated by reading the objects through boto3 (checked against the
manifest's sizes as COPY does), and LOCK emulated (PostgreSQL's lock mode, or a per-process lock for
DuckDB).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from thermocline.lake.manifest import ManifestEntry, parse_manifest, split_s3_url
from thermocline.names import quote_ident
from thermocline.warehouse import ddl_rules, postgres_names
from thermocline.warehouse.errors import BadDataError, LoadErrorDetail, TerminalLoadError, TransientLoadError

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = [
    "arrow_rows",
    "held_locks",
    "parse_copy",
    "parse_lock",
    "postgres_lock_sql",
    "read_manifest_files",
    "read_parquet",
    "translate",
    "translate_query",
    "translate_statement",
]


# Keyed by sqlglot's DataType.Type names: sqlglot is imported only when a local engine translates, so the
# Lambda path (the Data API sends SQL as written) does not load it at cold start.
_TYPE_MAP = {
    "duckdb": {"SUPER": "JSON", "VARBINARY": "BLOB"},
    "postgres": {"SUPER": "JSONB", "VARBINARY": "BYTEA"},
}


def _local_types(node: exp.Expression, dialect: str) -> exp.Expression:
    from sqlglot import exp

    if isinstance(node, exp.DataType):
        mapped = _TYPE_MAP[dialect].get(node.this.name)
        if mapped:
            return exp.DataType.build(mapped, dialect=dialect)
        if dialect == "duckdb" and node.this.name in ("VARCHAR", "CHAR"):
            # DuckDB ignores lengths; dropping them keeps its output readable.
            return exp.DataType.build("VARCHAR")
    if isinstance(node, exp.ParseJSON) and dialect == "duckdb":
        # DuckDB's json(text) re-reads numbers as doubles (3.14159265358979323846 → 3.141592653589793);
        # a cast to JSON keeps the text as written, so SUPER values stay exact.
        return exp.Cast(this=node.this, to=exp.DataType.build("JSON", dialect="duckdb"))
    if isinstance(node, exp.PrimaryKey):
        # Redshift does not enforce primary keys; neither must the local engines.
        return None  # type: ignore[return-value]
    if isinstance(node, (exp.DistKeyProperty, exp.SortKeyProperty, exp.DistStyleProperty)):
        return None  # type: ignore[return-value]
    return node


# --- Redshift's rulebook -------------------------------------------------------------------------------
# The local engines refuse what Redshift refuses, so the suite, the demo and replay exercise Redshift's
# rules; each rule names its AWS document. The rules for a whole batch, which every engine checks, are in
# ``rules``; these are checked while translating.

# Names (tables, columns, schemas) are at most 127 bytes
# (https://docs.aws.amazon.com/redshift/latest/dg/r_names.html).
MAX_IDENTIFIER_BYTES = 127


def _check_literals(sql: str) -> None:
    """A backslash in a string literal is an escape character on Redshift
    (https://docs.aws.amazon.com/redshift/latest/dg/r_Literals.html, "Character literals"), so text with
    one would not arrive as written: it must be spelled CHR(92) (``load.sql.sql_literal`` does)."""
    inside = False
    for i, char in enumerate(sql):
        if char == "'":
            inside = not inside
        elif inside and char == "\\":
            raise TerminalLoadError(
                f"a backslash in a string literal (use CHR(92)): ...{sql[max(i - 40, 0) : i + 40]}..."
            )


def _check_tree(tree: exp.Expression) -> None:
    from sqlglot import exp

    for node in tree.find_all(exp.Identifier):
        if len(str(node.this).encode()) > MAX_IDENTIFIER_BYTES:
            raise TerminalLoadError(
                f"identifier longer than {MAX_IDENTIFIER_BYTES} bytes: {str(node.this)[:60]}..."
            )


def translate(sql: str, dialect: str) -> str:
    """Translate one Redshift-dialect statement to ``dialect`` (``duckdb`` or ``postgres``), refusing what
    Redshift would refuse (the rulebook above)."""
    return translate_statement(sql, dialect)[0][0]


def translate_statement(
    sql: str, dialect: str, catalog: ddl_rules.Catalog | None = None
) -> tuple[list[str], ddl_rules.Change | None]:
    """:func:`translate`, and with the engine's ``catalog`` Redshift's rules for changing tables too
    (``ddl_rules``): the statements to run (the translation, then the catalog comments that record
    a new table's keys or a late-binding view) and the change it makes to an existing table, if any."""
    import sqlglot
    from sqlglot import exp

    _check_literals(sql)
    tree = sqlglot.parse_one(sql, read="redshift")
    _check_tree(tree)
    if dialect == "postgres":
        tree = postgres_names.shorten_identifiers(tree)
    change = ddl_rules.check_ddl(tree, catalog) if catalog is not None else None
    after = [
        f"COMMENT ON COLUMN {table.sql()}.{quote_ident(column)} IS '{comment}'"
        for table, column, comment in ddl_rules.key_comments(tree)
    ]
    tree = tree.transform(_local_types, dialect=dialect)
    if isinstance(tree, exp.Create) and tree.kind == "VIEW" and tree.args.get("no_schema_binding"):
        # Neither local engine has late-binding views: the view is created as an ordinary one and marked
        # with its query as written (``SELECT *`` unexpanded), from which PostgreSQL re-creates it
        # after a change to its table; DuckDB binds views by name anyway.
        tree.set("no_schema_binding", None)
        view = ddl_rules.table_ref(tree.this)
        comment = ddl_rules.late_binding_comment(tree.expression.sql(dialect=dialect))
        after.append(f"COMMENT ON VIEW {view.sql()} IS '{comment.replace(chr(39), chr(39) * 2)}'")
    return [tree.sql(dialect=dialect), *after], change


def translate_query(sql: str, dialect: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Translate a query with ``:name`` placeholders to ``dialect`` with positional ``$1``, ``$2``...

    Both local engines take ``$n`` natively (DuckDB; psycopg's ``RawCursor`` for PostgreSQL), so no
    ``%`` in the query's literals needs escaping. Returns the SQL and the values in ``$n`` order.
    """
    import sqlglot
    from sqlglot import exp

    names: list[str] = []

    def number(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name:
            if node.name not in names:
                names.append(node.name)
            return exp.Var(this=f"${names.index(node.name) + 1}")
        return node

    _check_literals(sql)
    try:
        tree = sqlglot.parse_one(sql, read="redshift").transform(number)
    except sqlglot.errors.ParseError as exc:
        raise TerminalLoadError(f"query: not valid Redshift SQL: {exc}") from exc
    _check_tree(tree)
    if dialect == "postgres":
        tree = postgres_names.shorten_identifiers(tree)
        if postgres_names.is_catalog_query(sql):
            tree = postgres_names.shorten_catalog_literals(tree)
    missing = [n for n in names if n not in params]
    if missing:
        raise TerminalLoadError(f"query parameter {missing[0]!r} has no value")
    text = tree.transform(_local_types, dialect=dialect).sql(dialect=dialect)
    return text, [params[n] for n in names]


# --- COPY and LOCK emulation ---------------------------------------------------------------------------

_COPY = re.compile(r"^\s*COPY\s+(\"(?:[^\"]|\"\")+\"|\S+)\s+FROM\s+'((?:[^']|'')*)'(.*)$", re.I | re.S)
_LOCK = re.compile(r"^\s*LOCK\s+(?:TABLE\s+)?(.+?)\s*;?\s*$", re.I | re.S)


def parse_copy(sql: str) -> tuple[str, str] | None:
    """``(table, manifest url)`` of a ``COPY ... MANIFEST`` statement, or ``None`` for anything else."""
    match = _COPY.match(sql)
    if not match:
        return None
    if "MANIFEST" not in match.group(3).upper():
        raise TerminalLoadError("the local engines emulate COPY only from a manifest")
    return match.group(1), match.group(2).replace("''", "'")


def parse_lock(sql: str) -> str | None:
    match = _LOCK.match(sql)
    return match.group(1) if match else None


def postgres_lock_sql(table: str) -> str:
    """``LOCK`` on PostgreSQL as Redshift takes it: ACCESS EXCLUSIVE, which also makes readers of the
    locked table wait (https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html). The loader locks a
    load-lock table of its own, never a table anyone reads."""
    return f"LOCK TABLE {postgres_names.shorten_quoted(table)} IN ACCESS EXCLUSIVE MODE"


_PROCESS_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


@contextmanager
def held_locks() -> Iterator[Callable[[str, str], None]]:
    """Per-table locks for engines without LOCK (DuckDB): taken on demand, released at the end."""
    held: list[threading.Lock] = []

    def take(database: str, table: str) -> None:
        with _PROCESS_LOCKS_GUARD:
            lock = _PROCESS_LOCKS.setdefault((database, table.strip('"').lower()), threading.Lock())
        if not lock.acquire(timeout=600):
            raise TransientLoadError(f"timed out waiting for the load lock on {table}")
        held.append(lock)

    try:
        yield take
    finally:
        for lock in reversed(held):
            lock.release()


def read_manifest_files(s3_client: Any, manifest_url: str) -> Iterator[tuple[ManifestEntry, bytes]]:
    """The objects a manifest names, each checked against its ``content_length`` as COPY does."""
    if s3_client is None:
        raise TerminalLoadError("this engine emulates COPY through S3 and needs an s3_client")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        bucket, key = split_s3_url(manifest_url)
        entries = parse_manifest(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (BotoCoreError, ClientError) as exc:
        raise TransientLoadError(f"reading manifest {manifest_url}: {exc}") from exc
    for entry in entries:
        bucket, key = split_s3_url(entry.url)
        try:
            body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "404"}:
                raise BadDataError(
                    "COPY failed", details=[LoadErrorDetail(entry.url, None, None, "object does not exist")]
                ) from exc
            raise TransientLoadError(f"reading {entry.url}: {exc}") from exc
        except BotoCoreError as exc:
            raise TransientLoadError(f"reading {entry.url}: {exc}") from exc
        if len(body) != entry.content_length:
            # The object was rewritten after the manifest was made; planning again will see its new size.
            raise TransientLoadError(
                f"{entry.url}: content_length {entry.content_length} in the manifest, {len(body)} in S3"
            )
        yield entry, body


def read_parquet(entry: ManifestEntry, body: bytes, expected_columns: int) -> Any:
    """An Arrow table from Parquet bytes, refusing files whose column count differs (COPY is positional)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(body))
    except (pa.ArrowException, OSError) as exc:
        raise BadDataError(
            "COPY failed", details=[LoadErrorDetail(entry.url, None, None, f"unreadable Parquet: {exc}")]
        ) from exc
    if table.num_columns != expected_columns:
        raise BadDataError(
            "COPY failed",
            details=[
                LoadErrorDetail(
                    entry.url,
                    None,
                    None,
                    f"file has {table.num_columns} columns, staging table has {expected_columns}",
                )
            ],
        )
    return table


def arrow_rows(arrow: Any) -> list[tuple[Any, ...]]:
    """The rows of an Arrow table as Python tuples, for drivers that insert row by row."""
    columns = [col.to_pylist() for col in arrow.columns]
    return list(zip(*columns, strict=True))
