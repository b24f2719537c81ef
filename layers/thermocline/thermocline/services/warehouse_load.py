"""Lake files → warehouse, exactly once.

Discovery: the lake bucket notifies ``LoadQueue`` (SQS) of every new ``cdc/**.parquet`` object; the
function consumes the queue through its event source (batching window, one instance at a time), and a
schedule makes it drain the queue itself as a backstop, so a file is in the warehouse within minutes of
landing without ever listing the lake.

A load plans files by table and file schema, skips files the ledger already holds, and loads each group
in one transaction (``merge_sql.load_sql``): COPY into staging, newest version per key, drop versions the
warehouse already has, deletes, MERGE, ledger. Transient errors are retried and then left to SQS; a file
whose data cannot be loaded is quarantined and the others go on.
"""

from __future__ import annotations

import functools
import io
import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from thermocline import merge_sql
from thermocline.conform import conflicts
from thermocline.lake import keys as lake_keys
from thermocline.lake.manifest import ManifestEntry, build_manifest, s3_url, split_s3_url
from thermocline.lake.metadata import TableSpec, UnreadableLakeFileError, read_file_spec
from thermocline.lake.quarantine import Quarantine
from thermocline.lake.reader import LakeFile, read_lake_file
from thermocline.lake.types import ColumnType
from thermocline.merge_sql import LedgerEntry
from thermocline.observability import logger, metrics
from thermocline.settings import WarehouseLoadSettings
from thermocline.warehouse.base import (
    BadDataError,
    LoadErrorDetail,
    TerminalLoadError,
    TransientLoadError,
    Warehouse,
    WarehouseError,
)
from thermocline.warehouse.redshift_data import MAX_STATEMENT_BYTES as _MAX_STATEMENT_BYTES

__all__ = ["LoadReport", "full_refresh", "handle_load_event", "load_files"]

# Every engine gets loads the Data API would accept (_MAX_STATEMENT_BYTES): the same, portable loads.
_LEDGER_LOOKUP_KEYS = 200
_RETRY_BASE_SECONDS = 0.5


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    max_lag_seconds: float = 0.0

    def merge(self, other: LoadReport) -> None:
        self.loaded += other.loaded
        self.skipped += other.skipped
        self.quarantined += other.quarantined
        self.failed += other.failed
        self.missing += other.missing
        self.max_lag_seconds = max(self.max_lag_seconds, other.max_lag_seconds)
        for table, n in other.rows.items():
            self.rows[table] = self.rows.get(table, 0) + n

    def summary(self) -> dict[str, Any]:
        return {
            "files_loaded": len(self.loaded),
            "files_skipped": len(self.skipped),
            "files_quarantined": len(self.quarantined),
            "files_failed": len(self.failed),
            "files_missing": len(self.missing),
            "rows": dict(self.rows),
            "max_lag_seconds": round(self.max_lag_seconds, 3),
        }


# --- loading -------------------------------------------------------------------------------------------


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _load_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:12]


