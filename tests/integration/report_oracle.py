"""The shipped reports' questions answered a second way: plain Python over the lake's Parquet files.

Nothing here reuses the report SQL, the warehouse or the loader. The lake's CDC rows of ``orders`` are
read with pyarrow and folded into the table's current state (the newest ``_seq`` of each key wins, a
delete removes the key); each report's question is then answered with ``Decimal`` arithmetic and
Redshift's rounding of NUMERIC (half away from zero). A rounded ratio remembers its exact value, so a
comparison can tell a half-cent tie (see ``Rounded``).
"""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pyarrow.parquet as pq

CENT = Decimal("0.01")
STAGES = [(1, "Placed"), (2, "Paid"), (3, "Shipped"), (4, "Delivered")]
FURTHEST = {"PAID": 2, "SHIPPED": 3, "DELIVERED": 4}


def current_orders(s3: Any, bucket: str) -> list[dict[str, Any]]:
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="cdc/orders/")
    for key in (o["Key"] for page in pages for o in page.get("Contents", [])):
        if not key.endswith(".parquet"):
            continue
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for row in pq.read_table(io.BytesIO(body)).to_pylist():
            k = (row["pk"], row["sk"])
            if k not in newest or row["_seq"] > newest[k]["_seq"]:
                newest[k] = row
    return [r for r in newest.values() if r["_op"] != "D"]


class Rounded(Decimal):
    """A ratio rounded to cents as Redshift rounds NUMERIC, equal to that ``Decimal``; ``exact`` is the
    value before rounding."""

    exact: Decimal

    def __new__(cls, exact: Decimal) -> Rounded:
        rounded = super().__new__(cls, exact.quantize(CENT, rounding=ROUND_HALF_UP))
        rounded.exact = exact
        return rounded

    @property
    def is_tie(self) -> bool:
        return (self.exact * 200) % 2 == 1  # exactly half a cent past a cent


def _round(value: Decimal) -> Decimal:
    return Rounded(value)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)


def _add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _in_days(orders: list[dict[str, Any]], run_date: dt.date, days: int) -> list[dict[str, Any]]:
    start, end = _midnight(run_date - dt.timedelta(days=days)), _midnight(run_date)
    return [o for o in orders if start <= o["created_at"] < end]


def monthly_sales_growth(orders: list[dict[str, Any]], run_date: dt.date, months: int) -> list[tuple]:
    open_month = run_date.replace(day=1)
    first_needed = _add_months(open_month, -(months + 1))
    sales: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[str, dt.date], int] = defaultdict(int)
    for o in orders:
        month = o["created_at"].date().replace(day=1)
        if o["status"] != "CANCELLED" and first_needed <= month < open_month:
            sales[(o["region"], month)] += o["total"]
            counts[(o["region"], month)] += 1
    rows = []
    for region, month in sorted(sales):
        if month < _add_months(open_month, -months):
            continue
        previous = sales.get((region, _add_months(month, -1)))
        growth = _round(100 * (sales[(region, month)] - previous) / previous) if previous else None
        rows.append((region, month, sales[(region, month)], counts[(region, month)], previous, growth))
    return rows


def daily_orders_and_revenue(orders: list[dict[str, Any]], run_date: dt.date, days: int) -> list[tuple]:
    by_day: dict[dt.date, list[Decimal]] = defaultdict(list)
    for o in _in_days(orders, run_date, days):
        if o["status"] != "CANCELLED":
            by_day[o["created_at"].date()].append(o["total"])
    rows = []
    for n in range(days, 0, -1):
        day = run_date - dt.timedelta(days=n)
        totals = by_day.get(day, [])
        revenue = sum(totals, Decimal("0.00"))
        rows.append((day, len(totals), revenue, _round(revenue / len(totals)) if totals else None))
    return rows


def top_customers(
    orders: list[dict[str, Any]],
    run_date: dt.date,
    days: int,
    top: int,
    customers: dict[str, dict[str, str]] | None = None,
) -> list[tuple]:
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    count: dict[str, int] = defaultdict(int)
    last: dict[str, dt.datetime] = {}
    for o in _in_days(orders, run_date, days):
        if o["status"] == "CANCELLED":
            continue
        uid = o["user_id"]
        revenue[uid] += o["total"]
        count[uid] += 1
        last[uid] = max(last.get(uid, o["created_at"]), o["created_at"])
    everything = sum(revenue.values(), Decimal(0))
    ranked = sorted(revenue, key=lambda uid: (-revenue[uid], uid))[:top]
    rows = []
    for rank, uid in enumerate(ranked, start=1):
        info = (customers or {}).get(uid, {})
        rows.append(
            (
                rank,
                info.get("name") or uid,
                uid,
                info.get("segment"),
                info.get("country"),
                count[uid],
                revenue[uid],
                _round(100 * revenue[uid] / everything),
                _round(revenue[uid] / count[uid]),
                last[uid],
            )
        )
    return rows


def order_status_funnel(orders: list[dict[str, Any]], run_date: dt.date, days: int) -> list[tuple]:
    furthest = [FURTHEST.get(o["status"], 1) for o in _in_days(orders, run_date, days)]
    counts = [sum(1 for f in furthest if f >= stage) for stage, _ in STAGES]
    rows = []
    for i, (stage_no, stage) in enumerate(STAGES):
        of_placed = _round(Decimal(100 * counts[i]) / counts[0]) if counts[0] else None
        of_previous = _round(Decimal(100 * counts[i]) / counts[i - 1]) if i and counts[i - 1] else None
        rows.append((stage_no, stage, counts[i], of_placed, of_previous))
    return rows
