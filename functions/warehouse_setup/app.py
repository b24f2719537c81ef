"""WarehouseSetupFunction: the deploy's warehouse setup (database roles, usage limit) as custom resources."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thermocline import aws, warehouse
from thermocline.observability import instrumented
from thermocline.services.warehouse_setup import handle_custom_resource

serverless = aws.client("redshift-serverless")


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_custom_resource(event, connect=warehouse.connect, serverless_client=serverless)
