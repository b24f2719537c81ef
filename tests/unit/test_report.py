"""Report definitions and rendering."""

from __future__ import annotations

import csv
import datetime as dt
import io
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
import sqlglot

from thermocline import report

COLUMNS = ["region", "month", "sales", "orders", "previous_sales", "growth_pct"]
ROWS = [
    ("eu-west", dt.datetime(2026, 9, 1), Decimal("100.50"), 3, None, None),
    ("eu-west", dt.datetime(2026, 10, 1), Decimal("150.75"), 4, Decimal("100.50"), Decimal("50.00")),
    ("us-east", dt.datetime(2026, 9, 1), Decimal("80.00"), 2, None, None),
    ("us-east", dt.datetime(2026, 10, 1), Decimal("40.00"), 1, Decimal("80.00"), Decimal("-50.00")),
]


def test_shipped_report_parses_as_redshift_sql_and_uses_the_window_functions() -> None:
    definition = report.load_report("monthly_sales_growth_by_region")
    assert definition.title == "Monthly sales growth by region"
    assert definition.chart == report.Chart("line", "month", "sales", "region")
    parsed = sqlglot.parse_one(definition.sql, read="redshift")
    sql = parsed.sql(dialect="redshift").upper()
    for needle in ("DATE_TRUNC", "LAG(", "DATEADD", "GETDATE"):
        assert needle in sql


@pytest.mark.parametrize("name", ["../etc/passwd", "Monthly", "x; drop table y", ""])
def test_report_names_are_checked_before_touching_a_path(name: str) -> None:
    with pytest.raises(report.ReportNotFoundError):
        report.load_report(name)


def test_unknown_report_lists_the_available_ones() -> None:
    with pytest.raises(report.ReportNotFoundError, match="monthly_sales_growth_by_region"):
        report.load_report("no_such_report")


def test_csv_round_trips_values_exactly() -> None:
    text = report.to_csv(COLUMNS, ROWS)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == COLUMNS
    assert rows[2] == ["eu-west", "2026-10-01", "150.75", "4", "100.50", "50.00"]
    assert rows[1][4:] == ["", ""]


def test_html_is_well_formed_with_one_line_per_region_and_escapes_values() -> None:
    definition = report.load_report("monthly_sales_growth_by_region")
    hostile = [("<script>alert(1)</script>", dt.datetime(2026, 9, 1), Decimal(1), 1, None, None)]
    page = report.to_html(definition, COLUMNS, ROWS + hostile, dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
    assert "<script>" not in page
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    root = ET.fromstring(svg)
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 3
    assert {line.find("{http://www.w3.org/2000/svg}title").text for line in lines} == {
        "eu-west",
        "us-east",
        "<script>alert(1)</script>",
    }


def test_chart_of_no_rows_says_so() -> None:
    svg = report.render_svg(report.Chart("line", "month", "sales", "region"), COLUMNS, [])
    assert "No data" in svg
