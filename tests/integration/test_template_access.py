"""Every object the functions write or read in S3, and every file Redshift's COPY reads, is allowed by the
policies ``sam deploy`` gives them; the alarm topic can be published to by CloudWatch.

Object keys come from the package's own key layouts (``lake/keys.py``) and settings defaults, so a new
layout or prefix that a policy does not cover fails here instead of as AccessDenied in an account. The
template is translated as ``sam deploy`` does and its policies are evaluated as IAM evaluates them
(``iam_policy.py``).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.iam_policy import Stack, allows, translated
from thermocline.lake import keys
from thermocline.load.policy import LoadPolicy
from thermocline.ops.smoke import smoke_keys
from thermocline.settings import (
    BackfillSettings,
    ExportIngestSettings,
    ReconcileSettings,
    StreamIngestSettings,
    WarehouseLoadSettings,
)

TABLE = "orders"
DATE = "2026-11-27"
SHARD = keys.shard_token("arn:aws:dynamodb:us-east-1:123456789012:table/store/stream/2026-11-27T00:00:00.000")
EXPORT_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/store/export/01700000000000-abcdef12"
SHA = "ab" * 32


def _default(settings: type, name: str) -> Any:
    return {f.name: f.default for f in dataclasses.fields(settings)}[name]


STREAM_PREFIX = _default(StreamIngestSettings, "lake_prefix")
SCHEMA_PREFIX = _default(StreamIngestSettings, "schema_prefix")
RECORD_QUARANTINE = _default(StreamIngestSettings, "quarantine_prefix")
LOAD = LoadPolicy(lake_bucket="lake")
SNAPSHOT_PREFIX = _default(ExportIngestSettings, "snapshot_prefix")

CDC_FILE = keys.cdc_key(STREAM_PREFIX, TABLE, DATE, SHARD, "1".zfill(40), "9".zfill(40))
BACKFILL_FILE = keys.export_lake_key(_default(BackfillSettings, "lake_prefix"), TABLE, DATE, EXPORT_ARN, 0, 0)
SNAPSHOT_FILE = keys.snapshot_key(
    SNAPSHOT_PREFIX, "customers", datetime(2026, 11, 27, tzinfo=UTC), "exp-1", 0
)
MANIFEST = keys.manifest_key(LOAD.manifest_prefix, TABLE, "load-1")


@pytest.fixture(scope="module")
def stack() -> Stack:
    return Stack(translated())


def _object(key: str, bucket: str = "lakebucket") -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


# --- what each function does in S3 (the key layouts its code writes and reads) ------------------------------

FUNCTION_OBJECTS = {
    "StreamIngestFunctionRole": [
        ("s3:PutObject", CDC_FILE),
        ("s3:PutObject", keys.oversize_key(STREAM_PREFIX, TABLE, SHA)),
        ("s3:PutObject", keys.record_quarantine_key(RECORD_QUARANTINE, TABLE, DATE, SHARD, "1".zfill(40))),
        ("s3:GetObject", keys.schema_key(SCHEMA_PREFIX, TABLE)),
        ("s3:PutObject", keys.schema_key(SCHEMA_PREFIX, TABLE)),
    ],
    "WarehouseLoadFunctionRole": [
        # Footers of the files it loads, the manifests it writes for COPY.
        ("s3:GetObject", CDC_FILE),
        ("s3:GetObject", BACKFILL_FILE),
        ("s3:PutObject", MANIFEST),
        # A file whose types conflict with the table is loaded from a conformed copy (load/table_setup.py).
        ("s3:PutObject", keys.conformed_key(CDC_FILE)),
        # An unloadable file is copied (GetObject on the source, PutObject on the copy) with its reason.
        ("s3:PutObject", keys.file_quarantine_key(LOAD.quarantine_prefix, CDC_FILE)),
        ("s3:PutObject", keys.file_quarantine_error_key(LOAD.quarantine_prefix, CDC_FILE)),
    ],
    "ExportIngestFunctionRole": [
        ("s3:PutObject", SNAPSHOT_FILE),
        ("s3:PutObject", keys.oversize_key(SNAPSHOT_PREFIX, "customers", SHA)),
        ("s3:GetObject", SNAPSHOT_FILE),  # the full refresh reads each file's footer
        ("s3:PutObject", MANIFEST),
    ],
    "BackfillFunctionRole": [
        ("s3:PutObject", BACKFILL_FILE),
        ("s3:PutObject", keys.oversize_key(STREAM_PREFIX, TABLE, SHA)),
        ("s3:GetObject", keys.schema_key(SCHEMA_PREFIX, TABLE)),
        ("s3:PutObject", keys.schema_key(SCHEMA_PREFIX, TABLE)),
        (
            "s3:GetObject",
            f"{_default(BackfillSettings, 'export_prefix')}{TABLE}/AWSDynamoDB/x/manifest-summary.json",
        ),
        ("s3:PutObject", f"{_default(BackfillSettings, 'progress_prefix')}export-1/plan.json"),
    ],
    "ReconcileFunctionRole": [
        ("s3:GetObject", keys.schema_key(SCHEMA_PREFIX, TABLE)),
        (
            "s3:GetObject",
            f"{_default(ReconcileSettings, 'export_prefix')}{TABLE}/AWSDynamoDB/x/manifest-summary.json",
        ),
        ("s3:PutObject", f"{_default(ReconcileSettings, 'reconcile_prefix')}{TABLE}/report.json"),
    ],
}


@pytest.mark.parametrize(
    ("role", "action", "key"),
    [(role, action, key) for role, calls in FUNCTION_OBJECTS.items() for action, key in calls],
)
def test_each_function_may_write_and_read_the_lake_objects_its_code_uses(
    stack: Stack, role: str, action: str, key: str
) -> None:
    assert stack.role_allows(role, action, _object(key)), f"{role} cannot {action} {key}"


def test_the_loader_never_reads_raw_records_or_other_sources_exports(stack: Stack) -> None:
    role = "WarehouseLoadFunctionRole"
    for key in (keys.record_quarantine_key(RECORD_QUARANTINE, TABLE, DATE, SHARD, "1"), "_exports/x.json.gz"):
        assert not stack.role_allows(role, "s3:GetObject", _object(key)), key


# --- what COPY reads, as the COPY role ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(CDC_FILE, id="stream-file"),
        pytest.param(BACKFILL_FILE, id="backfill-file"),
        pytest.param(keys.conformed_key(CDC_FILE), id="conformed-copy"),
        pytest.param(SNAPSHOT_FILE, id="rds-snapshot-file"),
        pytest.param(MANIFEST, id="manifest"),
        # `thermocline smoke --bucket <lake> --iam-role <copy role>` COPYs a broken file of its own.
        *(pytest.param(k, id=f"smoke-{i}") for i, k in enumerate(smoke_keys("20261127T000000000000Z"))),
    ],
)
def test_the_copy_role_reads_every_file_a_load_copies(stack: Stack, key: str) -> None:
    # The loader's CDC loads, its conformed copies, and ExportIngestFunction's full refreshes all COPY with
    # COPY_IAM_ROLE (load/sql/staging.py): Redshift reads the manifest and then each file as that role.
    assert stack.role_allows("RedshiftCopyRole", "s3:GetObject", _object(key)), key


def test_the_copy_role_reads_no_raw_records_schemas_or_table_exports(stack: Stack) -> None:
    for key in (
        keys.record_quarantine_key(RECORD_QUARANTINE, TABLE, DATE, SHARD, "1"),
        keys.file_quarantine_key(LOAD.quarantine_prefix, CDC_FILE),
        keys.schema_key(SCHEMA_PREFIX, TABLE),
        "_exports/dynamodb/orders/AWSDynamoDB/x/data/part.json.gz",
    ):
        assert not stack.role_allows("RedshiftCopyRole", "s3:GetObject", _object(key)), key


def test_the_loader_and_export_ingest_copy_with_the_same_role(stack: Stack) -> None:
    env = {
        f: stack.resolve(stack.template["Resources"][f]["Properties"]["Environment"]["Variables"])
        for f in ("WarehouseLoadFunction", "ExportIngestFunction")
    }
    assert env["WarehouseLoadFunction"]["COPY_IAM_ROLE"] == env["ExportIngestFunction"]["COPY_IAM_ROLE"]
    assert env["WarehouseLoadFunction"]["COPY_IAM_ROLE"] == "arn:aws:iam::123456789012:role/redshiftcopyrole"
    assert _default(WarehouseLoadSettings, "manifest_prefix") == LOAD.manifest_prefix


# --- alarms reach the topic ----------------------------------------------------------------------------------


def test_cloudwatch_may_publish_to_the_created_alarm_topic_through_its_key(stack: Stack) -> None:
    # CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key alias/aws/sns: its key
    # policy does not let CloudWatch use it, and that policy cannot be changed. The topic needs a customer
    # managed key whose policy allows cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey:
    # https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns
    # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
    topic = stack.resolve(stack.template["Resources"]["AlarmTopic"]["Properties"])
    keys_by_arn = {
        stack.resolve({"Fn::GetAtt": [k, "Arn"]}): k
        for k, r in stack.template["Resources"].items()
        if r["Type"] == "AWS::KMS::Key"
    }
    assert topic["KmsMasterKeyId"] in keys_by_arn, topic["KmsMasterKeyId"]  # not alias/aws/sns
    key = keys_by_arn[topic["KmsMasterKeyId"]]
    assert stack.template["Resources"][key]["Properties"]["EnableKeyRotation"] is True
    statements = stack.key_statements(key)
    cloudwatch = {"Service": "cloudwatch.amazonaws.com"}
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert allows(statements, action, topic["KmsMasterKeyId"], principal=cloudwatch), action
    assert not allows(statements, "kms:Encrypt", topic["KmsMasterKeyId"], principal=cloudwatch)
    policy = stack.resolve(stack.template["Resources"]["AlarmTopicPolicy"]["Properties"]["PolicyDocument"])
    topic_arn = stack.resolve({"Ref": "AlarmTopic"})
    request = {"aws:SourceAccount": "123456789012", "aws:SecureTransport": "true"}
    assert allows(policy["Statement"], "sns:Publish", topic_arn, request, principal=cloudwatch)


# --- what the lake keeps ---------------------------------------------------------------------------------


def test_load_intermediates_expire_and_lake_files_and_quarantine_are_kept(stack: Stack) -> None:
    rules = stack.resolve(stack.template["Resources"]["LakeBucket"]["Properties"])["LifecycleConfiguration"]
    expiring = [r for r in rules["Rules"] if r["Status"] == "Enabled" and "ExpirationInDays" in r]

    def expires(key: str) -> bool:
        return any(key.startswith(r.get("Prefix", "")) for r in expiring)

    # Manifests and conformed copies are read only while their load runs.
    assert expires(MANIFEST)
    assert expires(keys.conformed_key(CDC_FILE))
    # Nothing is lost: lake files, snapshots, schemas and quarantined records never expire.
    for key in (
        CDC_FILE,
        BACKFILL_FILE,
        SNAPSHOT_FILE,
        keys.schema_key(SCHEMA_PREFIX, TABLE),
        keys.record_quarantine_key(RECORD_QUARANTINE, TABLE, DATE, SHARD, "1"),
        keys.file_quarantine_key(LOAD.quarantine_prefix, CDC_FILE),
    ):
        assert not expires(key), key


# --- what the deploy-time setup calls --------------------------------------------------------------------


def test_the_usage_limit_resource_may_create_update_and_delete_the_limit() -> None:
    # CreateUsageLimit, UpdateUsageLimit and DeleteUsageLimit have no resource types: IAM authorizes them on
    # "*" only, so a statement naming the workgroup or a usage-limit ARN never allows them (Service
    # Authorization Reference, "Actions, resources, and condition keys for Amazon Redshift Serverless").
    parameters = {"UsageLimitRpuHours": "1000"}
    stack = Stack(translated(parameters), parameters)
    assert stack.condition("HasUsageLimit")
    for action in ("CreateUsageLimit", "UpdateUsageLimit", "DeleteUsageLimit"):
        assert stack.role_allows("WarehouseSetupFunctionRole", f"redshift-serverless:{action}", "*"), action
    # The rest of what the setup calls is scoped to this stack's namespace.
    namespace = stack.resolve({"Fn::GetAtt": ["Namespace", "Namespace.NamespaceArn"]})
    assert stack.role_allows("WarehouseSetupFunctionRole", "redshift-serverless:GetNamespace", namespace)
    assert not stack.role_allows("WarehouseSetupFunctionRole", "redshift-serverless:GetNamespace", "*")


# --- a failed first deploy can roll back --------------------------------------------------------------------


def test_what_a_failed_first_create_must_delete_has_no_deletion_protection(stack: Stack) -> None:
    # RetainExceptOnCreate deletes a resource when the stack's first create rolls back, so that the retry
    # meets no leftovers. A resource with deletion protection cannot be deleted by CloudFormation: the
    # rollback ends in ROLLBACK_FAILED with the resource still there (RDS refuses "Cannot delete protected
    # Cluster"). Stack deletion and replacement keep it by the DeletionPolicy and UpdateReplacePolicy.
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html
    protected = {"DeletionProtection", "DeletionProtectionEnabled"}
    kept = {
        k: r
        for k, r in stack.template["Resources"].items()
        if r.get("DeletionPolicy") == "RetainExceptOnCreate"
    }
    assert {"Table", "LakeBucket", "Namespace", "AuroraCluster"} <= set(kept)
    for logical_id, resource in kept.items():
        assert resource.get("UpdateReplacePolicy") == "Retain", logical_id
        props = resource.get("Properties", {})
        assert not any(props.get(p) in (True, "true") for p in protected), logical_id


# --- events that could not be delivered are kept ---------------------------------------------------------


@pytest.mark.parametrize("queue", ["InvocationFailureQueue", "ExportEventsDeadLetterQueue"])
def test_eventbridge_may_dead_letter_into_the_queues_as_its_guide_shows(stack: Stack, queue: str) -> None:
    # EventBridge's guide grants its dead-letter queues by the rule's ARN (aws:SourceArn), the key it
    # documents for this request; a condition on another key it may not send would drop every undelivered
    # schedule and RDS event: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
    (policy,) = [
        r["Properties"]
        for r in stack.template["Resources"].values()
        if r["Type"] == "AWS::SQS::QueuePolicy" and r["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    statements = stack.resolve(policy["PolicyDocument"])["Statement"]
    queue_arn = stack.resolve({"Fn::GetAtt": [queue, "Arn"]})
    events = {"Service": "events.amazonaws.com"}
    rule = "arn:aws:events:us-east-1:123456789012:rule/stack-WarehouseLoadFunctionDrain-1A2B3C"
    assert allows(statements, "sqs:SendMessage", queue_arn, {"aws:SourceArn": rule}, principal=events)
    elsewhere = "arn:aws:events:us-east-1:999999999999:rule/someone-else"
    assert not allows(
        statements, "sqs:SendMessage", queue_arn, {"aws:SourceArn": elsewhere}, principal=events
    )
