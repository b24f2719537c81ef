"""WarehouseLoadFunction's handler with the sample events, S3 notifications delivered by moto to SQS."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote_plus

import pytest

from tests.conftest import load_event
from tests.integration.load_fixtures import (
    ORDERS_COLUMNS,
    SourceModel,
    parquet_bytes,
    put_lake_file,
    warehouse_rows,
)
from thermocline import aws, warehouse
from thermocline.runtime import Runtime
from thermocline.services.warehouse_load import handle_load_event
from thermocline.settings import WarehouseLoadSettings
from thermocline.warehouse import TransientLoadError

pytestmark = pytest.mark.moto
ROOT = Path(__file__).resolve().parents[2]
SAMPLE_BUCKET = "thermocline-dev-lake-123456789012-us-east-1"
CONTEXT = SimpleNamespace(
    function_name="thermocline-dev-warehouse-load",
    memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:thermocline-dev-warehouse-load",
    aws_request_id="c6af9ac6-7b61-11e6-9a41-93e812345678",
)


@pytest.fixture
def stack(aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    s3 = aws.client("s3")
    sqs = aws.client("sqs")
    s3.create_bucket(Bucket=SAMPLE_BUCKET)
    queue_url = sqs.create_queue(QueueName="thermocline-dev-LoadQueue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=SAMPLE_BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "LakeFiles",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "cdc/"},
                                {"Name": "suffix", "Value": ".parquet"},
                            ]
                        }
                    },
                }
            ]
        },
    )
    url = f"duckdb:///{tmp_path}/wh.duckdb"
    monkeypatch.setenv("LAKE_BUCKET", SAMPLE_BUCKET)
    monkeypatch.setenv("WAREHOUSE_URL", url)
    monkeypatch.setenv("LOAD_QUEUE_URL", queue_url)
    return SimpleNamespace(s3=s3, sqs=sqs, queue_url=queue_url, url=url)


def _handler():
    spec = importlib.util.spec_from_file_location(
        "warehouse_load_app", ROOT / "functions/warehouse_load/app.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.lambda_handler


def test_sample_sqs_event_loads_the_files_it_names(stack):
    event = load_event("warehouse-load-sqs.json")
    keys = [
        unquote_plus(r["s3"]["object"]["key"])
        for m in event["Records"]
        for r in json.loads(m["body"]).get("Records", [])
    ]
    src = {
        "orders": SourceModel(table="orders", seed=31),
        "user_profiles": SourceModel(table="user_profiles", seed=32),
    }
    for key in keys:
        table = key.split("/")[1]
        rows = src[table].random_changes(30, keys=12)
        stack.s3.put_object(Bucket=SAMPLE_BUCKET, Key=key, Body=parquet_bytes(table, ORDERS_COLUMNS, rows))

    assert _handler()(event, CONTEXT) == {"batchItemFailures": []}

    wh = warehouse.connect(stack.url, s3_client=stack.s3)
    try:
        for table, model in src.items():
            assert warehouse_rows(wh, table, ORDERS_COLUMNS) == model.expected()
    finally:
        wh.close()


def test_s3_test_event_is_acknowledged(stack):
    assert _handler()(load_event("warehouse-load-s3-test-event.json"), CONTEXT) == {"batchItemFailures": []}


def test_schedule_drains_the_queue_fed_by_s3_notifications(stack):
    src = SourceModel(seed=33)
    changes = src.random_changes(120, keys=25)
    keys = [
        put_lake_file(stack.s3, SAMPLE_BUCKET, "orders", ORDERS_COLUMNS, b, shard=f"shardId-{i}")
        for i, b in enumerate(src.batches(changes, 10))
    ]
    # Not a lake file: the notification filter keeps it out of the queue.
    stack.s3.put_object(Bucket=SAMPLE_BUCKET, Key="_manifests/orders/x.manifest", Body=b"{}")

    summary = _handler()(load_event("warehouse-load-schedule.json"), CONTEXT)

    assert summary["files_loaded"] == len(keys)
    assert summary["files_failed"] == summary["files_quarantined"] == 0
    # Files landed moments ago: the freshness the loader reports is seconds, not minutes.
    assert 0 < summary["max_lag_seconds"] < 60
    assert summary["messages"] >= len(keys)  # plus moto's s3:TestEvent
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
    wh = warehouse.connect(stack.url, s3_client=stack.s3)
    try:
        assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()
    finally:
        wh.close()


class _LoadsFail:
    """A real DuckDB engine whose load transactions fail as if Redshift were briefly unavailable."""

    def __init__(self, inner):
        self._inner = inner
        self.dialect = inner.dialect
        self.capabilities = inner.capabilities

    def execute(self, statements):
        if any(s.startswith("COPY") for s in statements):
            raise TransientLoadError("warehouse unavailable")
        self._inner.execute(statements)

    def query(self, sql):
        return self._inner.query(sql)

    def close(self):
        self._inner.close()


def test_transient_failure_reports_only_the_messages_with_unloaded_files(stack, monkeypatch):
    src = SourceModel(seed=34)
    key = put_lake_file(stack.s3, SAMPLE_BUCKET, "orders", ORDERS_COLUMNS, src.random_changes(10))
    event = load_event("warehouse-load-s3-test-event.json")
    body = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": SAMPLE_BUCKET}, "object": {"key": key}},
                }
            ]
        }
    )
    event["Records"].append({**event["Records"][0], "messageId": "with-file", "body": body})
    settings = WarehouseLoadSettings.from_env()
    wh = _LoadsFail(warehouse.connect(stack.url, s3_client=stack.s3))
    try:
        no_wait = Runtime(sleep=lambda seconds: None)
        result = handle_load_event(
            event, settings=settings, warehouse=wh, s3_client=stack.s3, runtime=no_wait
        )
        assert result == {"batchItemFailures": [{"itemIdentifier": "with-file"}]}
        assert wh.query("SELECT COUNT(*) FROM thermocline.load_ledger").rows == [(0,)]
    finally:
        wh.close()
