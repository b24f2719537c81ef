"""Redshift's access-control statements in PostgreSQL's words (the test suite's warehouse).

The warehouse bootstrap (``thermocline.bootstrap.sql``) is written for Redshift; PostgreSQL runs the same
statements with these differences, so the suite can prove the privileges on a real server:

* Redshift names a role grantee ``ROLE r`` (a bare name is a user); PostgreSQL has only roles: ``r``.
  https://docs.aws.amazon.com/redshift/latest/dg/r_GRANT.html
* ``PASSWORD DISABLE`` (sign-in through IAM only) becomes ``PASSWORD NULL``: no password sign-in either.
* ``ASSUMEROLE`` grants IAM roles to COPY; PostgreSQL has no IAM, so they are skipped (logged).
* ``svv_roles``, Redshift's catalog of roles, is read from ``pg_roles`` (roles that cannot sign in).

These statements bypass the sqlglot translation, which does not know Redshift's grantee forms.
"""

from __future__ import annotations

import re

from thermocline.observability import logger

_ACCESS_CONTROL = re.compile(
    r"^\s*(GRANT|REVOKE|CREATE\s+(ROLE|USER)|ALTER\s+DEFAULT\s+PRIVILEGES|ALTER\s+SCHEMA\s+\S+\s+OWNER"
    r"|CREATE\s+SCHEMA\b.*\bAUTHORIZATION\b)",
    re.I | re.S,
)
_ROLE_GRANTEE = re.compile(r"\b(TO|FROM)\s+ROLE\s+", re.I)
_ROLES_CATALOG = re.compile(r"^\s*SELECT\s+role_name\s+FROM\s+svv_roles\s*;?\s*$", re.I)


def postgres_form(sql: str) -> str | None:
    """PostgreSQL's form of a Redshift access-control statement ('' to skip it); ``None`` for other SQL."""
    if _ROLES_CATALOG.match(sql):
        return "SELECT rolname AS role_name FROM pg_roles WHERE NOT rolcanlogin"
    if not _ACCESS_CONTROL.match(sql):
        return None
    if re.search(r"\bASSUMEROLE\b", sql, re.I):
        logger.info("skipping an IAM role grant PostgreSQL has no equivalent for", sql=sql)
        return ""
    sql = _ROLE_GRANTEE.sub(lambda m: f"{m.group(1)} ", sql)
    return re.sub(r"\bPASSWORD\s+DISABLE\b", "PASSWORD NULL", sql, flags=re.I)
