"""Report definitions and rendering: pure code, no AWS and no database.

A report is a Redshift-dialect SQL file in ``thermocline/reports/<name>.sql`` whose leading ``-- key: value``
comment lines describe it (title, description, chart). Results render to CSV and to a self-contained HTML
page with an inline SVG chart, so a report opens in any browser straight from S3 without scripts.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

_NAME = re.compile(r"^[a-z0-9_]{1,100}$")
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


class ReportNotFoundError(LookupError):
    """No report of that name ships with the package."""


@dataclass(frozen=True)
class Chart:
    kind: str
    x: str
    y: str
    series: str | None = None


@dataclass(frozen=True)
class ReportDefinition:
    name: str
    sql: str
    title: str
    description: str = ""
    chart: Chart | None = None


def available_reports() -> list[str]:
    folder = resources.files("thermocline") / "reports"
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".sql"))


def load_report(name: str) -> ReportDefinition:
    """Load a shipped report by name; the name is checked before it touches a path."""
    if not _NAME.match(name):
        raise ReportNotFoundError(f"invalid report name {name!r}: use lower-case letters, digits and _")
    path = resources.files("thermocline") / "reports" / f"{name}.sql"
    if not path.is_file():
        raise ReportNotFoundError(f"no report named {name!r}; available: {', '.join(available_reports())}")
    return parse_report(name, path.read_text(encoding="utf-8"))


def parse_report(name: str, text: str) -> ReportDefinition:
    meta: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"^--\s*([a-z_]+):\s*(.*)$", line.strip())
        if not match:
            break
        meta[match.group(1)] = match.group(2).strip()
    chart = _parse_chart(meta.pop("chart")) if "chart" in meta else None
    title = meta.pop("title", name.replace("_", " ").capitalize())
    description = meta.pop("description", "")
    return ReportDefinition(name, text.strip().rstrip(";"), title, description, chart)


def _parse_chart(spec: str) -> Chart:
    kind, *pairs = spec.split()
    opts = dict(pair.split("=", 1) for pair in pairs)
    return Chart(kind=kind, x=opts["x"], y=opts["y"], series=opts.get("series"))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_text(v) for v in row] for row in rows)
    return buf.getvalue()


def _axis_label(value: Any) -> str:
    """Month starts read as ``2026-11``; other values as their text, cut to fit."""
    if isinstance(value, dt.date) and value.day == 1:
        return value.strftime("%Y-%m")
    return _text(value)[:10]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None


def render_svg(
    chart: Chart, columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int = 760, height: int = 320
) -> str:
    """An SVG line chart of ``y`` over ``x``, one line per ``series`` value."""
    ix, iy = columns.index(chart.x), columns.index(chart.y)
    iseries = columns.index(chart.series) if chart.series else None
    xs = sorted({row[ix] for row in rows if row[ix] is not None}, key=_text)
    series: dict[str, dict[Any, float]] = {}
    for row in rows:
        y = _number(row[iy])
        if y is None or row[ix] is None:
            continue
        key = _text(row[iseries]) if iseries is not None else chart.y
        series.setdefault(key, {})[row[ix]] = y
    if not xs or not series:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40"><text x="10" y="25">No data</text></svg>'
    left, right, top, bottom = 70, 130, 20, 40
    values = [v for points in series.values() for v in points.values()]
    lo, hi = min(0.0, min(values)), max(values)
    hi = hi if hi > lo else lo + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(i: int) -> float:
        return left + (plot_w * i / (len(xs) - 1) if len(xs) > 1 else plot_w / 2)

    def py(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11" role="img">'
    ]
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#ddd"/>'
        )
        out.append(f'<text x="{left - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:,.0f}</text>')
    step = max(1, -(-len(xs) * 64 // plot_w))  # labels about 64 px apart at most
    for i, x in enumerate(xs):
        if i % step == 0:
            out.append(
                f'<text x="{px(i):.1f}" y="{height - bottom + 16}" text-anchor="middle">'
                f"{html.escape(_axis_label(x))}</text>"
            )
    for n, (name, points) in enumerate(sorted(series.items())):
        colour = _PALETTE[n % len(_PALETTE)]
        coords = " ".join(f"{px(i):.1f},{py(points[x]):.1f}" for i, x in enumerate(xs) if x in points)
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}">'
            f"<title>{html.escape(name)}</title></polyline>"
        )
        out.append(
            f'<rect x="{width - right + 12}" y="{top + 16 * n}" width="10" height="10" fill="{colour}"/>'
        )
        out.append(f'<text x="{width - right + 26}" y="{top + 16 * n + 9}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def to_html(
    report: ReportDefinition, columns: Sequence[str], rows: Sequence[Sequence[Any]], generated_at: dt.datetime
) -> str:
    chart = render_svg(report.chart, columns, rows) if report.chart and rows else ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_text(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(report.title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}</style>"
        f"</head><body><h1>{html.escape(report.title)}</h1><p>{html.escape(report.description)}</p>"
        f"<p>Generated {generated_at.isoformat(timespec='seconds')} &middot; {len(rows)} rows</p>"
        f"{chart}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>"
    )
