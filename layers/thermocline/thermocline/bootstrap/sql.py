"""The warehouse bootstrap: database roles and grants for the pipeline, as Redshift-dialect SQL (pure).

Through the Data API with IAM credentials a function's IAM role signs in as the database user
``IAMR:<role name>``, created on first sign-in with PUBLIC privileges only; the database roles named in the
IAM role's ``RedshiftDbRoles`` tag are granted to it at every sign-in
(https://docs.aws.amazon.com/redshift/latest/mgmt/redshift-iam-access-control-identity-based.html).
The bootstrap, run by the deployment as a superuser, makes those roles mean something:

* ``thermocline_loader`` may create schemas in the database and tables in ``public``; the first loader's
  user owns the bookkeeping schema, so everything it creates there (ledger, tombstones, a lock table) needs
  no further grant, and every loader (the CDC loader, the export ingest) reads and writes what another one
  created in it (default privileges);
* ``thermocline_reader`` may read every table the loader's users own — those that exist, and through
  default privileges every table they create later.

Default privileges name the user who creates the tables, so the bootstrap creates the functions' users
ahead of their first sign-in (``PASSWORD DISABLE``: they can only sign in through IAM). Every statement is
safe to run again: what exists is read first (:data:`ROLES_SQL`, :data:`USERS_SQL`, :func:`owned_tables_sql`)
and only what is missing is created.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from thermocline.load.sql import BOOKKEEPING_SCHEMA, sql_literal
from thermocline.names import qualified_name, quote_ident

LOADER_ROLE = "thermocline_loader"
READER_ROLE = "thermocline_reader"

_WRITE = "SELECT, INSERT, UPDATE, DELETE"
# Redshift's catalog of database roles (svv_roles) and of users (pg_user).
ROLES_SQL = "SELECT role_name FROM svv_roles"
USERS_SQL = "SELECT usename FROM pg_user"


def iam_role_user(role_name: str) -> str:
    """The database user an IAM role signs in as through the Data API with IAM credentials."""
    return f"IAMR:{role_name}"


@dataclass(frozen=True)
class Identities:
    """Who gets which database role; the input of :func:`bootstrap_sql`."""

    database: str
    loader_users: tuple[str, ...]
    reader_users: tuple[str, ...] = ()
    # The role COPY assumes to read the lake; its use is granted to the loader's role.
    copy_role_arn: str | None = None
    # Revoke ASSUMEROLE from PUBLIC (only in a namespace of our own: it would affect other roles too).
    restrict_copy_role: bool = False

    def __post_init__(self) -> None:
        if not self.loader_users:
            raise ValueError("the bootstrap needs at least one loader user")


def owned_tables_sql(users: Sequence[str]) -> str:
    """Tables already owned by ``users`` (Redshift's and PostgreSQL's ``pg_tables`` alike)."""
    listed = ", ".join(sql_literal(u) for u in users)
    return f"SELECT schemaname, tablename FROM pg_tables WHERE tableowner IN ({listed})"  # noqa: S608


def bootstrap_sql(
    identities: Identities,
    *,
    existing_roles: Collection[str] = (),
    existing_users: Collection[str] = (),
    loader_tables: Collection[tuple[str, str]] = (),
) -> list[str]:
    """The statements that give ``identities`` their privileges, skipping roles and users that exist.

    ``loader_tables`` are tables the loader's users own already (``owned_tables_sql``): the reader gets
    SELECT on them explicitly, as default privileges only cover tables created from now on.
    """
    loader = identities.loader_users[0]
    loader_role = f"ROLE {quote_ident(LOADER_ROLE)}"
    reader_role = f"ROLE {quote_ident(READER_ROLE)}"
    statements = [
        f"CREATE ROLE {quote_ident(r)}" for r in (LOADER_ROLE, READER_ROLE) if r not in existing_roles
    ]
    statements += [
        f"CREATE USER {quote_ident(u)} PASSWORD DISABLE"
        for u in (*identities.loader_users, *identities.reader_users)
        if u not in existing_users
    ]
    schema = quote_ident(BOOKKEEPING_SCHEMA)
    statements += [
        # CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database when the schema exists.
        f"GRANT CREATE ON DATABASE {quote_ident(identities.database)} TO {loader_role}",
        # Target tables live in public; Redshift lets PUBLIC create there, PostgreSQL 15 no longer does.
        f"GRANT USAGE, CREATE ON SCHEMA {quote_ident('public')} TO {loader_role}",
        f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {quote_ident(loader)}",
        f"ALTER SCHEMA {schema} OWNER TO {quote_ident(loader)}",
        f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {loader_role}",
        f"GRANT USAGE ON SCHEMA {schema} TO {reader_role}",
    ]
    for s, t in sorted(loader_tables):
        statements.append(f"GRANT SELECT ON {qualified_name(s, t)} TO {reader_role}")
        if s == BOOKKEEPING_SCHEMA:
            statements.append(f"GRANT {_WRITE} ON {qualified_name(s, t)} TO {loader_role}")
    for user in identities.loader_users:
        statements += [
            f"ALTER DEFAULT PRIVILEGES FOR USER {quote_ident(user)} GRANT SELECT ON TABLES TO {reader_role}",
            f"ALTER DEFAULT PRIVILEGES FOR USER {quote_ident(user)} IN SCHEMA {schema} "
            f"GRANT {_WRITE} ON TABLES TO {loader_role}",
        ]
    if identities.copy_role_arn:
        arn = sql_literal(identities.copy_role_arn)
        if identities.restrict_copy_role:
            # Redshift grants ASSUMEROLE on every attached role to PUBLIC until it is revoked:
            # https://docs.aws.amazon.com/redshift/latest/dg/r_GRANT.html (ASSUMEROLE)
            statements.append("REVOKE ASSUMEROLE ON ALL FROM PUBLIC FOR ALL")
        statements.append(f"GRANT ASSUMEROLE ON {arn} TO {loader_role} FOR COPY")
    return statements
