"""DynamoDB table exports on the local stack, written in AWS's documented layout.

moto (5.x) accepts ExportTableToPointInTime but writes one data file and no manifests, records no export
time and has no incremental exports, so the local stack writes the export itself, exactly as AWS
documents it (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html):
``manifest-summary.json``, ``manifest-files.json`` and gzipped DynamoDB JSON data files under
``<prefix>/AWSDynamoDB/<ExportId>/``. A full export is a consistent scan of moto's table at the export
time; an incremental export is built from the table's stream records in the window, the newest per key.
Tests use :func:`write_export` to lay out exports with whatever items they need.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from thermocline.sources.dynamodb_export.exports import ExportStatus

__all__ = ["LocalExports", "write_export"]


def _base64(value: Any) -> str:
    """B and BS values: boto3 hands out bytes, DynamoDB JSON carries base64 text."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON: {type(value).__name__}")


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_export(
    s3: Any,
    bucket: str,
    prefix: str,
    table_arn: str,
    lines: Iterable[dict[str, Any]],
    *,
    as_of: datetime,
    export_from: datetime | None = None,
    items_per_file: int = 1000,
    raw_lines: Sequence[str] = (),
) -> tuple[str, str]:
    """Write an export of ``lines`` (``{"Item": ...}``, or incremental ``{"Keys", "NewImage"?}`` when
    ``export_from`` is given); returns (export ARN, key of manifest-summary.json).

    ``raw_lines`` are appended verbatim to the last data file (for tests of malformed exports).
    """
    export_id = f"{int(as_of.timestamp() * 1000):014d}-{uuid.uuid4().hex[:8]}"
    arn = f"{table_arn}/export/{export_id}"
    base = f"{prefix.rstrip('/')}/AWSDynamoDB/{export_id}"
    files: list[dict[str, Any]] = []
    batch: list[str] = []
    count = 0

    def flush() -> None:
        body = gzip.compress(("".join(line + "\n" for line in batch)).encode("utf-8", "surrogatepass"))
        key = f"{base}/data/{uuid.uuid4().hex}.json.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        files.append(
            {
                "itemCount": len(batch),
                "md5Checksum": hashlib.md5(body).hexdigest(),  # noqa: S324 - the manifest's own checksum
                "dataFileS3Key": key,
            }
        )
        batch.clear()

    for line in lines:
        batch.append(json.dumps(line, default=_base64))
        count += 1
        if len(batch) == items_per_file:
            flush()
    batch.extend(raw_lines)
    if batch or not files:
        flush()  # AWS writes a file even for an empty partition
    files_key = f"{base}/manifest-files.json"
    s3.put_object(Bucket=bucket, Key=files_key, Body="".join(json.dumps(f) + "\n" for f in files).encode())
    summary: dict[str, Any] = {
        "version": "2023-08-01" if export_from else "2020-06-30",
        "exportArn": arn,
        "startTime": _iso(as_of),
        "endTime": _iso(as_of),
        "tableArn": table_arn,
        "tableId": hashlib.sha256(table_arn.encode()).hexdigest()[:32],
        "s3Bucket": bucket,
        "s3Prefix": prefix.rstrip("/"),
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": files_key,
        "billedSizeBytes": 0,
        "itemCount": count,
        "outputFormat": "DYNAMODB_JSON",
    }
    if export_from is None:
        summary |= {"exportType": "FULL_EXPORT", "exportTime": _iso(as_of)}
    else:
        summary |= {
            "exportType": "INCREMENTAL_EXPORT",
            "exportFromTime": _iso(export_from),
            "exportToTime": _iso(as_of),
            "exportViewType": "NEW_IMAGE",
        }
    summary_key = f"{base}/manifest-summary.json"
    s3.put_object(Bucket=bucket, Key=summary_key, Body=json.dumps(summary, indent=1).encode())
    return arn, summary_key


class LocalExports:
    """``Exports`` on moto: each export is written at once, in AWS's layout, and reported COMPLETED."""

    def __init__(
        self,
        ddb: Any,
        s3: Any,
        streams: Any = None,
        *,
        items_per_file: int = 1000,
        buckets: Sequence[str] = (),
    ) -> None:
        self.ddb = ddb
        self.buckets = list(buckets)
        self.s3 = s3
        self.streams = streams
        self.items_per_file = items_per_file
        self._done: dict[str, ExportStatus] = {}

    def start(
        self,
        table_arn: str,
        bucket: str,
        prefix: str,
        *,
        export_from: datetime | None = None,
        export_to: datetime | None = None,
        client_token: str | None = None,
    ) -> str:
        table = table_arn.rsplit("/", 1)[-1]
        if export_from is None:
            as_of = datetime.now(UTC)
            lines: Iterable[dict[str, Any]] = ({"Item": item} for item in self._scan(table))
        else:
            as_of = export_to or datetime.now(UTC)
            lines = self._changes(table, export_from, as_of)
        arn, summary_key = write_export(
            self.s3,
            bucket,
            prefix,
            table_arn,
            list(lines),
            as_of=as_of,
            export_from=export_from,
            items_per_file=self.items_per_file,
        )
        self._done[arn] = ExportStatus(arn, "COMPLETED", bucket, summary_key)
        return arn

    def describe(self, export_arn: str) -> ExportStatus:
        done = self._done.get(export_arn)
        if done is not None:
            return done
        # Written by another process (a resumed backfill): find its summary in the buckets it may be in.
        suffix = f"/AWSDynamoDB/{export_arn.rsplit('/', 1)[-1]}/manifest-summary.json"
        for bucket in self.buckets:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith(suffix):
                        return ExportStatus(export_arn, "COMPLETED", bucket, obj["Key"])
        return ExportStatus(export_arn, "FAILED", "", failure="no such export on the local stack")

    def _scan(self, table: str) -> Iterable[dict[str, Any]]:
        for page in self.ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            yield from page["Items"]

    def _changes(self, table: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The newest change per key in [start, end) from the table's stream records."""
        if self.streams is None:
            raise RuntimeError("an incremental export on the local stack needs the dynamodbstreams client")
        stream_arn = self.ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        newest: dict[str, dict[str, Any]] = {}
        for shard in self.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
            iterator = self.streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                for record in page["Records"]:
                    body = record["dynamodb"]
                    at = body["ApproximateCreationDateTime"]
                    at = at if at.tzinfo else at.replace(tzinfo=UTC)
                    if start <= at < end:
                        newest[json.dumps(body["Keys"], sort_keys=True)] = body
                if not page["Records"]:
                    break
                iterator = page.get("NextShardIterator")
        lines = []
        for body in newest.values():
            line: dict[str, Any] = {"Keys": body["Keys"]}
            if "NewImage" in body:
                line["NewImage"] = body["NewImage"]
            lines.append(line)
        return lines
