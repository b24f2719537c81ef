"""Every shipped report equals an independent answer to its question, on DuckDB and on PostgreSQL.

The data goes the production way: a workload written to DynamoDB (moto's server), the stream delivered to
StreamIngestFunction, lake files loaded by WarehouseLoadFunction into DuckDB; the same lake files are then
loaded into a real PostgreSQL by the loader. The reports run with bound parameters and their
``result.parquet`` is read back with pyarrow and compared with ``report_oracle``, which reads the lake's
Parquet and never touches SQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from tests.integration import report_oracle as oracle
from thermocline import warehouse
from thermocline.load import load_files
from thermocline.local.session import LocalStack
from thermocline.local.workload import PHASES, Workload, run_phase
from thermocline.reporting.definition import available_reports
from thermocline.services.analytics_report import ReportRequest, produce_report
from thermocline.settings import WarehouseLoadSettings

pytestmark = [pytest.mark.moto, pytest.mark.postgres]

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
# The scheduled day, and a day in the past (re-running a date): windows end at different places.
RUN_DATES = [dt.date(2026, 11, 27), dt.date(2026, 6, 15)]
CUSTOMERS = {
    f"u{n:06d}": {"name": f"Customer {n}", "segment": ["retail", "wholesale"][n % 2], "country": "DE"}
    for n in range(0, 80, 2)  # every other customer: the rest keep their id through the LEFT JOIN
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("reports-lake")
    with LocalStack(state, log_level="ERROR") as local:
        ddb, s3 = local.client("dynamodb"), local.client("s3")
        poller, drainer = local.stream_poller(), local.load_drainer()
        workload = Workload(orders=300, now=NOW)
        for phase in PHASES:
            run_phase(ddb, local.resource("Table"), workload, phase)
            poller.poll()
            drainer.drain()
        bucket = local.resource("LakeBucket")
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="cdc/")
            for o in page.get("Contents", [])
            if o["Key"].endswith(".parquet")
        ]
        database = f"reports_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        pg_url = postgres_server.dsn(database)
        with contextlib.closing(warehouse.connect(pg_url, s3_client=s3)) as pg:
            loaded = load_files(
                keys,
                settings=WarehouseLoadSettings(lake_bucket=bucket, warehouse_url=pg_url),
                warehouse=pg,
                s3_client=s3,
            )
        assert not loaded.failed and not loaded.quarantined
        orders = oracle.current_orders(s3, bucket)
        yield {"orders": orders, "urls": {"duckdb": local.warehouse_url, "postgres": pg_url}}
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _expected(
    name: str, orders: list[dict[str, Any]], run_date: dt.date, customers: Any = None
) -> list[tuple]:
    if name == "monthly_sales_growth_by_region":
        return oracle.monthly_sales_growth(orders, run_date, 12)
    if name == "daily_orders_and_revenue":
        return oracle.daily_orders_and_revenue(orders, run_date, 30)
    if name == "top_customers_by_revenue":
        return oracle.top_customers(orders, run_date, 365, 20, customers)
    if name == "order_status_funnel":
        return oracle.order_status_funnel(orders, run_date, 90)
    raise AssertionError(f"no independent computation for {name}: add one to report_oracle")


def _published_rows(url: str, name: str, run_date: dt.date) -> tuple[list[tuple], str]:
    with contextlib.closing(warehouse.connect(url)) as wh:
        produced = produce_report(
            ReportRequest(name, {"run_date": run_date.isoformat()}), warehouse=wh, now=NOW
        )
    table = pq.read_table(io.BytesIO(produced.files["result.parquet"]))
    return [tuple(r.values()) for r in table.to_pylist()], produced.run.note


def _assert_equal(rows: list[tuple], expected: list[tuple], engine: str) -> None:
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        for g, w in zip(got, want, strict=True):
            if g == w:
                continue
            # DuckDB divides DECIMALs in double precision (Redshift and PostgreSQL divide NUMERIC exactly),
            # so a ratio exactly half a cent past a cent may round down there. Nothing else may differ.
            tie = isinstance(w, oracle.Rounded) and w.is_tie and abs(g - w) == oracle.CENT
            assert engine == "duckdb" and tie, (got, want)


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
@pytest.mark.parametrize("name", available_reports())
def test_report_equals_the_independent_computation(lake: dict[str, Any], engine: str, name: str) -> None:
    for run_date in RUN_DATES:
        rows, _ = _published_rows(lake["urls"][engine], name, run_date)
        assert rows, f"{name} on {run_date} has no rows: the comparison would prove nothing"
        _assert_equal(rows, _expected(name, lake["orders"], run_date), engine)


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_top_customers_joins_the_customer_catalogue_when_it_is_there(
    lake: dict[str, Any], engine: str
) -> None:
    url = lake["urls"][engine]
    name = "top_customers_by_revenue"
    _, note = _published_rows(url, name, RUN_DATES[0])
    assert "fallback" in note
    with contextlib.closing(warehouse.connect(url)) as wh:
        wh.execute(
            [
                "CREATE TABLE customers (customer_id VARCHAR(64), name VARCHAR(256), email VARCHAR(256), "
                "segment VARCHAR(32), country VARCHAR(2), created_at TIMESTAMP)",
                # One multi-row INSERT: a Data API batch holds at most 40 statements, and the local
                # engines refuse more as it does.
                "INSERT INTO customers VALUES "
                + ", ".join(
                    f"('{uid}', '{c['name']}', '{uid}@example.com', '{c['segment']}', '{c['country']}', "
                    "'2024-01-01')"
                    for uid, c in CUSTOMERS.items()
                ),
            ]
        )
    try:
        rows, note = _published_rows(url, name, RUN_DATES[0])
        assert note == ""
        _assert_equal(rows, _expected(name, lake["orders"], RUN_DATES[0], CUSTOMERS), engine)
        named = [r for r in rows if r[1] != r[2]]
        assert named and len(named) < len(rows), "both joined and unmatched customers should be in the top 20"
    finally:
        with contextlib.closing(warehouse.connect(url)) as wh:
            wh.execute(["DROP TABLE customers"])
