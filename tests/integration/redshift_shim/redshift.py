"""What Redshift does that PostgreSQL does not, as the shim plays it.

* Statements arrive in Redshift's dialect and are rewritten with the PostgreSQL engine's own translation
  (``warehouse.postgres.postgres_sql``: sqlglot, LOCK in Redshift's mode, access control in PostgreSQL's
  words), so the rulebook of ``warehouse.emulation`` (backslashes in literals, identifier lengths) holds
  on this path as on the local engines.
* ``COPY ... MANIFEST`` reads the manifest's Parquet objects from S3 (moto) with the local engines'
  ``emulation.read_manifest_files`` / ``read_parquet`` and inserts their rows into the target, inside the
  client's transaction. A file that cannot be loaded fails the COPY the way Redshift does: the error tells
  the client only to look in ``sys_load_error_detail``, where a row names the file, line, column and
  reason (https://docs.aws.amazon.com/redshift/latest/dg/SYS_LOAD_ERROR_DETAIL.html). That row survives
  the rollback, as Redshift's system tables do.
* ``pg_last_copy_id()`` is the id of the session's last COPY, updated when a COPY begins, -1 before the
  first, and not updated by a COPY whose transaction rolls back
  (https://docs.aws.amazon.com/redshift/latest/dg/PG_LAST_COPY_ID.html): a session setting written
  inside the client's transaction keeps exactly those rules.
* ``ALTER TABLE ... ALTER COLUMN ... TYPE`` inside a transaction block is refused
  (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html).
* After an error inside a transaction block, Redshift refuses every statement but ROLLBACK; PostgreSQL
  does the same, so the shim makes every error it raises itself abort the server's transaction too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tests.integration.data_api_fake import LOAD_ERRORS_TABLE
from thermocline.warehouse.emulation import parse_copy
from thermocline.warehouse.postgres import postgres_sql

# Redshift reports this server_version to every client (PostgreSQL 8.0.2's protocol); the driver parses
# it, and cannot parse a Debian build's "15.x (Debian 15.x-1.pgdg...)".
SERVER_VERSION = "8.0.2"
# Redshift's system objects live in a schema of their own, searched after the user's.
SYSTEM_SCHEMA = "redshift_system"
SEARCH_PATH = f'"$user", public, {SYSTEM_SCHEMA}'
_COPY_ID_SETTING = "thermocline_shim.last_copy_id"
CATALOG = [
    f"CREATE SCHEMA IF NOT EXISTS {SYSTEM_SCHEMA}",
    f"SET search_path TO {SYSTEM_SCHEMA}",
    LOAD_ERRORS_TABLE,
    f"CREATE OR REPLACE FUNCTION {SYSTEM_SCHEMA}.pg_last_copy_id() RETURNS bigint LANGUAGE sql STABLE AS "
    f"$$ SELECT COALESCE(NULLIF(current_setting('{_COPY_ID_SETTING}', true), '')::bigint, -1) $$",
]
SET_COPY_ID = f"SELECT set_config('{_COPY_ID_SETTING}', $1, false)"
RECORD_LOAD_ERROR = (
    f"INSERT INTO {SYSTEM_SCHEMA}.sys_load_error_detail (session_id, query_id, start_time, file_name, "
    "line_number, column_name, error_message) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
# A statement with no rows and no effect: what PostgreSQL runs for a statement the shim answers itself.
NOTHING = "DO $$ BEGIN END $$"
# Aborts the server's transaction when the shim refuses a statement (the client gets the shim's error).
ABORT = (
    "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'XX000', MESSAGE = 'refused by the Redshift shim'; END $$"
)

ALTER_IN_TRANSACTION = ("25001", "ALTER TABLE ALTER COLUMN cannot run inside a transaction block")


@dataclass(frozen=True)
class Statement:
    """One Redshift statement as received, and what PostgreSQL runs for it."""

    sql: str
    postgres: str
    copy: tuple[str, str] | None = None  # (table, manifest url) of a COPY the shim runs itself


def plan(sql: str) -> Statement:
    """PostgreSQL's form of ``sql``; raises (``WarehouseError``, sqlglot's ``ParseError``) when refused."""
    copy = parse_copy(sql)
    if copy is not None:
        return Statement(sql, NOTHING, copy)
    return Statement(sql, postgres_sql(sql) or NOTHING)


def copy_text(value: Any) -> bytes | None:
    """A Parquet value as PostgreSQL's text input for the column it is inserted into."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return b"\\x" + value.hex().encode()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ").encode()
    return str(value).encode()


def copy_failed(table: str) -> tuple[str, str]:
    """Redshift's answer to a COPY that could not load a file: the details are in the system table."""
    name = table.split(".")[-1].strip('"')
    return (
        "XX000",
        f"Load into table '{name}' failed.  Check 'sys_load_error_detail' system table for details.",
    )
