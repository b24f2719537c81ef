"""``make demo``: the whole pipeline on the local stack, from DynamoDB writes to a published report.

Writes a realistic e-commerce workload in phases; after each phase the stream is delivered to
StreamIngestFunction and the load queue to WarehouseLoadFunction, as their event source mappings would.
Then AnalyticsReportFunction publishes every shipped report, and the warehouse is reconciled against
an export of the source table (``thermocline reconcile``: every row, key and value). The summary is
printed and written to ``out/demo-summary.json``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from thermocline import warehouse
from thermocline.load.sql import SEAM_MARGIN_SECONDS
from thermocline.local import hot as hot_views
from thermocline.local import pg_server
from thermocline.local.aurora import export_catalogue
from thermocline.local.backfill import run_reconcile, start_reconcile_export
from thermocline.local.moto_server import cpu_seconds, free_port
from thermocline.local.pg_server import PostgresServer
from thermocline.local.poller import DeliveryStats, QueueDrainer, StreamPoller, StreamReader
from thermocline.local.session import REPORT, LocalStack
from thermocline.local.workload import PHASES, Workload
from thermocline.local.writer import Writer
from thermocline.names import quote_ident
from thermocline.reporting.definition import available_reports
from thermocline.sources.dynamodb_export.exports import ExportStatus

# While a phase writes, its stream is read as Lambda polls a shard: "at a base rate of 4 times per second"
# (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html), at once again after a full page.
_POLL_SECONDS = 0.25
_POLL_RECORDS = 1000


@dataclass
class DemoSummary:
    orders: int
    stream_records: int = 0
    source_writes: int = 0
    ingest_invocations: int = 0
    load_invocations: int = 0
    lake_files: int = 0
    lake_bytes: int = 0
    quarantined: int = 0
    warehouse_rows: dict[str, int] = field(default_factory=dict)
    source_rows: dict[str, int] = field(default_factory=dict)
    sales_by_region: dict[str, str] = field(default_factory=dict)  # from the warehouse
    reconciled: bool = False
    problems: list[str] = field(default_factory=list)
    report_files: list[str] = field(default_factory=list)
    report_s3: list[str] = field(default_factory=list)
    report_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)  # wall time of each step, in order
    step_cpu_seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # step -> demo/moto CPU
    ingest_records_per_second: float = 0.0
    load_rows_per_second: float = 0.0
    skipped_resources: list[str] = field(default_factory=list)
    # The relational catalogue (customers, products, regions): source, rows exported, rows in the warehouse.
    catalogue_source: str = ""
    catalogue_note: str = ""
    catalogue_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    redelivered_records: int = 0
    hot_views: dict[str, dict[str, int]] = field(default_factory=dict)  # view -> window -> groups
    hot_problems: list[str] = field(default_factory=list)
    hot_current: dict[str, Any] = field(default_factory=dict)  # view -> the current window as read
    hot_skipped: str = ""


def _objects(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend(page.get("Contents", []))
    return found


def _download(s3: Any, uris: list[str], out_dir: Path) -> list[str]:
    paths = []
    for uri in uris:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        target = out_dir / "reports" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        paths.append(str(target))
    return paths


class _Steps:
    """Wall time of each step of the demo, in order, for the summary (a user sees where the time goes),
    and the CPU time this process and moto's server spent in it (steadier than wall time on a busy host).
    A phase's writes overlap its deliveries, so their times overlap too."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, dict[str, float]] = {}
        self.moto_pid: int | None = None
        self.writer_pid: int | None = None  # the workload's writes: the demo's, from a process of their own
        self._moto_cpu = self._writer_cpu = 0.0
        self._lock = threading.Lock()

    def _cpu(self) -> tuple[float, float]:
        moto = cpu_seconds(self.moto_pid) if self.moto_pid else None
        writer = cpu_seconds(self.writer_pid) if self.writer_pid else None
        with self._lock:
            # once a process has exited, its last reading stands
            self._moto_cpu = max(self._moto_cpu, moto or 0.0)
            self._writer_cpu = max(self._writer_cpu, writer or 0.0)
            return time.process_time() + self._writer_cpu, self._moto_cpu

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Add the block's wall and CPU time to step ``name`` (listed from its first start)."""
        with self._lock:
            self.seconds.setdefault(name, 0.0)
        started, (demo, moto) = time.monotonic(), self._cpu()
        yield
        demo_now, moto_now = self._cpu()
        with self._lock:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.monotonic() - started, 2)
            cpu = self.cpu.setdefault(name, {"demo": 0.0, "moto": 0.0})
            cpu["demo"] = round(cpu["demo"] + demo_now - demo, 2)
            cpu["moto"] = round(cpu["moto"] + moto_now - moto, 2)

    @contextlib.contextmanager
    def step(self, name: str, label: str, *, total: int | None = None) -> Iterator[TaskID]:
        """Time ``name`` under a progress line ``label``; the line is complete when the step ends."""
        task = self.progress.add_task(label, total=total)
        with self.timed(name):
            yield task
        done = self.progress.tasks[task].completed if total is None else total
        self.progress.update(task, total=done, completed=done)

    def deliver(self, name: str, label: str, stats: DeliveryStats, deliver: Callable[[], Any]) -> None:
        """One delivery (stream records or queue messages) as a step counting what it delivered."""
        before = stats.records
        with self.step(name, label) as task:
            deliver()
            self.progress.update(task, completed=stats.records - before)


