"""Data API results arrive typed: a report through the Data API engine equals the same report on DuckDB.

No Redshift is reachable here, so Redshift's answers are played by botocore's Stubber (which checks every
request and response against the API model), encoded the way AWS documents the Data API's type mapping:
DECIMAL, DATE, TIMESTAMP and SUPER as ``stringValue``, integers as ``longValue``
(https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.stub import ANY, Stubber

from tests.integration.data_api_fake import result_page
from thermocline import aws, warehouse
from thermocline.reporting import definition as defs
from thermocline.services.analytics_report import ReportRequest, produce_report
from thermocline.warehouse.redshift_data import RedshiftDataWarehouse

ID = "d9b6c0c9-0747-4bf4-b142-e8883122f766"
NOW = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)
WHEN = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _data_api_replaying(columns: list[str], rows: list[tuple[Any, ...]]) -> RedshiftDataWarehouse:
    """A Data API engine whose one query answers ``rows``, encoded as the Data API encodes them."""
    client = aws.client("redshift-data", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "execute_statement",
        {"Id": ID},
        {"Sql": ANY, "Parameters": ANY, "Database": "dev", "WorkgroupName": "analytics-wg"},
    )
    stub.add_response(
        "describe_statement",
        {"Id": ID, "Status": "FINISHED", "HasResultSet": True, "CreatedAt": WHEN, "UpdatedAt": WHEN},
        {"Id": ID},
    )
    stub.add_response(
        "get_statement_result",
        result_page(columns, rows),
        {"Id": ID},
    )
    stub.activate()
    return RedshiftDataWarehouse(
        database="dev", workgroup="analytics-wg", client=client, sleep=lambda _: None
    )


def _orders(path: Path) -> Any:
    wh = warehouse.connect(f"duckdb:///{path}")
    wh.execute(
        [
            "CREATE TABLE orders (order_id VARCHAR(16), status VARCHAR(16), created_at TIMESTAMP, "
            "total DECIMAL(12,2))",
            "INSERT INTO orders VALUES "
            "('o1', 'PAID', '2026-11-24 10:00:00', 12.50), ('o2', 'PAID', '2026-11-24 11:00:00', 7.25), "
            "('o3', 'CANCELLED', '2026-11-25 09:00:00', 100.00), ('o4', 'SHIPPED', '2026-11-26 23:59:59', 0.10)",
        ]
    )
    return wh


def test_values_are_converted_by_column_metadata():
    columns = ["total", "day", "at", "at_tz", "n", "ok", "doc", "name", "ratio", "missing"]
    row = (
        Decimal("12345678901234567890.123456789012345678"),
        dt.date(2026, 11, 1),
        dt.datetime(2026, 11, 1, 10, 0, 0, 250000),
        dt.datetime(2026, 11, 1, 10, 0, tzinfo=dt.UTC),
        9007199254740993,
        True,
        '{"a":[1,2]}',
        "héllo",
        0.5,
        None,
    )
    result = _data_api_replaying(columns, [row]).query("SELECT 1", {"x": 1})
    assert result.columns == columns
    assert result.rows == [row]
    assert [type(v) for v in result.rows[0]] == [type(v) for v in row]


def test_a_report_over_decimal_columns_is_the_same_through_the_data_api_as_on_duckdb(tmp_path):
    request = ReportRequest("daily_orders_and_revenue", {"days": 7})
    with contextlib.closing(_orders(tmp_path / "w.duckdb")) as duck:
        on_duckdb = produce_report(request, warehouse=duck, now=NOW)
        # What Redshift would answer to the same query: DuckDB's rows, sent in the Data API's encoding.
        definition = defs.load_report(request.report)
        values = defs.bind_parameters(definition, request.parameters, today=NOW.date())
        raw = duck.query(definition.sql, {n: values[n] for n in defs.placeholders(definition.sql)})
    assert any(isinstance(v, Decimal) for row in raw.rows for v in row)

    via_data_api = produce_report(request, warehouse=_data_api_replaying(raw.columns, raw.rows), now=NOW)

    assert _stable(via_data_api.files) == _stable(on_duckdb.files)
    table = pq.read_table(io.BytesIO(via_data_api.files["result.parquet"]))
    assert table.schema.field("revenue").type == pa.decimal128(38, 2)
    revenue = dict(zip(table.column("day").to_pylist(), table.column("revenue").to_pylist(), strict=True))
    assert revenue[dt.date(2026, 11, 24)] == Decimal("19.75")
    assert revenue[dt.date(2026, 11, 26)] == Decimal("0.10")
    assert b"19.75" in via_data_api.files["report.html"]


def _stable(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files without the chart's element ids, which pygal draws at random on every render."""
    return {name: re.sub(rb"chart-[0-9a-f-]{36}", b"chart-id", body) for name, body in files.items()}
