"""ReconcileFunction: compare the warehouse with a fresh export of the table (never a scan of it).

Scheduled (off unless ReconcileSchedule is set) or invoked with ``{"table": "<name>"}``: each run compares
the warehouse with the export the previous run started, then starts the next one. The report lands in
the lake bucket under ``_reconcile/``; the metric ``ReconcileMismatches`` says whether they match.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thermocline import aws, warehouse
from thermocline.observability import instrumented
from thermocline.runtime import Runtime
from thermocline.services.reconcile import handle_reconcile_event
from thermocline.settings import ReconcileSettings
from thermocline.sources.dynamodb_export.exports import DynamoDBExports

settings = ReconcileSettings.from_env()
s3 = aws.client("s3")
ddb = aws.client("dynamodb")
exports = DynamoDBExports(ddb)
runtime = Runtime()  # the clock, sleep and metrics the service uses


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with warehouse.connect(settings.warehouse_url, s3_client=s3) as wh:
        return handle_reconcile_event(
            event, settings=settings, s3=s3, ddb=ddb, exports=exports, warehouse=wh, runtime=runtime
        )
