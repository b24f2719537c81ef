"""Report results: typed values from any engine, and the files a person or a program opens."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import duckdb
import pytest

from thermocline.reporting import definition as defs
from thermocline.reporting.chart import nice_ticks
from thermocline.reporting.render import ReportResult, ReportResultError, RunInfo, render_files
from thermocline.reporting.values import ColumnType, ValueTypeError, coerce

SVG = "{http://www.w3.org/2000/svg}"
MONTHLY = defs.load_report("monthly_sales_growth_by_region")
COLUMNS = ["region", "month", "sales", "orders", "previous_sales", "growth_pct"]
RUN = RunInfo(
    dt.date(2026, 11, 27),
    dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC),
    {"run_date": dt.date(2026, 11, 27), "months": 12},
)


@pytest.mark.parametrize(
    ("value", "ctype", "expected"),
    [
        # Typed values, as DuckDB and psycopg hand them back.
        (Decimal("12.50"), "decimal(38,2)", Decimal("12.50")),
        (dt.datetime(2026, 10, 1), "date", dt.date(2026, 10, 1)),
        (dt.date(2026, 10, 1), "date", dt.date(2026, 10, 1)),
        (dt.datetime(2026, 10, 1, 12, 30), "timestamp", dt.datetime(2026, 10, 1, 12, 30, tzinfo=dt.UTC)),
        (Decimal("3"), "integer", 3),
        # Strings, as the Redshift Data API hands back DECIMAL, DATE and TIMESTAMP.
        ("12.5", "decimal(38,2)", Decimal("12.50")),
        ("-33.40", "decimal(38,2)", Decimal("-33.40")),
        ("2026-10-01 00:00:00", "date", dt.date(2026, 10, 1)),
        ("2026-10-01", "date", dt.date(2026, 10, 1)),
        ("2026-10-01 12:30:00.25", "timestamp", dt.datetime(2026, 10, 1, 12, 30, 0, 250000, tzinfo=dt.UTC)),
        ("2026-10-01 14:30:00+02:00", "timestamp", dt.datetime(2026, 10, 1, 12, 30, tzinfo=dt.UTC)),
        ("42", "integer", 42),
        ("t", "boolean", True),
        # Doubles (DuckDB's decimal division) through their shortest repr, not their binary expansion.
        (517.53, "decimal(38,2)", Decimal("517.53")),
        # A sum of 32 digits fits DECIMAL(38,2) (Decimal's default 28-digit context refused it).
        (
            Decimal("123456789012345678901234567890.12"),
            "decimal(38,2)",
            Decimal("123456789012345678901234567890.12"),
        ),
        (None, "decimal(38,2)", None),
    ],
)
def test_values_from_every_engine_become_the_declared_type(value, ctype: str, expected) -> None:
    assert coerce(value, ColumnType.parse(ctype)) == expected


@pytest.mark.parametrize(
    ("value", "ctype"),
    [
        ("1.005", "decimal(38,2)"),  # would need rounding: refused, never rounded silently
        (Decimal("1e40"), "decimal(38,0)"),
        ("NaN", "decimal(38,2)"),
        ("3.5", "integer"),
        (True, "integer"),
        (dt.datetime(2026, 10, 1, 8, 0), "date"),
        ("yesterday", "date"),
        ("maybe", "boolean"),
    ],
)
def test_values_that_do_not_fit_are_refused(value, ctype: str) -> None:
    with pytest.raises(ValueTypeError):
        coerce(value, ColumnType.parse(ctype))


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0, 64702, [0, 20000, 40000, 60000, 80000]),
        (32351, 97053, [0, 20000, 40000, 60000, 80000, 100000]),
        (-89.39, 910.7, [-250, 0, 250, 500, 750, 1000]),
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (5, 5, [0, 1, 2, 3, 4, 5]),
    ],
)
def test_ticks_are_round_numbers_from_zero(low: float, high: float, ticks: list[float]) -> None:
    assert nice_ticks(low, high) == ticks


ROWS = [
    ("eu-west", "2026-09-01 00:00:00", "32351.25", 3, None, None),
    ("eu-west", dt.datetime(2026, 10, 1), Decimal("64702.50"), 4, Decimal("32351.25"), Decimal("100.00")),
    ("us-east", dt.date(2026, 9, 1), Decimal("80.00"), 2, None, None),
    (
        "<script>alert(1)</script>",
        dt.date(2026, 10, 1),
        Decimal("40.00"),
        1,
        Decimal("80.00"),
        Decimal("-50.00"),
    ),
]


def test_result_columns_must_be_the_declared_ones_in_order() -> None:
    with pytest.raises(ReportResultError, match="returned columns \\['month', 'region'"):
        ReportResult.check(MONTHLY, ["month", "region", *COLUMNS[2:]], [])
    with pytest.raises(
        ReportResultError, match="row 1, column sales: '1.234' has more than 2 decimal places"
    ):
        ReportResult.check(MONTHLY, COLUMNS, [("eu", "2026-10-01", "1.234", 1, None, None)])


def test_csv_is_exact_and_parquet_is_typed_for_a_second_reader() -> None:
    files = render_files(ReportResult.check(MONTHLY, COLUMNS, ROWS), RUN)
    rows = list(csv.reader(io.StringIO(files["result.csv"].decode())))
    assert rows[0] == COLUMNS
    assert rows[1] == ["eu-west", "2026-09-01", "32351.25", "3", "", ""]
    assert rows[2] == ["eu-west", "2026-10-01", "64702.50", "4", "32351.25", "100.00"]
    con = duckdb.connect()
    con.execute("CREATE TABLE r AS SELECT * FROM read_parquet(?)", [_tmp_parquet(files["result.parquet"])])
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns").fetchall())
    assert types == {
        "region": "VARCHAR",
        "month": "DATE",
        "sales": "DECIMAL(38,2)",
        "orders": "BIGINT",
        "previous_sales": "DECIMAL(38,2)",
        "growth_pct": "DECIMAL(38,2)",
    }
    assert con.execute("SELECT SUM(sales) FROM r").fetchone()[0] == Decimal("97173.75")


def _tmp_parquet(body: bytes) -> str:
    import tempfile

    handle = tempfile.NamedTemporaryFile(suffix=".parquet", delete=False)
    handle.write(body)
    handle.close()
    return handle.name


def test_html_has_titles_units_round_ticks_a_legend_and_nothing_to_fetch() -> None:
    page = render_files(ReportResult.check(MONTHLY, COLUMNS, ROWS), RUN)["report.html"].decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<script" not in page  # no script at all: nothing runs, nothing is fetched
    assert not re.findall(r"(?:src|href)\s*=\s*['\"]?(?:https?:)?//", page)
    assert "@import" not in page and "url(http" not in page
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    texts = [t.text for t in svg.iter(f"{SVG}text") if t.text]
    assert "Sales (USD)" in texts and "Month" in texts  # axis titles with the unit
    assert {"0", "20,000", "40,000", "60,000", "80,000"} <= set(texts)  # round ticks
    assert {"eu-west", "us-east"} <= set(texts)  # the legend names the series
    assert "2026-09" in texts and "2026-10" in texts
    assert "Parameters" in page and "months = 12" in page and "Run date" in page
    assert "<th>Sales (USD)</th>" in page and "<td class='n'>64,702.50</td>" in page
    assert "<td class='n'>+100.00</td>" in page


def test_a_large_result_is_capped_in_the_page_with_a_pointer_to_the_files() -> None:
    daily = defs.load_report("daily_orders_and_revenue")
    rows = [
        (dt.date(2025, 1, 1) + dt.timedelta(days=i), i, Decimal(i), None)
        for i in range(daily.table_rows + 40)
    ]
    page = render_files(
        ReportResult.check(daily, ["day", "orders", "revenue", "average_order_value"], rows), RUN
    )["report.html"].decode()
    assert page.count("<tr>") == daily.table_rows + 1
    assert f"The first {daily.table_rows:,} of {daily.table_rows + 40:,} rows" in page


def test_no_rows_still_render_and_say_so() -> None:
    page = render_files(ReportResult.check(MONTHLY, COLUMNS, []), RUN)["report.html"].decode()
    assert "The query returned no rows." in page and "<svg" not in page


def test_report_code_imports_no_aws_sdk_driver_or_sql_translator() -> None:
    import subprocess
    import sys

    code = (
        "import sys, thermocline.reporting.render, thermocline.reporting.definition; "
        "pure = sorted(m for m in ('boto3', 'botocore', 'duckdb', 'psycopg', 'redshift_connector', 'sqlglot') "
        "if m in sys.modules); "
        "import thermocline.services.analytics_report; "
        "service = sorted(m for m in ('duckdb', 'psycopg', 'redshift_connector', 'sqlglot', 'pygal') "
        "if m in sys.modules); print(pure, service)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] []"
