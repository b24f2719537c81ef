"""BackfillFunction's steps over a real SQS queue, and a backfill resumed after a crash, on moto's server.

The export is written in AWS's documented layout by ``thermocline.local.exports`` (moto's own export
writes no manifests).
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from thermocline import aws, warehouse
from thermocline.load import load_files
from thermocline.local.exports import LocalExports, write_export
from thermocline.services import backfill
from thermocline.settings import BackfillSettings, WarehouseLoadSettings
from thermocline.sources.dynamodb_export.exports import DynamoDBExports, ExportStatus

pytestmark = pytest.mark.moto
ITEMS = 95


@pytest.fixture
def source(aws_env: str) -> dict[str, Any]:
    ddb, s3, sqs = aws.client("dynamodb"), aws.client("s3"), aws.client("sqs")
    name = f"orders-{id(ddb)}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for n in range(ITEMS):
        ddb.put_item(TableName=name, Item={"id": {"S": f"o{n:03d}"}, "qty": {"N": str(n)}})
    bucket = f"lake-{id(ddb)}"
    s3.create_bucket(Bucket=bucket)
    queue = sqs.create_queue(QueueName=f"steps-{id(ddb)}")["QueueUrl"]
    settings = BackfillSettings(
        lake_bucket=bucket, chunk_items=10, backfill_queue_url=queue, export_poll_seconds=0
    )
    exports = LocalExports(ddb, s3, items_per_file=40, buckets=[bucket])  # 3 data files: 40, 40, 15 items
    return {"ddb": ddb, "s3": s3, "sqs": sqs, "table": name, "settings": settings, "exports": exports}


def _lake_keys(s3: Any, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="cdc/")
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _load(s3: Any, bucket: str, tmp_path: Path) -> list[tuple]:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with contextlib.closing(warehouse.connect(url, s3_client=s3)) as wh:
        report = load_files(
            _lake_keys(s3, bucket),
            settings=WarehouseLoadSettings(lake_bucket=bucket, warehouse_url=url),
            warehouse=wh,
            s3_client=s3,
        )
        assert not report.failed and not report.quarantined, report.summary()
        table = report.rows and next(iter(report.rows))
        return wh.query(f'SELECT "id", "qty" FROM "{table}" ORDER BY 1').rows


def test_steps_fan_out_per_data_file_and_continue_past_an_invocations_deadline(source, tmp_path) -> None:
    s3, sqs, settings = source["s3"], source["sqs"], source["settings"]

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        # Two minutes left, the margin kept for a chunk: it writes one chunk and continues in a new message.
        return backfill.handle_backfill_event(
            event,
            settings=settings,
            s3=s3,
            ddb=source["ddb"],
            sqs=sqs,
            exports=source["exports"],
            remaining_ms=lambda: 120_000,
        )

    started = invoke({"table": source["table"]})
    steps: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=settings.backfill_queue_url, MaxNumberOfMessages=1).get(
            "Messages"
        )
        if not messages:
            break
        message = messages[0]
        steps.append(json.loads(message["Body"]))
        event = {
            "Records": [
                {"messageId": message["MessageId"], "body": message["Body"], "eventSource": "aws:sqs"}
            ]
        }
        assert invoke(event) == {"batchItemFailures": []}
        sqs.delete_message(QueueUrl=settings.backfill_queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert steps[0] == {"step": "wait", "export_arn": started["export_arn"]}
    files = [s["file"] for s in steps[1:]]
    # One message per data file, and one more for every chunk an invocation left to the next (each
    # invocation writes at least one chunk): 4 + 4 + 2.
    assert sorted(set(files)) == [0, 1, 2]
    assert sorted(files) == [0] * 4 + [1] * 4 + [2] * 2
    assert len(_lake_keys(s3, settings.lake_bucket)) == 10  # one lake file per chunk, none twice
    rows = _load(s3, settings.lake_bucket, tmp_path)
    assert rows == [(f"o{n:03d}", n) for n in range(ITEMS)]


class _Crashing:
    """An S3 client that fails on the n-th lake file it is asked to write, and counts the writes."""

    def __init__(self, s3: Any, fail_at: int | None) -> None:
        self.s3, self.fail_at, self.lake_puts = s3, fail_at, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)

    def put_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"].startswith("cdc/"):
            if len(self.lake_puts) + 1 == self.fail_at:
                raise ConnectionError("the process died here")
            self.lake_puts.append(kwargs["Key"])
        return self.s3.put_object(**kwargs)


def test_a_resumed_backfill_does_not_redo_finished_chunks(source, tmp_path) -> None:
    s3, ddb, settings, exports = source["s3"], source["ddb"], source["settings"], source["exports"]
    arn = backfill.start_backfill(ddb, exports, settings, source["table"])
    plan, summary = backfill.plan_backfill(s3, ddb, settings, exports.describe(arn))
    first = _Crashing(s3, fail_at=3)
    with pytest.raises(ConnectionError):
        backfill.run_file(first, settings, plan, summary, 0)  # file 0: chunks 0 and 1 done, 2 dies
    again = _Crashing(s3, fail_at=None)
    for index in range(len(plan.files)):
        outcome = backfill.run_file(again, settings, plan, summary, index)
        assert outcome.finished
    assert not set(first.lake_puts) & set(again.lake_puts)
    assert len(first.lake_puts) + len(again.lake_puts) == 10
    # Everything is done now: running again writes nothing.
    idle = _Crashing(s3, fail_at=None)
    assert all(backfill.run_file(idle, settings, plan, summary, i).chunks_written == 0 for i in range(3))
    assert idle.lake_puts == []
    assert _load(s3, settings.lake_bucket, tmp_path) == [(f"o{n:03d}", n) for n in range(ITEMS)]


def test_the_dynamodb_adapter_starts_an_export_that_moto_completes_without_manifests(source) -> None:
    """Why the local stack writes its exports itself: moto runs ExportTableToPointInTime (and accepts the
    client token that makes a retried start idempotent) but reports no manifest to read."""
    ddb, s3, settings = source["ddb"], source["s3"], source["settings"]
    ddb.update_continuous_backups(
        TableName=source["table"], PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    exports = DynamoDBExports(ddb)
    arn = backfill.start_backfill(ddb, exports, settings, source["table"], client_token="request-1")
    deadline = time.monotonic() + 30
    while (status := exports.describe(arn)).status == "IN_PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status.status == "COMPLETED" and status.summary_key is None
    with pytest.raises(backfill.BackfillError, match="names no manifest"):
        backfill.plan_backfill(s3, ddb, settings, status)


def test_export_lines_that_cannot_be_decoded_are_quarantined_with_their_reason(source) -> None:
    s3, ddb, settings = source["s3"], source["ddb"], source["settings"]
    table_arn = ddb.describe_table(TableName=source["table"])["Table"]["TableArn"]
    arn, summary_key = write_export(
        s3,
        settings.lake_bucket,
        "_exports/dynamodb/t",
        table_arn,
        [{"Item": {"id": {"S": "good"}, "qty": {"N": "1"}}}],
        as_of=datetime.now(UTC),
        raw_lines=["{broken", json.dumps({"Item": {"id": {"S": "bad"}, "qty": {"Q": "1"}}})],
    )
    status = ExportStatus(arn, "COMPLETED", settings.lake_bucket, summary_key)
    plan, summary = backfill.plan_backfill(s3, ddb, settings, status)
    outcome = backfill.run_file(s3, settings, plan, summary, 0)
    assert (outcome.done.items, outcome.done.quarantined, outcome.done.rows) == (
        3,
        2,
        {source["table"].replace("-", "_"): 1},
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix="quarantine/")
    reasons = sorted(
        json.loads(s3.get_object(Bucket=settings.lake_bucket, Key=o["Key"])["Body"].read())["reason"]
        for page in pages
        for o in page.get("Contents", [])
    )
    assert len(reasons) == 2
    assert reasons[0] == "attribute 'qty': unknown DynamoDB type tag 'Q'"
    assert reasons[1].startswith("not JSON: Expecting property name")
