"""Redshift's rules for changing tables, kept by the local engines (DuckDB, PostgreSQL) so that a load
which changes a table locally is one Redshift accepts.

Redshift remembers which columns are a table's DISTKEY, SORTKEY and declared PRIMARY KEY, and which
views are bound to a table; the local engines forget the first (``emulation`` strips those clauses) and
bind views differently (DuckDB by name at query time, PostgreSQL to the table and column). So each
engine keeps the record itself, in the catalog where it follows the table through renames and dies with
it: a key column carries a comment ``redshift: DISTKEY, SORTKEY, PRIMARY KEY``; a late-binding view
(``WITH NO SCHEMA BINDING``) carries ``redshift: late-binding view``. The engine answers the two
questions of :class:`Catalog`; the rules below decide. Each rule names its AWS page.

Local engines only: imports sqlglot (never on the Lambda path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from thermocline.names import quote_ident
from thermocline.warehouse.errors import TerminalLoadError

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = [
    "KEY_COMMENT",
    "LATE_BINDING_COMMENT",
    "Catalog",
    "Change",
    "TableRef",
    "ViewInfo",
    "check_ddl",
    "is_late_binding",
    "key_comments",
    "late_binding_comment",
    "table_ref",
    "view_reads",
]

KEY_COMMENT = "redshift: "
LATE_BINDING_COMMENT = "redshift: late-binding view"


@dataclass(frozen=True)
class TableRef:
    schema: str | None  # None: the current schema
    name: str

    def sql(self) -> str:
        name = quote_ident(self.name)
        return f"{quote_ident(self.schema)}.{name}" if self.schema else name


@dataclass(frozen=True)
class ViewInfo:
    """A view that reads a table: its name, whether it is bound to the table (an ordinary view) or
    late-binding, and the table's columns it reads (None: all of them, ``SELECT *``, or not known)."""

    name: str
    bound: bool
    columns: frozenset[str] | None


class Catalog(Protocol):
    """What an engine's catalog tells the rules about one table."""

    def key_roles(self, table: TableRef) -> dict[str, str]:
        """Lower-cased column name → its key roles (``DISTKEY, SORTKEY``), for key columns only."""

    def views_on(self, table: TableRef) -> list[ViewInfo]:
        """The views that read ``table``."""


@dataclass(frozen=True)
class Change:
    """A change to an existing table the engine may have to prepare for (PostgreSQL's views)."""

    kind: str  # "alter type" | "drop column" | "drop table"
    table: TableRef
    column: str | None = None


def table_ref(node: exp.Expression) -> TableRef:
    return TableRef(node.args["db"].name if node.args.get("db") else None, node.name)


def _key_roles_of_create(tree: exp.Create) -> dict[str, list[str]]:
    """The key columns a CREATE TABLE declares (as written), with their roles."""
    from sqlglot import exp

    roles: dict[str, list[str]] = {}

    def add(column: str, role: str) -> None:
        if role not in roles.setdefault(column, []):
            roles[column].append(role)

    for prop in tree.find_all(exp.DistKeyProperty):
        add(prop.this.name, "DISTKEY")
    for prop in tree.find_all(exp.SortKeyProperty):
        for ident in prop.this if isinstance(prop.this, list) else [prop.this]:
            add(ident.name, "SORTKEY")
    for pk in tree.find_all(exp.PrimaryKey):
        for ident in pk.expressions:
            add(ident.name, "PRIMARY KEY")
    for column_def in tree.find_all(exp.ColumnDef):
        if any(isinstance(c.kind, exp.PrimaryKeyColumnConstraint) for c in column_def.constraints):
            add(column_def.name, "PRIMARY KEY")
    return roles


def key_comments(tree: exp.Expression) -> list[tuple[TableRef, str, str]]:
    """``(table, column, comment)`` for each key column a CREATE TABLE declares: the record the rules
    read back through :meth:`Catalog.key_roles`."""
    from sqlglot import exp

    if not isinstance(tree, exp.Create) or tree.kind != "TABLE":
        return []
    # CREATE TABLE t (...) names its table inside the column list; CREATE TABLE t ... AS SELECT does not.
    table = table_ref(tree.this.this if isinstance(tree.this, exp.Schema) else tree.this)
    return [(table, c, KEY_COMMENT + ", ".join(r)) for c, r in _key_roles_of_create(tree).items()]


def parse_roles(comment: str | None) -> str | None:
    """The roles in a key column's comment, or None for any other comment."""
    if comment and comment.startswith(KEY_COMMENT) and not is_late_binding(comment):
        return comment[len(KEY_COMMENT) :]
    return None


def late_binding_comment(query: str) -> str:
    """The mark of a late-binding view, with its query as written (re-created from it after a change)."""
    return f"{LATE_BINDING_COMMENT}\n{query}"


def is_late_binding(comment: str | None) -> bool:
    return bool(comment) and str(comment).startswith(LATE_BINDING_COMMENT + "\n")


def late_binding_query(comment: str) -> str:
    return comment[len(LATE_BINDING_COMMENT) + 1 :]


