"""``template.yaml`` deployed into moto's server over HTTP: the resources the local stack runs on."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import unquote_plus

import pytest

from thermocline import aws
from thermocline.local import stack
from thermocline.local.template import HOME_ENV, default_template, repo_root

pytestmark = pytest.mark.moto


@pytest.fixture
def deployed(aws_env: str) -> stack.StackInfo:
    return stack.deploy(aws_env)


def test_table_has_new_and_old_images_stream_ttl_and_pitr(deployed: stack.StackInfo) -> None:
    ddb = aws.client("dynamodb")
    table = ddb.describe_table(TableName=deployed.resources["Table"])["Table"]
    assert table["TableName"] == "thermocline-store"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert deployed.outputs["TableStreamArn"] == table["LatestStreamArn"]
    ttl = ddb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    backups = ddb.describe_continuous_backups(TableName=table["TableName"])["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def _receive_all(queue_url: str, want: int, timeout: float = 10.0) -> list[dict]:
    sqs = aws.client("sqs")
    bodies: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < want and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_lake_parquet_files_notify_the_load_queue(deployed: stack.StackInfo) -> None:
    s3 = aws.client("s3")
    lake = deployed.resources["LakeBucket"]
    key = "cdc/orders/dt=2026-11-25/shardId-0001-000000001-000000009.parquet"
    s3.put_object(Bucket=lake, Key=key, Body=b"PAR1")
    s3.put_object(Bucket=lake, Key="quarantine/orders/dt=2026-11-25/x.json", Body=b"{}")
    s3.put_object(Bucket=lake, Key="cdc/orders/dt=2026-11-25/notes.txt", Body=b"no")

    # The first message is S3's own s3:TestEvent, sent when the notification was configured.
    bodies = _receive_all(deployed.resources["LoadQueue"], want=2)
    records = [r for body in bodies for r in body.get("Records", [])]
    assert [unquote_plus(r["s3"]["object"]["key"]) for r in records] == [key]
    assert records[0]["s3"]["bucket"]["name"] == lake
    assert any(body.get("Event") == "s3:TestEvent" for body in bodies)


def test_lake_bucket_is_versioned_and_private(deployed: stack.StackInfo) -> None:
    s3 = aws.client("s3")
    lake = deployed.resources["LakeBucket"]
    assert s3.get_bucket_versioning(Bucket=lake)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=lake)["PublicAccessBlockConfiguration"].values())
    rules = s3.get_bucket_encryption(Bucket=lake)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_functions_get_the_environment_of_docs_architecture(deployed: stack.StackInfo) -> None:
    functions = deployed.functions
    # ExportStartFunction exists only with an Aurora source (AuroraSource is "none" by default).
    assert set(functions) == {
        "StreamIngestFunction",
        "WarehouseLoadFunction",
        "AnalyticsReportFunction",
        "BackfillFunction",
        "ReconcileFunction",
        "ExportIngestFunction",
        "WarehouseSetupFunction",
    }
    lake, reports = deployed.resources["LakeBucket"], deployed.resources["ReportsBucket"]
    warehouse = f"redshift-data://thermocline-dev-{_stack_suffix(deployed)}/thermocline"
    expected = {
        "StreamIngestFunction": {"LAKE_BUCKET": lake},
        "WarehouseLoadFunction": {
            "LAKE_BUCKET": lake,
            "LOAD_QUEUE_URL": deployed.resources["LoadQueue"],
            "WAREHOUSE_URL": f"{warehouse}?deadline=240",
            "DELETE_MODE": "hard",
        },
        "AnalyticsReportFunction": {"WAREHOUSE_URL": f"{warehouse}?deadline=240", "REPORTS_BUCKET": reports},
        "BackfillFunction": {
            "LAKE_BUCKET": lake,
            "TABLE_NAME": deployed.resources["Table"],
            "BACKFILL_QUEUE_URL": deployed.resources["BackfillQueue"],
            "CHUNK_ITEMS": "50000",
        },
        "ReconcileFunction": {
            "LAKE_BUCKET": lake,
            "TABLE_NAME": deployed.resources["Table"],
            "WAREHOUSE_URL": f"{warehouse}?deadline=600",
        },
        "ExportIngestFunction": {
            "EXPORT_BUCKET": deployed.resources["ExportBucket"],
            "LAKE_BUCKET": lake,
            "WAREHOUSE_URL": f"{warehouse}?deadline=600",
            "PRIMARY_KEYS": "customers=customer_id;products=sku;regions=region_code",
        },
    }
    for name, env in expected.items():
        spec = functions[name]
        assert spec.handler == "app.lambda_handler"
        # Per stack, so two stacks in one account never mix their metrics.
        assert spec.environment["POWERTOOLS_METRICS_NAMESPACE"] == "Thermocline/thermocline"
        assert spec.environment["POWERTOOLS_SERVICE_NAME"]
        assert {k: spec.environment.get(k) for k in env} == env
        assert spec.code_dir == repo_root() / "functions" / spec.code_dir.name
    assert "CONTRACTS_PATH" not in functions["StreamIngestFunction"].environment
    assert functions["WarehouseLoadFunction"].timeout == 300
    assert functions["StreamIngestFunction"].memory_size == 1024


def test_event_source_mappings_carry_the_template_values(deployed: stack.StackInfo) -> None:
    by_function = {m.function: m for m in deployed.event_source_mappings}
    stream = by_function["StreamIngestFunction"]
    assert (stream.kind, stream.source_arn) == ("dynamodb", deployed.outputs["TableStreamArn"])
    assert (stream.batch_size, stream.maximum_batching_window_seconds) == (1000, 5)
    assert stream.starting_position == "TRIM_HORIZON"
    assert stream.report_batch_item_failures
    load = by_function["WarehouseLoadFunction"]
    queue_arn = aws.client("sqs").get_queue_attributes(
        QueueUrl=deployed.resources["LoadQueue"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert (load.kind, load.source_arn) == ("sqs", queue_arn)
    assert (load.batch_size, load.maximum_batching_window_seconds) == (200, 60)
    assert load.starting_position is None
    assert load.report_batch_item_failures


def test_event_source_mappings_are_left_to_the_local_poller(deployed: stack.StackInfo) -> None:
    # moto would invoke the functions itself (in Docker) and consume the records.
    assert aws.client("lambda").list_event_source_mappings()["EventSourceMappings"] == []
    assert {"StreamIngestFunctionTableStream", "WarehouseLoadFunctionLakeFiles"} <= set(deployed.skipped)


def test_resources_moto_lacks_are_skipped_and_named(deployed: stack.StackInfo) -> None:
    assert {"Namespace", "Workgroup", "LoadQueuePolicy"} <= set(deployed.skipped)
    assert (
        deployed.outputs["WarehouseUrl"]
        == f"redshift-data://thermocline-dev-{_stack_suffix(deployed)}/thermocline"
    )
    assert not any(key.startswith("ThermoclineLocal") for key in deployed.outputs)


def test_parameters_reach_the_functions_and_mappings(aws_env: str) -> None:
    info = stack.deploy(
        aws_env,
        stack_name="tc-params",
        parameters={"EnvironmentName": "qa", "DeleteMode": "soft", "LoadBatchingWindowSeconds": "5"},
    )
    assert info.resources["Table"] == "tc-params-store"
    load = info.functions["WarehouseLoadFunction"]
    assert load.environment["DELETE_MODE"] == "soft"
    assert load.environment["WAREHOUSE_URL"].startswith("redshift-data://thermocline-qa-")
    by_function = {m.function: m for m in info.event_source_mappings}
    assert by_function["WarehouseLoadFunction"].maximum_batching_window_seconds == 5


def test_deploy_again_returns_the_existing_stack(deployed: stack.StackInfo) -> None:
    again = stack.deploy(deployed.endpoint)
    assert again == deployed
    assert len(aws.client("cloudformation").describe_stacks()["Stacks"]) == 1


def test_thermocline_home_overrides_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    monkeypatch.setenv(HOME_ENV, str(tmp_path))
    assert default_template() == tmp_path / "template.yaml"
    monkeypatch.delenv(HOME_ENV)
    assert (repo_root() / "functions" / "stream_ingest").is_dir()


def _stack_suffix(info: stack.StackInfo) -> str:
    """The first 8 hex digits of the stack id: the template's suffix for lower-case names."""
    stack_id = aws.client("cloudformation").describe_stacks(StackName=info.stack_name)["Stacks"][0]["StackId"]
    return stack_id.split("/")[2].split("-")[0]


def test_two_stacks_of_one_environment_live_side_by_side(aws_env: str) -> None:
    first = stack.deploy(aws_env, stack_name="tc-one", parameters={"EnvironmentName": "dev"})
    second = stack.deploy(aws_env, stack_name="tc-two", parameters={"EnvironmentName": "dev"})
    for logical_id in ("Table", "LakeBucket", "ReportsBucket", "LoadQueue", "StreamIngestFunction"):
        assert first.resources[logical_id] != second.resources[logical_id], logical_id
    assert first.outputs["WarehouseUrl"] != second.outputs["WarehouseUrl"]
