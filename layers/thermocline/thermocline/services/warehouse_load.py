"""WarehouseLoadFunction's one call: an SQS batch of S3 notifications, or a scheduled drain of the queue.

The load itself is ``thermocline.load`` (docs/loading.md).
"""

from __future__ import annotations

from typing import Any

from thermocline.load.loader import Loader
from thermocline.load.notifications import drain, process_messages
from thermocline.load.policy import LoadPolicy
from thermocline.runtime import Runtime
from thermocline.settings import WarehouseLoadSettings
from thermocline.warehouse.errors import TerminalLoadError
from thermocline.warehouse.port import Warehouse

__all__ = ["handle_load_event"]


def handle_load_event(
    event: dict[str, Any],
    *,
    settings: WarehouseLoadSettings,
    warehouse: Warehouse,
    s3_client: Any,
    sqs_client: Any = None,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """An SQS batch of S3 notifications → ``{"batchItemFailures": [...]}``; a schedule → drain summary."""
    loader = Loader(LoadPolicy.from_settings(settings), warehouse, s3_client, runtime)
    records = event.get("Records")
    if isinstance(records, list) and records and records[0].get("eventSource") == "aws:sqs":
        _, failed = process_messages(loader, [(r["messageId"], r["body"]) for r in records])
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in failed]}
    if event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event":
        if not settings.load_queue_url:
            raise TerminalLoadError("a scheduled load needs LOAD_QUEUE_URL to drain")
        if sqs_client is None:
            from thermocline.aws import client

            sqs_client = client("sqs")
        return drain(loader, sqs_client, settings.load_queue_url, settings.drain_seconds)
    raise ValueError("not an SQS batch of S3 notifications nor a scheduled event")
