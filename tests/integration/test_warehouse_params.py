"""Bound query parameters on every engine: values travel apart from the SQL text, never formatted into it.

A value that would break out of a literal if it were pasted into the SQL (``'); DROP TABLE ...``) must come
back as data, and a ``%`` in the query's own literals must not be taken for a placeholder.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from botocore.stub import Stubber

from tests.integration.redshift_shim import RedshiftShim
from thermocline import aws, warehouse
from thermocline.warehouse import TerminalLoadError
from thermocline.warehouse.redshift_data import RedshiftDataWarehouse

HOSTILE = "x'); DROP TABLE t; --"
SETUP = [
    "CREATE TABLE t (name VARCHAR(64), day DATE, amount DECIMAL(12,2))",
    "INSERT INTO t VALUES ('a%b', '2026-11-01', 1.50), ('plain', '2026-11-02', 2.25)",
]
QUERY = (
    "SELECT name, :who AS who, CAST(:n AS INTEGER) + 1 AS n1 FROM t "
    "WHERE day >= CAST(:since AS DATE) AND amount > :min_amount AND name LIKE 'a%' "
    "OR name = :who ORDER BY name"
)
PARAMS = {"who": HOSTILE, "n": 41, "since": dt.date(2026, 11, 1), "min_amount": Decimal("1.00")}


def _check(wh: warehouse.Warehouse) -> None:
    wh.execute(SETUP)
    result = wh.query(QUERY, PARAMS)
    assert result.columns == ["name", "who", "n1"]
    assert [tuple(r) for r in result.rows] == [("a%b", HOSTILE, 42)]
    # The table is still there: the value was data, not SQL.
    assert wh.query("SELECT COUNT(*) FROM t").rows[0][0] == 2
    with pytest.raises(TerminalLoadError, match="'since'"):
        wh.query(QUERY, {k: v for k, v in PARAMS.items() if k != "since"})


def test_duckdb_binds_named_parameters(tmp_path) -> None:
    wh = warehouse.connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        _check(wh)
    finally:
        wh.close()


@pytest.mark.postgres
def test_postgres_binds_named_parameters(postgres_dsn: str) -> None:
    wh = warehouse.connect(postgres_dsn)
    try:
        _check(wh)
    finally:
        wh.close()


@pytest.mark.postgres
def test_redshift_connector_binds_named_parameters(postgres_dsn: str) -> None:
    with RedshiftShim(postgres_dsn) as shim, warehouse.connect(shim.url()) as wh:
        _check(wh)


def test_data_api_sends_parameters_beside_the_sql_as_typed_strings() -> None:
    client = aws.client("redshift-data", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "execute_statement",
        {"Id": "s1"},
        {
            "Sql": QUERY,
            "Database": "dev",
            "WorkgroupName": "analytics-wg",
            "Parameters": [
                {"name": "who", "value": HOSTILE},
                {"name": "n", "value": "41"},
                {"name": "since", "value": "2026-11-01"},
                {"name": "min_amount", "value": "1.00"},
            ],
        },
    )
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    stub.add_response(
        "describe_statement",
        {"Id": "s1", "Status": "FINISHED", "HasResultSet": False, "CreatedAt": now, "UpdatedAt": now},
        {"Id": "s1"},
    )
    wh = RedshiftDataWarehouse(database="dev", workgroup="analytics-wg", client=client, sleep=lambda _: None)
    with stub:
        wh.query(QUERY, PARAMS)
    stub.assert_no_pending_responses()


def test_data_api_refuses_an_empty_value_before_calling() -> None:
    client = aws.client("redshift-data", region_name="us-east-1")
    wh = RedshiftDataWarehouse(database="dev", workgroup="analytics-wg", client=client)
    with Stubber(client), pytest.raises(TerminalLoadError, match="'who'"):
        wh.query("SELECT :who", {"who": ""})
