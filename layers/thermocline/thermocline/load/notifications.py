"""How the loader learns of new lake files: S3 event notifications through SQS (directly or through SNS).

The lake bucket notifies ``LoadQueue`` of every new ``cdc/**.parquet`` object; WarehouseLoadFunction
consumes the queue through its event source, and a schedule makes it drain the queue itself as a
backstop (:func:`drain`), so a file is in the warehouse within minutes of landing without ever listing
the lake.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from thermocline.lake import keys as lake_keys
from thermocline.load.loader import Loader, LoadReport
from thermocline.observability import logger

__all__ = ["drain", "parse_message", "process_messages"]


@dataclass
class _Notification:
    message_id: str
    keys: list[str]


def parse_message(body: str, bucket: str, prefix: str) -> list[str]:
    """Lake keys in one SQS message body (an S3 event notification). ``s3:TestEvent`` holds none."""
    doc = json.loads(body)
    if (
        isinstance(doc, dict)
        and "Message" in doc
        and "Records" not in doc
        and doc.get("Type") == "Notification"
    ):
        doc = json.loads(doc["Message"])  # delivered through SNS
    if not isinstance(doc, dict) or doc.get("Event") == "s3:TestEvent":
        return []
    keys = []
    for record in doc.get("Records") or []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        record_bucket = record.get("s3", {}).get("bucket", {}).get("name")
        # Keys arrive URL-encoded (spaces as '+'):
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
        key = unquote_plus(record.get("s3", {}).get("object", {}).get("key", ""))
        if record_bucket != bucket:
            logger.warning("notification for another bucket ignored", bucket=record_bucket, key=key)
            continue
        if lake_keys.is_lake_file(key, prefix):
            keys.append(key)
    return keys


def process_messages(loader: Loader, messages: list[tuple[str, str]]) -> tuple[LoadReport, list[str]]:
    """Load the files of ``(message_id, body)`` pairs; returns the report and the ids of failed messages."""
    notes: list[_Notification] = []
    for message_id, body in messages:
        try:
            keys = parse_message(body, loader.policy.lake_bucket, loader.policy.lake_prefix)
            notes.append(_Notification(message_id, keys))
        except (ValueError, TypeError, AttributeError) as exc:
            # Never loadable: acknowledging it beats redelivering it until it reaches the DLQ.
            logger.error("unreadable load message dropped", message_id=message_id, error=str(exc))
    report = loader.load_files([k for n in notes for k in n.keys])
    failed = set(report.failed)
    return report, [n.message_id for n in notes if failed.intersection(n.keys)]


def drain(loader: Loader, sqs_client: Any, queue_url: str, seconds: float) -> dict[str, Any]:
    """Receive and load the queue's messages for up to ``seconds``; delete those whose files loaded."""
    runtime = loader.runtime
    deadline = runtime.monotonic() + seconds
    total = LoadReport()
    messages = 0
    round_size = loader.policy.max_files_per_load
    while runtime.monotonic() < deadline:
        batch: dict[str, tuple[str, str]] = {}
        while len(batch) < round_size:
            response = sqs_client.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            received = response.get("Messages") or []
            if not received:
                break
            for m in received:
                batch[m["MessageId"]] = (m["Body"], m["ReceiptHandle"])
        if not batch:
            break
        messages += len(batch)
        report, failed = process_messages(loader, [(mid, body) for mid, (body, _) in batch.items()])
        total.merge(report)
        failed_ids = set(failed)
        done = [(mid, handle) for mid, (_, handle) in batch.items() if mid not in failed_ids]
        for start in range(0, len(done), 10):
            sqs_client.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h} for i, (_, h) in enumerate(done[start : start + 10])
                ],
            )
        if failed:
            # Failed messages come back after their visibility timeout; do not spin on them now.
            break
    return {"messages": messages, **total.summary()}
