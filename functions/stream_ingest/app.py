"""StreamIngestFunction: a DynamoDB Streams batch → Parquet lake files (``thermocline.services.stream_ingest``).

Returns the ``batchItemFailures`` response; the event source mapping has ReportBatchItemFailures on.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from thermocline.aws import client
from thermocline.observability import logger, metrics, tracer
from thermocline.services.stream_ingest import handle_stream_event
from thermocline.settings import StreamIngestSettings


class _LocalContext:
    """Stands in for the Lambda context when a caller passes none (Powertools reads these fields)."""

    function_name = "StreamIngestFunction"
    memory_limit_in_mb = 0
    invoked_function_arn = "local"
    aws_request_id = "local"


@functools.lru_cache(maxsize=4)
def _s3(endpoint: str | None) -> Any:
    # One client per endpoint: Lambda reuses it across invocations; the local stack may move moto.
    return client("s3")


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def _handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = StreamIngestSettings.from_env()
    return handle_stream_event(event, settings=settings, s3_client=_s3(os.environ.get("AWS_ENDPOINT_URL")))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handler(event, context if context is not None else _LocalContext())
