"""A DynamoDB Streams batch → lake files, quarantined records and a ``batchItemFailures`` response.

Order of work for one batch:

1. Route every record to its warehouse table and read those tables' recorded schemas from
   ``s3://<lake>/_schemas/<table>.json``.
2. Decode (pure, ``thermocline.decode``). Undecodable records become rejects.
3. Record changed schemas *before* any file that uses them, with S3 conditional writes (``If-Match`` on the
   ETag read, ``If-None-Match: *`` for a new table). When a concurrent invocation (another shard) recorded
   first, re-read and decode again on top of its schema: a column name, once recorded, never changes.
4. Write one Parquet file per table and event date; quarantine each reject as JSON with its reason.
5. Report failures with ReportBatchItemFailures semantics: Lambda checkpoints at, and retries from, the
   *lowest* sequence number returned, so the response names the lowest sequence number of any record
   whose file or quarantine object could not be written. Records after it are retried too and overwrite
   their own deterministic files, or land in a new file the loader deduplicates.
   https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from thermocline import decode
from thermocline.contracts import Contracts, load_contracts
from thermocline.decode import SEQ_WIDTH, DecodeResult, Reject, decode_batch, target_tables
from thermocline.observability import logger
from thermocline.observability import metrics as default_metrics
from thermocline.parquet import (
    lake_key,
    quarantine_key,
    shard_token,
    split_by_event_date,
    to_parquet_bytes,
    utc_date,
)
from thermocline.schema import VARCHAR_MAX, SchemaError, TableSchema
from thermocline.settings import StreamIngestSettings

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

__all__ = ["InvalidStreamEventError", "SchemaStore", "handle_stream_event"]

_SCHEMA_ATTEMPTS = 5
_TRANSIENT = (ClientError, BotoCoreError, OSError)


class InvalidStreamEventError(ValueError):
    """The event is not a DynamoDB Streams batch (no ``Records`` list)."""


class SchemaConflictError(RuntimeError):
    """The recorded schema kept changing under us; the batch is retried."""


@functools.lru_cache(maxsize=8)
def _contracts(path: str | None) -> Contracts:
    return load_contracts(path)


class SchemaStore:
    """Recorded table schemas as JSON objects in the lake bucket, written with conditional puts."""

    def __init__(self, s3_client: Any, bucket: str, prefix: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.etags: dict[str, str | None] = {}

    def key(self, table: str) -> str:
        return f"{self.prefix}{table}.json"

    def load(self, table: str) -> TableSchema | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=self.key(table))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                self.etags[table] = None
                return None
            raise
        self.etags[table] = response["ETag"]
        return TableSchema.from_json(json.loads(response["Body"].read()))

    def save(self, schema: TableSchema) -> bool:
        """Write ``schema`` if nobody else changed it since we read it. False on a lost race."""
        etag = self.etags.get(schema.table)
        schema.revision += 1
        body = json.dumps(schema.to_json(), indent=1, ensure_ascii=True).encode()
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            response = self.s3.put_object(
                Bucket=self.bucket,
                Key=self.key(schema.table),
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            # 409 ConditionalRequestConflict: a concurrent conditional write to the same key.
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return False
            raise
        self.etags[schema.table] = response.get("ETag")
        return True


@functools.cache
def _report_pure_python(metrics: Metrics) -> None:
    """Once per cold start (execution environment): decoding without the C fast path is ~2.6x slower, which
    nobody should find out from the bill. A layer built for another platform or Python, or a failed build,
    shows up here as a warning and the DecodeFastPathUnavailable metric."""
    if decode.FAST_PATH_UNAVAILABLE:
        logger.warning("decoding on the pure-Python path", reason=decode.FAST_PATH_UNAVAILABLE)
        metrics.add_metric(name="DecodeFastPathUnavailable", unit="Count", value=1)


def handle_stream_event(
    event: dict[str, Any],
    *,
    settings: StreamIngestSettings,
    s3_client: Any,
    contracts: Contracts | None = None,
    metrics: Metrics | None = None,
    now: Callable[[], datetime] | None = None,
) -> dict[str, Any]:
    """Write one Lambda DynamoDB Streams batch to the lake; return the ``batchItemFailures`` response."""
    metrics = metrics or default_metrics
    _report_pure_python(metrics)
    clock = now or (lambda: datetime.now(UTC))
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise InvalidStreamEventError("event has no 'Records' list: not a DynamoDB Streams batch")
    if not records:
        return {"batchItemFailures": []}
    if contracts is None:
        contracts = _contracts(settings.contracts_path)
    started = time.perf_counter()
    store = SchemaStore(s3_client, settings.lake_bucket, settings.schema_prefix)
    shard = shard_token(_stream_arn(records))

    try:
        result = _decode_and_record(records, contracts, store, settings.lake_prefix)
    except (*_TRANSIENT, SchemaConflictError) as exc:
        # Nothing was written; retry the whole batch from its first record.
        logger.warning("schema store unavailable, retrying batch", error=str(exc), records=len(records))
        return _retry_whole_batch(records, metrics, exc)

    today = clock()
    failed: list[str] = []
    files = bytes_written = rows_written = 0

    # Oversized values first: a lake file must never reference an object that is not there.
    for key, data in result.oversize.items():
        try:
            s3_client.put_object(
                Bucket=settings.lake_bucket, Key=key, Body=data, ContentType="application/json"
            )
        except _TRANSIENT as exc:
            logger.warning("oversize value write failed, retrying batch", key=key, error=str(exc))
            return _retry_whole_batch(records, metrics, exc)

    for table, batch in result.tables.items():
        for date, part in split_by_event_date(batch.arrow, utc_date(None, today)):
            seqs = part["_seq"]
            key = lake_key(settings.lake_prefix, table, date, shard, seqs[0].as_py(), seqs[-1].as_py())
            body = to_parquet_bytes(part)
            try:
                s3_client.put_object(
                    Bucket=settings.lake_bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/vnd.apache.parquet",
                )
            except _TRANSIENT as exc:
                originals = _originals(batch.sequence_numbers, batch.arrow["_seq"].to_pylist(), part)
                failed.extend(originals)
                logger.warning("lake write failed", table=table, key=key, rows=part.num_rows, error=str(exc))
                continue
            files += 1
            bytes_written += len(body)
            rows_written += part.num_rows
            logger.debug("lake file written", table=table, key=key, rows=part.num_rows, bytes=len(body))

    quarantined = 0
    for reject in result.rejects:
        if _quarantine(s3_client, settings, reject, shard, today):
            quarantined += 1
        elif reject.sequence_number is not None:
            failed.append(reject.sequence_number)
        else:
            raise RuntimeError("could not quarantine a record that has no sequence number")

    _observe(metrics, result, records, files, bytes_written, rows_written, quarantined, today)
    response: dict[str, Any] = {"batchItemFailures": []}
    if failed:
        lowest = min(failed, key=_seq_order)
        response["batchItemFailures"] = [{"itemIdentifier": lowest}]
        metrics.add_metric(name="WriteFailures", unit="Count", value=len(failed))
        logger.warning("batch partially failed", retry_from=lowest, failed_records=len(failed))
    logger.info(
        "stream batch ingested",
        records=len(records),
        rows=rows_written,
        files=files,
        bytes=bytes_written,
        quarantined=quarantined,
        skipped_without_image=len(result.imageless),
        tables=sorted(result.tables),
        seconds=round(time.perf_counter() - started, 3),
    )
    return response


def _decode_and_record(
    records: list[Any], contracts: Contracts, store: SchemaStore, lake_prefix: str
) -> DecodeResult:
    schemas: dict[str, TableSchema] = {}
    read: set[str] = set()

    def read_schemas() -> None:
        # Routing depends on the schemas (who owns a table), and may name a table whose schema is not
        # read yet (`my_table` belongs to another source: `my_table_2`): read until it names no new one.
        while wanted := target_tables(records, contracts, schemas) - read:
            for table in sorted(wanted):
                read.add(table)
                try:
                    loaded = store.load(table)
                except (SchemaError, ValueError, KeyError) as exc:
                    raise SchemaConflictError(f"recorded schema of {table} is unreadable: {exc}") from exc
                if loaded is not None:
                    schemas[table] = loaded

    read_schemas()
    for _attempt in range(_SCHEMA_ATTEMPTS):
        result = decode_batch(records, contracts, schemas, spill_over=VARCHAR_MAX, spill_prefix=lake_prefix)
        lost = []
        for table in sorted(result.changed_schemas):
            schema = result.schemas[table]
            if table in schemas and schema.same_as(schemas[table]):
                continue
            if store.save(schema):
                schemas[table] = schema.copy()
            else:
                lost.append(table)
        if not lost:
            for table in sorted(result.changed_schemas):
                logger.info("table schema recorded", table=table, columns=list(result.schemas[table].columns))
            return result
        for table in lost:
            reloaded = store.load(table)
            if reloaded is not None:
                schemas[table] = reloaded
        read_schemas()
        logger.info("schema changed concurrently, decoding again", tables=lost)
    raise SchemaConflictError(f"schema of {lost} kept changing")


def _originals(originals: list[str], padded: list[str], part: Any) -> list[str]:
    wanted = set(part["_seq"].to_pylist())
    return [o for o, p in zip(originals, padded, strict=True) if p in wanted]


def _stream_arn(records: list[Any]) -> str:
    for record in records:
        if isinstance(record, dict) and isinstance(record.get("eventSourceARN"), str):
            return record["eventSourceARN"]
    return "unknown"


def _seq_order(seq: str) -> str:
    """Sort key of a sequence number: numeric order, as Lambda compares them for checkpointing."""
    return seq.rjust(SEQ_WIDTH, "0")


def _retry_whole_batch(records: list[Any], metrics: Metrics, exc: BaseException) -> dict[str, Any]:
    """The response that has Lambda retry every record: fail from the batch's lowest sequence number."""
    metrics.add_metric(name="BatchRetries", unit="Count", value=1)
    seqs = [
        r["dynamodb"]["SequenceNumber"]
        for r in records
        if isinstance(r, dict)
        and isinstance(r.get("dynamodb"), dict)
        and isinstance(r["dynamodb"].get("SequenceNumber"), str)
        and r["dynamodb"]["SequenceNumber"]
    ]
    if not seqs:
        raise exc  # no record to name: fail the invocation, which retries the batch too
    return {"batchItemFailures": [{"itemIdentifier": min(seqs, key=_seq_order)}]}


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _quarantine(
    s3_client: Any, settings: StreamIngestSettings, reject: Reject, shard: str, today: datetime
) -> bool:
    payload = json.dumps(
        {"reason": reject.reason, "record": reject.record}, default=_json_default, ensure_ascii=True, indent=1
    ).encode()
    seq = reject.sequence_number
    if not (seq and seq.isascii() and seq.isdigit() and len(seq) <= 40):
        # No usable sequence number: name the object by its content, still deterministic.
        seq = "record-" + hashlib.sha256(payload).hexdigest()[:16]
    else:
        seq = _seq_order(seq)
    key = quarantine_key(
        settings.quarantine_prefix, reject.table, utc_date(reject.event_time_us, today), shard, seq
    )
    try:
        s3_client.put_object(
            Bucket=settings.lake_bucket, Key=key, Body=payload, ContentType="application/json"
        )
    except _TRANSIENT as exc:
        logger.warning("quarantine write failed", key=key, error=str(exc))
        return False
    logger.error(
        "record quarantined",
        key=key,
        reason=reject.reason,
        table=reject.table,
        sequence_number=reject.sequence_number,
    )
    return True


