"""The warehouse bootstrap's SQL: what a deploy runs as the admin, and its PostgreSQL form for the suite."""

from __future__ import annotations

import pytest

from thermocline.bootstrap.sql import Identities, bootstrap_sql, iam_role_user, owned_tables_sql
from thermocline.warehouse.access_control import postgres_form

LOADER = iam_role_user("stack-WarehouseLoadFunctionRole-1")
READER = iam_role_user("stack-AnalyticsReportFunctionRole-2")
COPY_ROLE = "arn:aws:iam::123456789012:role/stack-RedshiftCopyRole-3"


def _identities(**kwargs) -> Identities:
    return Identities(database="thermocline", loader_users=(LOADER,), reader_users=(READER,), **kwargs)


def test_first_run_creates_roles_users_and_the_loaders_schema() -> None:
    sql = bootstrap_sql(_identities(copy_role_arn=COPY_ROLE, restrict_copy_role=True))
    assert sql[:4] == [
        'CREATE ROLE "thermocline_loader"',
        'CREATE ROLE "thermocline_reader"',
        f'CREATE USER "{LOADER}" PASSWORD DISABLE',
        f'CREATE USER "{READER}" PASSWORD DISABLE',
    ]
    assert 'GRANT CREATE ON DATABASE "thermocline" TO ROLE "thermocline_loader"' in sql
    assert f'CREATE SCHEMA IF NOT EXISTS "thermocline" AUTHORIZATION "{LOADER}"' in sql
    assert (
        f'ALTER DEFAULT PRIVILEGES FOR USER "{LOADER}" GRANT SELECT ON TABLES TO ROLE "thermocline_reader"'
    ) in sql
    # The COPY role: PUBLIC loses it first, then only the loader's role may use it.
    assert sql[-2:] == [
        "REVOKE ASSUMEROLE ON ALL FROM PUBLIC FOR ALL",
        f"GRANT ASSUMEROLE ON '{COPY_ROLE}' TO ROLE \"thermocline_loader\" FOR COPY",
    ]


def test_a_second_run_creates_nothing_and_grants_existing_tables() -> None:
    sql = bootstrap_sql(
        _identities(copy_role_arn=COPY_ROLE),
        existing_roles={"thermocline_loader", "thermocline_reader"},
        existing_users={LOADER, READER},
        loader_tables={("public", "orders"), ("thermocline", "load_ledger")},
    )
    assert not [s for s in sql if s.startswith(("CREATE ROLE", "CREATE USER"))]
    assert 'GRANT SELECT ON "public"."orders" TO ROLE "thermocline_reader"' in sql
    assert (
        'GRANT SELECT, INSERT, UPDATE, DELETE ON "thermocline"."load_ledger" TO ROLE "thermocline_loader"'
        in sql
    )
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON "public"."orders" TO ROLE "thermocline_loader"' not in sql
    assert "REVOKE ASSUMEROLE ON ALL FROM PUBLIC FOR ALL" not in sql  # not our namespace to restrict


def test_the_first_loader_owns_the_schema_and_every_loader_writes_the_others_bookkeeping() -> None:
    other = iam_role_user("stack-ExportIngestFunctionRole-4")
    sql = bootstrap_sql(Identities(database="d", loader_users=(LOADER, other)))
    assert f'CREATE SCHEMA IF NOT EXISTS "thermocline" AUTHORIZATION "{LOADER}"' in sql
    for user in (LOADER, other):
        assert (
            f'ALTER DEFAULT PRIVILEGES FOR USER "{user}" IN SCHEMA "thermocline" '
            'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ROLE "thermocline_loader"'
        ) in sql
    with pytest.raises(ValueError, match="at least one"):
        Identities(database="d", loader_users=())


def test_owned_tables_query_quotes_the_user_names() -> None:
    assert owned_tables_sql(["IAMR:o'brien"]).endswith("WHERE tableowner IN ('IAMR:o''brien')")


def test_postgresql_form_of_redshifts_grantees_and_passwords() -> None:
    assert postgres_form('GRANT USAGE ON SCHEMA "s" TO ROLE "r"') == 'GRANT USAGE ON SCHEMA "s" TO "r"'
    assert postgres_form('CREATE USER "IAMR:x" PASSWORD DISABLE') == 'CREATE USER "IAMR:x" PASSWORD NULL'
    assert postgres_form(f"GRANT ASSUMEROLE ON '{COPY_ROLE}' TO ROLE \"r\" FOR COPY") == ""
    assert "pg_roles" in (postgres_form("SELECT role_name FROM svv_roles") or "")
    assert postgres_form("SELECT * FROM orders") is None
    assert postgres_form('CREATE SCHEMA IF NOT EXISTS "thermocline"') is None
