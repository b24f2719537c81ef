"""View definitions and the pure record → view-change rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from thermocline.hot import changes
from thermocline.hot.views import ViewError, load_view, load_views, parse_view

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


def _orders(_record: object) -> str:
    return "orders"


def test_every_shipped_view_loads_and_names_its_attributes() -> None:
    views = {v.name: v for v in load_views()}
    assert set(views) >= {
        "revenue_by_region_today",
        "orders_by_region_today",
        "revenue_by_region_month",
        "orders_by_region_month",
        "top_customers_week",
        "latest_order_status",
    }
    assert views["revenue_by_region_today"].attributes == ("region", "total", "created_at")
    assert views["top_customers_week"].store == "leaderboard"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"entity": "orders", "group_by": "region", "measure": {"sum": "total", "scale": 40}}, "scale"),
        ({"entity": "orders", "group_by": "region", "measure": {"avg": "total"}}, "measure is"),
        ({"entity": "orders", "measure": {"count": True}}, "group_by"),
        (
            {"entity": "orders", "group_by": "r", "measure": {"count": True}, "window": {"period": "hour"}},
            "window",
        ),
        ({"entity": "orders", "group_by": "r", "measure": {"count": True}, "colour": "red"}, "unknown keys"),
    ],
)
def test_a_malformed_view_is_refused_with_the_reason(document: dict, message: str) -> None:
    with pytest.raises(ViewError, match=message):
        parse_view("bad", document)


def test_an_unknown_view_names_the_available_ones() -> None:
    with pytest.raises(ViewError, match="available: latest_order_status"):
        load_view("nope")


def test_windows_name_and_expire_by_period() -> None:
    day, week, month = (
        load_view(n).window
        for n in ("orders_by_region_today", "top_customers_week", "orders_by_region_month")
    )
    assert day and week and month
    assert (day.bucket(NOW), week.bucket(NOW), month.bucket(NOW)) == ("2026-11-27", "2026-W48", "2026-11")
    assert day.expires_at(NOW) == int(dt.datetime(2026, 11, 29, tzinfo=dt.UTC).timestamp())
    assert week.expires_at(NOW) == int(dt.datetime(2026, 12, 7, tzinfo=dt.UTC).timestamp())
    dec = dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC)
    assert month.expires_at(dec) == int(dt.datetime(2027, 2, 1, tzinfo=dt.UTC).timestamp())


def _record(old: dict | None, new: dict | None, seq: str = "7") -> dict:
    body = {"SequenceNumber": seq, "Keys": {"pk": {"S": "USER#u1"}, "sk": {"S": "ORDER#o1"}}}
    if old:
        body["OldImage"] = old
    if new:
        body["NewImage"] = new
    return {"eventName": "MODIFY" if old and new else "INSERT" if new else "REMOVE", "dynamodb": body}


def _image(total: str, region: str = "eu", status: str = "PLACED") -> dict:
    return {
        "region": {"S": region},
        "total": {"N": total},
        "user_id": {"S": "u1"},
        "status": {"S": status},
        "created_at": {"S": "2026-11-27T08:00:00Z"},
    }


def test_a_change_is_the_new_contribution_minus_the_old() -> None:
    view = load_view("revenue_by_region_today")
    moved = changes.record_changes(_record(_image("10.5"), _image("7", region="us")), [view], _orders, NOW)
    assert moved.changes[0].seq == "7".rjust(40, "0")
    assert moved.changes[0].item == '["USER#u1","ORDER#o1"]'
    assert {(op.group, op.amount) for op in moved.changes[0].ops} == {("eu", -1050), ("us", 700)}
    unchanged = changes.record_changes(
        _record(_image("10.5"), _image("10.50", status="PAID")), [view], _orders, NOW
    )
    assert unchanged.changes == []  # 10.5 == 10.50: nothing to apply


def test_records_of_other_entities_change_nothing() -> None:
    view = load_view("orders_by_region_today")
    assert (
        changes.record_changes(_record(None, _image("1")), [view], lambda r: "order_lines", NOW).changes == []
    )


def test_a_value_the_measure_cannot_hold_is_reported_and_counts_as_absent() -> None:
    view = load_view("revenue_by_region_today")
    found = changes.record_changes(_record(None, _image("1e400")), [view], _orders, NOW)
    assert found.changes == []
    assert [p.reason for p in found.problems] == [
        "total: 1E+400 does not fit 2 decimal places in a 64-bit counter"
    ]


@pytest.mark.parametrize(
    "created_at",
    [
        {"N": "1790000000000"},
        {"N": "-1e20"},
        {"S": "0001-01-01T00:00:00+01:00"},
        {"S": "9999-12-31T23:59:59Z"},
    ],
)
def test_a_time_no_window_can_hold_is_reported_and_counts_as_absent(created_at: dict) -> None:
    # Epoch milliseconds, or times outside what a window can hold, used to raise and fail the whole batch
    # (and so stall every view) instead of being one reported, absent value.
    image = _image("10.5") | {"created_at": created_at}
    found = changes.record_changes(_record(None, image), load_views(), _orders, NOW)
    windowed = {v.name for v in load_views() if v.window is not None}
    assert windowed and not windowed & {c.view for c in found.changes}
    assert windowed <= {p.view for p in found.problems}
    assert all("created_at" in p.reason for p in found.problems)


def test_numeric_groups_of_38_digits_stay_apart() -> None:
    # A numeric user_id of 32 digits: rounded to 28 digits, two customers shared one leaderboard entry.
    a, b = (
        changes.text(Decimal("12345678901234567890123456789012")),
        changes.text(Decimal("12345678901234567890123456789013")),
    )
    assert (a, b) == ("12345678901234567890123456789012", "12345678901234567890123456789013")
    assert changes.text(Decimal("150.00")) == changes.text(Decimal("150")) == "150"


def test_a_record_without_a_sequence_number_is_refused() -> None:
    record = _record(None, _image("1"))
    del record["dynamodb"]["SequenceNumber"]
    with pytest.raises(changes.ImageError, match="SequenceNumber"):
        changes.record_changes(record, load_views(), _orders, NOW)


def test_a_keys_only_stream_is_reported_not_guessed() -> None:
    record = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1", "Keys": {"pk": {"S": "a"}}}}
    found = changes.record_changes(record, load_views(), _orders, NOW)
    assert found.changes == [] and "NewImage" in found.problems[0].reason


def test_the_view_rules_import_no_aws_sdk_and_no_redis_client() -> None:
    import subprocess
    import sys

    code = (
        "import sys, thermocline.hot.changes, thermocline.hot.views\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'redis'))\n"
        "assert not leaked, leaked\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_elasticache_iam_token_is_a_presigned_connect_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from urllib.parse import parse_qs, urlparse

    from thermocline.hot.connection import IamTokenProvider, connect

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    user, token = IamTokenProvider("hot-user", "thermocline-dev-hot", "eu-west-1").get_credentials()
    assert user == "hot-user"
    url = urlparse("https://" + token)
    query = parse_qs(url.query)
    assert url.hostname == "thermocline-dev-hot"
    assert query["Action"] == ["connect"] and query["User"] == ["hot-user"]
    assert query["ResourceType"] == ["ServerlessCache"] and query["X-Amz-Expires"] == ["900"]
    assert "/eu-west-1/elasticache/aws4_request" in query["X-Amz-Credential"][0]
    # The user goes to the token provider, not into redis-py's own AUTH arguments.
    client = connect(
        "rediss://hot-user@cache.example:6379", iam_cache="thermocline-dev-hot", region="eu-west-1"
    )
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["credential_provider"].user == "hot-user" and "username" not in kwargs
