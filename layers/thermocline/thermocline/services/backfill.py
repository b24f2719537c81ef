"""A DynamoDB table export → lake files that the loader applies as the table's state at the export time.

Steps, each resumable (state in S3, ``sources/dynamodb_export/progress.py``):

1. ``start``: check that the table's stream carries new images, start a full or incremental export into the
   lake bucket (under ``export_prefix``, where no lake notification fires).
2. ``plan``: once the export is COMPLETED, read its manifests and record the plan: the data files.
3. ``run_file``: stream one data file in chunks of ``chunk_items`` items, decode each chunk with the
   stream's decoder and table contracts, write one lake file per warehouse table and chunk (metadata
   ``kind: export``), quarantine what cannot be decoded, and mark the chunk done. A deadline stops it
   between chunks; the next call resumes after the last marked chunk.

In AWS, BackfillFunction drives these steps through BackfillQueue (``handle_backfill_event``): one message
per step, each data file its own message, a file that outlives an invocation continued by a new message.
The seam with the stream is the loader's (``load.sql.load_sql``, docs/backfill.md).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from thermocline.contracts import Contracts, load_contracts
from thermocline.lake.keys import export_lake_key
from thermocline.lake.metadata import with_lake_metadata
from thermocline.lake.parquet import to_parquet_bytes
from thermocline.lake.quarantine import Quarantine
from thermocline.lake.schema_store import SchemaStore
from thermocline.observability import logger
from thermocline.runtime import Runtime
from thermocline.settings import BackfillSettings
from thermocline.sources.dynamodb_export import ExportSummary, to_stream_records
from thermocline.sources.dynamodb_export.exports import Exports, ExportStatus
from thermocline.sources.dynamodb_export.progress import ChunkDone, Plan, Progress
from thermocline.sources.dynamodb_export.reader import Chunk, read_chunks, read_export
from thermocline.sources.dynamodb_streams import Reject
from thermocline.sources.dynamodb_streams.recording import decode_and_record, quarantine_reject

__all__ = [
    "BackfillError",
    "FileOutcome",
    "export_plan",
    "handle_backfill_event",
    "plan_backfill",
    "run_file",
    "start_backfill",
]

_NEW_IMAGE_VIEWS = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")


class BackfillError(RuntimeError):
    """The backfill cannot go on: the export failed, or the table's stream cannot carry the seam."""


@functools.lru_cache(maxsize=8)
def table_contracts(path: str | None) -> Contracts:
    return load_contracts(path)


def table_description(ddb: Any, table: str) -> dict[str, Any]:
    return dict(ddb.describe_table(TableName=table)["Table"])


def start_backfill(
    ddb: Any,
    exports: Exports,
    settings: BackfillSettings,
    table: str,
    *,
    export_from: datetime | None = None,
    export_to: datetime | None = None,
    client_token: str | None = None,
) -> str:
    """Start the export of ``table`` (incremental when ``export_from`` is given); returns its ARN.

    The seam needs the stream: changes after the export time reach the warehouse only through it. A table
    whose stream is off or carries no new images is refused before anything is exported.
    """
    description = table_description(ddb, table)
    stream = description.get("StreamSpecification") or {}
    if not stream.get("StreamEnabled") or stream.get("StreamViewType") not in _NEW_IMAGE_VIEWS:
        raise BackfillError(
            f"table {table}: its stream is off or carries no new images; enable NEW_IMAGE or "
            "NEW_AND_OLD_IMAGES and deploy the pipeline before exporting, or changes after the export "
            "time would never reach the warehouse"
        )
    arn = exports.start(
        description["TableArn"],
        settings.lake_bucket,
        f"{settings.export_prefix.rstrip('/')}/{table}",
        export_from=export_from,
        export_to=export_to,
        client_token=client_token,
    )
    logger.info("export started", table=table, export_arn=arn, incremental=export_from is not None)
    return arn


def export_plan(s3: Any, ddb: Any, status: ExportStatus, chunk_items: int) -> tuple[Plan, ExportSummary]:
    """The data files of a COMPLETED export, from its manifests, and the table's key attributes."""
    if status.status != "COMPLETED":
        raise BackfillError(f"export {status.export_arn} is {status.status}: {status.failure or 'not done'}")
    if not status.summary_key:
        raise BackfillError(f"export {status.export_arn} is COMPLETED but names no manifest (ExportManifest)")
    summary, files = read_export(s3, status.bucket, status.summary_key)
    keys = table_description(ddb, summary.table_name)["KeySchema"]
    plan = Plan(
        export_arn=summary.export_arn,
        bucket=status.bucket,
        summary_key=status.summary_key,
        table_arn=summary.table_arn,
        key_attributes=[k["AttributeName"] for k in sorted(keys, key=lambda k: k["KeyType"] != "HASH")],
        files=[{"key": f.key, "items": f.item_count} for f in files],
        chunk_items=chunk_items,
    )
    return plan, summary