def check_ddl(tree: exp.Expression, catalog: Catalog) -> Change | None:
    """Refuse the table changes Redshift refuses (raises :class:`TerminalLoadError`, as the loader
    classifies Redshift's own refusals); returns the change it allows, if it alters or drops a table."""
    from sqlglot import exp

    if isinstance(tree, exp.Create) and tree.kind == "VIEW" and tree.args.get("no_schema_binding"):
        # A late-binding view names its tables with their schema
        # (https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_VIEW.html, WITH NO SCHEMA BINDING).
        for table in tree.expression.find_all(exp.Table):
            if not table.args.get("db"):
                raise TerminalLoadError(
                    f"a view WITH NO SCHEMA BINDING must qualify table {table.name!r} with its schema"
                )
        return None
    if isinstance(tree, exp.Create) and tree.kind == "TABLE" and isinstance(tree.this, exp.Schema):
        # "You can't define SUPER columns as either a distribution or sort key"
        # (https://docs.aws.amazon.com/redshift/latest/dg/limitations-super.html).
        types = {d.name.lower(): d.args.get("kind") for d in tree.this.find_all(exp.ColumnDef)}
        for column, roles in _key_roles_of_create(tree).items():
            kind = types.get(column.lower())
            if (
                kind is not None
                and kind.is_type(exp.DataType.Type.SUPER)
                and {"DISTKEY", "SORTKEY"} & set(roles)
            ):
                raise TerminalLoadError(
                    f"column {column!r} of {table_ref(tree.this.this).sql()} is SUPER: Redshift refuses it "
                    f"as {' and '.join(r for r in roles if r != 'PRIMARY KEY')}"
                )
    if isinstance(tree, exp.Drop) and tree.kind == "TABLE":
        tables = tree.args.get("tables") or []
        for node in tables:
            _refuse_bound_views(catalog, table_ref(node), None, "drop table")
        return Change("drop table", table_ref(tables[0])) if len(tables) == 1 else None
    if not isinstance(tree, exp.Alter) or tree.args.get("kind") != "TABLE":
        return None
    table = table_ref(tree.this)
    change = None
    for action in tree.args.get("actions") or []:
        if isinstance(action, exp.AlterColumn) and action.args.get("dtype") is not None:
            column = action.this.name
            roles = catalog.key_roles(table).get(column.lower())
            if roles:
                # ALTER COLUMN ... TYPE is refused for a PRIMARY KEY column
                # (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html, ALTER COLUMN
                # column_name TYPE), and Redshift answers a DISTKEY or SORTKEY column with "found
                # unexpected dependency for column" (scripts/redshift_smoke.py asks a workgroup).
                raise TerminalLoadError(
                    f"cannot alter type of column {column!r} of {table.sql()}: it is the table's {roles}; "
                    "Redshift alters only columns that are no key (rebuild the table instead)"
                )
            change = Change("alter type", table, column)
        elif isinstance(action, exp.Drop) and action.kind == "COLUMN":
            for node in action.args.get("tables") or []:
                column = node.name
                roles = catalog.key_roles(table).get(column.lower())
                if roles:
                    # "You can't drop a column that is the distribution key (DISTKEY) or a sort key
                    # (SORTKEY) of the table. The default behavior for DROP COLUMN is RESTRICT if the
                    # column has any dependent objects, such as a view, primary key ..."
                    # (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html, DROP COLUMN).
                    raise TerminalLoadError(
                        f"cannot drop column {column!r} of {table.sql()}: it is the table's {roles}"
                    )
                _refuse_bound_views(catalog, table, column, "drop column")
                change = Change("drop column", table, column)
    return change


def _refuse_bound_views(catalog: Catalog, table: TableRef, column: str | None, what: str) -> None:
    """An ordinary view holds its table and the columns it reads: DROP TABLE and DROP COLUMN default to
    RESTRICT (https://docs.aws.amazon.com/redshift/latest/dg/r_DROP_TABLE.html, RESTRICT;
    r_ALTER_TABLE.html, DROP COLUMN). A late-binding view holds nothing
    (https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_VIEW.html, Late-binding views)."""
    blocking = [
        v.name
        for v in catalog.views_on(table)
        if v.bound and (column is None or v.columns is None or column.lower() in v.columns)
    ]
    if blocking:
        target = f"{column!r} of {table.sql()}" if column else table.sql()
        raise TerminalLoadError(
            f"cannot {what} {target} because view {', '.join(sorted(blocking))} depends on it "
            "(recreate the view WITH NO SCHEMA BINDING, or drop it)"
        )


def view_reads(sql: str, table: TableRef, default_schema: str) -> tuple[bool, frozenset[str] | None]:
    """Whether the view defined by ``sql`` reads ``table``, and which of its columns (None: all)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return False, None
    body = tree.expression if isinstance(tree, exp.Create) else tree
    if body is None:
        return False, None
    wanted = (table.schema or default_schema).lower(), table.name.lower()
    reads = any(
        ((t.args["db"].name if t.args.get("db") else default_schema).lower(), t.name.lower()) == wanted
        for t in body.find_all(exp.Table)
    )
    if not reads:
        return False, None
    if any(isinstance(s, exp.Star) for s in body.find_all(exp.Star)):
        return True, None
    return True, frozenset(c.name.lower() for c in body.find_all(exp.Column))
