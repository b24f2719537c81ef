"""The Redshift Data API engine: call sequence and error paths.

moto's ``redshift-data`` (real HTTP) accepts statements but never runs them: a statement stays STARTED
forever and ``BatchExecuteStatement`` is not implemented. That is enough for the deadline, cancel and
server-error paths. The paths that need Redshift's answers (a finished query, a failed COPY and its
``sys_load_error_detail`` rows) use botocore's Stubber, which checks every request against the API model.
"""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from thermocline import aws
from thermocline.lake.columns import CDC_COLUMNS
from thermocline.lake.metadata import TableSpec
from thermocline.load.sql import LedgerEntry, load_sql
from thermocline.warehouse import BadDataError, TerminalLoadError, TransientLoadError, connect
from thermocline.warehouse.redshift_data import RedshiftDataWarehouse
from thermocline.warehouse.redshift_errors import load_errors_by_session_sql

SPEC = TableSpec(
    table="orders",
    primary_key=("pk",),
    columns=(("pk", "VARCHAR(64)"), ("items", "SUPER"), *((c.name, c.type) for c in CDC_COLUMNS)),
)
ID = "d9b6c0c9-0747-4bf4-b142-e8883122f766"


def _load_statements() -> list[str]:
    return load_sql(
        SPEC,
        manifest_url="s3://lake/_manifests/orders/x.manifest",
        files=[LedgerEntry("cdc/orders/a.parquet", 10, 1)],
        load_id="x",
        iam_role="arn:aws:iam::123456789012:role/copy",
    )


def _recorded(client) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    return calls


@pytest.fixture
def moto_client(aws_env: str):
    # One attempt: moto's 500 for BatchExecuteStatement should not be retried five times here.
    return aws.client("redshift-data", config=Config(retries={"max_attempts": 1}))


@pytest.mark.moto
def test_url_selects_serverless_workgroup(aws_env):
    wh = connect("redshift-data://analytics-wg/dev?secret_arn=arn:aws:secretsmanager:us-east-1:1:secret:x")
    assert wh.dialect == "redshift"
    assert wh._target == {
        "Database": "dev",
        "WorkgroupName": "analytics-wg",
        "SecretArn": "arn:aws:secretsmanager:us-east-1:1:secret:x",
    }
    cluster = RedshiftDataWarehouse.from_url("redshift-data://my-cluster/dev?cluster=1&db_user=loader")
    assert cluster._target == {"Database": "dev", "ClusterIdentifier": "my-cluster", "DbUser": "loader"}


@pytest.mark.moto
def test_deadline_cancels_the_statement_and_is_transient(moto_client):
    calls = _recorded(moto_client)
    wh = RedshiftDataWarehouse(
        database="dev", workgroup="analytics-wg", client=moto_client, deadline_seconds=0.3, poll_seconds=0.05
    )
    with pytest.raises(TransientLoadError, match="cancelled"):
        wh.query("SELECT 1")
    assert calls[0] == "ExecuteStatement"
    assert set(calls[1:-1]) == {"DescribeStatement"}
    assert calls[-1] == "CancelStatement"


@pytest.mark.moto
def test_cancelled_statement_is_aborted_in_the_service(moto_client):
    wh = RedshiftDataWarehouse(
        database="dev", workgroup="analytics-wg", client=moto_client, deadline_seconds=0.1, poll_seconds=0.05
    )
    sent: list[str] = []
    moto_client.meta.events.register(
        "after-call.redshift-data.ExecuteStatement", lambda parsed, **_: sent.append(parsed["Id"])
    )
    with pytest.raises(TransientLoadError):
        wh.execute(["ANALYZE orders"])
    assert moto_client.describe_statement(Id=sent[0])["Status"] == "ABORTED"


@pytest.mark.moto
def test_batch_server_error_is_transient_and_sent_as_one_batch(moto_client):
    calls = _recorded(moto_client)
    wh = RedshiftDataWarehouse(database="dev", workgroup="analytics-wg", client=moto_client)
    with pytest.raises(TransientLoadError):
        wh.execute(_load_statements())
    assert calls == ["BatchExecuteStatement"]


@pytest.mark.moto
def test_limits_are_checked_before_any_call(moto_client):
    calls = _recorded(moto_client)
    wh = RedshiftDataWarehouse(database="dev", workgroup="analytics-wg", client=moto_client)
    with pytest.raises(TerminalLoadError, match="40"):
        wh.execute(["SELECT 1"] * 41)
    with pytest.raises(TerminalLoadError, match="exceeds"):
        wh.execute(["SELECT '" + "x" * (100 * 1024) + "'"])
    assert calls == []


def _stubbed():
    client = aws.client("redshift-data", region_name="us-east-1")
    return client, Stubber(client)


def _describe(status: str, **extra) -> dict:
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return {"Id": ID, "Status": status, "CreatedAt": now, "UpdatedAt": now, **extra}


