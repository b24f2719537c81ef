"""ExportIngestFunction: an RDS export finished (EventBridge RDS event) → lake snapshot files → full
refresh of each exported table in the warehouse.

Invoked by EventBridge rules for the completion, failure and cancellation events of snapshot, cluster
snapshot and cluster exports.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thermocline import aws, warehouse
from thermocline.observability import instrumented
from thermocline.runtime import Runtime
from thermocline.services.export_ingest import handle_export_event
from thermocline.settings import ExportIngestSettings, WarehouseLoadSettings

settings = ExportIngestSettings.from_env()
load_settings = WarehouseLoadSettings.from_env()
s3 = aws.client("s3")
rds = aws.client("rds")
runtime = Runtime()  # the clock, sleep and metrics the service uses


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with warehouse.connect(settings.warehouse_url, s3_client=s3) as wh:
        return handle_export_event(
            event,
            settings=settings,
            load_settings=load_settings,
            rds_client=rds,
            s3_client=s3,
            warehouse=wh,
            runtime=runtime,
        )
