"""The demo end to end: DynamoDB writes → stream → lake → warehouse → report, reconciled."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import thermocline

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("demo")]


def test_demo_reconciles_the_warehouse_with_the_source(demo_run: tuple[Path, dict]) -> None:
    _, summary = demo_run
    assert summary["reconciled"] is True, summary["problems"]
    rows = summary["warehouse_rows"]
    assert set(rows) == {"users", "user_profiles", "orders", "order_lines"}
    # 120 orders by default; ~5% deleted, each user has one user item and one profile.
    assert 100 <= rows["orders"] < 120
    assert rows["users"] == rows["user_profiles"] == 30
    assert rows["order_lines"] > rows["orders"]
    assert summary["warehouse_rows"] == summary["source_rows"]
    assert summary["stream_records"] >= summary["source_writes"]
    assert summary["lake_files"] > 0 and summary["quarantined"] == 0


def test_the_warehouse_file_is_real_duckdb_with_the_rows(demo_run: tuple[Path, dict]) -> None:
    base, summary = demo_run
    with duckdb.connect(str(base / "state" / "warehouse.duckdb"), read_only=True) as con:
        for table, expected in summary["warehouse_rows"].items():
            assert con.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] == expected
        totals = dict(
            con.execute("SELECT region, CAST(SUM(total) AS VARCHAR) FROM orders GROUP BY 1").fetchall()
        )
    assert summary["sales_by_region"] == totals


def test_the_demo_publishes_every_shipped_report_as_parquet_csv_and_html(demo_run: tuple[Path, dict]) -> None:
    from thermocline.reporting.definition import available_reports

    _, summary = demo_run
    files: dict[str, dict[str, Path]] = {}
    for path in map(Path, summary["report_files"]):
        files.setdefault(path.parent.parent.name, {})[path.name] = path
    assert set(files) == set(available_reports())
    for name, by_name in files.items():
        assert set(by_name) == {"result.parquet", "result.csv", "report.html"}, name
        table = pq.read_table(by_name["result.parquet"])
        with by_name["result.csv"].open() as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == table.num_rows == summary["report_rows"][name] > 0, name
        assert "<svg" in by_name["report.html"].read_text(), name
    monthly = pq.read_table(files["monthly_sales_growth_by_region"]["result.parquet"])
    assert monthly.column_names[:4] == ["region", "month", "sales", "orders"]
    assert set(monthly.column("region").to_pylist()) <= set(summary["sales_by_region"])


def test_report_event_runs_through_invoke_on_the_demo_warehouse(demo_run: tuple[Path, dict]) -> None:
    base, _ = demo_run
    result = thermocline(
        "invoke",
        "AnalyticsReportFunction",
        "--event",
        "events/analytics-report-schedule.json",
        "--state",
        str(base / "state"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"report": "monthly_sales_growth_by_region"' in result.stdout


def test_every_stream_batch_delivered_twice_still_reconciles_exactly(tmp_path: Path) -> None:
    result = thermocline(
        "demo", "--orders", "60", "--redeliver", "--state", str(tmp_path / "s"), "--out", str(tmp_path / "o")
    )
    assert result.returncode == 0, result.stdout[-3000:]
    import json

    summary = json.loads((tmp_path / "o" / "demo-summary.json").read_text())
    assert summary["redelivered_records"] == summary["stream_records"] > 0
    assert summary["reconciled"] is True, summary["problems"]
    assert summary["warehouse_rows"] == summary["source_rows"]


def test_every_hot_view_equals_the_question_asked_of_the_warehouse(demo_run: tuple[Path, dict]) -> None:
    """The views were kept from batches delivered twice and reordered across items; here each is asked
    again of the demo's warehouse in SQL written for this test."""
    base, summary = demo_run
    assert summary["hot_problems"] == [] and summary["hot_skipped"] == ""
    views = summary["hot_current"]
    day, week, month = (
        views[v]["bucket"] for v in ("orders_by_region_today", "top_customers_week", "orders_by_region_month")
    )
    with duckdb.connect(str(base / "state" / "warehouse.duckdb"), read_only=True) as con:

        def ask(sql: str) -> dict[str, str]:
            return {str(k): str(v) for k, v in con.execute(sql).fetchall()}

        in_day = f"CAST(created_at AS DATE) = DATE '{day}'"
        in_month = f"strftime(created_at, '%Y-%m') = '{month}'"
        in_week = f"strftime(created_at, '%G-W%V') = '{week}'"
        expected = {
            "revenue_by_region_today": ask(
                f"SELECT region, SUM(total) FROM orders WHERE {in_day} GROUP BY 1"
            ),
            "orders_by_region_today": ask(f"SELECT region, COUNT(*) FROM orders WHERE {in_day} GROUP BY 1"),
            "revenue_by_region_month": ask(
                f"SELECT region, SUM(total) FROM orders WHERE {in_month} GROUP BY 1"
            ),
            "orders_by_region_month": ask(f"SELECT region, COUNT(*) FROM orders WHERE {in_month} GROUP BY 1"),
            "top_customers_week": ask(f"SELECT user_id, SUM(total) FROM orders WHERE {in_week} GROUP BY 1"),
            "latest_order_status": ask(
                "SELECT user_id, status FROM (SELECT user_id, status, ROW_NUMBER() OVER (PARTITION BY user_id "
                "ORDER BY created_at DESC, pk DESC, sk DESC) AS n FROM orders) WHERE n = 1"
            ),
        }
    assert expected["revenue_by_region_month"] and expected["latest_order_status"]
    for name, want in expected.items():
        got = {group: str(value) for group, value in views[name]["values"].items()}
        assert got == {k: v for k, v in want.items() if v not in ("0", "0.00")}, name
