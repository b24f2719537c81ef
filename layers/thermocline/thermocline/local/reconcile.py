"""Reconcile the warehouse against the DynamoDB table, computed independently of the pipeline.

The expected state comes from a full, consistent scan of the source table, classified by key pattern
with rules written here (not the pipeline's contracts or counters); the actual state from SQL on the
warehouse. Row counts per table, every key, and the sum of order totals per region must match exactly.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from thermocline.names import quote_ident

_ORDER = re.compile(r"^ORDER#[^#]+$")
_LINE = re.compile(r"^ORDER#[^#]+#LINE#[^#]+$")
TABLES = ("users", "user_profiles", "orders", "order_lines")


def classify(sk: str) -> str | None:
    if sk == "USER":
        return "users"
    if sk == "PROFILE":
        return "user_profiles"
    if _ORDER.match(sk):
        return "orders"
    if _LINE.match(sk):
        return "order_lines"
    return None


@dataclass
class SourceState:
    keys: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    sales_by_region: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    orders: dict[tuple[str, str], tuple[str, Decimal]] = field(default_factory=dict)


def scan_source(ddb: Any, table: str) -> SourceState:
    state = SourceState()
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            key = (item["pk"]["S"], item["sk"]["S"])
            target = classify(key[1])
            if target is None:
                continue
            state.keys[target].add(key)
            if target == "orders":
                total = Decimal(item["total"]["N"])
                state.sales_by_region[item["region"]["S"]] += total
                state.orders[key] = (item["status"]["S"], total)
    return state


@dataclass
class Reconciliation:
    rows: dict[str, tuple[int, int]]  # table -> (source, warehouse)
    sales_by_region: dict[str, tuple[Decimal, Decimal]]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def reconcile(source: SourceState, warehouse: Any) -> Reconciliation:
    problems: list[str] = []
    rows: dict[str, tuple[int, int]] = {}
    for table in TABLES:
        result = warehouse.query(f"SELECT pk, sk FROM {quote_ident(table)}")  # noqa: S608
        actual = Counter((str(pk), str(sk)) for pk, sk in result.rows)
        expected = source.keys.get(table, set())
        rows[table] = (len(expected), sum(actual.values()))
        doubled = [k for k, n in actual.items() if n > 1]
        missing = expected - set(actual)
        extra = set(actual) - expected
        for label, keys in (("duplicated", doubled), ("missing", missing), ("not in source", extra)):
            if keys:
                sample = ", ".join("/".join(k) for k in sorted(keys)[:3])
                problems.append(f"{table}: {len(keys)} rows {label} (e.g. {sample})")
    result = warehouse.query("SELECT pk, sk, status, total, region FROM orders")
    actual_sales: dict[str, Decimal] = defaultdict(Decimal)
    wrong = 0
    for pk, sk, status, total, region in result.rows:
        actual_sales[str(region)] += Decimal(str(total))
        if source.orders.get((pk, sk), (status, Decimal(str(total)))) != (status, Decimal(str(total))):
            wrong += 1
    if wrong:
        problems.append(f"orders: {wrong} rows differ from the source in status or total")
    regions = sorted(set(source.sales_by_region) | set(actual_sales))
    sales = {r: (source.sales_by_region.get(r, Decimal(0)), actual_sales.get(r, Decimal(0))) for r in regions}
    for region, (want, got) in sales.items():
        if want != got:
            problems.append(f"orders: sales in {region} are {got} in the warehouse, {want} in the source")
    return Reconciliation(rows, sales, problems)