def _phase(
    steps: _Steps,
    phase: str,
    write: Callable[[Callable[[int], None]], int],
    reader: StreamReader,
    mappings: dict[str, StreamPoller],
    drainer: QueueDrainer,
    written_all: Callable[[], Any] | None = None,
) -> int:
    """One phase of the workload: its writes (in a thread of their own) while the stream is read and
    delivered to each mapping, as Lambda polls a table's stream while it takes writes; then the load
    queue. ``written_all`` is called once the writes are done. Returns the number of writes."""
    progress = steps.progress
    task = progress.add_task(f"{phase}: writing to the table", total=None)

    def writes() -> int:
        with steps.timed(f"{phase}: write"):
            count = write(lambda n: progress.advance(task, n))
        progress.update(task, total=count, completed=count)
        if written_all:
            written_all()
        return count

    lines = {name: progress.add_task(f"{phase}: stream → {name}", total=None) for name in mappings}
    delivered = {name: poller.stats.records for name, poller in mappings.items()}
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"demo-{phase}") as writer:
        written = writer.submit(writes)
        while True:
            writing = not written.done()  # asked before the read: a last read after the writes ends it
            with steps.timed(f"{phase}: stream read"):
                shards = reader.read()
            for name, poller in mappings.items():
                with steps.timed(f"{phase}: → {name}"):
                    poller.deliver(shards, flush=not writing)
                progress.update(lines[name], completed=poller.stats.records - delivered[name])
            if not writing:
                break
            if sum(len(records) for _, records in shards) < _POLL_RECORDS:
                time.sleep(_POLL_SECONDS)
        count = written.result()
    for name, line in lines.items():
        done = mappings[name].stats.records - delivered[name]
        progress.update(line, total=done, completed=done)
    steps.deliver(f"{phase}: → warehouse", f"{phase}: lake → warehouse (files)", drainer.stats, drainer.drain)
    return count


def _catalogue(
    local: LocalStack, workload: Workload, summary: DemoSummary, postgres: Callable[[], PostgresServer]
) -> list[str]:
    """The catalogue through the Aurora export path; its tables must hold exactly the exported rows."""
    done = export_catalogue(local, workload, postgres)
    summary.catalogue_source, summary.catalogue_note = done.source, done.note
    problems = []
    with contextlib.closing(warehouse.connect(local.warehouse_url, s3_client=local.client("s3"))) as wh:
        for target, exported in done.export.written.tables.items():
            table = target.rsplit(".", 1)[-1]
            loaded = int(wh.query(f"SELECT COUNT(*) FROM {quote_ident(table)}").rows[0][0])  # noqa: S608
            summary.catalogue_rows[table] = {"exported": exported, "warehouse": loaded}
            if loaded != exported:
                problems.append(f"catalogue {table}: {exported} rows exported, {loaded} in the warehouse")
    for table, reason in (done.export.response.get("failed") or {}).items():
        problems.append(f"catalogue {table}: {reason}")
    return problems


