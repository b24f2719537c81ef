"""WarehouseSetupFunction: the deploy's warehouse setup, run by CloudFormation as custom resources.

* ``Custom::WarehouseBootstrap`` — database roles and grants (:mod:`thermocline.bootstrap.sql`), run with
  the admin secret on every create and update; idempotent. Delete leaves them: the warehouse is retained.
* ``Custom::WarehouseUsageLimit`` — a Redshift Serverless usage limit (RPU-hours per period), which
  CloudFormation has no resource type for.

CloudFormation waits for an answer on the request's pre-signed ``ResponseURL``; without one the stack hangs
for an hour, so every outcome, failures included, is answered:
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from thermocline.bootstrap.sql import (
    ROLES_SQL,
    USERS_SQL,
    Identities,
    bootstrap_sql,
    iam_role_user,
    owned_tables_sql,
)
from thermocline.observability import logger
from thermocline.warehouse import Warehouse

Respond = Callable[[str, dict[str, Any]], None]
Connect = Callable[[str], Warehouse]


def bootstrap(identities: Identities, warehouse: Warehouse) -> list[str]:
    """Create what ``identities`` need and is missing; returns the statements run, each on its own."""
    roles = {str(r[0]) for r in warehouse.query(ROLES_SQL).rows}
    users = {str(r[0]) for r in warehouse.query(USERS_SQL).rows}
    tables = {(str(s), str(t)) for s, t in warehouse.query(owned_tables_sql(identities.loader_users)).rows}
    statements = bootstrap_sql(identities, existing_roles=roles, existing_users=users, loader_tables=tables)
    for statement in statements:
        # One at a time: a failure names its statement, and what ran before it stays done.
        warehouse.execute([statement])
        logger.info("bootstrap statement", sql=statement)
    return statements


def put_response(url: str, body: dict[str, Any]) -> None:
    """Answer CloudFormation on the pre-signed URL (an empty content type, as the URL was signed)."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - CloudFormation's https URL
        response.read()


def handle_custom_resource(
    event: dict[str, Any],
    *,
    connect: Connect,
    serverless_client: Any,
    respond: Respond = put_response,
) -> dict[str, Any]:
    """Run one custom resource request and answer it; returns the answer."""
    kind = event.get("ResourceType", "")
    physical_id = event.get("PhysicalResourceId")
    data: dict[str, Any] = {}
    try:
        if kind == "Custom::WarehouseBootstrap":
            physical_id, data = _bootstrap_request(event, connect, serverless_client)
        elif kind == "Custom::WarehouseUsageLimit":
            physical_id, data = _usage_limit_request(event, serverless_client)
        else:
            raise ValueError(f"unknown custom resource type {kind!r}")
        status, reason = "SUCCESS", "done"
    except Exception as exc:  # noqa: BLE001 - any failure must reach CloudFormation, or the stack hangs
        logger.exception("warehouse setup failed", resource_type=kind, request=event.get("RequestType"))
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:3000]
    answer = {
        "Status": status,
        "Reason": reason,
        # A failed create has no id yet; CloudFormation then deletes "the" resource by the id we give.
        "PhysicalResourceId": physical_id or f"{event.get('LogicalResourceId', 'setup')}-not-created",
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "Data": data,
    }
    respond(event["ResponseURL"], answer)
    return answer


# --- bootstrap ---------------------------------------------------------------------------------------


def _bootstrap_request(
    event: dict[str, Any], connect: Connect, serverless: Any
) -> tuple[str, dict[str, Any]]:
    props = event["ResourceProperties"]
    physical_id = f"warehouse-bootstrap-{props['Database']}"
    if event["RequestType"] == "Delete":
        return event.get("PhysicalResourceId") or physical_id, {}
    identities = Identities(
        database=props["Database"],
        loader_users=tuple(iam_role_user(r) for r in props.get("LoaderRoleNames") or ()),
        reader_users=tuple(iam_role_user(r) for r in props.get("ReaderRoleNames") or ()),
        copy_role_arn=props.get("CopyRoleArn") or None,
        restrict_copy_role=str(props.get("RestrictCopyRole", "false")).lower() == "true",
    )
    url = _admin_url(props, serverless)
    with connect(url) as warehouse:
        statements = bootstrap(identities, warehouse)
    created = [s.split()[2].strip('"') for s in statements if s.startswith(("CREATE ROLE", "CREATE USER"))]
    return physical_id, {"Statements": len(statements), "Created": ",".join(created)}


def _admin_url(props: dict[str, Any], serverless: Any) -> str:
    """The warehouse URL signed in with the admin secret (given, or the namespace's managed one)."""
    url = props["WarehouseUrl"]
    if urlsplit(url).scheme != "redshift-data":
        return url  # a direct URL carries its own credentials (the test suite's PostgreSQL)
    secret = props.get("AdminSecretArn")
    if not secret:
        namespace = serverless.get_namespace(namespaceName=props["NamespaceName"])["namespace"]
        secret = namespace.get("adminPasswordSecretArn")
        if not secret:
            raise ValueError(f"namespace {props['NamespaceName']} has no managed admin secret")
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), ("secret_arn", secret)])
    return urlunsplit(parts._replace(query=query))


# --- usage limit -------------------------------------------------------------------------------------


def _usage_limit_request(event: dict[str, Any], serverless: Any) -> tuple[str, dict[str, Any]]:
    props = event["ResourceProperties"]
    request = event["RequestType"]
    current = event.get("PhysicalResourceId")
    if request == "Delete":
        if current and not current.endswith("-not-created"):
            with contextlib.suppress(serverless.exceptions.ResourceNotFoundException):
                serverless.delete_usage_limit(usageLimitId=current)
        return current or "", {}
    old = event.get("OldResourceProperties") or {}
    replaced = request == "Create" or any(old.get(k) != props.get(k) for k in ("WorkgroupArn", "Period"))
    if replaced:
        # A new id makes CloudFormation delete the old limit once the update succeeds.
        limit = serverless.create_usage_limit(
            resourceArn=props["WorkgroupArn"],
            usageType="serverless-compute",
            amount=int(props["AmountRpuHours"]),
            period=props["Period"],
            breachAction=props["BreachAction"],
        )["usageLimit"]
    else:
        limit = serverless.update_usage_limit(
            usageLimitId=current, amount=int(props["AmountRpuHours"]), breachAction=props["BreachAction"]
        )["usageLimit"]
    return limit["usageLimitId"], {"UsageLimitArn": limit.get("usageLimitArn", "")}
