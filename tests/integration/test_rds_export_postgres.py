"""A real PostgreSQL, exported in the RDS layout, through ExportIngestFunction into the warehouse.

The local stack's template deployed into moto's server, the export's completion event delivered to the
function as EventBridge would, the warehouse a DuckDB file (and a real PostgreSQL for the all-types test).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from thermocline import warehouse
from thermocline.local.aurora import EXPORT_INGEST, export_event, run_export
from thermocline.local.session import LocalStack
from thermocline.services.export_ingest import ExportRefreshError, _decide
from thermocline.settings import ExportIngestSettings
from thermocline.sources.rds_export.layout import ExportInfo

pytestmark = [pytest.mark.moto, pytest.mark.postgres]

ALL_TYPES = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE every_type (
    id integer PRIMARY KEY, small smallint, big bigint, money_exact numeric(38,8), price numeric(10,2),
    plain numeric, r real, d double precision, flag boolean, body text, short varchar(5), code char(3),
    day date, at_time time, at timestamp, at_tz timestamptz, span interval, doc json, docb jsonb, id_u uuid,
    raw bytea, feeling mood, numbers integer[], words text[]
);
INSERT INTO every_type VALUES
(1, -32768, -9223372036854775808, 123456789012345678901234567890.12345678, 99999999.99,
 0.000000000000000000000000000001, 3.4028235e38, 1.7976931348623157e308, true, 'Zoë ✓ 😀 中文', 'héllo',
 'ab', '1899-12-31', '00:00:00', '1969-07-20 20:17:40.5', '1969-07-20 20:17:40+05:30',
 '1 year 2 mons 3 days 04:05:06.789', '{"a": [1, "x", null], "ü": true}', '{"b": {"c": 2.5}}',
 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff10', 'happy', '{1,-2,NULL}', '{"a b","c\\"d",NULL,"NULL"}'),
(2, 32767, 9223372036854775807, -0.00000001, -0.01, 'NaN', 'NaN', '-Infinity', false, '', 'abcde', 'xyz',
 '2150-06-01', '23:59:59.999999', '2150-01-01 00:00:00.000001', '2099-12-31 23:00:00-09:30', '-3 days',
 '[]', 'null', '00000000-0000-0000-0000-000000000000', '\\x', 'sad', '{}', '{""}'),
(3, NULL, NULL, NULL, NULL, 'Infinity', 'Infinity', NULL, NULL, NULL, NULL, NULL, 'infinity', NULL,
 '-infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(4, NULL, NULL, NULL, NULL, 123456789012345678901234567890123456789012.5, NULL, NULL, NULL, NULL, NULL, NULL,
 '4713-01-01 BC', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""

UTC = dt.UTC


@pytest.fixture
def local(aws_env: str, tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(tmp_path / "state", endpoint=aws_env) as stack:
        yield stack


def _rows(local: LocalStack, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(warehouse.connect(local.warehouse_url, s3_client=local.client("s3"))) as wh:
        return wh.query(sql).rows


def _by_id(local: LocalStack, table: str, columns: str) -> dict[Any, tuple[Any, ...]]:
    return {r[0]: r[1:] for r in _rows(local, f"SELECT {columns} FROM {table} ORDER BY 1")}


def _seed(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


def test_every_common_postgres_type_round_trips_with_its_type_and_value(
    local: LocalStack, postgres_dsn: str
) -> None:
    _seed(postgres_dsn, ALL_TYPES)
    result = run_export(local, dsn=postgres_dsn)
    assert result.applied == {"every_type": 4}

    types = dict(
        _rows(
            local,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'every_type' ORDER BY ordinal_position",
        )
    )
    assert {k: types[k] for k in ("id", "small", "big", "money_exact", "price", "plain", "r", "d")} == {
        "id": "INTEGER",
        "small": "SMALLINT",
        "big": "BIGINT",
        "money_exact": "DECIMAL(38,8)",
        "price": "DECIMAL(10,2)",
        "plain": "DECIMAL(38,30)",
        "r": "FLOAT",
        "d": "DOUBLE",
    }
    assert {k: types[k] for k in ("flag", "day", "at_time", "at", "at_tz", "doc", "raw", "numbers")} == {
        "flag": "BOOLEAN",
        "day": "DATE",
        "at_time": "TIME",
        "at": "TIMESTAMP",
        "at_tz": "TIMESTAMP WITH TIME ZONE",
        "doc": "JSON",
        "raw": "BLOB",
        "numbers": "JSON",
    }

    cols = (
        "id, small, big, money_exact, price, plain, r, d, flag, body, short, code, day, at_time, at, at_tz, "
        "span, doc, docb, id_u, raw, feeling, numbers, words, _overflow, _source, _export_id"
    )
    got = _by_id(local, "every_type", cols)
    one, two, three, four = got[1], got[2], got[3], got[4]
    assert one[:5] == (
        -32768,
        -9223372036854775808,
        Decimal("123456789012345678901234567890.12345678"),
        Decimal("99999999.99"),
        Decimal("0.000000000000000000000000000001"),
    )
    assert one[5] == pytest.approx(3.4028235e38, rel=1e-7) and one[6] == 1.7976931348623157e308
    assert one[7:11] == (True, "Zoë ✓ 😀 中文", "héllo", "ab")
    assert one[11:15] == (
        dt.date(1899, 12, 31),
        dt.time(0, 0),
        dt.datetime(1969, 7, 20, 20, 17, 40, 500000),
        dt.datetime(1969, 7, 20, 14, 47, 40, tzinfo=UTC),
    )
    assert one[15] == "1 year 2 mons 3 days 04:05:06.789"
    assert json.loads(one[16]) == {"a": [1, "x", None], "ü": True}
    assert json.loads(one[17]) == {"b": {"c": 2.5}}
    assert one[18:21] == ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", b"\x00\xff\x10", "happy")
    assert json.loads(one[21]) == [1, -2, None]
    assert json.loads(one[22]) == ["a b", 'c"d', None, "NULL"]
    assert one[23] is None  # nothing overflowed in this row
    assert one[24] == f"postgres:{postgres_dsn.rsplit('/', 1)[1]}.public.every_type"
    assert one[25] == result.export_id

    assert two[:2] == (32767, 9223372036854775807)
    assert two[2:5] == (Decimal("-0.00000001"), Decimal("-0.01"), None)
    assert str(two[5]) == "nan" and two[6] == float("-inf")
    assert two[11:15] == (
        dt.date(2150, 6, 1),
        dt.time(23, 59, 59, 999999),
        dt.datetime(2150, 1, 1, 0, 0, 0, 1),
        dt.datetime(2100, 1, 1, 8, 30, tzinfo=UTC),
    )
    assert (two[8], two[15], json.loads(two[16]), json.loads(two[17])) == ("", "-3 days", [], None)
    assert (two[19], json.loads(two[21]), json.loads(two[22])) == (b"", [], [""])
    # What no warehouse type holds is kept, exactly as exported, in _overflow; the column is NULL.
    assert json.loads(two[23]) == {"plain": "NaN"}

    assert three[:11] == (None,) * 4 + (None, float("inf")) + (None,) * 5
    assert three[11] is None and three[13] is None
    assert json.loads(three[23]) == {"plain": "Infinity", "day": "infinity", "at": "-infinity"}
    assert json.loads(four[23]) == {
        "plain": "123456789012345678901234567890123456789012.5",
        "day": "4713-01-01 BC",
    }


def test_a_second_export_after_updates_and_deletes_replaces_the_table_exactly(
    local: LocalStack, postgres_dsn: str
) -> None:
    _seed(
        postgres_dsn,
        "CREATE TABLE products (sku varchar(16) PRIMARY KEY, name text, list_price numeric(10,2));"
        "INSERT INTO products SELECT 'SKU-' || lpad(n::text, 5, '0'), 'item ' || n, n * 1.25 "
        "FROM generate_series(1, 3000) n;",
    )
    first = run_export(local, dsn=postgres_dsn)
    assert first.applied == {"products": 3000}
    _seed(
        postgres_dsn,
        "UPDATE products SET list_price = list_price + 1, name = name || ' ✓' WHERE sku <= 'SKU-00100';"
        "DELETE FROM products WHERE sku > 'SKU-02900';"
        "INSERT INTO products VALUES ('SKU-09999', 'new', 0.01);",
    )
    second = run_export(local, dsn=postgres_dsn)
    assert second.applied == {"products": 2901}

    with psycopg.connect(postgres_dsn) as conn:
        source = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT sku, name, list_price FROM products")}
    warehouse_rows = _by_id(local, "products", "sku, name, list_price")
    assert warehouse_rows == source
    assert {r[0] for r in _rows(local, "SELECT DISTINCT _export_id FROM products")} == {second.export_id}
    # The warehouse declares the key the template names (exports record none).
    assert _rows(local, "SELECT COUNT(*) FROM products WHERE sku = 'SKU-09999'") == [(1,)]


def test_repeated_late_and_failed_export_events_change_nothing(local: LocalStack, postgres_dsn: str) -> None:
    _seed(
        postgres_dsn,
        "CREATE TABLE regions (region_code text PRIMARY KEY, name text);"
        "INSERT INTO regions VALUES ('us-east', 'US East'), ('eu-west', 'EU West');",
    )
    older = run_export(local, dsn=postgres_dsn)
    _seed(postgres_dsn, "UPDATE regions SET name = 'Europe West' WHERE region_code = 'eu-west';")
    newer = run_export(local, dsn=postgres_dsn)
    expected = {"us-east": ("US East",), "eu-west": ("Europe West",)}
    assert _by_id(local, "regions", "region_code, name") == expected

    # The newer export's event again, then the older export's event arriving late (each snapshot has
    # its own event): neither changes the table, and each says why.
    again = local.invoke(EXPORT_INGEST, export_event("RDS-EVENT-0164", newer.source_arn))
    assert (again["applied"], again["skipped"]) == ({}, {"regions": "already applied"})
    late = local.invoke(EXPORT_INGEST, export_event("RDS-EVENT-0164", older.source_arn))
    assert (late["export_id"], late["applied"]) == (older.export_id, {})
    assert late["skipped"]["regions"].startswith("a newer or equal snapshot is applied")
    assert _by_id(local, "regions", "region_code, name") == expected

    # A failed or canceled export of the source: logged and counted, the warehouse keeps what it has.
    rds = local.client("rds")
    rds.cancel_export_task(ExportTaskIdentifier=newer.export_id)
    canceled = local.invoke(EXPORT_INGEST, export_event("RDS-EVENT-0163", newer.source_arn))
    assert canceled["outcome"] == "canceled" and canceled["export_id"] == newer.export_id
    assert _by_id(local, "regions", "region_code, name") == expected
    # Not an export event at all: ignored.
    assert (
        local.invoke(EXPORT_INGEST, export_event("RDS-EVENT-0075", newer.source_arn))["outcome"] == "ignored"
    )


def test_a_large_table_is_read_and_written_part_by_part(local: LocalStack, postgres_dsn: str) -> None:
    _seed(
        postgres_dsn,
        "CREATE TABLE customers (customer_id text PRIMARY KEY, name text, created_at timestamptz);"
        "INSERT INTO customers SELECT 'u' || lpad(n::text, 6, '0'), 'Customer ' || n, "
        "timestamptz '2020-01-01 00:00:00+00' + n * interval '1 minute' FROM generate_series(1, 4500) n;",
    )
    result = run_export(local, dsn=postgres_dsn, rows_per_part=1000)
    assert result.written.parts == 5
    lake = local.client("s3").list_objects_v2(
        Bucket=local.resource("LakeBucket"), Prefix="snapshot/customers/"
    )
    assert len([o for o in lake.get("Contents", []) if o["Key"].endswith(".parquet")]) == 5
    assert _rows(local, "SELECT COUNT(*), COUNT(DISTINCT customer_id), MAX(created_at) FROM customers") == [
        (4500, 4500, dt.datetime(2020, 1, 4, 3, 0, tzinfo=UTC))
    ]


def test_the_order_of_exports_is_decided_by_snapshot_time() -> None:
    settings = ExportIngestSettings(export_bucket="e", lake_bucket="l", warehouse_url="duckdb:///x")
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    info = ExportInfo("exp-b", "arn", "COMPLETE", at)
    applied_same = "snapshot/t/at=20260102T030405000000Z/exp-b/part-00000.parquet"
    applied_newer = "snapshot/t/at=20260102T030406000000Z/exp-c/part-00000.parquet"
    applied_older = "snapshot/t/at=20260102T030404000000Z/exp-a/part-00000.parquet"
    assert _decide(None, info, settings, "t") is None
    assert _decide(applied_same, info, settings, "t") == "already applied"
    assert _decide(applied_newer, info, settings, "t").startswith("a newer or equal snapshot")
    assert _decide(applied_older, info, settings, "t") is None


def test_a_table_that_cannot_be_refreshed_fails_the_invocation_after_the_others(
    local: LocalStack, postgres_dsn: str
) -> None:
    # a_b.c and public.a_b_c both want the warehouse table a_b_c: the one that comes second is refused.
    _seed(
        postgres_dsn,
        "CREATE SCHEMA a_b; CREATE TABLE a_b_c (x int); CREATE TABLE a_b.c (y int); CREATE TABLE ok (z int);"
        "INSERT INTO a_b_c VALUES (1); INSERT INTO a_b.c VALUES (2); INSERT INTO ok VALUES (3);",
    )
    first = run_export(local, dsn=postgres_dsn)
    assert first.applied == {"a_b_c": 1, "ok": 1}
    assert "map to one table" in first.response["failed"]["a_b_c"]
    with pytest.raises(ExportRefreshError, match="tables not refreshed: a_b_c"):
        local.invoke(EXPORT_INGEST, export_event("RDS-EVENT-0164", first.source_arn))
    assert _rows(local, "SELECT y FROM a_b_c") == [(2,)]


def test_every_type_lands_the_same_in_a_postgresql_warehouse(
    aws_env: str, tmp_path: Path, postgres_dsn: str, postgres_server: Any
) -> None:
    """The same export into the PostgreSQL engine (Redshift's closest relative): every value equals the
    source's, compared column by column with the source read back through psycopg."""
    _seed(postgres_dsn, ALL_TYPES)
    name = f"w_{tmp_path.name[-12:].replace('-', '_')}".lower()
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with LocalStack(tmp_path / "state", endpoint=aws_env, warehouse_url=postgres_server.dsn(name)) as local:
        assert run_export(local, dsn=postgres_dsn).applied == {"every_type": 4}
        got = _by_id(local, "every_type", f"{COMPARED}, _overflow")
    with psycopg.connect(postgres_dsn) as conn:
        # Text where the warehouse keeps the exported text (interval, enum, uuid) or PostgreSQL pads (char).
        as_text = {"span", "feeling", "id_u", "code"}
        # Python has no infinite or BC dates; those values are in _overflow, checked above all else.
        python = {c: f"CASE WHEN isfinite({c}) AND {c} > '0001-01-02' THEN {c} END" for c in ("day", "at")}
        select = ", ".join(f"{c}::text" if c in as_text else python.get(c, c) for c in COMPARED.split(", "))
        source = {r[0]: r[1:] for r in conn.execute(f"SELECT {select} FROM every_type ORDER BY 1")}
    names = COMPARED.split(", ")[1:]
    for key, row in source.items():
        overflow = got[key][-1] or {}
        overflow = json.loads(overflow) if isinstance(overflow, str) else overflow
        for column, want, have in zip(names, row, got[key][:-1], strict=True):
            if column in overflow:
                assert have is None, (key, column)
                continue
            if column in ("numbers", "words") and want is not None:
                have = json.loads(have) if isinstance(have, str) else have
            if isinstance(want, float) and want != want:
                assert have != have, (key, column)  # NaN
                continue
            assert have == want, (key, column, have, want)


COMPARED = (
    "id, small, big, money_exact, price, r, d, flag, body, short, code, day, at_time, at, at_tz, span, doc, "
    "docb, id_u, raw, feeling, numbers, words"
)


def _stream_products(local: LocalStack, seq: int, sku: str) -> None:
    """A change of the DynamoDB table `products` (default routing), through the stream and the loader."""
    item = {"sku": {"S": sku}, "name": {"S": f"{sku} from DynamoDB"}}
    record = {
        "eventID": f"e{seq}",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/products/stream/2026-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_790_000_000 + seq,
            "Keys": {"sku": item["sku"]},
            "NewImage": item,
            "SequenceNumber": str(10**20 + seq),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    assert local.invoke("StreamIngestFunction", {"Records": [record]}) == {"batchItemFailures": []}
    local.load_drainer().drain()


@pytest.mark.parametrize("first", ["stream", "export"])
def test_an_aurora_table_and_a_dynamodb_table_of_one_name_never_share_a_warehouse_table(
    local: LocalStack, postgres_dsn: str, first: str
) -> None:
    # A DynamoDB table and an Aurora table both named `products`. A full refresh replaces the whole warehouse
    # table, so sharing it would lose the stream's rows at the next export; each source keeps a table of its
    # own, the later one `products_2`, as two DynamoDB tables that fold to one name do.
    _seed(
        postgres_dsn,
        "CREATE TABLE products (sku text PRIMARY KEY, name text); INSERT INTO products VALUES ('A1', 'from Aurora')",
    )
    if first == "stream":
        _stream_products(local, 1, "D1")
    export = run_export(local, dsn=postgres_dsn)
    _stream_products(local, 2, "D2")
    again = run_export(local, dsn=postgres_dsn)  # the next scheduled export refreshes its table again
    _stream_products(local, 3, "D3")

    aurora_table = "products_2" if first == "stream" else "products"
    dynamodb_table = "products" if first == "stream" else "products_2"
    assert export.applied == again.applied == {aurora_table: 1}
    assert _rows(local, f"SELECT sku, name FROM {aurora_table}") == [("A1", "from Aurora")]
    assert (
        _rows(local, f"SELECT sku FROM {dynamodb_table} ORDER BY sku")
        == [("D1",), ("D2",), ("D3",)][first == "export" :]
    )


def test_an_export_keeps_out_of_a_table_a_configured_contract_routes_to(
    aws_env: str, tmp_path: Path, postgres_dsn: str
) -> None:
    # A contract routes the DynamoDB table `shop`'s orders to `orders`; an Aurora table `orders` is exported
    # before the first order arrives. The export must not take the contract's table: the stream's records
    # routed there would all be quarantined ("already holds postgres:..."), and never reach the warehouse.
    contract = tmp_path / "shop.yaml"
    contract.write_text(
        "version: 1\nsources:\n  - table: shop\n    routes:\n"
        "      - target: orders\n        match: {sk: 'ORDER#*'}\n"
    )
    _seed(postgres_dsn, "CREATE TABLE orders (id text PRIMARY KEY); INSERT INTO orders VALUES ('A1')")
    with LocalStack(
        tmp_path / "state", endpoint=aws_env, function_env={"CONTRACTS_PATH": str(contract)}
    ) as local:
        export = run_export(local, dsn=postgres_dsn)
        assert export.applied == {"orders_2": 1}
        item = {"pk": {"S": "USER#1"}, "sk": {"S": "ORDER#1"}, "total": {"N": "12.5"}}
        record = {
            "eventID": "e1",
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/shop/stream/2026-01-01T00:00:00.000",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_790_000_001,
                "Keys": {"pk": item["pk"], "sk": item["sk"]},
                "NewImage": item,
                "SequenceNumber": str(10**20 + 1),
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        }
        assert local.invoke("StreamIngestFunction", {"Records": [record]}) == {"batchItemFailures": []}
        local.load_drainer().drain()
        assert _rows(local, "SELECT pk, sk, total FROM orders") == [("USER#1", "ORDER#1", Decimal("12.5"))]
        assert _rows(local, "SELECT id FROM orders_2") == [("A1",)]
