"""Charts of a report result as inline SVG, drawn by pygal.

pygal is pure Python (about 1 MB unpacked, imported in ~60 ms) and writes SVG with its styles inline, so
the chart costs the Lambda layer almost nothing and the page needs no network: its tooltip script, which
pygal would load from a CDN, is switched off (``js=[]``). The y axis gets round ticks (1, 2, 2.5 or 5
times a power of ten) computed here, so the axis reads 0 / 20,000 / 40,000 rather than 32,351 / 64,702.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import pygal
from pygal.style import Style

from thermocline.reporting.definition import Chart, Column, ReportDefinition
from thermocline.reporting.values import formatted

WIDTH, HEIGHT = 960, 420
# The plot's background is a colour nothing else on the page uses, so a screenshot can find the chart.
BACKGROUND = "#fbfbfe"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_STYLE = Style(
    background=BACKGROUND,
    plot_background=BACKGROUND,
    foreground="#333333",
    foreground_strong="#111111",
    foreground_subtle="#d9d9d9",
    colors=PALETTE,
    font_family="DejaVu Sans, Helvetica, Arial, sans-serif",
    title_font_size=17,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    value_font_size=12,
    tooltip_font_size=12,
)
_MAX_X_LABELS = 14
_CONFIG_SCRIPT = re.compile(r"<script[^>]*>window\.pygal.*?</script>", re.S)
# Horizontal bars stay readable up to about this many in the chart's height; the table has every row.
_MAX_BARS = 25


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About ``count`` round ticks covering ``low``..``high`` (and zero, which bars and sums start from)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    return [round(first + i * step, 10) for i in range(int(round((last - first) / step)) + 1)]


def _axis_title(column: Column, override: str | None) -> str:
    return override or column.heading


def render_chart(
    definition: ReportDefinition, chart: Chart, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> str:
    """One chart as an ``<svg>`` element (no XML declaration) sized ``WIDTH`` × ``HEIGHT``."""
    x_col, y_col = definition.column(chart.x), definition.column(chart.y)
    ix, iy = columns.index(chart.x), columns.index(chart.y)
    iseries = columns.index(chart.series) if chart.series else 0
    # Category order: sorted for line and bar charts (time runs left to right), the query's order for
    # horizontal bars (a ranking reads top to bottom, so pygal, which draws bottom-up, gets it reversed).
    xs: list[Any] = []
    for row in rows:
        if row[ix] is not None and row[ix] not in xs:
            xs.append(row[ix])
    title = chart.title or definition.title
    if chart.type == "hbar":
        if len(xs) > _MAX_BARS:
            xs, title = xs[:_MAX_BARS], f"{title} (first {_MAX_BARS})"
        xs.reverse()
    else:
        xs.sort()
    series_type = definition.column(chart.series).type if chart.series else None
    series: dict[str, dict[Any, float]] = {}
    for row in rows:
        if row[ix] is None or row[iy] is None or row[ix] not in xs:
            continue
        name = y_col.label if series_type is None else formatted(row[iseries], series_type, None)
        series.setdefault(name, {})[row[ix]] = float(row[iy])
    values = [v for points in series.values() for v in points.values()]
    ticks = nice_ticks(min(values, default=0.0), max(values, default=1.0))

    integral = all(float(t).is_integer() for t in ticks)

    def y_text(value: float) -> str:
        # Round ticks read best without decimals; the unit is in the axis title.
        return format(int(round(value)), ",") if integral else format(value, y_col.format or ",")

    kind = {"line": pygal.Line, "bar": pygal.Bar, "hbar": pygal.HorizontalBar}[chart.type]
    labels = [formatted(x, x_col.type, x_col.format) for x in xs]
    every = max(1, math.ceil(len(labels) / _MAX_X_LABELS))
    plot = kind(
        width=WIDTH,
        height=HEIGHT,
        explicit_size=True,
        disable_xml_declaration=True,
        js=[],
        style=_STYLE,
        title=title,
        # pygal draws a horizontal bar chart's categories on the vertical axis and keeps the axis titles
        # where they were, so they swap with the axes.
        x_title=_axis_title(y_col, chart.y_title)
        if chart.type == "hbar"
        else _axis_title(x_col, chart.x_title),
        y_title=_axis_title(x_col, chart.x_title)
        if chart.type == "hbar"
        else _axis_title(y_col, chart.y_title),
        x_labels=labels,
        x_labels_major_every=every if chart.type != "hbar" else None,
        show_minor_x_labels=every == 1 or chart.type == "hbar",
        x_label_rotation=30 if chart.type != "hbar" and max(map(len, labels), default=0) > 7 else 0,
        truncate_label=28,
        y_labels=ticks,
        range=(ticks[0], ticks[-1]),
        value_formatter=y_text,
        show_legend=series_type is not None,
        legend_at_bottom=True,
        legend_at_bottom_columns=min(len(series), 6) or 1,
        truncate_legend=24,
        show_dots=len(xs) <= 31,
        dots_size=3,
        margin=16,
        print_values=False,
    )
    for name in sorted(series):
        points = series[name]
        plot.add(name, [points.get(x) for x in xs])
    if not series:
        plot.add(y_col.label, [])
    # pygal always writes a <script> with its configuration for the tooltip script, which is off here:
    # without it the page holds no script at all.
    return _CONFIG_SCRIPT.sub("", str(plot.render(is_unicode=True)))
