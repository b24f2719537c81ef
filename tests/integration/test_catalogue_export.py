"""The demo's catalogue through the Aurora export path, with and without a PostgreSQL server, and the
``thermocline aurora-export`` command."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from thermocline import cli, warehouse
from thermocline.local import aurora, pg_server
from thermocline.local.catalogue import catalogue
from thermocline.local.session import LocalStack
from thermocline.local.workload import REGIONS, SKUS, Workload

pytestmark = [pytest.mark.moto, pytest.mark.postgres]

TABLES = ("customers", "products", "regions")


@pytest.fixture
def local(aws_env: str, tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(tmp_path / "state", endpoint=aws_env) as stack:
        yield stack


def _dump(local: LocalStack) -> dict[str, Any]:
    with contextlib.closing(warehouse.connect(local.warehouse_url, s3_client=local.client("s3"))) as wh:
        found: dict[str, Any] = {}
        for table in TABLES:
            columns = wh.query(
                "SELECT column_name, data_type FROM information_schema.columns "
                f"WHERE table_name = '{table}' ORDER BY ordinal_position"
            ).rows
            columns = [(c, t) for c, t in columns if not c.startswith("_")]
            names = ", ".join(c for c, _ in columns)
            found[table] = (columns, sorted(wh.query(f"SELECT {names} FROM {table}").rows))
        return found


def test_the_catalogue_matches_the_workload_and_is_the_same_with_or_without_postgres(
    aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workload = Workload(orders=200)
    with LocalStack(tmp_path / "with", endpoint=aws_env) as local:
        done = aurora.export_catalogue(local, workload)
        assert done.source.startswith("PostgreSQL") and done.note == ""
        with_postgres = _dump(local)

    def unavailable(port: int) -> Any:
        raise pg_server.PostgresUnavailableError("initdb not found: install PostgreSQL")

    monkeypatch.setattr(pg_server, "start", unavailable)
    with LocalStack(tmp_path / "without", endpoint=aws_env) as local:
        done = aurora.export_catalogue(local, workload)
        assert done.source == "generated rows" and "PostgreSQL is not available" in done.note
        generated = _dump(local)

    assert generated == with_postgres
    columns, customers = with_postgres["customers"]
    assert columns == [
        ("customer_id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("email", "VARCHAR"),
        ("segment", "VARCHAR"),
        ("country", "VARCHAR"),
        ("created_at", "TIMESTAMP WITH TIME ZONE"),
    ]
    # One customer per workload user (the orders' user_id), one product per SKU, one row per region.
    assert [c[0] for c in customers] == [f"u{n:06d}" for n in range(workload.users)]
    assert [p[0] for p in with_postgres["products"][1]] == SKUS
    assert dict(with_postgres["products"][0])["list_price"] == "DECIMAL(10,2)"
    assert sorted(r[0] for r in with_postgres["regions"][1]) == sorted(REGIONS)
    # The customers carry the workload users' own names and emails.
    users = {row[0]: row for row in catalogue(workload)[0].rows}
    assert all(users[c[0]][1:3] == c[1:3] for c in customers)


def test_aurora_export_command(aws_env: str, postgres_dsn: str, tmp_path: Path, capsys: Any) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA sales; CREATE TABLE sales.refunds (id int, amount numeric(12,2));")
        conn.execute("INSERT INTO sales.refunds VALUES (1, 10.50), (2, NULL)")
        conn.execute(
            "CREATE TABLE regions (region_code text, name text); INSERT INTO regions VALUES ('x', 'y')"
        )
    state = tmp_path / "state"
    args = ["aurora-export", "--dsn", postgres_dsn, "--state", str(state), "--endpoint", aws_env]
    assert cli.main([*args, "--tables", "sales.refunds"]) == 0
    out = capsys.readouterr().out
    assert "warehouse sales_refunds: refreshed, 2 rows" in out and "regions" not in out
    with contextlib.closing(warehouse.connect(f"duckdb:///{state / 'warehouse.duckdb'}")) as wh:
        assert wh.query("SELECT id, amount FROM sales_refunds ORDER BY id").rows == [
            (1, Decimal("10.50")),
            (2, None),
        ]

    assert cli.main([*args, "--tables", "nope"]) == 2
    assert "--tables: no table 'nope'" in capsys.readouterr().err
    bad = postgres_dsn.rsplit("/", 1)[0] + "/no_such_database"
    assert cli.main(["aurora-export", "--dsn", bad, "--state", str(state)]) == 2
    assert "--dsn: cannot connect" in capsys.readouterr().err
