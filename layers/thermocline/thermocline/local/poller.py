"""Deliver events to handlers the way Lambda's event source mappings do, against moto's server.

* DynamoDB Streams: read each shard from TRIM_HORIZON, cut batches of the mapping's ``BatchSize``, shape
  them as Lambda does (``ApproximateCreationDateTime`` in epoch seconds, binary as base64 text), honour
  ``ReportBatchItemFailures`` (retry from the lowest failed sequence number), bisect a failing batch, and
  after ``MaximumRetryAttempts`` send the batch's description to the on-failure destination.
  https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html
  Several mappings on one stream share one ``StreamReader``: each shard's records are fetched once and the
  same records are handed to every mapping, each cutting its own batches.
* SQS: receive messages, deliver them in batches, delete the ones the handler did not report as failed.
  https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from thermocline.observability import logger

Invoke = Callable[[dict[str, Any]], Any]
# (shard id, the records read from it since the last read, shaped as Lambda delivers them), shard by shard.
ShardRecords = list[tuple[str, list[dict[str, Any]]]]


def to_lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A record of ``GetRecords`` as the service sends it (wire JSON: binary as base64 text, the creation
    time in epoch seconds with a fraction) → the record Lambda puts in the event (whole epoch seconds)."""
    ddb = record["dynamodb"]
    created = ddb.get("ApproximateCreationDateTime")
    if created is not None:
        ddb = {**ddb, "ApproximateCreationDateTime": int(created)}
    out = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "dynamodb": ddb,
        "eventSourceARN": stream_arn,
    }
    identity = record.get("userIdentity")
    if isinstance(identity, dict):
        # GetRecords spells the fields Type/PrincipalId, Lambda's events type/principalId
        # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html).
        out["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
    return out


class StreamReader:
    """One DynamoDB stream, read once for every mapping on it: ``read`` returns each shard's new records.

    The client answers ``GetRecords`` with the JSON the service sends (``wire.keep_wire_json``): that is
    already the shape Lambda delivers, so no record goes through botocore's value-by-value parse and back."""

    def __init__(self, streams_client: Any, stream_arn: str, region: str = "us-east-1") -> None:
        self.streams = streams_client
        self.stream_arn = stream_arn
        self.region = region
        self._iterators: dict[str, str | None] = {}

    def _shards(self) -> list[str]:
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        return [shard["ShardId"] for shard in shards]

    def _read_shard(self, shard_id: str) -> list[dict[str, Any]]:
        iterator = self._iterators.get(shard_id)
        if shard_id not in self._iterators:
            iterator = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        records: list[dict[str, Any]] = []
        while iterator:
            page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            iterator = page.get("NextShardIterator")
            if not page["Records"]:
                break
            records.extend(page["Records"])
        self._iterators[shard_id] = iterator
        return records

    def read(self) -> ShardRecords:
        """Every record written since the last read, shard by shard, in order, shaped as Lambda delivers."""
        return [
            (shard, [to_lambda_record(r, self.stream_arn, self.region) for r in self._read_shard(shard)])
            for shard in self._shards()
        ]

    def discard(self) -> int:
        """Move past every record written so far without delivering it: the local stand-in for changes
        the pipeline never saw (made before the stream existed, or aged out of its 24-hour retention)."""
        return sum(len(self._read_shard(shard)) for shard in self._shards())


@dataclass
class DeliveryStats:
    invocations: int = 0
    records: int = 0
    retries: int = 0
    failed_batches: int = 0
    redelivered: int = 0
    responses: list[Any] = field(default_factory=list)


def _failed_index(batch: list[dict[str, Any]], response: Any) -> int | None:
    """Index of the first record to retry, per ReportBatchItemFailures, or None when all succeeded."""
    failures = (response or {}).get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return None
    ids = {f.get("itemIdentifier") for f in failures}
    if None in ids or "" in ids:  # an empty identifier fails the whole batch
        return 0
    for i, rec in enumerate(batch):
        if rec["dynamodb"]["SequenceNumber"] in ids:
            return i
    return 0  # an identifier that matches nothing: Lambda treats the whole batch as failed


class StreamPoller:
    """One DynamoDB stream → one function, like an event source mapping. Mappings that share a
    ``StreamReader`` each get every record; ``poll`` reads and delivers, ``deliver`` hands over records
    another mapping's read returned."""

    def __init__(
        self,
        reader: StreamReader,
        invoke: Invoke,
        *,
        batch_size: int = 100,
        max_retries: int = 3,
        bisect_on_error: bool = True,
        on_failure: Callable[[dict[str, Any]], None] | None = None,
        redeliver: bool = False,
    ) -> None:
        self.reader = reader
        self.redeliver = redeliver
        self.invoke = invoke
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.bisect_on_error = bisect_on_error
        self.on_failure = on_failure
        self.stats = DeliveryStats()
        self._pending: dict[str, list[dict[str, Any]]] = {}  # shard -> records short of a whole batch

    @property
    def stream_arn(self) -> str:
        return self.reader.stream_arn

    def discard(self) -> int:
        """Move the reader past every record written so far (``StreamReader.discard``)."""
        return self.reader.discard()

    def poll(self) -> DeliveryStats:
        """Deliver every record written so far, shard by shard, in order."""
        return self.deliver(self.reader.read())

    def deliver(self, shards: ShardRecords, *, flush: bool = True) -> DeliveryStats:
        """Deliver records read from the stream, in batches of this mapping's size, shard by shard.
        ``flush=False`` (more records are on their way) delivers whole batches only and keeps the rest for
        the next call, as a mapping gathers a batch before it invokes."""
        leftover = [(shard, []) for shard in self._pending if shard not in dict(shards)]
        for shard_id, read in [*shards, *leftover]:
            records = self._pending.pop(shard_id, []) + read
            whole = len(records) if flush else len(records) - len(records) % self.batch_size
            if whole < len(records):
                self._pending[shard_id] = records[whole:]
            for start in range(0, whole, self.batch_size):
                batch = records[start : min(start + self.batch_size, whole)]
                self._deliver(batch, shard_id)
                if self.redeliver:
                    # At-least-once delivery made visible: the same batch again, as a Lambda retry
                    # after a timeout would send it. The warehouse must not change because of it.
                    counted = self.stats.records
                    self._deliver(batch, shard_id)
                    self.stats.redelivered += self.stats.records - counted
                    self.stats.records = counted
        return self.stats

    def _deliver(self, batch: list[dict[str, Any]], shard_id: str, attempt: int = 0) -> None:
        while batch:
            self.stats.invocations += 1
            try:
                response = self.invoke({"Records": batch})
                retry_from = _failed_index(batch, response)
                self.stats.responses.append(response)
            except Exception as exc:  # a function error: Lambda retries, bisecting if configured
                logger.warning("stream batch failed", error=str(exc), records=len(batch), attempt=attempt)
                if self.bisect_on_error and len(batch) > 1 and attempt < self.max_retries:
                    half = len(batch) // 2
                    self._deliver(batch[:half], shard_id, attempt + 1)
                    self._deliver(batch[half:], shard_id, attempt + 1)
                    return
                retry_from = 0
            if retry_from is None:
                self.stats.records += len(batch)
                return
            self.stats.records += retry_from
            batch = batch[retry_from:]
            attempt += 1
            self.stats.retries += 1
            if attempt > self.max_retries:
                self._give_up(batch, shard_id)
                return

    def _give_up(self, batch: list[dict[str, Any]], shard_id: str) -> None:
        self.stats.failed_batches += 1
        info = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self.max_retries + 1,
            },
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        logger.error("stream batch sent to on-failure destination", **info["DDBStreamBatchInfo"])
        if self.on_failure:
            self.on_failure(info)


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A message from ``ReceiveMessage`` → the record Lambda puts in an SQS event."""
    body = message["Body"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class QueueDrainer:
    """One SQS queue → one function, like an event source mapping, until the queue is empty."""

    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Invoke,
        *,
        batch_size: int = 10,
        region: str = "us-east-1",
    ) -> None:
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.invoke = invoke
        self.batch_size = batch_size
        self.region = region
        self.stats = DeliveryStats()

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.batch_size:
            page = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                WaitTimeSeconds=0,
                VisibilityTimeout=900,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not page:
                break
            messages.extend(page)
        return messages

    def drain(self) -> DeliveryStats:
        while messages := self._receive():
            records = [sqs_record(m, self.queue_arn, self.region) for m in messages]
            self.stats.invocations += 1
            response = self.invoke({"Records": records})
            self.stats.responses.append(response)
            failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            for start in range(0, len(done), 10):
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done[start : start + 10])
                    ],
                )
            self.stats.records += len(done)
            if failed:
                self.stats.failed_batches += 1
                logger.warning("queue messages failed and stay on the queue", failed=len(failed))
                break
        return self.stats
