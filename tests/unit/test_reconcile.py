"""Reconciliation catches what a user would call a broken pipeline: lost, doubled, extra or wrong rows —
and does not blame the warehouse for changes made after the export time."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from thermocline import warehouse
from thermocline.contracts import parse_contracts
from thermocline.lake.table_schema import TableSchema
from thermocline.lake.types import ColumnType
from thermocline.load.sql import tombstone_table
from thermocline.reconciliation import normalise
from thermocline.services.reconcile import Expected, reconcile_warehouse, routed_tables
from thermocline.sources.dynamodb_export import ExportSummary

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BEFORE = "2026-11-20 11:00:00"
AFTER = "2026-11-20 12:00:05"
SUMMARY = ExportSummary(
    export_arn="arn:aws:dynamodb:us-east-1:1:table/Store/export/01-a",
    table_arn="arn:aws:dynamodb:us-east-1:1:table/Store",
    export_type="FULL_EXPORT",
    as_of=AS_OF,
    bucket="lake",
    manifest_files_key="m",
    item_count=0,
)


def _schema() -> TableSchema:
    schema = TableSchema(table="orders")
    for name, sql in (
        ("pk", "VARCHAR(64)"),
        ("status", "VARCHAR(64)"),
        ("total", "DECIMAL(12,2)"),
        ("tags", "SUPER"),
    ):
        schema.add(name, ColumnType.parse(sql))
    schema.primary_key = ["pk"]
    return schema


def _expected(rows: dict[str, tuple[str, str, str]]) -> Expected:
    want = {
        (k,): {
            "pk": k,
            "status": normalise(status, False),
            "total": normalise(Decimal(total), False),
            "tags": normalise(tags, True),
            "_overflow": None,
        }
        for k, (status, total, tags) in rows.items()
    }
    return Expected({"orders": _schema()}, {"orders": want})


@pytest.fixture
def wh(tmp_path: Path):
    with contextlib.closing(warehouse.connect(f"duckdb:///{tmp_path / 'w.duckdb'}")) as wh:
        wh.execute(
            [
                "CREATE TABLE orders (pk VARCHAR(64), status VARCHAR(64), total DECIMAL(12,2), tags SUPER, "
                '_overflow SUPER, "_seq" VARCHAR(40), "_event_time" TIMESTAMP, "_ttl_expired" BOOLEAN, '
                '"_source" VARCHAR(256), "_deleted" BOOLEAN)',
                "CREATE SCHEMA IF NOT EXISTS thermocline",
                f'CREATE TABLE thermocline."{tombstone_table("orders")}" (pk VARCHAR(64), "_seq" VARCHAR(40), '
                '"_event_time" TIMESTAMP, "_ttl_expired" BOOLEAN)',
            ]
        )
        yield wh


def _row(
    pk: str, status: str, total: str, tags: str, at: str = BEFORE, source: str = "dynamodb:Store"
) -> str:
    return (
        f"INSERT INTO orders VALUES ('{pk}', '{status}', {total}, JSON_PARSE('{tags}'), NULL, '1', "
        f"TIMESTAMP '{at}', FALSE, '{source}', FALSE)"
    )


TABLE = {"a": ("PAID", "10.50", '{"x": [1, 2.50]}'), "b": ("PLACED", "2", "[]"), "c": ("PLACED", "3", "[]")}


def test_an_exact_warehouse_reconciles_whatever_the_engine_returns(wh) -> None:
    # 10.5 vs 10.50, JSON key order and spacing, 2.50 vs 2.5 inside JSON: the same values.
    wh.execute(
        [
            _row("a", "PAID", "10.5", '{"x":[1,2.5]}'),
            _row("b", "PLACED", "2.00", "[]"),
            _row("c", "PLACED", "3", "[ ]"),
            _row("z", "PLACED", "9", "[]", source="dynamodb:OtherTable"),  # another table's rows
        ]
    )
    report = reconcile_warehouse(wh, SUMMARY, _expected(TABLE))
    assert report.ok, report.lines()
    assert (report.tables["orders"].expected, report.tables["orders"].warehouse) == (3, 3)
    assert report.lines()[0].endswith("MATCH")


def test_missing_doubled_extra_and_wrong_rows_are_named(wh) -> None:
    wh.execute(
        [
            _row("a", "PAID", "10.49", '{"x": [1, 2.5]}'),  # wrong total
            _row("b", "PLACED", "2", "[]"),
            _row("b", "PLACED", "2", "[]"),  # doubled
            _row("q", "PLACED", "1", "[]"),  # not in the table
        ]
    )  # c is missing
    report = reconcile_warehouse(wh, SUMMARY, _expected(TABLE))
    orders = report.tables["orders"]
    assert (orders.missing, orders.extra, orders.differing, orders.duplicated) == (1, 1, 1, 1)
    assert orders.examples == {
        "differing": ["a (total: table 10.5 warehouse 10.49)"],
        "duplicated": ["b held 2 times"],
        "missing": ["c"],
        "extra": ["q"],
    }
    assert not report.ok and report.mismatches == 4
    assert "4 MISMATCHES" in report.lines()[0]


def test_rows_changed_or_deleted_after_the_export_time_are_excluded_and_counted(wh) -> None:
    tombs = f'thermocline."{tombstone_table("orders")}"'
    wh.execute(
        [
            _row("a", "REFUNDED", "0", "[]", at=AFTER),  # changed after the export: not compared
            _row("b", "PLACED", "2", "[]"),
            _row("n", "PLACED", "5", "[]", at=AFTER),  # created after the export
            f"INSERT INTO {tombs} VALUES ('c', '2', TIMESTAMP '{AFTER}', FALSE)",  # deleted after it
        ]
    )
    report = reconcile_warehouse(wh, SUMMARY, _expected(TABLE))
    assert report.ok, report.lines()
    assert report.tables["orders"].excluded == 3
    # A deletion before the export time is not an excuse: the row is missing.
    wh.execute(
        [f"DELETE FROM {tombs}", f"INSERT INTO {tombs} VALUES ('c', '2', TIMESTAMP '{BEFORE}', FALSE)"]
    )
    report = reconcile_warehouse(wh, SUMMARY, _expected(TABLE))
    assert report.tables["orders"].missing == 1


def test_a_change_stamped_within_the_seam_margin_counts_as_after_the_export(wh) -> None:
    # Stream times are rounded down to the second: 11:59:59.4 may be a change made after 12:00:00.
    within = (AS_OF - timedelta(milliseconds=600)).strftime("%Y-%m-%d %H:%M:%S.%f")
    wh.execute(
        [
            _row("a", "REFUNDED", "0", "[]", at=within),
            _row("b", "PLACED", "2", "[]"),
            _row("c", "PLACED", "3", "[]"),
        ]
    )
    report = reconcile_warehouse(wh, SUMMARY, _expected(TABLE))
    assert report.ok and report.tables["orders"].excluded == 1


def test_only_the_tables_the_source_routes_to_are_read(wh) -> None:
    wh.execute(
        [
            _row("a", "PAID", "10.5", '{"x":[1,2.5]}'),
            _row("b", "PLACED", "2", "[]"),
            _row("c", "PLACED", "3", "[]"),
        ]
    )
    other = TableSchema(table="aurora_customers")
    other.add("id", ColumnType.parse("BIGINT"))
    other.primary_key = ["id"]
    expected = _expected(TABLE)
    expected.schemas["aurora_customers"] = other  # another source's table: no tombstones, never read
    expected.tables = {"orders"}
    report = reconcile_warehouse(wh, SUMMARY, expected)
    assert report.ok and set(report.tables) == {"orders"}


def test_numbers_that_differ_in_their_38th_digit_do_not_reconcile_as_equal() -> None:
    # Normalising through Decimal's default 28-digit context made these equal: reconcile said MATCH.
    a, b = (
        Decimal("12345678901234567890123456789012345678"),
        Decimal("12345678901234567890123456789012345679"),
    )
    assert normalise(a, False) != normalise(b, False)
    assert normalise(f'{{"v": {a}}}', True) != normalise(f'{{"v": {b}}}', True)
    assert normalise(Decimal("150.00"), False) == normalise(150, False)
    assert normalise(Decimal("1E+125"), False) == ("n", "1" + "0" * 125)


def test_routed_tables_follow_the_contract_or_the_default_name() -> None:
    document = {
        "version": 1,
        "sources": [
            {
                "table": "*-store",
                "unmatched": "store_other",
                "routes": [
                    {"target": "orders", "match": {"sk": "ORDER#*"}},
                    {"target": "users", "match": {"sk": "USER"}},
                ],
            }
        ],
    }
    contracts = parse_contracts(document)
    assert routed_tables(contracts, "prod-store") == {"orders", "users", "store_other"}
    assert routed_tables(contracts, "Example-Table") == {"example_table"}


def test_routed_tables_include_every_table_the_source_table_owns(wh) -> None:
    # Default routing may name a source table's warehouse table `<name>_2` (the name was taken) or
    # `src_<name>` (a system catalog's prefix). Reconcile must read that table even when the export holds
    # no item of it: rows left behind by lost deletes would otherwise reconcile as a MATCH.
    owned = TableSchema(table="orders", source="dynamodb:Store")
    owned.add("pk", ColumnType.parse("VARCHAR(64)"))
    owned.primary_key = ["pk"]
    other = TableSchema(table="store", source="postgres:db.public.store")
    schemas = {"orders": owned, "store": other}
    assert routed_tables(parse_contracts({"version": 1, "sources": []}), "Store", schemas) == {"orders"}
    assert routed_tables(parse_contracts({"version": 1, "sources": []}), "STL_Query") == {"src_stl_query"}

    wh.execute([_row("a", "PAID", "10.5", '{"x":[1,2.5]}')])  # the item was deleted; its delete was lost
    expected = Expected(
        schemas, {}, tables=routed_tables(parse_contracts({"version": 1, "sources": []}), "Store", schemas)
    )
    report = reconcile_warehouse(wh, SUMMARY, expected)
    assert not report.ok and report.tables["orders"].extra == 1
