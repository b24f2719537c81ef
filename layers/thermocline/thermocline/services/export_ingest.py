"""An RDS export event → snapshot lake files → one full refresh per table.

EventBridge delivers the RDS events of export tasks (IDs from "Amazon RDS event categories and event
messages"): completed 0161 (DB snapshot), 0164 (DB cluster snapshot), 0236 (DB cluster); failed 0159,
0162, 0234; canceled 0160, 0163, 0235. The event names the exported snapshot or cluster, not the task,
so the function asks ``DescribeExportTasks`` for that source's tasks in the export bucket.

What each delivery does, whenever and however often it arrives:

* completed: take the newest COMPLETE export of the source (by snapshot time, from its
  ``export_info``), and refresh each of its tables unless the warehouse ledger shows that export, or a
  newer one, already applied to that table. A repeated, late or out-of-order event therefore changes
  nothing, and says so in the log; a table whose refresh failed is retried by the next delivery.
* failed or canceled: log the task's cause and count it (``ExportsFailed``); the warehouse keeps the
  last export it applied.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from thermocline.contracts import load_contracts
from thermocline.lake.keys import snapshot_stamp
from thermocline.lake.schema_store import SchemaStore
from thermocline.load import full_refresh
from thermocline.load.sql import BOOKKEEPING_SCHEMA, LEDGER_TABLE, ensure_bookkeeping_sql, sql_literal
from thermocline.names import qualified_name
from thermocline.observability import logger
from thermocline.runtime import Runtime
from thermocline.settings import ExportIngestSettings, WarehouseLoadSettings
from thermocline.sources.rds_export.layout import ExportInfo, ExportLayoutError, TableExport
from thermocline.sources.rds_export.reader import read_export
from thermocline.sources.rds_export.source import warehouse_table_name, write_table
from thermocline.warehouse.errors import WarehouseError
from thermocline.warehouse.port import Warehouse

__all__ = ["EXPORT_EVENTS", "ExportRefreshError", "handle_export_event"]

EXPORT_EVENTS: dict[str, str] = {
    "RDS-EVENT-0161": "completed",
    "RDS-EVENT-0164": "completed",
    "RDS-EVENT-0236": "completed",
    "RDS-EVENT-0159": "failed",
    "RDS-EVENT-0162": "failed",
    "RDS-EVENT-0234": "failed",
    "RDS-EVENT-0160": "canceled",
    "RDS-EVENT-0163": "canceled",
    "RDS-EVENT-0235": "canceled",
}
# How many of the source's most recent COMPLETE tasks are read to find the newest snapshot.
_CANDIDATES = 5


class ExportRefreshError(RuntimeError):
    """Some tables of a completed export could not be refreshed. Raised after every other table was
    handled, so the invocation fails and EventBridge delivers the event again: the tables already
    refreshed are then skipped as applied, and the failed ones are tried again."""

    def __init__(self, summary: dict[str, Any]) -> None:
        super().__init__(f"tables not refreshed: {', '.join(sorted(summary['failed']))}")
        self.summary = summary


@dataclass
class ExportOutcome:
    event: str
    outcome: str
    source_arn: str
    export_id: str | None = None
    applied: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "outcome": self.outcome,
            "source_arn": self.source_arn,
            "export_id": self.export_id,
            "applied": self.applied,
            "skipped": self.skipped,
            "failed": self.failed,
        }


def _tasks(rds_client: Any, source_arn: str, bucket: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    marker = None
    while True:
        kwargs: dict[str, Any] = {"SourceArn": source_arn}
        if marker:
            kwargs["Marker"] = marker
        page = rds_client.describe_export_tasks(**kwargs)
        tasks += [
            t
            for t in page.get("ExportTasks", [])
            if t.get("SourceArn") == source_arn and t.get("S3Bucket") == bucket
        ]
        marker = page.get("Marker")
        if not marker:
            return tasks


def _started(task: dict[str, Any]) -> dt.datetime:
    when = task.get("TaskStartTime") or task.get("SnapshotTime")
    return when if isinstance(when, dt.datetime) else dt.datetime.min.replace(tzinfo=dt.UTC)


def _newest_export(
    s3_client: Any, settings: ExportIngestSettings, tasks: list[dict[str, Any]]
) -> tuple[ExportInfo, list[TableExport]] | None:
    complete = [t for t in tasks if str(t.get("Status", "")).upper() == "COMPLETE"]
    best: tuple[ExportInfo, list[TableExport]] | None = None
    for task in sorted(complete, key=_started, reverse=True)[:_CANDIDATES]:
        prefix = task.get("S3Prefix") or settings.export_prefix
        try:
            info, tables = read_export(
                s3_client, settings.export_bucket, prefix, task["ExportTaskIdentifier"]
            )
        except ExportLayoutError as exc:
            logger.error("export metadata unreadable", export_id=task["ExportTaskIdentifier"], error=str(exc))
            continue
        if not info.complete:
            continue
        info = ExportInfo(
            info.export_id, info.source_arn, info.status, info.snapshot_time, info.s3_bucket, prefix
        )
        when = info.snapshot_time or _started(task)
        if best is None or when > (best[0].snapshot_time or dt.datetime.min.replace(tzinfo=dt.UTC)):
            best = (info, tables)
    return best


def _applied(warehouse: Warehouse, settings: ExportIngestSettings, table: str) -> str | None:
    """The newest snapshot lake key the ledger holds for ``table`` (keys sort by snapshot time)."""
    ledger = qualified_name(BOOKKEEPING_SCHEMA, LEDGER_TABLE)
    pattern = sql_literal(f"{settings.snapshot_prefix}{table}/at=%")
    rows = warehouse.query(
        f"SELECT MAX(file_key) FROM {ledger} WHERE table_name = {sql_literal(table)} "  # noqa: S608
        f"AND status = 'loaded' AND file_key LIKE {pattern}"
    ).rows
    return str(rows[0][0]) if rows and rows[0][0] else None


def _decide(
    applied_key: str | None, info: ExportInfo, settings: ExportIngestSettings, table: str
) -> str | None:
    """Why this export must not be applied to ``table`` (None: apply it)."""
    if applied_key is None or info.snapshot_time is None:
        return None
    ours = f"{settings.snapshot_prefix}{table}/at={snapshot_stamp(info.snapshot_time)}/"
    if applied_key.startswith(ours + info.export_id + "/"):
        return "already applied"
    if applied_key >= ours:
        return f"a newer or equal snapshot is applied ({applied_key.split('/')[2]})"
    return None


def apply_export(
    info: ExportInfo,
    tables: list[TableExport],
    *,
    settings: ExportIngestSettings,
    load_settings: WarehouseLoadSettings,
    s3_client: Any,
    warehouse: Warehouse,
    outcome: ExportOutcome,
    runtime: Runtime,
) -> None:
    metrics = runtime.metrics
    databases = settings.databases()
    keys = settings.keys()
    names: dict[str, str] = {}
    store = SchemaStore(s3_client, settings.lake_bucket, settings.schema_prefix)
    # The tables the stream ingest's configured contracts route to are the stream's, even before their
    # first record: an export that took one would leave every record routed there quarantined.
    reserved = load_contracts(settings.contracts_path).targets if settings.contracts_path else frozenset()
    warehouse.execute(ensure_bookkeeping_sql())
    for table in tables:
        if databases is not None and table.database not in databases:
            continue
        base = warehouse_table_name(table)
        if not table.complete:
            logger.warning(
                "table not exported completely, kept as is",
                target=table.target,
                status=table.status,
                warning=table.warning,
            )
            outcome.skipped[base] = f"export status {table.status}"
            metrics.add_metric(name="ExportTablesSkipped", unit="Count", value=1)
            continue
        if base in names:
            logger.error(
                "two exported tables map to one warehouse table",
                table=base,
                first=names[base],
                second=table.target,
            )
            outcome.failed[base] = f"{table.target} and {names[base]} map to one table"
            continue
        names[base] = table.target
        # A table another source holds (a DynamoDB table's, a contract's) is never refreshed whole: the
        # export's table is then `<name>_2`, recorded as its own, so the stream ingest also keeps out.
        name = store.claim(base, f"{table.engine}:{table.target}", reserved)
        reason = _decide(_applied(warehouse, settings, name), info, settings, name)
        if reason:
            logger.info("export not applied to table", table=name, export_id=info.export_id, reason=reason)
            outcome.skipped[name] = reason
            continue
        try:
            files = write_table(
                s3_client,
                export_bucket=settings.export_bucket,
                info=info,
                export_prefix=info.s3_prefix,
                table=table,
                warehouse_table=name,
                lake_bucket=settings.lake_bucket,
                snapshot_prefix=settings.snapshot_prefix,
                now=runtime.clock(),
                primary_key=keys.get(name) or keys.get(base),
            )
            # Checked again right before the swap: a newer export may have landed meanwhile.
            reason = _decide(_applied(warehouse, settings, name), info, settings, name)
            if reason:
                outcome.skipped[name] = reason
                logger.info(
                    "export not applied to table", table=name, export_id=info.export_id, reason=reason
                )
                continue
            full_refresh(
                files.keys, settings=load_settings, warehouse=warehouse, s3_client=s3_client, runtime=runtime
            )
        except (WarehouseError, ExportLayoutError, OSError, ValueError) as exc:
            logger.exception("table refresh failed", table=name, export_id=info.export_id)
            outcome.failed[name] = str(exc)[:500]
            metrics.add_metric(name="ExportTablesFailed", unit="Count", value=1)
            continue
        outcome.applied[name] = files.rows
        logger.info(
            "table refreshed from export",
            table=name,
            export_id=info.export_id,
            rows=files.rows,
            parts=files.parts,
            files=len(files.keys),
            overflowed=files.overflowed,
        )
        metrics.add_metric(name="ExportRowsLoaded", unit="Count", value=files.rows)


def handle_export_event(
    event: dict[str, Any],
    *,
    settings: ExportIngestSettings,
    load_settings: WarehouseLoadSettings,
    rds_client: Any,
    s3_client: Any,
    warehouse: Warehouse,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    runtime = runtime or Runtime()
    detail = event.get("detail") or {}
    event_id = str(detail.get("EventID") or "")
    source_arn = str(detail.get("SourceArn") or (event.get("resources") or [""])[0])
    kind = EXPORT_EVENTS.get(event_id)
    outcome = ExportOutcome(event_id, kind or "ignored", source_arn)
    if kind is None or not source_arn:
        logger.warning(
            "not an RDS export event, ignored", event_id=event_id, detail_type=event.get("detail-type")
        )
        return outcome.summary()
    tasks = _tasks(rds_client, source_arn, settings.export_bucket)
    if kind != "completed":
        wanted = "FAILED" if kind == "failed" else "CANCELED"
        ended = [t for t in tasks if str(t.get("Status", "")).upper() in (wanted, "CANCELLED")]
        last = max(ended, key=_started, default=None)
        outcome.export_id = last["ExportTaskIdentifier"] if last else None
        logger.error(
            "export task did not complete; the warehouse keeps the last applied export",
            outcome=kind,
            source_arn=source_arn,
            export_id=outcome.export_id,
            cause=(last or {}).get("FailureCause"),
            rds_message=detail.get("Message"),
        )
        runtime.metrics.add_metric(name="ExportsFailed", unit="Count", value=1)
        return outcome.summary()
    newest = _newest_export(s3_client, settings, tasks)
    if newest is None:
        logger.error(
            "no complete export of this source in the export bucket",
            source_arn=source_arn,
            bucket=settings.export_bucket,
            tasks=len(tasks),
        )
        outcome.outcome = "no-export"
        return outcome.summary()
    info, tables = newest
    outcome.export_id = info.export_id
    apply_export(
        info,
        tables,
        settings=settings,
        load_settings=load_settings,
        s3_client=s3_client,
        warehouse=warehouse,
        outcome=outcome,
        runtime=runtime,
    )
    logger.info("export event handled", **outcome.summary())
    if outcome.failed:
        raise ExportRefreshError(outcome.summary())
    return outcome.summary()