def _observe(
    metrics: Metrics,
    result: DecodeResult,
    records: list[Any],
    files: int,
    bytes_written: int,
    rows: int,
    quarantined: int,
    now: datetime,
) -> None:
    metrics.add_metric(name="RecordsReceived", unit="Count", value=len(records))
    metrics.add_metric(name="RowsWritten", unit="Count", value=rows)
    metrics.add_metric(name="LakeFilesWritten", unit="Count", value=files)
    metrics.add_metric(name="LakeBytesWritten", unit="Bytes", value=bytes_written)
    metrics.add_metric(name="RecordsQuarantined", unit="Count", value=quarantined)
    if result.imageless:
        views = sorted({view for _, view, _ in result.imageless})
        metrics.add_metric(name="ChangesWithoutNewImage", unit="Count", value=len(result.imageless))
        logger.warning(
            "INSERT/MODIFY records carry no new image; their rows are not written (use a NEW_IMAGE or "
            "NEW_AND_OLD_IMAGES stream)",
            stream_view_types=views,
            records=len(result.imageless),
            tables=sorted({t for t, _, _ in result.imageless}),
        )
    if result.truncated_values:
        metrics.add_metric(name="StringsTruncated", unit="Count", value=result.truncated_values)
    if result.overflow_values:
        metrics.add_metric(name="ValuesOverflowed", unit="Count", value=result.overflow_values)
    if result.oversize:
        metrics.add_metric(name="OversizeValues", unit="Count", value=len(result.oversize))
    for table, column, recorded, declared in result.contract_conflicts:
        logger.warning(
            "contract declares a type the table already records differently; the recorded type is kept",
            table=table,
            column=column,
            recorded=recorded,
            declared=declared,
        )
    if result.widened:
        metrics.add_metric(name="ColumnsWidened", unit="Count", value=len(result.widened))
        for table, column, new_type in result.widened:
            logger.warning("column widened", table=table, column=column, type=new_type)
    if result.oldest_event_us is not None:
        now_us = int(now.timestamp() * 1_000_000)
        lag_ms = max(0, (now_us - result.oldest_event_us) // 1000)
        metrics.add_metric(name="IngestLag", unit="Milliseconds", value=lag_ms)
