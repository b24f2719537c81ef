"""StreamIngestFunction: a DynamoDB Streams batch → Parquet lake files (``thermocline.services.stream_ingest``).

Returns the ``batchItemFailures`` response; the event source mapping has ReportBatchItemFailures on.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thermocline import aws
from thermocline.observability import instrumented
from thermocline.runtime import Runtime
from thermocline.services.stream_ingest import handle_stream_event
from thermocline.settings import StreamIngestSettings

# Read once at cold start: a missing variable fails here, and the client is reused across invocations.
settings = StreamIngestSettings.from_env()
s3 = aws.client("s3")
runtime = Runtime()  # the clock, sleep and metrics the service uses


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_stream_event(event, settings=settings, s3_client=s3, runtime=runtime)
