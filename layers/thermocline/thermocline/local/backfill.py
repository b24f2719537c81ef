"""``thermocline backfill`` and ``thermocline reconcile`` on the local stack.

The same services as BackfillFunction and ReconcileFunction, run in-process with the settings the
template gives those functions, against moto (exports written in AWS's layout by ``local/exports.py``)
and the local warehouse. The backfill shows its progress (items, bytes, files, rate, time left) and loads
what it wrote through WarehouseLoadFunction, as the lake's notifications would.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from thermocline import warehouse
from thermocline.lake.keys import export_token
from thermocline.load.sql import BOOKKEEPING_SCHEMA, LEDGER_TABLE
from thermocline.local.exports import LocalExports
from thermocline.local.session import LocalStack
from thermocline.local.wire import keep_wire_json
from thermocline.names import qualified_name
from thermocline.services import backfill
from thermocline.services.reconcile import Reconciliation, reconcile_export
from thermocline.settings import BackfillSettings, ReconcileSettings
from thermocline.sources.dynamodb_export.exports import ExportStatus

BACKFILL = "BackfillFunction"
RECONCILE = "ReconcileFunction"


@dataclass
class BackfillRun:
    export_arn: str
    export_time: str
    items: int = 0
    files: int = 0
    chunks_written: int = 0
    lake_files: int = 0
    lake_bytes: int = 0
    quarantined: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    lake_files_loaded: int = 0
    seconds: float = 0.0


def _exports(local: LocalStack, bucket: str) -> LocalExports:
    ddb = local.client("dynamodb")
    # An export's lines are the items as DynamoDB sends them: no parse into Python values and back.
    keep_wire_json(ddb, "Scan")
    return LocalExports(ddb, local.client("s3"), local.client("dynamodbstreams"), buckets=[bucket])


def table_name(local: LocalStack, table: str) -> str:
    """A table named by its logical id in template.yaml (``Table``) or by its name."""
    return local.stack.resources.get(table, table)


def run_backfill(
    local: LocalStack,
    table: str,
    *,
    export_from: datetime | None = None,
    export_to: datetime | None = None,
    export_arn: str | None = None,
    console: Console | None = None,
) -> BackfillRun:
    """Export ``table`` (or resume ``export_arn``), write the lake files, load them."""
    # Off a terminal (logs, CI) Rich would crop the line to 80 columns; it prints the last frame whole.
    console = console or Console(stderr=True, width=None if sys.stderr.isatty() else 140)
    started = time.monotonic()
    settings = BackfillSettings.from_env(local.environment_for(BACKFILL))
    s3, ddb = local.client("s3"), local.client("dynamodb")
    exports = _exports(local, settings.lake_bucket)
    if export_arn is None:
        export_arn = backfill.start_backfill(
            ddb, exports, settings, table_name(local, table), export_from=export_from, export_to=export_to
        )
    plan, summary = backfill.plan_backfill(s3, ddb, settings, exports.describe(export_arn))
    run = BackfillRun(export_arn, summary.as_of.isoformat(), files=len(plan.files))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        TextColumn(
            "{task.completed:,.0f}/{task.total:,.0f} items  {task.fields[files]} files  "
            "{task.fields[read]} read  {task.fields[rate]:,.0f} items/s"
        ),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    read_before = 0
    with Progress(*columns, console=console) as progress:
        n_files = len(plan.files)
        task = progress.add_task(
            f"backfill {summary.table_name}", total=plan.items, files=f"0/{n_files}", read=_size(0), rate=0.0
        )
        t0 = time.monotonic()
        for index in range(len(plan.files)):

            def shown(part: Any, index: int = index, before: int = read_before, n: int = n_files) -> None:
                done = progress.tasks[task].completed + part.items
                rate = done / max(time.monotonic() - t0, 1e-6)
                read = _size(before + part.compressed_bytes)
                progress.update(task, completed=done, rate=rate, read=read, files=f"{index}/{n}")

            outcome = backfill.run_file(s3, settings, plan, summary, index, on_chunk=shown)
            read_before += outcome.done.compressed_bytes
            run.items += outcome.done.items
            run.chunks_written += outcome.chunks_written
            run.lake_files += outcome.done.lake_files
            run.lake_bytes += outcome.done.lake_bytes
            run.quarantined += outcome.done.quarantined
            for name, count in outcome.done.rows.items():
                run.rows[name] = run.rows.get(name, 0) + count
            progress.update(
                task, completed=run.items, files=f"{index + 1}/{n_files}", read=_size(read_before)
            )
    local.load_drainer().drain()
    with contextlib.closing(warehouse.connect(local.warehouse_url, s3_client=s3)) as wh:
        run.lake_files_loaded = _loaded(wh, export_token(export_arn))
    run.seconds = round(time.monotonic() - started, 2)
    return run


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    raise AssertionError("unreachable")


def _loaded(wh: Any, token: str) -> int:
    """Lake files of this export the warehouse's ledger records as loaded."""
    ledger = qualified_name(BOOKKEEPING_SCHEMA, LEDGER_TABLE)
    pattern = f"%/{token}-%"
    sql = f"SELECT COUNT(*) FROM {ledger} WHERE status = 'loaded' AND file_key LIKE :pattern"  # noqa: S608
    return int(wh.query(sql, {"pattern": pattern}).rows[0][0])


def start_reconcile_export(local: LocalStack, table: str) -> ExportStatus:
    """A fresh export of ``table`` for ReconcileFunction to compare with (written at once, locally)."""
    settings = ReconcileSettings.from_env(local.environment_for(RECONCILE))
    exports = _exports(local, settings.lake_bucket)
    name = table_name(local, table)
    table_arn = local.client("dynamodb").describe_table(TableName=name)["Table"]["TableArn"]
    arn = exports.start(table_arn, settings.lake_bucket, f"{settings.export_prefix.rstrip('/')}/{name}")
    return exports.describe(arn)


def run_reconcile(local: LocalStack, table: str, export: ExportStatus | None = None) -> Reconciliation:
    """Compare the local warehouse with ``export`` of ``table`` (by default, a fresh one)."""
    export = export or start_reconcile_export(local, table)
    settings = ReconcileSettings.from_env(local.environment_for(RECONCILE))
    s3, ddb = local.client("s3"), local.client("dynamodb")
    with contextlib.closing(warehouse.connect(settings.warehouse_url, s3_client=s3)) as wh:
        return reconcile_export(s3, ddb, wh, settings, export)
