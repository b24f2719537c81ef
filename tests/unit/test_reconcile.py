"""Reconciliation catches what a user would call a broken pipeline: lost, doubled, extra or wrong rows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from thermocline import warehouse
from thermocline.local.reconcile import SourceState, classify, reconcile


def test_classify_follows_the_demo_key_patterns() -> None:
    assert classify("USER") == "users"
    assert classify("PROFILE") == "user_profiles"
    assert classify("ORDER#o1") == "orders"
    assert classify("ORDER#o1#LINE#001") == "order_lines"
    assert classify("ORDER#") is None
    assert classify("SESSION#x") is None


def _source() -> SourceState:
    state = SourceState()
    state.keys["users"] = {("USER#1", "USER")}
    state.keys["user_profiles"] = {("USER#1", "PROFILE")}
    state.keys["orders"] = {("USER#1", "ORDER#a"), ("USER#1", "ORDER#b")}
    state.keys["order_lines"] = {("USER#1", "ORDER#a#LINE#001")}
    state.orders = {
        ("USER#1", "ORDER#a"): ("PAID", Decimal("10.50")),
        ("USER#1", "ORDER#b"): ("PLACED", Decimal("2")),
    }
    state.sales_by_region["eu-west"] = Decimal("12.50")
    return state


def _warehouse(tmp_path: Path, orders: list[tuple[str, str, str, str, str]]) -> warehouse.Warehouse:
    wh = warehouse.connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    wh.execute(
        [
            "CREATE TABLE users (pk VARCHAR(64), sk VARCHAR(64))",
            "INSERT INTO users VALUES ('USER#1', 'USER')",
            "CREATE TABLE user_profiles (pk VARCHAR(64), sk VARCHAR(64))",
            "INSERT INTO user_profiles VALUES ('USER#1', 'PROFILE')",
            "CREATE TABLE order_lines (pk VARCHAR(64), sk VARCHAR(64))",
            "INSERT INTO order_lines VALUES ('USER#1', 'ORDER#a#LINE#001')",
            "CREATE TABLE orders (pk VARCHAR(64), sk VARCHAR(64), status VARCHAR(16), total DECIMAL(12,2), region VARCHAR(16))",
            *[f"INSERT INTO orders VALUES ('{p}', '{s}', '{st}', {t}, '{r}')" for p, s, st, t, r in orders],
        ]
    )
    return wh


GOOD = [("USER#1", "ORDER#a", "PAID", "10.50", "eu-west"), ("USER#1", "ORDER#b", "PLACED", "2.00", "eu-west")]


def test_an_exact_warehouse_reconciles(tmp_path: Path) -> None:
    outcome = reconcile(_source(), _warehouse(tmp_path, GOOD))
    assert outcome.ok, outcome.problems
    assert outcome.rows["orders"] == (2, 2)
    assert outcome.sales_by_region == {"eu-west": (Decimal("12.50"), Decimal("12.50"))}


@pytest.mark.parametrize(
    ("orders", "problem"),
    [
        (GOOD[:1], "1 rows missing"),
        (GOOD + GOOD[1:], "1 rows duplicated"),
        (GOOD + [("USER#9", "ORDER#z", "PAID", "0", "eu-west")], "1 rows not in source"),
        ([GOOD[0], ("USER#1", "ORDER#b", "PAID", "2.00", "eu-west")], "differ from the source"),
        ([GOOD[0], ("USER#1", "ORDER#b", "PLACED", "2.01", "eu-west")], "sales in eu-west are 12.51"),
    ],
)
def test_a_broken_warehouse_is_named(tmp_path: Path, orders: list, problem: str) -> None:
    outcome = reconcile(_source(), _warehouse(tmp_path, orders))
    assert not outcome.ok
    assert any(problem in p for p in outcome.problems), outcome.problems