def run_demo(
    orders: int, state_dir: Path, out_dir: Path, console: Console | None = None, *, redeliver: bool = False
) -> DemoSummary:
    console = console or Console()
    started = time.monotonic()
    summary = DemoSummary(orders=orders)
    state_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "warehouse.duckdb").unlink(missing_ok=True)  # the demo reconciles a fresh run
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    steps = _Steps(progress)
    with contextlib.ExitStack() as opened, progress:
        with steps.step("start-up", "local stack up (template deployed)", total=1):
            local = opened.enter_context(LocalStack(state_dir, log_level="ERROR"))
            steps.moto_pid = local.server_pid
        table, lake_bucket = local.resource("Table"), local.resource("LakeBucket")
        workload = Workload(orders=orders)
        writer = Writer(str(local.endpoint), table, workload, state_dir / "writer.log")  # imports meanwhile
        opened.callback(writer.close)
        steps.writer_pid = writer.pid
        # The local Aurora (a throwaway PostgreSQL, processes of its own) starts while the workload runs;
        # only once the stack is up, as moto's and Redis's servers are started with a preexec_fn, which a
        # thread forking meanwhile could deadlock.
        background = opened.enter_context(concurrent.futures.ThreadPoolExecutor(1, "demo-postgres"))
        postgres = background.submit(pg_server.start, free_port())
        opened.callback(lambda: postgres.exception() is None and postgres.result().stop())
        summary.skipped_resources = list(local.stack.skipped)
        s3 = local.client("s3")
        # One read of the stream for both of its mappings: each gets every record, in batches of its own
        # size, as from a poller of its own.
        reader = local.stream_reader()
        poller, drainer = local.stream_poller(redeliver=redeliver, reader=reader), local.load_drainer()
        hot = hot_views.poller(local, reader)
        summary.hot_skipped = local.redis_missing
        mappings = {"lake": poller, **({"hot views (x2)": hot} if hot else {})}
        # The table's export for reconciliation is taken once its last write is done, in the background,
        # while the last changes are delivered and loaded, the catalogue exported and the reports run.
        exporting = opened.enter_context(concurrent.futures.ThreadPoolExecutor(1, "demo-export"))
        export: list[concurrent.futures.Future[ExportStatus]] = []

        def take_export(written: float) -> ExportStatus:
            # Reconciliation leaves out rows changed within SEAM_MARGIN_SECONDS before the export (their
            # changes may not be loaded yet), and a stream record's time is in whole seconds: so the export
            # is taken that long after the last write, and every row is compared.
            time.sleep(max(0.0, written + SEAM_MARGIN_SECONDS + 1 - time.monotonic()))
            with steps.timed("reconcile export"):
                return start_reconcile_export(local, "Table")

        for phase in PHASES:
            t0 = time.monotonic()
            summary.source_writes += _phase(
                steps,
                phase,
                partial(writer.run_phase, phase),
                reader,
                mappings,
                drainer,
                (lambda: export.append(exporting.submit(take_export, time.monotonic())))
                if phase == PHASES[-1]
                else None,
            )
            summary.phase_seconds[phase] = round(time.monotonic() - t0, 2)
        summary.stream_records = poller.stats.records
        summary.redelivered_records = poller.stats.redelivered
        summary.ingest_invocations = poller.stats.invocations
        summary.load_invocations = drainer.stats.invocations
        lake = _objects(s3, lake_bucket, "cdc/")
        summary.lake_files = len(lake)
        summary.lake_bytes = sum(int(o["Size"]) for o in lake)
        summary.quarantined = len(_objects(s3, lake_bucket, "quarantine/"))

        with steps.step("catalogue", "catalogue: Aurora export → warehouse", total=1):
            catalogue_problems = _catalogue(local, workload, summary, postgres.result)

        reports = available_reports()
        with steps.step("reports", "reports (AnalyticsReportFunction)", total=len(reports)) as task:
            for name in reports:
                # As each report's schedule invokes it: the schedule's input names the report.
                result = local.invoke(REPORT, {"report": name})
                summary.report_rows[name] = int(result["rows"])
                summary.report_s3 += list(result["files"])
                progress.advance(task)
            summary.report_files = _download(s3, summary.report_s3, out_dir)

        with steps.step("reconcile", "reconcile warehouse vs an export", total=1):
            outcome = run_reconcile(local, "Table", export[0].result())
            with contextlib.closing(warehouse.connect(local.warehouse_url, s3_client=s3)) as wh:
                sales = wh.query(
                    "SELECT region, CAST(SUM(total) AS VARCHAR) FROM orders GROUP BY 1 ORDER BY 1"
                )
                hot_outcome = hot_views.reconcile(local, wh, summary, console) if hot else None
        with steps.step("shut-down", "local stack down", total=1):
            opened.close()  # moto's server, Redis and the state directory's lock
    summary.warehouse_rows = {t: d.warehouse for t, d in outcome.tables.items() if d.expected or d.warehouse}
    summary.source_rows = {t: d.expected for t, d in outcome.tables.items() if d.expected or d.warehouse}
    summary.sales_by_region = {str(region): str(total) for region, total in sales.rows}
    summary.reconciled = outcome.ok and not catalogue_problems and (hot_outcome is None or hot_outcome.ok)
    summary.problems = ([] if outcome.ok else outcome.lines()) + catalogue_problems
    summary.seconds = round(time.monotonic() - started, 2)
    summary.step_seconds = steps.seconds
    summary.step_cpu_seconds = steps.cpu
    # Rates over the time spent reading and delivering the stream, and loading the lake files.
    parts = {name: name.partition(": ")[2] for name in steps.seconds}
    load_seconds = sum(steps.seconds[n] for n, part in parts.items() if part == "→ warehouse")
    ingest_seconds = sum(
        steps.seconds[n] for n, part in parts.items() if part == "stream read" or part.startswith("→ ")
    )
    ingest_seconds -= load_seconds
    summary.ingest_records_per_second = (
        round(summary.stream_records / ingest_seconds, 1) if ingest_seconds else 0.0
    )
    summary.load_rows_per_second = round(summary.stream_records / load_seconds, 1) if load_seconds else 0.0
    (out_dir / "demo-summary.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    print_summary(summary, console)
    return summary


def print_summary(s: DemoSummary, console: Console) -> None:
    table = Table(title="Thermocline demo", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("source writes", f"{s.source_writes:,} ({s.orders:,} orders)")
    table.add_row(
        "stream records",
        f"{s.stream_records:,} in {s.ingest_invocations} invocations "
        f"({s.ingest_records_per_second:,.0f} records/s)",
    )
    if s.redelivered_records:
        table.add_row("delivered twice", f"{s.redelivered_records:,} records (at-least-once delivery)")
    table.add_row("lake files", f"{s.lake_files:,} Parquet files, {s.lake_bytes / 1e6:,.2f} MB")
    table.add_row("quarantined", f"{s.quarantined}")
    table.add_row("load", f"{s.load_invocations} invocations ({s.load_rows_per_second:,.0f} lake rows/s)")
    table.add_row("not created locally", ", ".join(s.skipped_resources) or "-")
    for name, rows in s.warehouse_rows.items():
        table.add_row(f"  {name}", f"{rows:,} rows (source {s.source_rows.get(name, 0):,})")
    table.add_row("catalogue", f"Aurora export from {s.catalogue_source}" if s.catalogue_source else "-")
    if s.catalogue_note:
        table.add_row("", f"[yellow]{s.catalogue_note}[/yellow]")
    for name, counts in s.catalogue_rows.items():
        table.add_row(f"  {name}", f"{counts['warehouse']:,} rows (exported {counts['exported']:,})")
    for region, total in s.sales_by_region.items():
        table.add_row(f"  sales {region}", total)
    if s.hot_skipped:
        table.add_row("hot views", f"left out: {s.hot_skipped}")
    for view, windows in s.hot_views.items():
        table.add_row(f"  {view}", ", ".join(f"{w}: {n} groups" for w, n in windows.items()) or "empty")
    verdict = "[green]exact match[/green]" if s.reconciled else "[red]MISMATCH[/red]"
    table.add_row("reconciliation", verdict)
    for problem in [*s.problems, *s.hot_problems]:
        table.add_row("", f"[red]{problem}[/red]")
    for path in s.report_files:
        if path.endswith(".html"):
            name = Path(path).parent.parent.name
            table.add_row("report", f"{path} ({s.report_rows.get(name, 0):,} rows)")
    table.add_row("time", f"{s.seconds:,.1f} s")
    for line, text in step_lines(s.step_seconds):
        table.add_row(f"  {line}", text)
    console.print(table)


def step_lines(seconds: dict[str, float]) -> list[tuple[str, str]]:
    """The steps' wall times, one line per workload phase (``users: write 1.2 s, stream read 0.3 s, ...``)
    and one per other step, in the order they ran."""
    lines: dict[str, list[str]] = {}
    for name, value in seconds.items():
        group, _, part = name.partition(": ")
        lines.setdefault(group, []).append(f"{part} {value:,.1f} s" if part else f"{value:,.1f} s")
    return [(group, ", ".join(parts)) for group, parts in lines.items()]
