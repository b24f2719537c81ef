"""Run a shipped report on the warehouse and publish it to ``s3://<reports>/<report>/<run-date>/``.

A run is all or nothing: the request is checked, the query runs with bound parameters, the result is
checked against the definition and every file is rendered before the first object is written. Bad input
or a failed query leaves no file behind. A re-run of a date overwrites its files (same keys), so a date
never has two versions side by side. ``latest/`` gets the same files unless a later date has already been
published: re-running an old date for a backfill does not turn ``latest`` back in time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thermocline.observability import logger
from thermocline.reporting import definition as defs
from thermocline.reporting.definition import ReportDefinition, ReportError, ReportInputError
from thermocline.reporting.render import CONTENT_TYPES, REPORT_HTML, ReportResult, RunInfo, render_files
from thermocline.runtime import Runtime
from thermocline.warehouse.errors import WarehouseError

if TYPE_CHECKING:
    from thermocline.hot.store import HotStore
    from thermocline.settings import AnalyticsReportSettings
    from thermocline.warehouse.port import Warehouse

LATEST = "latest"


class ReportQueryError(ReportError):
    """The warehouse refused or failed the report's query (the message is the warehouse's, on one line)."""


@dataclass(frozen=True)
class ReportRequest:
    report: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProducedReport:
    definition: ReportDefinition
    run: RunInfo
    rows: int
    files: dict[str, bytes]
    result: ReportResult | None = None  # the checked rows, for the hot views' cache


@dataclass(frozen=True)
class PublishedReport:
    name: str
    run_date: str
    rows: int
    files: list[str]
    latest: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": self.name,
            "run_date": self.run_date,
            "rows": self.rows,
            "files": self.files,
            "latest": self.latest,
        }


def request_from_event(event: Any) -> ReportRequest:
    """``{"report": name, "parameters": {...}}`` — the schedule's input, or an EventBridge event's detail."""
    if isinstance(event, dict) and "report" not in event and isinstance(event.get("detail"), dict):
        event = event["detail"]
    if not isinstance(event, dict) or not event.get("report"):
        raise ReportInputError(
            'the event names no report: expected {"report": "<name>", "parameters": {...}} '
            f"(reports: {', '.join(defs.available_reports())})"
        )
    parameters = event.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ReportInputError("parameters must be an object of names to values")
    return ReportRequest(str(event["report"]), dict(parameters))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _missing_tables(warehouse: Warehouse, tables: tuple[str, ...]) -> list[str]:
    """Which of ``tables`` the warehouse does not have (or does not let this user see)."""
    found = {
        str(row[0]).lower()
        for row in warehouse.query(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')"
        ).rows
    }
    return [t for t in tables if t.lower() not in found]


def produce_report(request: ReportRequest, *, warehouse: Warehouse, now: dt.datetime) -> ProducedReport:
    """Check the request, run the query, check the result and render every file (nothing is written)."""
    definition = defs.load_report(request.report)
    values = defs.bind_parameters(definition, request.parameters, today=now.astimezone(dt.UTC).date())
    sql, note = definition.sql, ""
    try:
        if definition.optional_tables:
            missing = _missing_tables(warehouse, definition.optional_tables)
            if missing:
                sql = definition.fallback_sql or sql
                note = f"The warehouse has no table {', '.join(missing)}: this run used the report's fallback query."
        bound = {name: values[name] for name in defs.placeholders(sql)}
        result = warehouse.query(sql, bound)
    except WarehouseError as exc:
        raise ReportQueryError(f"report {definition.name}: query failed: {_one_line(exc)}") from exc
    checked = ReportResult.check(definition, result.columns, result.rows)
    run = RunInfo(run_date=values[defs.RUN_DATE], generated_at=now, parameters=values, note=note)
    files = render_files(checked, run)
    return ProducedReport(definition, run, len(checked.rows), files, checked)


def _is_latest(day: str, published_days: list[str]) -> bool:
    return all(other <= day for other in published_days if other != LATEST)


def publish_to_s3(
    produced: ProducedReport,
    *,
    bucket: str,
    s3_client: Any,
    sns_client: Any = None,
    topic_arn: str | None = None,
    runtime: Runtime | None = None,
) -> PublishedReport:
    name, day = produced.definition.name, produced.run.run_date.isoformat()
    pages = s3_client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{name}/", Delimiter="/"
    )
    days = [p["Prefix"][len(name) + 1 : -1] for page in pages for p in page.get("CommonPrefixes", [])]
    dated: list[str] = []
    latest: list[str] = []
    # The dated files first: if a write fails, latest/ still points at a complete earlier run.
    for folder, written in [(day, dated)] + ([(LATEST, latest)] if _is_latest(day, days) else []):
        for filename, body in produced.files.items():
            key = f"{name}/{folder}/{filename}"
            s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=CONTENT_TYPES[filename])
            written.append(f"s3://{bucket}/{key}")
    published = PublishedReport(name, day, produced.rows, dated, latest)
    if sns_client is not None and topic_arn:
        _notify(sns_client, topic_arn, produced, bucket, s3_client)
    logger.info("published report", report=name, run_date=day, rows=produced.rows, files=dated)
    (runtime or Runtime()).metrics.add_metric(name="ReportRows", unit="Count", value=produced.rows)
    return published


def _notify(sns_client: Any, topic_arn: str, produced: ProducedReport, bucket: str, s3_client: Any) -> None:
    definition, day = produced.definition, produced.run.run_date.isoformat()
    key = f"{definition.name}/{day}/{REPORT_HTML}"
    region = getattr(getattr(s3_client, "meta", None), "region_name", None) or "us-east-1"
    console = f"https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={key}"
    text = (
        f"{definition.title} for {day}: {produced.rows:,} rows.\n\n"
        f"Report: s3://{bucket}/{key}\nOpen in the S3 console: {console}\n"
        f"Data: s3://{bucket}/{definition.name}/{day}/ (result.parquet, result.csv)\n"
    )
    sns_client.publish(
        TopicArn=topic_arn,
        # SNS subjects are at most 100 characters.
        Subject=f"Report: {definition.title} ({day})"[:100],
        Message=text,
        MessageAttributes={"report": {"DataType": "String", "StringValue": definition.name}},
    )
    logger.info("report notification sent", report=definition.name, topic=topic_arn)


def write_to_directory(produced: ProducedReport, root: Path) -> list[Path]:
    """The same files and layout as in S3, under ``root/<report>/<run-date>/`` and ``root/<report>/latest/``."""
    name, day = produced.definition.name, produced.run.run_date.isoformat()
    published = [p.name for p in (root / name).iterdir()] if (root / name).is_dir() else []
    written = []
    for folder in [day] + ([LATEST] if _is_latest(day, published) else []):
        target = root / name / folder
        target.mkdir(parents=True, exist_ok=True)
        for filename, body in produced.files.items():
            (target / filename).write_bytes(body)
            if folder == day:
                written.append(target / filename)
    return written


def run_report(
    event: Any,
    *,
    settings: AnalyticsReportSettings,
    warehouse: Warehouse,
    s3_client: Any,
    sns_client: Any = None,
    hot_store: HotStore | None = None,
    runtime: Runtime | None = None,
) -> PublishedReport:
    """AnalyticsReportFunction's one call: the event's report, run and published."""
    runtime = runtime or Runtime()
    produced = produce_report(request_from_event(event), warehouse=warehouse, now=runtime.clock())
    published = publish_to_s3(
        produced,
        bucket=settings.reports_bucket,
        s3_client=s3_client,
        sns_client=sns_client,
        topic_arn=settings.reports_topic_arn,
        runtime=runtime,
    )
    if hot_store is not None and published.latest:
        cache_latest_result(hot_store, produced, published)
    return published


# ---- the hot views' cache: each report's latest result, for dashboards that read it in milliseconds


def cache_latest_result(hot_store: HotStore, produced: ProducedReport, published: PublishedReport) -> None:
    """Keep the run that ``latest/`` now shows in Redis too (a backfill of an older date leaves it alone)."""
    result = produced.result
    if result is None:
        return
    document = {
        "report": published.name,
        "run_date": published.run_date,
        "generated_at": produced.run.generated_at.isoformat(),
        "columns": result.columns,
        "rows": result.rows,
        "files": published.latest,
    }
    hot_store.put_report(published.name, document)
    logger.info("report cached", report=published.name, rows=len(result.rows))
