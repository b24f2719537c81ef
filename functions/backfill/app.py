"""BackfillFunction: a DynamoDB table export → lake files, handed over to the stream at an exact seam.

Invoked directly with ``{"table": "<name>"}`` (and ``export_from``/``export_to`` for an incremental export
after a stream outage) to start; BackfillQueue then carries each step: waiting for the export, and one
message per data file, continued by a new message when a file outlives the invocation.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thermocline import aws
from thermocline.observability import instrumented
from thermocline.runtime import Runtime
from thermocline.services.backfill import handle_backfill_event
from thermocline.settings import BackfillSettings
from thermocline.sources.dynamodb_export.exports import DynamoDBExports

settings = BackfillSettings.from_env()
s3 = aws.client("s3")
ddb = aws.client("dynamodb")
sqs = aws.client("sqs")
exports = DynamoDBExports(ddb)
runtime = Runtime()  # the clock, sleep and metrics the service uses


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_backfill_event(
        event,
        settings=settings,
        s3=s3,
        ddb=ddb,
        sqs=sqs,
        exports=exports,
        remaining_ms=context.get_remaining_time_in_millis,
        request_id=context.aws_request_id,
        runtime=runtime,
    )
