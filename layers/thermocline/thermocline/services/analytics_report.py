"""Run a shipped report's SQL on the warehouse and publish it to ``s3://<reports>/<name>/<date>/``."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from thermocline import report as rendering
from thermocline.observability import logger, metrics

if TYPE_CHECKING:
    from thermocline.settings import AnalyticsReportSettings
    from thermocline.warehouse.base import Warehouse


@dataclass(frozen=True)
class PublishedReport:
    name: str
    rows: int
    files: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"report": self.name, "rows": self.rows, "files": self.files}


def report_name_from_event(event: dict[str, Any], default: str) -> str:
    """The report to run: ``{"report": name}`` from the schedule's input, else the configured default."""
    name = event.get("report") if isinstance(event, dict) else None
    if name is None and isinstance(event.get("detail"), dict):
        name = event["detail"].get("report")
    return str(name) if name else default


def _arrow_table(columns: list[str], rows: list[tuple[Any, ...]]) -> pa.Table:
    # Built column by column so each column's type is inferred from all its values, not the first row.
    return pa.table({name: pa.array([row[i] for row in rows]) for i, name in enumerate(columns)})


def run_report(
    event: dict[str, Any],
    *,
    settings: AnalyticsReportSettings,
    warehouse: Warehouse,
    s3_client: Any,
    now: dt.datetime | None = None,
) -> PublishedReport:
    now = now or dt.datetime.now(dt.UTC)
    definition = rendering.load_report(report_name_from_event(event, settings.report_name))
    result = warehouse.query(definition.sql)
    columns, rows = list(result.columns), [tuple(r) for r in result.rows]
    prefix = f"{definition.name}/{now.date().isoformat()}/{definition.name}"
    parquet = io.BytesIO()
    pq.write_table(_arrow_table(columns, rows), parquet, compression="zstd")
    outputs = {
        f"{prefix}.parquet": (parquet.getvalue(), "application/vnd.apache.parquet"),
        f"{prefix}.csv": (rendering.to_csv(columns, rows).encode(), "text/csv; charset=utf-8"),
        f"{prefix}.html": (
            rendering.to_html(definition, columns, rows, now).encode(),
            "text/html; charset=utf-8",
        ),
    }
    for key, (body, content_type) in outputs.items():
        s3_client.put_object(Bucket=settings.reports_bucket, Key=key, Body=body, ContentType=content_type)
    files = [f"s3://{settings.reports_bucket}/{key}" for key in outputs]
    logger.info("published report", report=definition.name, rows=len(rows), files=files)
    metrics.add_metric(name="ReportRows", unit="Count", value=len(rows))
    return PublishedReport(definition.name, len(rows), files)
