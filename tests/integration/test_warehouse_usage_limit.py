"""The usage-limit custom resource: the Redshift Serverless calls it makes, checked against the API model.

moto has no Redshift Serverless, and CloudFormation no usage-limit resource; the calls go to botocore's
Stubber, which refuses a request that does not match the service's API model (names, types, enums), so a
wrong usageType, period or breach action fails here as it would in AWS. (The answer's trip to CloudFormation
over HTTP is tested with the bootstrap, tests/integration/test_warehouse_identities.py.)
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber

from thermocline.services.warehouse_setup import handle_custom_resource

WORKGROUP = (
    "arn:aws:redshift-serverless:us-east-1:123456789012:workgroup/0b7c2a1e-1111-2222-3333-444455556666"
)


def _event(request: str, props: dict[str, Any], physical: str | None = None, old: dict | None = None) -> dict:
    event = {
        "RequestType": request,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/ignored",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        "RequestId": request,
        "LogicalResourceId": "WarehouseUsageLimit",
        "ResourceType": "Custom::WarehouseUsageLimit",
        "ResourceProperties": {"ServiceToken": "x", **props},
    }
    if physical:
        event["PhysicalResourceId"] = physical
    if old:
        event["OldResourceProperties"] = old
    return event


def _limit(limit_id: str, amount: int, period: str, action: str) -> dict[str, Any]:
    return {
        "usageLimit": {
            "usageLimitId": limit_id,
            "usageLimitArn": f"arn:aws:redshift-serverless:us-east-1:123456789012:usagelimit/{limit_id}",
            "resourceArn": WORKGROUP,
            "usageType": "serverless-compute",
            "amount": amount,
            "period": period,
            "breachAction": action,
        }
    }


def test_create_update_replace_and_delete_the_usage_limit() -> None:
    client = boto3.client("redshift-serverless", region_name="us-east-1")
    answers: list[dict[str, Any]] = []
    props = {
        "WorkgroupArn": WORKGROUP,
        "AmountRpuHours": "4000",
        "Period": "monthly",
        "BreachAction": "emit-metric",
    }
    with Stubber(client) as stub:
        stub.add_response(
            "create_usage_limit",
            _limit("ul-1", 4000, "monthly", "emit-metric"),
            {
                "resourceArn": WORKGROUP,
                "usageType": "serverless-compute",
                "amount": 4000,
                "period": "monthly",
                "breachAction": "emit-metric",
            },
        )
        stub.add_response(
            "update_usage_limit",
            _limit("ul-1", 2000, "monthly", "deactivate"),
            {"usageLimitId": "ul-1", "amount": 2000, "breachAction": "deactivate"},
        )
        # A new period cannot be updated in place: a new limit, and CloudFormation deletes the old one.
        stub.add_response(
            "create_usage_limit",
            _limit("ul-2", 2000, "daily", "deactivate"),
            {
                "resourceArn": WORKGROUP,
                "usageType": "serverless-compute",
                "amount": 2000,
                "period": "daily",
                "breachAction": "deactivate",
            },
        )
        stub.add_response(
            "delete_usage_limit", _limit("ul-1", 2000, "monthly", "deactivate"), {"usageLimitId": "ul-1"}
        )

        def run(event: dict) -> dict:
            return handle_custom_resource(
                event, connect=None, serverless_client=client, respond=lambda u, b: answers.append(b)
            )

        created = run(_event("Create", props))
        updated_props = {**props, "AmountRpuHours": "2000", "BreachAction": "deactivate"}
        updated = run(_event("Update", updated_props, "ul-1", old=props))
        replaced = run(_event("Update", {**updated_props, "Period": "daily"}, "ul-1", old=updated_props))
        deleted = run(_event("Delete", updated_props, "ul-1"))
        stub.assert_no_pending_responses()
    assert [a["Status"] for a in (created, updated, replaced, deleted)] == ["SUCCESS"] * 4
    assert [a["PhysicalResourceId"] for a in (created, updated, replaced, deleted)] == [
        "ul-1",
        "ul-1",
        "ul-2",
        "ul-1",
    ]
    assert answers == [created, updated, replaced, deleted]


def test_a_refused_usage_limit_fails_the_deploy_with_the_services_reason() -> None:
    client = boto3.client("redshift-serverless", region_name="us-east-1")
    answers: list[dict[str, Any]] = []
    props = {"WorkgroupArn": WORKGROUP, "AmountRpuHours": "1", "Period": "monthly", "BreachAction": "log"}
    with Stubber(client) as stub:
        stub.add_client_error("create_usage_limit", "ValidationException", "amount is below the minimum")
        answer = handle_custom_resource(
            _event("Create", props),
            connect=None,
            serverless_client=client,
            respond=lambda u, b: answers.append(b),
        )
    assert answer["Status"] == "FAILED" and "amount is below the minimum" in answer["Reason"]
    assert answer["PhysicalResourceId"] == "WarehouseUsageLimit-not-created"
    # Deleting the never-created limit (CloudFormation's rollback) touches nothing and succeeds.
    with Stubber(client):
        rollback = handle_custom_resource(
            _event("Delete", props, answer["PhysicalResourceId"]),
            connect=None,
            serverless_client=client,
            respond=lambda u, b: answers.append(b),
        )
    assert rollback["Status"] == "SUCCESS"
