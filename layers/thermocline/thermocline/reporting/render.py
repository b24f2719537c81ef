"""A report result as files: ``result.parquet``, ``result.csv`` and ``report.html``.

Pure: no AWS, no database. The HTML page is one self-contained file (styles and SVG charts inline, no
script, nothing fetched when it opens), so it reads the same straight from S3, from a mail attachment or
from disk.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from thermocline.reporting.definition import ReportDefinition, ReportError
from thermocline.reporting.values import ValueTypeError, coerce, exact_text, formatted

RESULT_PARQUET, RESULT_CSV, REPORT_HTML = "result.parquet", "result.csv", "report.html"
CONTENT_TYPES = {
    RESULT_PARQUET: "application/vnd.apache.parquet",
    RESULT_CSV: "text/csv; charset=utf-8",
    REPORT_HTML: "text/html; charset=utf-8",
}


class ReportResultError(ReportError):
    """The query ran but its result is not what the definition declares."""


@dataclass(frozen=True)
class ReportResult:
    """A query's rows, checked against the definition: declared columns, in order, values typed."""

    definition: ReportDefinition
    columns: list[str]
    rows: list[tuple[Any, ...]]

    @classmethod
    def check(
        cls, definition: ReportDefinition, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> ReportResult:
        declared = [c.name for c in definition.columns]
        got = [str(c).lower() for c in columns]
        if got != declared:
            raise ReportResultError(
                f"report {definition.name}: the query returned columns {got}, the definition declares {declared}"
            )
        typed = []
        for number, row in enumerate(rows, start=1):
            values = []
            for value, column in zip(row, definition.columns, strict=True):
                try:
                    values.append(coerce(value, column.type))
                except ValueTypeError as exc:
                    raise ReportResultError(
                        f"report {definition.name}: row {number}, column {column.name}: {exc}"
                    ) from None
            typed.append(tuple(values))
        return cls(definition, declared, typed)


@dataclass(frozen=True)
class RunInfo:
    """What the page says about the run: its date, when it ran, the parameters and any note."""

    run_date: dt.date
    generated_at: dt.datetime
    parameters: dict[str, Any]
    note: str = ""


def to_parquet(result: ReportResult) -> bytes:
    schema = pa.schema([pa.field(c.name, c.type.arrow()) for c in result.definition.columns])
    columns = [[row[i] for row in result.rows] for i in range(len(schema))]
    table = pa.table(
        [pa.array(values, type=f.type) for values, f in zip(columns, schema, strict=True)], schema=schema
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def to_csv(result: ReportResult) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([exact_text(v) for v in row] for row in result.rows)
    return buffer.getvalue().encode("utf-8")


_CSS = (
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px 32px;color:#222;max-width:1200px}"
    "h1{font-size:26px;margin:0 0 6px}p.description{color:#444;max-width:960px;line-height:1.4}"
    "dl.run{display:grid;grid-template-columns:max-content auto;gap:2px 16px;font-size:14px;margin:12px 0}"
    "dl.run dt{color:#666}dl.run dd{margin:0}p.note{background:#fff6dd;padding:6px 10px;max-width:940px}"
    "figure{margin:18px 0}figure svg{display:block}"
    "table{border-collapse:collapse;font-size:13px;margin-top:12px}"
    "th,td{border:1px solid #d0d0d0;padding:4px 10px;white-space:nowrap}th{background:#f2f2f2;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}p.more{color:#555;font-size:13px}"
)


_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def to_html(result: ReportResult, run: RunInfo) -> bytes:
    definition = result.definition
    e = html.escape
    facts = [
        ("Run date", run.run_date.isoformat()),
        ("Generated", run.generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Rows", f"{len(result.rows):,}"),
        ("Parameters", ", ".join(f"{k} = {exact_text(v)}" for k, v in run.parameters.items()) or "none"),
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        # Nothing may load or run: the page is complete as it is, wherever it is opened.
        f"<meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">",
        f"<title>{e(definition.title)} · {run.run_date.isoformat()}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(definition.title)}</h1><p class='description'>{e(definition.description)}</p>",
        "<dl class='run'>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts) + "</dl>",
    ]
    if run.note:
        parts.append(f"<p class='note'>{e(run.note)}</p>")
    if result.rows:
        # pygal is imported when a chart is drawn, not when the handler module loads (~0.1 s of cold start).
        from thermocline.reporting.chart import render_chart

        for chart in definition.charts:
            parts.append(f"<figure>{render_chart(definition, chart, result.columns, result.rows)}</figure>")
    else:
        parts.append("<p class='note'>The query returned no rows.</p>")
    shown = result.rows[: definition.table_rows]
    head = "".join(f"<th>{e(c.heading)}</th>" for c in definition.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='n'>{e(formatted(v, c.type, c.format))}</td>"
            if c.type.numeric
            else f"<td>{e(formatted(v, c.type, c.format))}</td>"
            for v, c in zip(row, definition.columns, strict=True)
        )
        + "</tr>"
        for row in shown
    )
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    if len(shown) < len(result.rows):
        parts.append(
            f"<p class='more'>The first {len(shown):,} of {len(result.rows):,} rows; every row is in "
            f"<a href='{RESULT_CSV}'>{RESULT_CSV}</a> and <a href='{RESULT_PARQUET}'>{RESULT_PARQUET}</a>.</p>"
        )
    else:
        parts.append(
            f"<p class='more'>Download: <a href='{RESULT_CSV}'>{RESULT_CSV}</a> · "
            f"<a href='{RESULT_PARQUET}'>{RESULT_PARQUET}</a></p>"
        )
    parts.append("</body></html>")
    return "".join(parts).encode("utf-8")


def render_files(result: ReportResult, run: RunInfo) -> dict[str, bytes]:
    """Every file of a run, rendered before any is written: a failure leaves nothing half-published."""
    return {RESULT_PARQUET: to_parquet(result), RESULT_CSV: to_csv(result), REPORT_HTML: to_html(result, run)}
