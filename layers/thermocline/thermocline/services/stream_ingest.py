"""A DynamoDB Streams batch → lake files, quarantined records and a ``batchItemFailures`` response.

Order of work for one batch:

1. Route every record to its warehouse table and read those tables' recorded schemas from
   ``s3://<lake>/_schemas/<table>.json``.
2. Decode (pure, ``thermocline.sources.dynamodb_streams``). Undecodable records become rejects.
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

import functools
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from thermocline.concurrency import concurrently
from thermocline.contracts import Contracts, DeadRoute, load_contracts
from thermocline.lake import keys as lake_keys
from thermocline.lake.columns import SEQ_WIDTH
from thermocline.lake.parquet import split_by_event_date, to_parquet_bytes
from thermocline.lake.quarantine import Quarantine
from thermocline.lake.schema_store import SchemaStore
from thermocline.observability import logger
from thermocline.runtime import Runtime
from thermocline.settings import StreamIngestSettings
from thermocline.sources.dynamodb_streams import DecodeResult, fastpath
from thermocline.sources.dynamodb_streams.recording import (
    SchemaConflictError,
    decode_and_record,
    quarantine_reject,
)

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

__all__ = ["InvalidStreamEventError", "handle_stream_event"]

_TRANSIENT = (ClientError, BotoCoreError, OSError)


class InvalidStreamEventError(ValueError):
    """The event is not a DynamoDB Streams batch (no ``Records`` list)."""


@functools.lru_cache(maxsize=8)
def _contracts(path: str | None) -> Contracts:
    return load_contracts(path)


@functools.cache
def _report_pure_python(metrics: Metrics) -> None:
    """Once per cold start (execution environment): decoding without the C fast path is ~3x slower, which
    nobody should find out from the bill. A layer built for another platform or Python, or a failed build,
    shows up here as a warning and the DecodeFastPathUnavailable metric."""
    if fastpath.FAST_PATH_UNAVAILABLE:
        logger.warning("decoding on the pure-Python path", reason=fastpath.FAST_PATH_UNAVAILABLE)
        metrics.add_metric(name="DecodeFastPathUnavailable", unit="Count", value=1)


# Dead routes already reported by this execution environment: each is logged once, not once per batch.
_reported_dead_routes: set[DeadRoute] = set()


def _report_dead_routes(metrics: Metrics, dead_routes: list[DeadRoute]) -> None:
    """A contract route that names a non-key attribute never matches: its items are still written, to the
    next matching route or the ``unmatched`` target (docs/ingest.md), so the batch goes on, but the mistake
    is one ERROR line and the ContractRouteNeverMatches metric per route and attribute."""
    for dead in dead_routes:
        if dead in _reported_dead_routes:
            continue
        _reported_dead_routes.add(dead)
        logger.error(
            "contract route can never match: it matches an attribute that is not a key attribute of the "
            "table (routes match key attributes only); the items go to the next route or `unmatched`",
            contract=dead.contract,
            table_glob=dead.table_glob,
            table=dead.source_table,
            target=dead.target,
            attribute=dead.attribute,
            key_attributes=list(dead.key_attributes),
        )
        metrics.add_metric(name="ContractRouteNeverMatches", unit="Count", value=1)


def handle_stream_event(
    event: dict[str, Any],
    *,
    settings: StreamIngestSettings,
    s3_client: Any,
    contracts: Contracts | None = None,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """Write one Lambda DynamoDB Streams batch to the lake; return the ``batchItemFailures`` response."""
    runtime = runtime or Runtime()
    metrics = runtime.metrics
    _report_pure_python(metrics)
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise InvalidStreamEventError("event has no 'Records' list: not a DynamoDB Streams batch")
    if not records:
        return {"batchItemFailures": []}
    if contracts is None:
        contracts = _contracts(settings.contracts_path)
    started = time.perf_counter()
    store = SchemaStore(s3_client, settings.lake_bucket, settings.schema_prefix)
    shard = lake_keys.shard_token(_stream_arn(records))
    quarantine = Quarantine(s3_client, settings.lake_bucket, settings.quarantine_prefix)

    try:
        result = decode_and_record(records, contracts, store, settings.lake_prefix)
    except (*_TRANSIENT, SchemaConflictError) as exc:
        # Nothing was written; retry the whole batch from its first record.
        logger.warning("schema store unavailable, retrying batch", error=str(exc), records=len(records))
        return _retry_whole_batch(records, metrics, exc)

    _report_dead_routes(metrics, result.dead_routes)
    today = runtime.clock()
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

    # Every file is built first and then written side by side (``concurrency``): each PUT mostly waits on S3.
    lake_files = []
    for table, batch in result.tables.items():
        for date, part in split_by_event_date(batch.arrow, lake_keys.utc_date(None, today)):
            seqs = part["_seq"]
            key = lake_keys.cdc_key(
                settings.lake_prefix, table, date, shard, seqs[0].as_py(), seqs[-1].as_py()
            )
            lake_files.append((table, batch, part, key, to_parquet_bytes(part)))
    put = functools.partial(_put_lake_file, s3_client, settings.lake_bucket)
    errors = concurrently(put, [(key, body) for *_, key, body in lake_files])
    for (table, batch, part, key, body), error in zip(lake_files, errors, strict=True):
        if error is not None:
            originals = _originals(batch.sequence_numbers, batch.arrow["_seq"].to_pylist(), part)
            failed.extend(originals)
            logger.warning("lake write failed", table=table, key=key, rows=part.num_rows, error=str(error))
            continue
        files += 1
        bytes_written += len(body)
        rows_written += part.num_rows
        logger.debug("lake file written", table=table, key=key, rows=part.num_rows, bytes=len(body))

    quarantined = 0
    for reject in result.rejects:
        if quarantine_reject(quarantine, reject, shard, today):
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


def _put_lake_file(s3_client: Any, bucket: str, file: tuple[str, bytes]) -> Exception | None:
    """Write one lake file; the transient error that stopped it, if any (the caller retries its rows)."""
    key, body = file
    try:
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet")
    except _TRANSIENT as exc:
        return exc
    return None


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
