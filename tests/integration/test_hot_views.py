"""The hot views against a real Redis server: re-delivery, retries after a partial failure, out-of-order
batches across items, a window rolling over, and a rebuild from the warehouse."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest

from thermocline import warehouse
from thermocline.contracts import load_contracts
from thermocline.hot.store import HotStore
from thermocline.hot.views import load_view, load_views
from thermocline.runtime import Runtime
from thermocline.services.hot_views import apply_stream_batch, current_state, handle_hot_event

pytestmark = pytest.mark.redis

# Redis expires windows by its own clock, so the test's "now" is the real one.
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TODAY = NOW.replace(hour=0, minute=0, second=0)
EARLIER = TODAY - dt.timedelta(days=7)  # the same weekday last week: the previous ISO week
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/thermocline-store/stream/2026-01-01T00:00:00.000"
VIEWS = load_views()
CONTRACTS = load_contracts()


def at(when: dt.datetime) -> Runtime:
    """The services' runtime with its clock stopped at ``when``."""
    return Runtime(clock=lambda: when)


def order(uid: str, oid: str, region: str, total: str, status: str, created: dt.datetime) -> dict[str, Any]:
    return {
        "pk": {"S": f"USER#{uid}"},
        "sk": {"S": f"ORDER#{oid}"},
        "user_id": {"S": uid},
        "region": {"S": region},
        "total": {"N": total},
        "status": {"S": status},
        "created_at": {"S": created.isoformat().replace("+00:00", "Z")},
    }


