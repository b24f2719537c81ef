"""`thermocline report list|run` on the demo's warehouse, as a user runs them."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from tests.e2e.conftest import thermocline
from thermocline.reporting.definition import available_reports

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("demo")]


def test_report_list_names_each_definition_first_one_per_line() -> None:
    result = thermocline("report", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == available_reports()
    assert any("Monthly sales growth by region" in line and "months=12" in line for line in lines)


def test_report_run_writes_the_files_under_the_state_directory(demo_run: tuple[Path, dict]) -> None:
    base, _ = demo_run
    state = base / "state"
    result = thermocline(
        "report", "run", "monthly_sales_growth_by_region", "--param", "months=3", "--state", str(state)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    folder = state / "reports" / "monthly_sales_growth_by_region" / dt.datetime.now(dt.UTC).date().isoformat()
    assert {p.name for p in folder.iterdir()} == {"result.parquet", "result.csv", "report.html"}
    assert str(folder / "report.html") in result.stdout
    with (folder / "result.csv").open() as fh:
        months = sorted({dt.date.fromisoformat(row["month"]) for row in csv.DictReader(fh)})
    # months=3: the three complete months before the run date; the partial current month is left out.
    this_month = dt.datetime.now(dt.UTC).date().replace(day=1)
    expected, first = [], this_month
    for _ in range(3):
        first = (first - dt.timedelta(days=1)).replace(day=1)
        expected.insert(0, first)
    assert months == expected
    latest = state / "reports" / "monthly_sales_growth_by_region" / "latest" / "result.csv"
    assert latest.read_bytes() == (folder / "result.csv").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_report"], "no report named 'no_such_report'"),
        (["order_status_funnel", "--param", "days=0"], "parameter days: 0 is below the minimum 1"),
        (["order_status_funnel", "--param", "days"], "--param 'days': expected key=value"),
        (["order_status_funnel", "--param", "weeks=2"], "has no parameter 'weeks'"),
    ],
)
def test_bad_input_is_one_line_with_exit_status_2_and_no_files(
    demo_run: tuple[Path, dict], args: list[str], message: str
) -> None:
    base, _ = demo_run
    state = base / "state"
    result = thermocline("report", "run", *args, "--state", str(state))
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (state / "reports" / args[0]).exists()