def plan_backfill(
    s3: Any, ddb: Any, settings: BackfillSettings, status: ExportStatus
) -> tuple[Plan, ExportSummary]:
    """The plan of a COMPLETED export, recorded in S3 (the recorded one, if a previous call made it)."""
    plan, summary = export_plan(s3, ddb, status, settings.chunk_items)
    progress = Progress(s3, settings.lake_bucket, settings.progress_prefix, summary.export_id)
    recorded = progress.load_plan()
    if recorded is None:
        progress.save_plan(plan)
    else:
        plan = recorded  # its chunk size names the chunks already written
    logger.info("backfill planned", export_arn=plan.export_arn, files=len(plan.files), items=plan.items)
    return plan, summary


@dataclass
class FileOutcome:
    finished: bool
    done: ChunkDone  # the whole file's totals so far (resumed chunks included)
    chunks_written: int  # chunks this call wrote (0 when everything was done before)


def run_file(
    s3: Any,
    settings: BackfillSettings,
    plan: Plan,
    summary: ExportSummary,
    index: int,
    *,
    deadline: float | None = None,
    on_chunk: Callable[[ChunkDone], None] | None = None,
    contracts: Contracts | None = None,
    runtime: Runtime | None = None,
) -> FileOutcome:
    """Write the lake files of data file ``index``, resuming after its last finished chunk.

    ``deadline`` (on ``runtime.monotonic``) stops between chunks; ``on_chunk`` sees each chunk's totals.
    """
    runtime = runtime or Runtime()
    progress = Progress(s3, settings.lake_bucket, settings.progress_prefix, plan.export_id)
    finished = progress.done_files().get(index)
    if finished is not None:
        return FileOutcome(True, finished, 0)
    done = progress.done_chunks(index)
    total = ChunkDone()
    for part in done.values():
        _add(total, part)
    # Chunks are written in order, so the finished ones are a prefix of the file.
    start = 0
    while start in done:
        start += 1
    contracts = contracts if contracts is not None else table_contracts(settings.contracts_path)
    store = SchemaStore(s3, settings.lake_bucket, settings.schema_prefix)
    written = 0
    key = plan.files[index]["key"]
    for chunk in read_chunks(s3, plan.bucket, key, plan.chunk_items, start * plan.chunk_items + 1):
        if written and deadline is not None and runtime.monotonic() > deadline:
            logger.info("backfill file paused at its deadline", file=key, chunks_written=written)
            return FileOutcome(False, total, written)
        part = _write_chunk(s3, settings, plan, summary, index, chunk, contracts, store, runtime)
        progress.mark_chunk(index, chunk.number, part)
        _add(total, part)
        written += 1
        if on_chunk is not None:
            on_chunk(part)
    progress.mark_file(index, total)
    runtime.metrics.add_metric(name="BackfillItems", unit="Count", value=total.items)
    logger.info("backfill file done", file=key, items=total.items, rows=total.rows)
    return FileOutcome(True, total, written)


def _add(total: ChunkDone, part: ChunkDone) -> None:
    total.items += part.items
    total.lake_files += part.lake_files
    total.lake_bytes += part.lake_bytes
    total.quarantined += part.quarantined
    total.compressed_bytes = max(total.compressed_bytes, part.compressed_bytes)
    for table, n in part.rows.items():
        total.rows[table] = total.rows.get(table, 0) + n