def _retrying(settings: WarehouseLoadSettings, what: str, fn: Any) -> Any:
    for attempt in range(1, settings.load_attempts + 1):
        try:
            return fn()
        except TransientLoadError as exc:
            if attempt == settings.load_attempts:
                raise
            logger.warning("transient warehouse error, retrying", step=what, attempt=attempt, error=str(exc))
            time.sleep(_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def _ledger_status(warehouse: Warehouse, keys: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(keys), _LEDGER_LOOKUP_KEYS):
        result = warehouse.query(merge_sql.ledger_lookup_sql(keys[start : start + _LEDGER_LOOKUP_KEYS]))
        found.update({str(row[0]): str(row[1]) for row in result.rows})
    return found


def _ensure_table(warehouse: Warehouse, spec: TableSpec) -> dict[str, str]:
    """Create or grow the target for ``spec``; returns the target's column types (after widening)."""
    rows = warehouse.query(merge_sql.table_columns_sql(spec.table)).rows
    types = {str(r[0]).lower(): str(r[1]) for r in rows}
    # No columns: the table does not exist yet, and is created with the file's types.
    warehouse.execute(merge_sql.ensure_table_sql(spec, types or None))
    if not types:
        return types
    for name, ctype in spec.data_columns:
        have_type = types.get(name.lower())
        if have_type and merge_sql.is_integer_to_decimal(have_type, ctype):
            logger.info("widening column", table=spec.table, column=name, type=ctype)
            statements = merge_sql.retype_column_sql(spec.table, name, ctype)
            if name in spec.primary_key:
                statements += merge_sql.retype_tombstone_key_sql(spec.table, name, ctype)
            warehouse.execute(statements)
            types[name.lower()] = ctype.sql
    lengths = {str(r[0]).lower(): r[2] for r in rows}
    for name, ctype in spec.columns:
        wanted = merge_sql.varchar_length(ctype)
        have = lengths.get(name.lower())
        if wanted and have and int(have) < wanted:
            # Alone: Redshift cannot alter a column's type inside a transaction block.
            logger.info("widening column", table=spec.table, column=name, length=wanted)
            warehouse.execute(
                [merge_sql.widen_column_sql(spec.table, name, ColumnType("VARCHAR", length=wanted))]
            )
    return types


def _conformed(
    s3_client: Any, settings: WarehouseLoadSettings, files: list[LakeFile], staged: dict[str, str]
) -> list[LakeFile]:
    """Copies of ``files`` whose ``staged`` columns' values are moved to ``_overflow`` (conform.py), under
    ``_conformed/`` beside the lake (outside the notified prefix), standing for the originals."""
    import pyarrow.parquet as pq

    from thermocline.conform import move_to_overflow
    from thermocline.lake.parquet import to_parquet_bytes

    out = []
    for f in files:
        body = s3_client.get_object(Bucket=settings.lake_bucket, Key=f.key)["Body"].read()
        table = move_to_overflow(pq.read_table(io.BytesIO(body)), staged)
        data = to_parquet_bytes(table)
        key = lake_keys.conformed_key(f.key)
        s3_client.put_object(Bucket=settings.lake_bucket, Key=key, Body=data)
        out.append(LakeFile(key, len(data), table.num_rows, read_file_spec(table.schema), f.landed_at, f.key))
    return out


def _manifest_url(settings: WarehouseLoadSettings, table: str, load_id: str) -> str:
    return s3_url(settings.lake_bucket, lake_keys.manifest_key(settings.manifest_prefix, table, load_id))


def _write_manifest(
    s3_client: Any, settings: WarehouseLoadSettings, manifest_url: str, files: Sequence[LakeFile]
) -> None:
    body = build_manifest([ManifestEntry(s3_url(settings.lake_bucket, f.key), f.size) for f in files])
    bucket, key = split_s3_url(manifest_url)
    s3_client.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")


def _quarantine(
    warehouse: Warehouse,
    s3_client: Any,
    settings: WarehouseLoadSettings,
    table: str,
    key: str,
    size: int,
    reason: str,
    details: Sequence[LoadErrorDetail] = (),
) -> None:
    """Keep a copy of the file and the reason under the quarantine prefix, and mark it in the ledger."""
    quarantine = Quarantine(s3_client, settings.lake_bucket, settings.quarantine_prefix)
    quarantine.lake_file(key, table, reason, [asdict(d) for d in details])
    entry = LedgerEntry(key=key, content_length=size, status="quarantined", reason=reason)
    _retrying(
        settings, "ledger", lambda: warehouse.execute(merge_sql.ledger_insert_sql(table, [entry], _load_id()))
    )
    logger.error("file quarantined", key=key, table=table, reason=reason)
    metrics.add_metric(name="FilesQuarantined", unit="Count", value=1)


def _load_chunk(
    warehouse: Warehouse,
    s3_client: Any,
    settings: WarehouseLoadSettings,
    files: list[LakeFile],
    report: LoadReport,
) -> None:
    spec = files[0].spec
    pending = list(files)
    while pending:
        load_id = _load_id()
        manifest = _manifest_url(settings, spec.table, load_id)
        statements = merge_sql.load_sql(
            spec,
            manifest_url=manifest,
            files=[LedgerEntry(f.lake_key, f.size, f.rows) for f in pending],
            load_id=load_id,
            iam_role=settings.copy_iam_role,
            delete_mode=settings.delete_mode,
        )
        if len(pending) > 1 and max(len(sql.encode()) for sql in statements) > _MAX_STATEMENT_BYTES:
            # Very long keys or very many files: two smaller loads instead of one the Data API refuses.
            half = len(pending) // 2
            _load_chunk(warehouse, s3_client, settings, pending[:half], report)
            _load_chunk(warehouse, s3_client, settings, pending[half:], report)
            return
        _write_manifest(s3_client, settings, manifest, pending)
        try:
            _retrying(settings, f"load {spec.table}", functools.partial(warehouse.execute, statements))
        except TransientLoadError as exc:
            logger.error("load failed, leaving files for redelivery", table=spec.table, error=str(exc))
            report.failed += [f.lake_key for f in pending]
            return
        except BadDataError as exc:
            urls = {s3_url(settings.lake_bucket, f.key): f for f in pending}
            bad = [urls[u] for u in exc.files if u in urls]
            if not bad and len(pending) > 1:
                # The error names no file: load one at a time to find the bad ones.
                for single in pending:
                    _load_chunk(warehouse, s3_client, settings, [single], report)
                return
            bad = bad or pending
            for f in bad:
                url = s3_url(settings.lake_bucket, f.key)
                details = [d for d in exc.details if d.file in (url, None)]
                _quarantine(warehouse, s3_client, settings, spec.table, f.lake_key, f.size, str(exc), details)
                report.quarantined.append(f.lake_key)
            pending = [f for f in pending if f not in bad]
            continue
        except TerminalLoadError as exc:
            logger.error("load failed and will not succeed on retry", table=spec.table, error=str(exc))
            report.failed += [f.lake_key for f in pending]
            return
        report.loaded += [f.lake_key for f in pending]
        report.rows[spec.table] = report.rows.get(spec.table, 0) + sum(f.rows for f in pending)
        landed = [f.landed_at for f in pending if f.landed_at is not None]
        if landed:
            # Freshness: how long the oldest of these files waited between landing and being loaded.
            lag = (datetime.now(UTC) - min(landed)).total_seconds()
            report.max_lag_seconds = max(report.max_lag_seconds, lag)
            metrics.add_metric(name="LoadLagSeconds", unit="Seconds", value=lag)
        logger.info("loaded files", table=spec.table, files=len(pending), rows=sum(f.rows for f in pending))
        metrics.add_metric(name="FilesLoaded", unit="Count", value=len(pending))
        return


def load_files(
    keys: Iterable[str],
    *,
    settings: WarehouseLoadSettings,
    warehouse: Warehouse,
    s3_client: Any,
) -> LoadReport:
    """Load lake objects (keys in ``settings.lake_bucket``) into the warehouse, exactly once."""
    report = LoadReport()
    wanted = []
    for key in dict.fromkeys(keys):
        if "\x00" in key or _unencodable(key):
            # No engine's text type holds it, so the ledger cannot record it: left for redelivery and,
            # in AWS, the dead-letter queue and its alarm.
            logger.error("lake key cannot be recorded in the warehouse", key=repr(key))
            report.failed.append(key)
        else:
            wanted.append(key)
    if not wanted:
        return report
    try:
        _retrying(settings, "bookkeeping", lambda: warehouse.execute(merge_sql.ensure_bookkeeping_sql()))
        done = _retrying(settings, "ledger", lambda: _ledger_status(warehouse, wanted))
    except WarehouseError as exc:
        logger.error("warehouse unavailable", error=str(exc))
        report.failed += wanted
        return report
    report.skipped += [k for k in wanted if k in done]

    from botocore.exceptions import BotoCoreError, ClientError

    # Export rows (a table's state at a point in time) never share a load with change rows: the seam
    # between them is decided against the warehouse (merge_sql.load_sql).
    groups: dict[tuple[str, tuple[tuple[str, ColumnType], ...], str], list[LakeFile]] = {}
    for key in (k for k in wanted if k not in done):
        try:
            lake_file = read_lake_file(s3_client, settings.lake_bucket, key)
        except UnreadableLakeFileError as exc:
            _quarantine(warehouse, s3_client, settings, "unknown", key, 0, str(exc))
            report.quarantined.append(key)
            continue
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in {"NoSuchKey", "404"}:
                # Deleted since its notification: nothing to load, and nothing recorded, so a file written
                # again under the same key later still loads.
                logger.warning("lake object no longer exists", key=key)
                report.missing.append(key)
            elif code == "InvalidRange":
                _quarantine(warehouse, s3_client, settings, "unknown", key, 0, "empty object")
                report.quarantined.append(key)
            else:
                report.failed.append(key)
            continue
        except BotoCoreError:
            report.failed.append(key)
            continue
        spec = lake_file.spec
        folder = lake_keys.table_folder(key, settings.lake_prefix)
        if folder != spec.table:
            # The metadata may not pick a MERGE target: a file loads only into the table of its folder.
            reason = f"metadata names table {spec.table!r} but the file is under {folder!r}"
            _quarantine(warehouse, s3_client, settings, "unknown", key, lake_file.size, reason)
            report.quarantined.append(key)
            continue
        groups.setdefault((spec.table, spec.columns, spec.kind or ""), []).append(lake_file)

    for (table, _, _), files in sorted(groups.items(), key=lambda item: (item[0][0], item[0][2])):
        spec = files[0].spec
        if not spec.is_cdc:
            logger.error("snapshot files arrived on the CDC path; use full_refresh", table=table)
            report.failed += [f.key for f in files]
            continue
        try:
            target_types = _retrying(settings, "schema", lambda spec=spec: _ensure_table(warehouse, spec))
        except WarehouseError as exc:
            logger.error("cannot prepare table", table=table, error=str(exc))
            report.failed += [f.key for f in files]
            continue
        staged = conflicts({name: ctype.sql for name, ctype in spec.data_columns}, target_types)
        if staged:
            # Type conflicts never stop a table: the values move to _overflow (conform.py).
            logger.warning(
                "file types conflict with the table; values kept in _overflow", table=table, columns=staged
            )
            metrics.add_metric(name="TypeConflicts", unit="Count", value=len(files))
            files = _conformed(s3_client, settings, files, staged)
            _retrying(settings, "schema", lambda spec=files[0].spec: _ensure_table(warehouse, spec))
        for start in range(0, len(files), settings.max_files_per_load):
            _load_chunk(
                warehouse, s3_client, settings, files[start : start + settings.max_files_per_load], report
            )
    return report


def full_refresh(
    keys: Sequence[str],
    *,
    settings: WarehouseLoadSettings,
    warehouse: Warehouse,
    s3_client: Any,
) -> LoadReport:
    """Replace one table's contents with the snapshot files ``keys`` (in ``settings.lake_bucket``).

    One transaction: readers see the old contents until it commits and the snapshot after it, never an
    empty or half-loaded table. All files must describe the same table with the same columns.
    """
    report = LoadReport()
    if not keys:
        raise ValueError("full_refresh needs at least one snapshot file")
    files = [read_lake_file(s3_client, settings.lake_bucket, k) for k in dict.fromkeys(keys)]
    specs = {(f.spec.table, f.spec.columns) for f in files}
    if len(specs) != 1:
        raise ValueError(f"snapshot files describe {len(specs)} different tables or schemas")
    spec = files[0].spec
    _retrying(settings, "bookkeeping", lambda: warehouse.execute(merge_sql.ensure_bookkeeping_sql()))
    _retrying(settings, "schema", lambda: _ensure_table(warehouse, spec))

    load_id = _load_id()
    manifest = _manifest_url(settings, spec.table, load_id)
    _write_manifest(s3_client, settings, manifest, files)
    statements = merge_sql.full_refresh_sql(
        spec,
        manifest_url=manifest,
        files=[LedgerEntry(f.key, f.size, f.rows) for f in files],
        load_id=load_id,
        iam_role=settings.copy_iam_role,
    )
    _retrying(settings, "full refresh", functools.partial(warehouse.execute, statements))
    report.loaded += [f.key for f in files]
    report.rows[spec.table] = sum(f.rows for f in files)
    logger.info("full refresh", table=spec.table, files=len(files), rows=report.rows[spec.table])
    return report


# --- events --------------------------------------------------------------------------------------------


@dataclass
class _Notification:
    message_id: str
    keys: list[str]


def _parse_message(body: str, settings: WarehouseLoadSettings) -> list[str]:
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
        bucket = record.get("s3", {}).get("bucket", {}).get("name")
        # Keys arrive URL-encoded (spaces as '+'):
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
        key = unquote_plus(record.get("s3", {}).get("object", {}).get("key", ""))
        if bucket != settings.lake_bucket:
            logger.warning("notification for another bucket ignored", bucket=bucket, key=key)
            continue
        if lake_keys.is_lake_file(key, settings.lake_prefix):
            keys.append(key)
    return keys


def _process_messages(
    messages: list[tuple[str, str]],
    *,
    settings: WarehouseLoadSettings,
    warehouse: Warehouse,
    s3_client: Any,
) -> tuple[LoadReport, list[str]]:
    """Load the files of ``(message_id, body)`` pairs; returns the report and the ids of failed messages."""
    notes: list[_Notification] = []
    for message_id, body in messages:
        try:
            notes.append(_Notification(message_id, _parse_message(body, settings)))
        except (ValueError, TypeError, AttributeError) as exc:
            # Never loadable: acknowledging it beats redelivering it until it reaches the DLQ.
            logger.error("unreadable load message dropped", message_id=message_id, error=str(exc))
    report = load_files(
        [k for n in notes for k in n.keys], settings=settings, warehouse=warehouse, s3_client=s3_client
    )
    failed = set(report.failed)
    return report, [n.message_id for n in notes if failed.intersection(n.keys)]


def _drain(
    *, settings: WarehouseLoadSettings, warehouse: Warehouse, s3_client: Any, sqs_client: Any
) -> dict[str, Any]:
    if not settings.load_queue_url:
        raise TerminalLoadError("a scheduled load needs LOAD_QUEUE_URL to drain")
    if sqs_client is None:
        from thermocline.aws import client

        sqs_client = client("sqs")
    deadline = time.monotonic() + settings.drain_seconds
    total = LoadReport()
    messages = 0
    round_size = settings.max_files_per_load
    while time.monotonic() < deadline:
        batch: dict[str, tuple[str, str]] = {}
        while len(batch) < round_size:
            response = sqs_client.receive_message(
                QueueUrl=settings.load_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            received = response.get("Messages") or []
            if not received:
                break
            for m in received:
                batch[m["MessageId"]] = (m["Body"], m["ReceiptHandle"])
        if not batch:
            break
        messages += len(batch)
        report, failed = _process_messages(
            [(mid, body) for mid, (body, _) in batch.items()],
            settings=settings,
            warehouse=warehouse,
            s3_client=s3_client,
        )
        total.merge(report)
        failed_ids = set(failed)
        done = [(mid, handle) for mid, (_, handle) in batch.items() if mid not in failed_ids]
        for start in range(0, len(done), 10):
            sqs_client.delete_message_batch(
                QueueUrl=settings.load_queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h} for i, (_, h) in enumerate(done[start : start + 10])
                ],
            )
        if failed:
            # Failed messages come back after their visibility timeout; do not spin on them now.
            break
    return {"messages": messages, **total.summary()}


def handle_load_event(
    event: dict[str, Any],
    *,
    settings: WarehouseLoadSettings,
    warehouse: Warehouse,
    s3_client: Any,
    sqs_client: Any = None,
) -> dict[str, Any]:
    """An SQS batch of S3 notifications → ``{"batchItemFailures": [...]}``; a schedule → drain summary."""
    records = event.get("Records")
    if isinstance(records, list) and records and records[0].get("eventSource") == "aws:sqs":
        _, failed = _process_messages(
            [(r["messageId"], r["body"]) for r in records],
            settings=settings,
            warehouse=warehouse,
            s3_client=s3_client,
        )
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in failed]}
    if event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event":
        return _drain(settings=settings, warehouse=warehouse, s3_client=s3_client, sqs_client=sqs_client)
    raise ValueError("not an SQS batch of S3 notifications nor a scheduled event")
