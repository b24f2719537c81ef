"""Report definitions: every shipped file is valid, and every mistake a new file could hold is caught."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal

import pytest
import sqlglot
from sqlglot import exp

from thermocline.reporting import definition as defs
from thermocline.reporting.definition import ReportDefinitionError, ReportInputError

TODAY = dt.date(2026, 11, 27)
MINIMAL = """
title: T
description: D
schedule: rate(1 day)
parameters:
  limit: {type: integer, default: 5, min: 1, max: 10}
columns:
  region: {type: text}
  sales: {type: "decimal(38,2)", unit: USD, format: ",.2f"}
charts:
  - {type: bar, x: region, y: sales}
sql: SELECT region, SUM(total) AS sales FROM orders WHERE created_at < CAST(:run_date AS DATE) GROUP BY 1 LIMIT :limit
"""


@pytest.mark.parametrize("name", defs.available_reports())
def test_each_shipped_report_is_valid_redshift_sql_with_declared_placeholders(name: str) -> None:
    definition = defs.load_report(name)
    for sql in filter(None, (definition.sql, definition.fallback_sql)):
        tree = sqlglot.parse_one(sql, read="redshift")
        from_parser = {p.name for p in tree.find_all(exp.Placeholder)}
        assert set(defs.placeholders(sql)) == from_parser
        assert "run_date" in from_parser  # every shipped report ends its window at the run date
        # Windows end at :run_date, never at the clock, so re-running a date reproduces its report.
        assert "GETDATE" not in sql.upper() and "CURRENT_DATE" not in sql.upper()
    assert definition.charts, "every shipped report has a chart"
    assert definition.description and definition.schedule.startswith(("cron(", "rate("))


def test_the_four_reports_the_product_promises_ship() -> None:
    assert set(defs.available_reports()) >= {
        "monthly_sales_growth_by_region",
        "top_customers_by_revenue",
        "daily_orders_and_revenue",
        "order_status_funnel",
    }


def test_placeholders_skip_literals_comments_and_casts() -> None:
    sql = "SELECT ':no', \"a:b\", x::int, :yes -- :comment\n/* :block */ FROM t WHERE y = :yes2 AND z=:yes"
    assert defs.placeholders(sql) == ["yes", "yes2"]


def _parse(text: str) -> defs.ReportDefinition:
    return defs.parse_report("r", textwrap.dedent(text))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("title: T", "titel: T"), "unknown keys ['titel']"),
        (("schedule: rate(1 day)", "schedule: daily"), "not an EventBridge"),
        (("x: region, y: sales", "x: region, y: missing"), "y 'missing' is not a column"),
        (("x: region, y: sales", "x: sales, y: region"), "y 'region' is not a number column"),
        (("LIMIT :limit", "LIMIT :limitt"), "the SQL uses :limitt, which is not a parameter"),
        (("LIMIT :limit", "LIMIT 5"), "parameter limit is not used by the SQL"),
        (('format: ",.2f"', 'format: "%Y"'), "format '%Y'"),
        (("{type: text}", "{type: varchar}"), "unknown type 'varchar'"),
        (("{type: text}", "{type: text, colour: red}"), "unknown keys ['colour']"),
        (("default: 5, min: 1", "default: 50, min: 1"), "above the maximum 10"),
        (("limit: {type: integer", "run_date: {type: date"), "run_date is given to every report"),
        (("sql: SELECT", "fallback_sql: SELECT"), "sql is required"),
    ],
)
def test_a_malformed_definition_is_refused_with_what_is_wrong(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in MINIMAL
    with pytest.raises(ReportDefinitionError) as caught:
        _parse(MINIMAL.replace(old, new, 1))
    assert message in str(caught.value)
    assert str(caught.value).startswith("report r: ")


def test_optional_tables_need_a_fallback_query() -> None:
    with pytest.raises(ReportDefinitionError, match="optional_tables and fallback_sql go together"):
        _parse(MINIMAL + "optional_tables: [customers]\n")


def test_parameters_bind_defaults_given_values_and_the_run_date() -> None:
    definition = _parse(MINIMAL)
    assert defs.bind_parameters(definition, {}, TODAY) == {"run_date": TODAY, "limit": 5}
    assert defs.bind_parameters(definition, {"limit": "7", "run_date": "2026-01-31"}, TODAY) == {
        "run_date": dt.date(2026, 1, 31),
        "limit": 7,
    }
    assert defs.bind_parameters(definition, {"limit": 7}, TODAY)["limit"] == 7


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"limit": "7.5"}, "parameter limit: expected integer, got '7.5'"),
        ({"limit": True}, "parameter limit: expected integer"),
        ({"limit": "11"}, "above the maximum 10"),
        ({"limit": "0"}, "below the minimum 1"),
        ({"run_date": "2026-02-30"}, "parameter run_date: expected date"),
        ({"run_date": "tomorrow"}, "expected a date YYYY-MM-DD"),
        ({"region": "x"}, "report r has no parameter 'region' (parameters: limit, run_date)"),
    ],
)
def test_malformed_parameters_are_refused_in_one_line(raw: dict, message: str) -> None:
    with pytest.raises(ReportInputError) as caught:
        defs.bind_parameters(_parse(MINIMAL), raw, TODAY)
    assert message in str(caught.value)


def test_a_parameter_without_default_is_required_and_text_choices_are_checked() -> None:
    text = MINIMAL.replace(
        "parameters:\n", "parameters:\n  region: {type: text, choices: [eu, us]}\n  floor: {type: decimal}\n"
    ).replace("LIMIT :limit", "AND region = :region AND total > :floor LIMIT :limit")
    definition = _parse(text)
    with pytest.raises(ReportInputError, match="needs parameter region"):
        defs.bind_parameters(definition, {"floor": "1"}, TODAY)
    with pytest.raises(ReportInputError, match="'asia' is not one of eu, us"):
        defs.bind_parameters(definition, {"region": "asia", "floor": "1"}, TODAY)
    with pytest.raises(ReportInputError, match="expected non-empty text"):
        defs.bind_parameters(definition, {"region": "", "floor": "1"}, TODAY)
    bound = defs.bind_parameters(definition, {"region": "eu", "floor": "12.50"}, TODAY)
    assert bound["floor"] == Decimal("12.5") and bound["region"] == "eu"


def test_unknown_and_hostile_report_names_never_touch_a_path() -> None:
    for name in ("../etc/passwd", "Monthly", "x; drop table y", "", "a" * 80):
        with pytest.raises(ReportInputError, match="invalid report name"):
            defs.load_report(name)
    with pytest.raises(ReportInputError, match="no report named 'nope' \\(reports: daily_orders_and_revenue"):
        defs.load_report("nope")
