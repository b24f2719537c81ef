"""WarehouseLoadFunction: load new lake files into the warehouse, exactly once.

Invoked by the LoadQueue event source (S3 notifications, ReportBatchItemFailures) and by a schedule that
makes it drain the queue itself.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thermocline import aws, warehouse
from thermocline.observability import instrumented
from thermocline.runtime import Runtime
from thermocline.services.warehouse_load import handle_load_event
from thermocline.settings import WarehouseLoadSettings

settings = WarehouseLoadSettings.from_env()
s3 = aws.client("s3")
runtime = Runtime()  # the clock, sleep and metrics the service uses


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with warehouse.connect(settings.warehouse_url, s3_client=s3) as wh:
        return handle_load_event(event, settings=settings, warehouse=wh, s3_client=s3, runtime=runtime)
