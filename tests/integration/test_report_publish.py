"""Publishing a report to S3 (moto's server over HTTP): the files, latest/, re-runs, SNS, and bad input.

The warehouse is a real DuckDB file with a small ``orders`` table. Every bad request (unknown report,
malformed or unknown parameter, a query the warehouse refuses, a Data API query past its deadline) must
give one line and leave the reports bucket exactly as it was.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from botocore.config import Config

from thermocline import aws, warehouse
from thermocline.reporting.definition import ReportError
from thermocline.runtime import Runtime
from thermocline.services.analytics_report import run_report
from thermocline.settings import AnalyticsReportSettings
from thermocline.warehouse.redshift_data import RedshiftDataWarehouse

pytestmark = pytest.mark.moto
BUCKET = "reports"
NOW = dt.datetime(2026, 11, 27, 6, 0, 5, tzinfo=dt.UTC)
AT_NOW = Runtime(clock=lambda: NOW)
ORDERS = [
    ("u000001", "eu-west", "PAID", "2026-09-03 10:00:00", "120.50"),
    ("u000001", "eu-west", "DELIVERED", "2026-10-07 11:00:00", "80.25"),
    ("u000002", "us-east", "PLACED", "2026-10-20 12:00:00", "300.00"),
    ("u000003", "us-east", "SHIPPED", "2026-11-26 23:59:59", "45.00"),
    ("u000003", "us-east", "PAID", "2026-11-27 00:00:00", "999.99"),  # the run date: still open
]


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[warehouse.Warehouse]:
    with contextlib.closing(warehouse.connect(f"duckdb:///{tmp_path / 'w.duckdb'}")) as conn:
        conn.execute(
            [
                "CREATE TABLE orders (user_id VARCHAR(64), region VARCHAR(64), status VARCHAR(32), "
                "created_at TIMESTAMP, total DECIMAL(12,2))",
                *(f"INSERT INTO orders VALUES ('{u}', '{r}', '{s}', '{c}', {t})" for u, r, s, c, t in ORDERS),
            ]
        )
        yield conn


@pytest.fixture
def s3(aws_env: str):
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


SETTINGS = AnalyticsReportSettings(warehouse_url="duckdb:///unused", reports_bucket=BUCKET)


def _keys(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def _csv(s3, key: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())))


def test_a_run_writes_dated_files_and_latest_with_their_content_types(wh, s3) -> None:
    result = run_report(
        {"report": "monthly_sales_growth_by_region"},
        settings=SETTINGS,
        warehouse=wh,
        s3_client=s3,
        runtime=AT_NOW,
    )
    base = "monthly_sales_growth_by_region"
    names = ["report.html", "result.csv", "result.parquet"]
    assert _keys(s3) == sorted(f"{base}/{folder}/{n}" for folder in ("2026-11-27", "latest") for n in names)
    assert result.as_dict()["run_date"] == "2026-11-27" and result.rows == 3
    head = s3.head_object(Bucket=BUCKET, Key=f"{base}/2026-11-27/report.html")
    assert head["ContentType"] == "text/html; charset=utf-8"
    # The partial month of the run date (November) is left out; October's growth is against September.
    rows = _csv(s3, f"{base}/latest/result.csv")
    assert [(r["region"], r["month"], r["sales"], r["growth_pct"]) for r in rows] == [
        ("eu-west", "2026-09-01", "120.50", ""),
        ("eu-west", "2026-10-01", "80.25", "-33.40"),
        ("us-east", "2026-10-01", "300.00", ""),
    ]
    table = pq.read_table(
        io.BytesIO(s3.get_object(Bucket=BUCKET, Key=f"{base}/latest/result.parquet")["Body"].read())
    )
    assert str(table.schema.field("sales").type) == "decimal128(38, 2)"
    assert str(table.schema.field("month").type) == "date32[day]"
    assert table.column("sales").to_pylist()[1] == Decimal("80.25")


def test_rerunning_a_date_overwrites_and_an_older_date_leaves_latest_alone(wh, s3) -> None:
    event = {"report": "daily_orders_and_revenue", "parameters": {"days": 3}}
    run_report(event, settings=SETTINGS, warehouse=wh, s3_client=s3, runtime=AT_NOW)
    wh.execute(["INSERT INTO orders VALUES ('u000009', 'eu-west', 'PAID', '2026-11-26 08:00:00', 5.00)"])
    run_report(event, settings=SETTINGS, warehouse=wh, s3_client=s3, runtime=AT_NOW)
    keys = _keys(s3)
    assert len(keys) == 6  # the same six objects, rewritten: no second copy of the date
    day = {r["day"]: r for r in _csv(s3, "daily_orders_and_revenue/2026-11-27/result.csv")}
    assert (day["2026-11-26"]["orders"], day["2026-11-26"]["revenue"]) == ("2", "50.00")
    assert "2026-11-27" not in day  # the run date is still open

    backfill = {**event, "parameters": {"days": 3, "run_date": "2026-10-21"}}
    result = run_report(backfill, settings=SETTINGS, warehouse=wh, s3_client=s3, runtime=AT_NOW)
    assert result.latest == []
    assert len(_keys(s3)) == 9
    latest = {r["day"] for r in _csv(s3, "daily_orders_and_revenue/latest/result.csv")}
    assert latest == {"2026-11-24", "2026-11-25", "2026-11-26"}


def test_sns_gets_a_message_with_the_link(wh, s3) -> None:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="reports")["TopicArn"]
    queue = sqs.create_queue(QueueName="report-mail")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    settings = AnalyticsReportSettings(
        warehouse_url="duckdb:///unused", reports_bucket=BUCKET, reports_topic_arn=topic
    )
    run_report(
        {"report": "order_status_funnel"},
        settings=settings,
        warehouse=wh,
        s3_client=s3,
        sns_client=sns,
        runtime=AT_NOW,
    )
    messages: list[dict] = []
    deadline = time.monotonic() + 10
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    (message,) = messages
    assert "s3://reports/order_status_funnel/2026-11-27/report.html" in message["Body"]
    assert "Order status funnel for 2026-11-27: 4 rows" in message["Body"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"report": "no_such_report"}, "no report named 'no_such_report' (reports: daily_orders_and_revenue"),
        ({"report": "../etc/passwd"}, "invalid report name"),
        ({}, "the event names no report"),
        (
            {"report": "daily_orders_and_revenue", "parameters": {"days": "ten"}},
            "parameter days: expected integer",
        ),
        (
            {"report": "daily_orders_and_revenue", "parameters": {"days": 0}},
            "parameter days: 0 is below the minimum 1",
        ),
        ({"report": "daily_orders_and_revenue", "parameters": {"dayz": 3}}, "has no parameter 'dayz'"),
        ({"report": "daily_orders_and_revenue", "parameters": {"run_date": "27/11/2026"}}, "expected a date"),
        ({"report": "daily_orders_and_revenue", "parameters": "days=3"}, "parameters must be an object"),
    ],
)
def test_bad_input_gives_one_line_and_writes_nothing(wh, s3, event: dict, message: str) -> None:
    with pytest.raises(ReportError) as caught:
        run_report(event, settings=SETTINGS, warehouse=wh, s3_client=s3, runtime=AT_NOW)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert _keys(s3) == []


def test_a_query_error_gives_one_line_and_writes_nothing(wh, s3) -> None:
    wh.execute(["DROP TABLE orders", "CREATE TABLE orders (user_id VARCHAR(64))"])
    with pytest.raises(ReportError) as caught:
        run_report(
            {"report": "order_status_funnel"}, settings=SETTINGS, warehouse=wh, s3_client=s3, runtime=AT_NOW
        )
    text = str(caught.value)
    assert text.startswith("report order_status_funnel: query failed:") and "created_at" in text
    assert "\n" not in text
    assert _keys(s3) == []


def test_a_data_api_query_past_its_deadline_is_cancelled_and_writes_nothing(s3) -> None:
    # moto's redshift-data never finishes a statement: the deadline passes, as on a slow warehouse.
    client = aws.client("redshift-data", config=Config(retries={"max_attempts": 1}))
    calls: list[str] = []
    client.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    wh = RedshiftDataWarehouse.from_url("redshift-data://analytics-wg/dev?deadline=0.3", client=client)
    with pytest.raises(ReportError, match="cancelled"):
        run_report(
            {"report": "order_status_funnel"}, settings=SETTINGS, warehouse=wh, s3_client=s3, runtime=AT_NOW
        )
    assert calls[0] == "ExecuteStatement" and calls[-1] == "CancelStatement"
    assert _keys(s3) == []


def test_data_api_string_values_become_typed_columns(s3) -> None:
    """The Data API answers DECIMAL and DATE columns as strings; the published Parquet is typed anyway."""
    from botocore.stub import ANY, Stubber

    client = aws.client("redshift-data", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "execute_statement",
        {"Id": "s1"},
        {
            "Sql": ANY,
            "Database": "dev",
            "WorkgroupName": "analytics-wg",
            "Parameters": [{"name": "run_date", "value": "2026-11-27"}, {"name": "months", "value": "12"}],
        },
    )
    stamp = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    stub.add_response(
        "describe_statement",
        {"Id": "s1", "Status": "FINISHED", "HasResultSet": True, "CreatedAt": stamp, "UpdatedAt": stamp},
        {"Id": "s1"},
    )
    meta = [{"name": n} for n in ("region", "month", "sales", "orders", "previous_sales", "growth_pct")]
    record = [
        {"stringValue": "eu-west"},
        {"stringValue": "2026-10-01 00:00:00"},
        {"stringValue": "80.25"},
        {"longValue": 1},
        {"stringValue": "120.50"},
        {"stringValue": "-33.40"},
    ]
    stub.add_response("get_statement_result", {"ColumnMetadata": meta, "Records": [record]}, {"Id": "s1"})
    wh = RedshiftDataWarehouse(database="dev", workgroup="analytics-wg", client=client, sleep=lambda _: None)
    with stub:
        run_report(
            {"report": "monthly_sales_growth_by_region"},
            settings=SETTINGS,
            warehouse=wh,
            s3_client=s3,
            runtime=AT_NOW,
        )
    body = s3.get_object(Bucket=BUCKET, Key="monthly_sales_growth_by_region/latest/result.parquet")[
        "Body"
    ].read()
    (row,) = pq.read_table(io.BytesIO(body)).to_pylist()
    assert row == {
        "region": "eu-west",
        "month": dt.date(2026, 10, 1),
        "sales": Decimal("80.25"),
        "orders": 1,
        "previous_sales": Decimal("120.50"),
        "growth_pct": Decimal("-33.40"),
    }
