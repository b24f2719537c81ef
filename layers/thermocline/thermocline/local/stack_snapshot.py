"""A deployed stack remembered on disk, recreated through the service APIs without CloudFormation.

``thermocline replay`` needs the lake bucket with its notifications, the queues, the table and the
functions' environment, not moto's CloudFormation engine (which loads every service's models and deploys
the whole template: most of a replay's start-up). After a full deploy (``stack.deploy``) the stack's
description and the buckets, queues, tables and topics it created are written to the cache under a digest
of the template's text, its parameters and the library versions; a later start with the same key creates
only those through the S3, SQS, DynamoDB and SNS APIs and returns the same ``StackInfo``. Values holding the
server's address (queue URLs) or the table's stream ARN (which carries its creation time) are rewritten for
the new server, so the functions get the environment the template gives them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from thermocline import aws
from thermocline.local import stack

_ENDPOINT = "{thermocline-local-endpoint}"
# Queue attributes CreateQueue/SetQueueAttributes accept (the rest are read-only counters and ARNs).
_QUEUE_SETTABLE = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)
_QUEUE_LATER = ("RedrivePolicy", "RedriveAllowPolicy")


def key(template: Path, stack_name: str, region: str, parameters: dict[str, str]) -> list[Any]:
    return [
        hashlib.sha256(template.read_bytes()).hexdigest(),
        # The snapshot names the functions' code directories: another checkout of the same version (same
        # template text) must not start handlers from this one's, which may since have been moved or deleted.
        str(template.resolve()),
        stack_name,
        region,
        parameters,
        importlib.metadata.version("aws-sam-translator"),
        importlib.metadata.version("moto"),
    ]


def capture(info: stack.StackInfo) -> dict[str, Any]:
    """The stack's description and the S3/SQS/DynamoDB/SNS resources it holds, as JSON."""
    endpoint, region = info.endpoint, info.region
    s3 = aws.client("s3", endpoint_url=endpoint, region_name=region)
    sqs = aws.client("sqs", endpoint_url=endpoint, region_name=region)
    ddb = aws.client("dynamodb", endpoint_url=endpoint, region_name=region)
    sns = aws.client("sns", endpoint_url=endpoint, region_name=region)
    described = asdict(info)
    for function in described["functions"].values():
        function["code_dir"] = str(function["code_dir"])
    buckets = []
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        notification = s3.get_bucket_notification_configuration(Bucket=name)
        notification.pop("ResponseMetadata", None)
        versioning = s3.get_bucket_versioning(Bucket=name).get("Status")
        buckets.append({"Name": name, "Notification": notification, "Versioning": versioning})
    queues = []
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        queues.append({"Name": url.rsplit("/", 1)[-1], "Attributes": attributes})
    tables = []
    for name in ddb.list_tables()["TableNames"]:
        table = ddb.describe_table(TableName=name)["Table"]
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        pitr = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
        tables.append({"Table": table, "Ttl": ttl, "PointInTimeRecovery": pitr})
    topics = [t["TopicArn"].rsplit(":", 1)[-1] for t in sns.list_topics().get("Topics", [])]
    snapshot = {"info": described, "buckets": buckets, "queues": queues, "tables": tables, "topics": topics}
    return json.loads(json.dumps(snapshot, default=str).replace(endpoint, _ENDPOINT))


def recreate(snapshot: dict[str, Any], endpoint: str) -> stack.StackInfo:
    """Create the snapshot's resources in the (empty) server at ``endpoint``; its ``StackInfo``."""
    region = snapshot["info"]["region"]
    s3 = aws.client("s3", endpoint_url=endpoint, region_name=region)
    sqs = aws.client("sqs", endpoint_url=endpoint, region_name=region)
    ddb = aws.client("dynamodb", endpoint_url=endpoint, region_name=region)
    sns = aws.client("sns", endpoint_url=endpoint, region_name=region)
    renamed: dict[str, str] = {}
    for entry in snapshot["tables"]:
        table = entry["Table"]
        created = ddb.create_table(**_table_request(table))["TableDescription"]
        if table.get("LatestStreamArn"):
            renamed[table["LatestStreamArn"]] = created["LatestStreamArn"]
        if entry["Ttl"].get("TimeToLiveStatus") == "ENABLED":
            ddb.update_time_to_live(
                TableName=table["TableName"],
                TimeToLiveSpecification={"AttributeName": entry["Ttl"]["AttributeName"], "Enabled": True},
            )
        if entry["PointInTimeRecovery"]:
            ddb.update_continuous_backups(
                TableName=table["TableName"],
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
    for name in snapshot["topics"]:
        sns.create_topic(Name=name)
    for queue in snapshot["queues"]:
        attributes = queue["Attributes"]
        sqs.create_queue(
            QueueName=queue["Name"],
            Attributes={k: attributes[k] for k in _QUEUE_SETTABLE if k in attributes},
        )
    for queue in snapshot["queues"]:
        later = {k: queue["Attributes"][k] for k in _QUEUE_LATER if k in queue["Attributes"]}
        if later:
            url = sqs.get_queue_url(QueueName=queue["Name"])["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes=later)
    for bucket in snapshot["buckets"]:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket["Name"])
        else:
            s3.create_bucket(Bucket=bucket["Name"], CreateBucketConfiguration={"LocationConstraint": region})
        if bucket["Versioning"]:
            s3.put_bucket_versioning(
                Bucket=bucket["Name"], VersioningConfiguration={"Status": bucket["Versioning"]}
            )
        if bucket["Notification"]:
            s3.put_bucket_notification_configuration(
                Bucket=bucket["Name"], NotificationConfiguration=bucket["Notification"]
            )
    text = json.dumps(snapshot["info"]).replace(_ENDPOINT, endpoint)
    for old, new in renamed.items():
        text = text.replace(old, new)
    info = json.loads(text)
    return stack.StackInfo(
        endpoint=info["endpoint"],
        region=info["region"],
        stack_name=info["stack_name"],
        resources=info["resources"],
        outputs=info["outputs"],
        functions={
            k: stack.FunctionSpec(**{**f, "code_dir": Path(f["code_dir"])})
            for k, f in info["functions"].items()
        },
        event_source_mappings=[stack.EventSourceMapping(**m) for m in info["event_source_mappings"]],
        skipped=info["skipped"],
    )


def _table_request(table: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TableName": table["TableName"],
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": table["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    stream = table.get("StreamSpecification")
    if stream and stream.get("StreamEnabled"):
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    indexes = [
        {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
        for i in table.get("GlobalSecondaryIndexes", [])
    ]
    if indexes:
        request["GlobalSecondaryIndexes"] = indexes
    return request