def record(seq: int, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    image = new or old
    assert image is not None
    body: dict[str, Any] = {
        "SequenceNumber": str(seq),
        "Keys": {"pk": image["pk"], "sk": image["sk"]},
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old:
        body["OldImage"] = old
    if new:
        body["NewImage"] = new
    name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    return {"eventName": name, "eventSourceARN": ARN, "dynamodb": body}


def history() -> list[dict[str, Any]]:
    """Orders placed, paid, refunded and cancelled today, earlier this month and last year."""
    today, earlier = TODAY + dt.timedelta(minutes=1), EARLIER
    a1 = order("u1", "o1", "eu-west", "100.10", "PLACED", today)
    a2 = {**a1, "status": {"S": "PAID"}, "total": {"N": "80.1"}}  # paid, a line refunded
    b1 = order("u2", "o2", "us-east", "5", "PLACED", today + dt.timedelta(minutes=2))
    c1 = order("u1", "o3", "eu-west", "20.02", "SHIPPED", earlier)
    d1 = order("u3", "o4", "us-east", "7.5", "PLACED", today)
    e1 = order("u3", "o5", "ap-south", "999.99", "DELIVERED", TODAY - dt.timedelta(days=400))
    return [
        record(100, None, a1),
        record(101, None, b1),
        record(102, None, c1),
        record(103, a1, a2),
        record(104, None, d1),
        record(105, d1, None),  # cancelled
        record(106, None, e1),
    ]


def everything(store: HotStore) -> dict[str, dict[str, Any]]:
    return {v.name: {b: store.raw(v, b) for b in store.buckets(v)} for v in VIEWS}


def buckets(view: str, *parts: tuple[dt.datetime, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{bucket: {group: value}} from (time, values) parts, summing parts that share a bucket."""
    out: dict[str, dict[str, Any]] = {}
    for at, values in parts:
        groups = out.setdefault(load_view(view).bucket(at), {})
        for group, value in values.items():
            groups[group] = groups.get(group, 0) + value
    return out


EXPECTED = {
    "revenue_by_region_today": buckets("revenue_by_region_today", (TODAY, {"eu-west": 8010, "us-east": 500})),
    "orders_by_region_today": buckets("orders_by_region_today", (TODAY, {"eu-west": 1, "us-east": 1})),
    "revenue_by_region_month": buckets(
        "revenue_by_region_month", (TODAY, {"eu-west": 8010, "us-east": 500}), (EARLIER, {"eu-west": 2002})
    ),
    "orders_by_region_month": buckets(
        "orders_by_region_month", (TODAY, {"eu-west": 1, "us-east": 1}), (EARLIER, {"eu-west": 1})
    ),
    "top_customers_week": buckets(
        "top_customers_week", (TODAY, {"u1": 8010, "u2": 500}), (EARLIER, {"u1": 2002})
    ),
    # u3's latest order (o4) was cancelled: the one before it (last year's, no window) is the latest.
    "latest_order_status": {"all": {"u1": "PAID", "u2": "PLACED", "u3": "DELIVERED"}},
}


def test_views_follow_inserts_updates_and_deletes(redis_client: Any) -> None:
    store = HotStore(redis_client)
    assert apply_stream_batch(history(), VIEWS, CONTRACTS, store, at(NOW)) == {"batchItemFailures": []}
    assert everything(store) == EXPECTED
    view = load_view("revenue_by_region_today")
    today = store.read(view, view.bucket(NOW))
    assert dict(today.values) == {"eu-west": Decimal("80.10"), "us-east": Decimal("5.00")}
    board = store.read(load_view("top_customers_week"), load_view("top_customers_week").bucket(NOW))
    assert [g for g, _ in board.values] == ["u1", "u2"]  # highest spend first


def test_redelivered_and_reordered_batches_change_nothing(redis_client: Any) -> None:
    store = HotStore(redis_client)
    records = history()
    apply_stream_batch(records, VIEWS, CONTRACTS, store, at(NOW))
    # Lambda retries deliver whole batches again, and batches of different shards interleave: every
    # record again, in an order that keeps each item's own records in order but mixes items.
    rng = random.Random(5)
    for _ in range(3):
        by_item: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            by_item.setdefault(r["dynamodb"]["Keys"]["sk"]["S"], []).append(r)
        mixed: list[dict[str, Any]] = []
        while by_item:
            key = rng.choice(sorted(by_item))
            mixed.append(by_item[key].pop(0))
            if not by_item[key]:
                del by_item[key]
        apply_stream_batch(mixed, VIEWS, CONTRACTS, store, at(NOW))
        assert everything(store) == EXPECTED


def test_a_retry_after_a_partial_failure_applies_the_rest_once(redis_client: Any) -> None:
    store = HotStore(redis_client)
    records = history()
    # A real fault inside the script: last week's leaderboard key holds a string, so the script fails at
    # the third change (the first to touch it), after applying the two before it.
    broken = store.data_key("top_customers_week", load_view("top_customers_week").bucket(EARLIER))
    redis_client.set(broken, "not a sorted set")
    response = apply_stream_batch(records, VIEWS, CONTRACTS, store, at(NOW))
    assert response == {"batchItemFailures": [{"itemIdentifier": "100"}]}
    # Every other view is complete; the one Redis refused holds the changes before the failure.
    for view in VIEWS:
        if view.name != "top_customers_week":
            assert {b: store.raw(view, b) for b in store.buckets(view)} == EXPECTED[view.name]
    board = load_view("top_customers_week")
    assert store.raw(board, board.bucket(NOW)) == {"u1": 10010, "u2": 500}  # o1 as placed, o2
    redis_client.delete(broken)
    # Lambda retries the batch from the reported record: the views that were done skip every change.
    assert apply_stream_batch(records, VIEWS, CONTRACTS, store, at(NOW)) == {"batchItemFailures": []}
    assert everything(store) == EXPECTED


def test_a_window_rolls_over_and_expires(redis_client: Any) -> None:
    store = HotStore(redis_client)
    view = load_view("revenue_by_region_today")
    apply_stream_batch(history(), VIEWS, CONTRACTS, store, at(NOW))
    key = store.data_key(view.name, view.bucket(NOW))
    # Today's window is kept for two windows: Redis drops it at midnight after tomorrow, on its own.
    assert redis_client.expiretime(key) == int((TODAY + dt.timedelta(days=2)).timestamp())
    tomorrow = NOW + dt.timedelta(days=1)
    new_day = order("u4", "o6", "eu-west", "12", "PLACED", tomorrow)
    apply_stream_batch([record(200, None, new_day)], VIEWS, CONTRACTS, store, at(tomorrow))
    assert store.buckets(view) == [view.bucket(tomorrow), view.bucket(NOW)]
    assert store.raw(view, view.bucket(tomorrow)) == {"eu-west": 1200}
    # Two days on, yesterday's window is gone from Redis; a late change to one of its orders does not
    # bring back a window that has expired.
    later = NOW + dt.timedelta(days=2)
    redis_client.delete(key)  # what Redis' expiry does at that midnight
    a1 = history()[3]["dynamodb"]["NewImage"]
    apply_stream_batch([record(300, a1, {**a1, "total": {"N": "1"}})], VIEWS, CONTRACTS, store, at(later))
    assert store.buckets(view) == [view.bucket(tomorrow)]
    # The month's window is still open: the late change reaches it (80.10 became 1).
    month = load_view("revenue_by_region_month")
    assert everything(store)["revenue_by_region_month"] == buckets(
        month.name,
        (TODAY, {"eu-west": 100, "us-east": 500}),
        (tomorrow, {"eu-west": 1200}),
        (EARLIER, {"eu-west": 2002}),
    )


def test_an_expiry_in_the_past_removes_the_window_in_redis(redis_client: Any) -> None:
    store = HotStore(redis_client)
    view = load_view("orders_by_region_today")
    # The function's clock still sees yesterday's window open, Redis' clock is past its expiry: Redis
    # drops the key at once rather than keeping a window nobody reads.
    long_ago = dt.datetime(2020, 1, 1, 12, tzinfo=dt.UTC)
    old = order("u9", "o9", "eu-west", "1", "PLACED", long_ago)
    apply_stream_batch([record(1, None, old)], [view], CONTRACTS, store, at(long_ago))
    assert store.buckets(view) == []


def test_unusable_values_count_as_absent_and_are_reported(redis_client: Any) -> None:
    store = HotStore(redis_client)
    view = load_view("revenue_by_region_today")
    bad = order("u1", "o1", "eu-west", "1.001", "PLACED", NOW)  # more decimals than the view's scale
    response = apply_stream_batch([record(1, None, bad)], [view], CONTRACTS, store, at(NOW))
    assert response == {"batchItemFailures": []}
    assert store.buckets(view) == []  # a sum of nothing: the group is not there
    fixed = {**bad, "total": {"N": "1"}}
    apply_stream_batch([record(2, bad, fixed)], [view], CONTRACTS, store, at(NOW))
    assert store.raw(view, view.bucket(NOW)) == {"eu-west": 100}


def test_rebuild_from_the_warehouse_equals_the_maintained_views(redis_client: Any, tmp_path: Any) -> None:
    store = HotStore(redis_client)
    records = history()
    apply_stream_batch(records, VIEWS, CONTRACTS, store, at(NOW))
    maintained = everything(store)
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with warehouse.connect(url) as wh:
        _warehouse_like_the_loader(wh, records)
        for view in VIEWS:
            assert current_state(view, CONTRACTS, wh, NOW).values == maintained[view.name], view.name
    redis_client.flushall()
    opened: list[Any] = []

    def connect() -> Any:
        opened.append(warehouse.connect(url))
        return opened[-1]

    # HotViewsFunction's rebuild event: every view, the warehouse opened for it and closed again.
    response = handle_hot_event(
        {"rebuild": "*"},
        views=VIEWS,
        contracts=CONTRACTS,
        store=store,
        connect_warehouse=connect,
        runtime=at(NOW),
    )
    assert sorted(response["rebuilt"]) == sorted(v.name for v in VIEWS)
    assert everything(store) == maintained
    (wh,) = opened
    with pytest.raises(warehouse.WarehouseError, match="closed"):
        wh.query("SELECT 1")
    # The stream delivering the same records again after the rebuild changes nothing: every item, the
    # cancelled one included (its tombstone), is guarded at the sequence number the warehouse holds.
    apply_stream_batch(records, VIEWS, CONTRACTS, store, at(NOW))
    assert everything(store) == maintained


def _warehouse_like_the_loader(wh: Any, records: list[dict[str, Any]]) -> None:
    """The rows (and tombstones) the loader leaves for ``records``: the newest version of each order."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        keys = r["dynamodb"]["Keys"]
        latest[(keys["pk"]["S"], keys["sk"]["S"])] = r
    rows, tombs = [], []
    for (pk, sk), r in latest.items():
        seq = r["dynamodb"]["SequenceNumber"].rjust(40, "0")
        image = r["dynamodb"].get("NewImage")
        if image is None:
            tombs.append(f"('{pk}', '{sk}', '{seq}')")
            continue
        created = image["created_at"]["S"].replace("T", " ").rstrip("Z")
        rows.append(
            f"('{pk}', '{sk}', '{image['user_id']['S']}', '{image['region']['S']}', {image['total']['N']}, "
            f"'{image['status']['S']}', TIMESTAMP '{created}', '{seq}', FALSE)"
        )
    wh.execute(
        [
            "CREATE TABLE orders (pk VARCHAR(64), sk VARCHAR(64), user_id VARCHAR(64), region VARCHAR(64), "
            "total DECIMAL(12,2), status VARCHAR(32), created_at TIMESTAMP, _seq VARCHAR(40), _deleted BOOLEAN)",
            f"INSERT INTO orders VALUES {', '.join(rows)}",
            "CREATE SCHEMA IF NOT EXISTS thermocline",
            "CREATE TABLE thermocline.tombstones__orders (pk VARCHAR(64), sk VARCHAR(64), _seq VARCHAR(40))",
            f"INSERT INTO thermocline.tombstones__orders VALUES {', '.join(tombs)}",
        ]
    )


@pytest.mark.moto
def test_the_report_function_keeps_each_reports_latest_result_in_redis(
    redis_client: Any, aws_env: str, tmp_path: Any
) -> None:
    from thermocline import aws
    from thermocline.services.analytics_report import run_report
    from thermocline.settings import AnalyticsReportSettings

    s3 = aws.client("s3")
    s3.create_bucket(Bucket="reports")
    store = HotStore(redis_client)
    settings = AnalyticsReportSettings(warehouse_url="duckdb:///unused", reports_bucket="reports")
    with contextlib.closing(warehouse.connect(f"duckdb:///{tmp_path / 'w.duckdb'}")) as wh:
        _warehouse_like_the_loader(wh, history())
        published = run_report(
            {"report": "top_customers_by_revenue"},
            settings=settings,
            warehouse=wh,
            s3_client=s3,
            hot_store=store,
        )
    cached = store.get_report("top_customers_by_revenue")
    assert cached is not None and cached["report"] == "top_customers_by_revenue"
    assert len(cached["rows"]) == published.rows > 0
    assert cached["files"] == published.latest and cached["run_date"] == published.run_date
    # Last week's order of u1 is in the window (complete days before the run date); today's are not.
    assert [row[cached["columns"].index("customer_id")] for row in cached["rows"]] == ["u1"]


def test_hot_get_prints_a_view_and_names_a_missing_redis(
    redis_client: Any, redis_server_url: str, capsys: Any, monkeypatch: Any
) -> None:
    import json

    from thermocline.cli import main

    apply_stream_batch(history(), VIEWS, CONTRACTS, HotStore(redis_client), at(NOW))
    assert main(["hot", "get", "revenue_by_region_today", "--redis-url", redis_server_url, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["values"] == {"eu-west": "80.10", "us-east": "5.00"}
    assert main(["hot", "get", "top_customers_week", "--redis-url", redis_server_url]) == 0
    table = capsys.readouterr().out
    assert table.index("u1") < table.index("u2") and "80.10" in table
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["hot", "get", "revenue_by_region_today"]) == 2
    assert "REDIS_URL" in capsys.readouterr().err
    assert main(["hot", "get", "no_such_view", "--redis-url", redis_server_url]) == 2
    assert "available: latest_order_status" in capsys.readouterr().err