def _write_chunk(
    s3: Any,
    settings: BackfillSettings,
    plan: Plan,
    summary: ExportSummary,
    index: int,
    chunk: Chunk,
    contracts: Contracts,
    store: SchemaStore,
    runtime: Runtime,
) -> ChunkDone:
    file_key = plan.files[index]["key"]
    records, bad = to_stream_records(chunk.lines, summary, plan.key_attributes, file_key)
    result = decode_and_record(records, contracts, store, settings.lake_prefix)
    part = ChunkDone(items=len(records) + len(bad), compressed_bytes=chunk.compressed_bytes)
    # Oversized values first: a lake file must never reference an object that is not there.
    for key, data in result.oversize.items():
        s3.put_object(Bucket=settings.lake_bucket, Key=key, Body=data, ContentType="application/json")
    date = summary.as_of.astimezone(UTC).strftime("%Y-%m-%d")
    for table, batch in result.tables.items():
        key = export_lake_key(settings.lake_prefix, table, date, plan.export_arn, index, chunk.number)
        body = to_parquet_bytes(with_lake_metadata(batch.arrow, batch.schema, kind="export"))
        s3.put_object(
            Bucket=settings.lake_bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet"
        )
        part.lake_files += 1
        part.lake_bytes += len(body)
        part.rows[table] = batch.arrow.num_rows
    token = "x" + plan.export_id
    now = runtime.clock()
    rejects = list(result.rejects) + [
        Reject(b.line, {"file": b.file, "line": b.line, "text": b.text}, b.reason) for b in bad
    ]
    quarantine = Quarantine(s3, settings.lake_bucket, settings.quarantine_prefix)
    for reject in rejects:
        if not quarantine_reject(quarantine, reject, token, now):
            raise BackfillError(f"could not quarantine an undecodable item of {file_key}")
        part.quarantined += 1
    if rejects:
        runtime.metrics.add_metric(name="RecordsQuarantined", unit="Count", value=len(rejects))
    return part


# --- BackfillFunction ----------------------------------------------------------------------------------


def _send(sqs: Any, settings: BackfillSettings, body: dict[str, Any], delay: int = 0) -> None:
    if not settings.backfill_queue_url:
        raise BackfillError("BACKFILL_QUEUE_URL is not set")
    sqs.send_message(QueueUrl=settings.backfill_queue_url, MessageBody=json.dumps(body), DelaySeconds=delay)


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def handle_backfill_event(
    event: dict[str, Any],
    *,
    settings: BackfillSettings,
    s3: Any,
    ddb: Any,
    sqs: Any,
    exports: Exports,
    remaining_ms: Callable[[], int],
    request_id: str | None = None,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """``{"table": ..., "export_from"?: ..., "export_to"?: ...}`` starts a backfill; an SQS batch from
    BackfillQueue carries its steps (``{"step": "wait" | "file", ...}``). ``request_id`` (Lambda's, the
    same for the retries of one asynchronous invocation) makes a retried start reuse its export."""
    runtime = runtime or Runtime()
    records = event.get("Records")
    if not isinstance(records, list):
        table = event.get("table") or settings.table_name
        if not table:
            raise BackfillError('name the table: {"table": "<name>"} or TABLE_NAME')
        arn = start_backfill(
            ddb,
            exports,
            settings,
            table,
            export_from=_time(event.get("export_from")),
            export_to=_time(event.get("export_to")),
            client_token=request_id,
        )
        _send(sqs, settings, {"step": "wait", "export_arn": arn}, settings.export_poll_seconds)
        return {"export_arn": arn}
    failures = []
    for record in records:
        try:
            _step(json.loads(record["body"]), settings, s3, ddb, sqs, exports, remaining_ms, runtime)
        except Exception:  # noqa: BLE001 - the message is retried by SQS and then dead-lettered
            logger.exception("backfill step failed", message_id=record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def _step(
    body: dict[str, Any],
    settings: BackfillSettings,
    s3: Any,
    ddb: Any,
    sqs: Any,
    exports: Exports,
    remaining_ms: Callable[[], int],
    runtime: Runtime,
) -> None:
    status = exports.describe(body["export_arn"])
    if body["step"] == "wait":
        if status.status == "IN_PROGRESS":
            _send(sqs, settings, body, settings.export_poll_seconds)
            return
        plan, _ = plan_backfill(s3, ddb, settings, status)
        for index in range(len(plan.files)):
            _send(sqs, settings, {"step": "file", "export_arn": plan.export_arn, "file": index})
        return
    plan, summary = plan_backfill(s3, ddb, settings, status)
    # Stop taking chunks with two minutes left: a chunk of 50,000 items takes well under a minute.
    deadline = runtime.monotonic() + max(remaining_ms() / 1000 - 120, 0)
    outcome = run_file(s3, settings, plan, summary, int(body["file"]), deadline=deadline, runtime=runtime)
    if not outcome.finished:
        _send(sqs, settings, body)
