"""AnalyticsReportFunction: run a scheduled report on the warehouse and publish it to S3."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thermocline import aws, warehouse
from thermocline.hot.connection import connect
from thermocline.hot.store import HotStore
from thermocline.observability import instrumented
from thermocline.runtime import Runtime
from thermocline.services.analytics_report import run_report
from thermocline.settings import AnalyticsReportSettings

settings = AnalyticsReportSettings.from_env()
s3 = aws.client("s3")
sns = aws.client("sns") if settings.reports_topic_arn else None
# With the hot views' cache configured, each report's latest result is also kept there.
hot = (
    HotStore(connect(settings.redis_url, iam_cache=settings.redis_iam_cache, region=settings.aws_region))
    if settings.redis_url
    else None
)
runtime = Runtime()  # the clock, sleep and metrics the service uses


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with warehouse.connect(settings.warehouse_url, s3_client=s3) as wh:
        return run_report(
            event,
            settings=settings,
            warehouse=wh,
            s3_client=s3,
            sns_client=sns,
            hot_store=hot,
            runtime=runtime,
        ).as_dict()