def test_failed_copy_reports_file_line_column_and_reason():
    client, stub = _stubbed()
    statements = _load_statements()
    copy_index = next(i for i, s in enumerate(statements) if s.startswith("COPY"))
    stub.add_response(
        "batch_execute_statement",
        {"Id": ID, "CreatedAt": dt.datetime(2026, 11, 1)},
        {"Sqls": statements, "Database": "dev", "WorkgroupName": "analytics-wg"},
    )
    stub.add_response("describe_statement", _describe("STARTED"), {"Id": ID})
    sub = [
        {"Id": f"{ID}:{i + 1}", "Status": "FINISHED", "QueryString": s, "RedshiftQueryId": 100 + i}
        for i, s in enumerate(statements[:copy_index])
    ]
    sub.append(
        {
            "Id": f"{ID}:{copy_index + 1}",
            "Status": "FAILED",
            "QueryString": statements[copy_index],
            "RedshiftQueryId": 4242,
            "CreatedAt": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        }
    )
    stub.add_response(
        "describe_statement",
        _describe(
            "FAILED",
            Error="ERROR: Load into table 'thermocline_stage' failed.",
            SubStatements=sub,
            RedshiftPid=1073815123,
        ),
        {"Id": ID},
    )
    detail_id = "a9b6c0c9-0747-4bf4-b142-e8883122f766"
    # Found by the session's process id and the time (the Data API's RedshiftQueryId is not the SYS
    # views' query_id).
    stub.add_response(
        "execute_statement",
        {"Id": detail_id},
        {
            "Sql": load_errors_by_session_sql(),
            "Parameters": [
                {"name": "pid", "value": "1073815123"},
                {"name": "since", "value": "2026-10-31 23:59:59.000000"},
            ],
            "Database": "dev",
            "WorkgroupName": "analytics-wg",
        },
    )
    stub.add_response(
        "describe_statement", _describe("FINISHED", Id=detail_id, HasResultSet=True), {"Id": detail_id}
    )
    stub.add_response(
        "get_statement_result",
        {
            "ColumnMetadata": [
                {"name": n} for n in ("file_name", "line_number", "column_name", "error_message")
            ],
            "Records": [
                [
                    {"stringValue": "s3://lake/cdc/orders/a.parquet"},
                    {"longValue": 17},
                    {"stringValue": "pk"},
                    {"stringValue": "String length exceeds DDL length"},
                ]
            ],
            "TotalNumRows": 1,
        },
        {"Id": detail_id},
    )
    wh = RedshiftDataWarehouse(
        database="dev", workgroup="analytics-wg", client=client, poll_seconds=0, sleep=lambda _: None
    )
    with stub, pytest.raises(BadDataError) as caught:
        wh.execute(statements)
    stub.assert_no_pending_responses()
    assert caught.value.files == {"s3://lake/cdc/orders/a.parquet"}
    assert str(caught.value.details[0]) == (
        "s3://lake/cdc/orders/a.parquet, line 17, column pk: String length exceeds DDL length"
    )


def test_serializable_isolation_violation_is_transient():
    client, stub = _stubbed()
    stub.add_response(
        "batch_execute_statement", {"Id": ID}, {"Sqls": ANY, "Database": ANY, "WorkgroupName": ANY}
    )
    stub.add_response(
        "describe_statement",
        _describe(
            "FAILED",
            Error="ERROR: 1023 DETAIL: Serializable isolation violation on table - 123, transactions forming the cycle",
            SubStatements=[{"Id": f"{ID}:3", "Status": "FAILED", "QueryString": "MERGE INTO ..."}],
        ),
        {"Id": ID},
    )
    wh = RedshiftDataWarehouse(database="dev", workgroup="analytics-wg", client=client, sleep=lambda _: None)
    with stub, pytest.raises(TransientLoadError):
        wh.execute(["SELECT 1", "SELECT 2"])


def test_query_pages_through_results_and_reads_nulls():
    client, stub = _stubbed()
    sql = "SELECT region, DATE_TRUNC('month', created_at) AS m FROM orders"
    stub.add_response(
        "execute_statement", {"Id": ID}, {"Sql": sql, "Database": "dev", "WorkgroupName": "analytics-wg"}
    )
    stub.add_response("describe_statement", _describe("FINISHED", HasResultSet=True), {"Id": ID})
    meta = [{"name": "region"}, {"name": "m"}]
    stub.add_response(
        "get_statement_result",
        {
            "ColumnMetadata": meta,
            "Records": [[{"stringValue": "eu"}, {"stringValue": "2026-11-01"}]],
            "NextToken": "t",
        },
        {"Id": ID},
    )
    stub.add_response(
        "get_statement_result",
        {"ColumnMetadata": meta, "Records": [[{"isNull": True}, {"stringValue": "2026-10-01"}]]},
        {"Id": ID, "NextToken": "t"},
    )
    wh = RedshiftDataWarehouse(database="dev", workgroup="analytics-wg", client=client, sleep=lambda _: None)
    with stub:
        result = wh.query(sql)
    assert result.columns == ["region", "m"]
    assert result.rows == [("eu", "2026-11-01"), (None, "2026-10-01")]
