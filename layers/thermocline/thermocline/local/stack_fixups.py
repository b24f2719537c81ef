"""Properties moto's CloudFormation accepts but ignores, applied through the service APIs after the stack is
created: S3 notifications, versioning and public access block; DynamoDB TTL and point-in-time recovery.

Their values travel through hidden stack outputs (``HIDDEN``), so that they arrive as moto resolved them.
"""

from __future__ import annotations

import json
from typing import Any

from thermocline import aws

__all__ = ["HIDDEN", "add_fixup_outputs", "apply_fixups"]

# The prefix of the outputs the local stack adds to carry values moto resolves; hidden from StackInfo.outputs.
HIDDEN = "ThermoclineLocal"

# Properties moto's CloudFormation ignores, applied afterwards through the service APIs.
_S3_FIXUPS = ("NotificationConfiguration", "VersioningConfiguration", "PublicAccessBlockConfiguration")
_DDB_FIXUPS = ("TimeToLiveSpecification", "PointInTimeRecoverySpecification")


def add_fixup_outputs(cfn_template: dict[str, Any]) -> None:
    for logical_id, resource in cfn_template["Resources"].items():
        props = resource.get("Properties") or {}
        wanted = {"AWS::S3::Bucket": _S3_FIXUPS, "AWS::DynamoDB::Table": _DDB_FIXUPS}.get(
            resource["Type"], ()
        )
        fixups = {name: props[name] for name in wanted if name in props}
        if fixups:
            fixups["Resource"] = {"Ref": logical_id}
            fixups["Type"] = resource["Type"]
            cfn_template["Outputs"][f"{HIDDEN}Fixup{logical_id}"] = {"Value": {"Fn::ToJsonString": fixups}}


def apply_fixups(endpoint: str, region: str, stack_name: str, outputs: dict[str, str]) -> None:
    s3 = aws.client("s3", endpoint_url=endpoint, region_name=region)
    ddb = aws.client("dynamodb", endpoint_url=endpoint, region_name=region)
    for key, value in outputs.items():
        if not key.startswith(f"{HIDDEN}Fixup"):
            continue
        fixup = json.loads(value)
        name = fixup["Resource"]
        if fixup["Type"] == "AWS::S3::Bucket":
            if "VersioningConfiguration" in fixup:
                s3.put_bucket_versioning(
                    Bucket=name,
                    VersioningConfiguration={"Status": fixup["VersioningConfiguration"]["Status"]},
                )
            if "PublicAccessBlockConfiguration" in fixup:
                s3.put_public_access_block(
                    Bucket=name, PublicAccessBlockConfiguration=fixup["PublicAccessBlockConfiguration"]
                )
            if "NotificationConfiguration" in fixup:
                s3.put_bucket_notification_configuration(
                    Bucket=name,
                    NotificationConfiguration=_notification_api_shape(fixup["NotificationConfiguration"]),
                )
        else:
            ttl = fixup.get("TimeToLiveSpecification")
            if ttl and _truthy(ttl.get("Enabled")):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
                )
            pitr = fixup.get("PointInTimeRecoverySpecification")
            if pitr and _truthy(pitr.get("PointInTimeRecoveryEnabled")):
                ddb.update_continuous_backups(
                    TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
                )


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _notification_api_shape(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's ``NotificationConfiguration`` -> the S3 API's (the two spell it differently)."""
    kinds = {
        "QueueConfigurations": ("Queue", "QueueArn"),
        "TopicConfigurations": ("Topic", "TopicArn"),
        "LambdaConfigurations": ("Function", "LambdaFunctionArn"),
    }
    api: dict[str, Any] = {}
    for kind, (cfn_key, api_key) in kinds.items():
        for item in config.get(kind, []):
            entry: dict[str, Any] = {api_key: item[cfn_key], "Events": [item["Event"]]}
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules")
            if rules:
                entry["Filter"] = {"Key": {"FilterRules": rules}}
            api.setdefault(kind, []).append(entry)
    if config.get("EventBridgeConfiguration") is not None:
        api["EventBridgeConfiguration"] = {}
    return api
