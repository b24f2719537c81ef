"""ExportStartFunction: on a schedule, start an RDS export of the Aurora cluster (or RDS instance) into
the export bucket, from its newest automated snapshot or from the live cluster."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thermocline import aws
from thermocline.observability import instrumented
from thermocline.runtime import Runtime
from thermocline.services.export_start import handle_export_start
from thermocline.settings import ExportStartSettings

settings = ExportStartSettings.from_env()
rds = aws.client("rds")
runtime = Runtime()  # the clock, sleep and metrics the service uses


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_export_start(event, settings=settings, rds_client=rds, runtime=runtime)
