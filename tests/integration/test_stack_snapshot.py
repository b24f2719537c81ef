"""A stack recreated from its snapshot (what ``thermocline replay`` starts on) equals the deployed one."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote_plus

import pytest

from thermocline import aws
from thermocline.local import stack, stack_snapshot

pytestmark = pytest.mark.moto


def _reset(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()


def test_a_stack_remembered_by_another_checkout_of_the_same_version_is_not_used(tmp_path: Path) -> None:
    # The snapshot holds the code directories of the checkout that deployed it; a second clone (or the
    # first one moved) has the same template text and must deploy its own instead of running those.
    text = stack.default_template().read_bytes()
    first, second = tmp_path / "first" / "template.yaml", tmp_path / "second" / "template.yaml"
    for path in (first, second):
        path.parent.mkdir()
        path.write_bytes(text)
    assert stack_snapshot.key(first, "thermocline", "us-east-1", {}) != stack_snapshot.key(
        second, "thermocline", "us-east-1", {}
    )
    assert stack_snapshot.key(first, "thermocline", "us-east-1", {}) == stack_snapshot.key(
        first, "thermocline", "us-east-1", {}
    )


def test_recreated_stack_gives_the_functions_the_templates_environment(aws_env: str) -> None:
    deployed = stack.deploy(aws_env)
    snapshot = stack_snapshot.capture(deployed)
    _reset(aws_env)  # an empty server, as a new replay starts with

    recreated = stack_snapshot.recreate(snapshot, aws_env)

    ddb = aws.client("dynamodb")
    table = ddb.describe_table(TableName=recreated.resources["Table"])["Table"]
    # The only value that differs: a new table's stream ARN carries its creation time.
    old_stream, new_stream = deployed.outputs["TableStreamArn"], table["LatestStreamArn"]
    assert old_stream != new_stream
    assert recreated.outputs["TableStreamArn"] == new_stream
    for logical_id, spec in deployed.functions.items():
        expected = {k: v.replace(old_stream, new_stream) for k, v in spec.environment.items()}
        assert recreated.functions[logical_id].environment == expected, logical_id
        assert recreated.functions[logical_id] == replace(spec, environment=expected)
    assert recreated.resources == {
        k: v.replace(old_stream, new_stream) for k, v in deployed.resources.items()
    }
    assert [m.function for m in recreated.event_source_mappings] == [
        m.function for m in deployed.event_source_mappings
    ]
    assert recreated.skipped == deployed.skipped
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ttl = ddb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_recreated_lake_bucket_notifies_the_load_queue(aws_env: str) -> None:
    snapshot = stack_snapshot.capture(stack.deploy(aws_env))
    _reset(aws_env)
    recreated = stack_snapshot.recreate(snapshot, aws_env)

    s3, sqs = aws.client("s3"), aws.client("sqs")
    lake = recreated.resources["LakeBucket"]
    assert s3.get_bucket_versioning(Bucket=lake)["Status"] == "Enabled"
    key = "cdc/orders/dt=2026-11-25/shardId-0001-000000001-000000009.parquet"
    s3.put_object(Bucket=lake, Key=key, Body=b"PAR1")
    keys = []
    for _ in range(10):
        for message in sqs.receive_message(
            QueueUrl=recreated.resources["LoadQueue"], MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            records = json.loads(message["Body"]).get("Records", [])
            keys += [unquote_plus(r["s3"]["object"]["key"]) for r in records]  # S3 sends keys URL-encoded
        if keys:
            break
    assert keys == [key]
