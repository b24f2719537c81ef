"""Workloads no other test here wrote, run through the real ingest and load on DuckDB and PostgreSQL.

Each test is an input a user's table or contract really produces; what it checks is what the user would
see in the warehouse: every row of the source, with every value.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import datetime
from typing import Any

import pytest

from thermocline import aws, warehouse
from thermocline.contracts import Contracts, parse_contracts
from thermocline.load import load_files
from thermocline.load.sql import sql_literal
from thermocline.names import quote_ident, table_identifier
from thermocline.services.stream_ingest import handle_stream_event
from thermocline.settings import StreamIngestSettings, WarehouseLoadSettings

pytestmark = pytest.mark.moto


def _record(table: str, seq: int, image: dict[str, Any], op: str = "INSERT") -> dict[str, Any]:
    keys = {k: image[k] for k in ("pk", "sk") if k in image} or {"id": image["id"]}
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": op,
        "eventSource": "aws:dynamodb",
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_790_000_000 + seq,
            "Keys": keys,
            "SequenceNumber": str(10**20 + seq),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            ("OldImage" if op == "REMOVE" else "NewImage"): image,
        },
    }


def _ingest(
    batches: list[list[dict[str, Any]]], contracts: Contracts, bucket: str | None = None
) -> tuple[Any, str]:
    """Ingest every batch, each into its own lake file (in ``bucket`` when given, else a new one); returns
    the S3 client and the lake bucket."""
    s3 = aws.client("s3")
    if bucket is None:
        bucket = f"lake-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
    for batch in batches:
        response = handle_stream_event(
            {"Records": batch},
            settings=StreamIngestSettings(lake_bucket=bucket),
            s3_client=s3,
            contracts=contracts,
        )
        assert response == {"batchItemFailures": []}
    return s3, bucket


def _lake_files(s3: Any, bucket: str) -> list[str]:
    """The lake files in key order (for one table and shard: sequence order)."""
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="cdc/").get("Contents", [])]
    return sorted(k for k in keys if k.endswith(".parquet"))


def _pipeline(
    batches: list[list[dict[str, Any]]], engine_url: str, contracts: Contracts, bucket: str | None = None
) -> tuple[Any, str]:
    """Ingest every batch, then load every lake file (into ``bucket`` when given, else a new one); returns
    the open warehouse and the lake bucket."""
    s3, bucket = _ingest(batches, contracts, bucket)
    wh = warehouse.connect(engine_url, s3_client=s3)
    report = load_files(
        _lake_files(s3, bucket),
        settings=WarehouseLoadSettings(lake_bucket=bucket, warehouse_url=engine_url),
        warehouse=wh,
        s3_client=s3,
    )
    assert not report.quarantined and not report.failed, report.summary()
    return wh, bucket


def test_a_number_too_long_for_a_declared_varchar_does_not_cost_the_file_its_other_rows(
    aws_env: str, engine_url: str
) -> None:
    contracts = parse_contracts(
        {
            "version": 1,
            "sources": [{"table": "Shop", "routes": [{"target": "shops", "columns": {"zip": "VARCHAR(5)"}}]}],
        }
    )
    batch = [
        _record("Shop", 1, {"id": {"S": "a"}, "zip": {"S": "02134"}}),
        _record(
            "Shop", 2, {"id": {"S": "b"}, "zip": {"N": "1234567"}}
        ),  # a producer that writes zip as a number
        _record("Shop", 3, {"id": {"S": "c"}, "zip": {"N": "94103"}}),
    ]
    wh, _ = _pipeline([batch], engine_url, contracts)
    with contextlib.closing(wh):
        rows = wh.query("SELECT id, zip, CAST(_overflow AS VARCHAR) FROM shops ORDER BY id").rows
    assert [(i, z, json.loads(o) if o else None) for i, z, o in rows] == [
        ("a", "02134", None),
        ("b", None, {"zip": "1234567"}),
        ("c", "94103", None),
    ]


def test_a_newer_version_decoded_before_a_column_existed_clears_that_column(
    aws_env: str, engine_url: str
) -> None:
    # The newer version of item x is decoded first, before any item had `coupon`, so its file has no such
    # column; the older version's file (decoded later) brings it. Loaded in sequence order, as a backfill's
    # files before stream files held back by a failed load, or a replay in another order than captured.
    newer = [
        _record("Orders", 200, {"id": {"S": "x"}, "status": {"S": "shipped"}}, op="MODIFY"),
        _record("Orders", 201, {"id": {"S": "y"}, "status": {"S": "new"}}),
    ]
    older = [
        _record("Orders", 100, {"id": {"S": "x"}, "status": {"S": "new"}, "coupon": {"S": "SAVE10"}}),
        _record("Orders", 101, {"id": {"S": "z"}, "status": {"S": "new"}, "coupon": {"S": "SAVE20"}}),
    ]
    wh, _ = _pipeline([newer, older], engine_url, Contracts())
    with contextlib.closing(wh):
        rows = wh.query("SELECT id, status, coupon FROM orders ORDER BY id").rows
    assert [tuple(r) for r in rows] == [
        ("x", "shipped", None),  # the item as it is now: it no longer has a coupon
        ("y", "new", None),
        ("z", "new", "SAVE20"),  # an item whose newest version has one keeps it
    ]


def test_a_column_another_loader_adds_during_a_load_is_cleared_by_its_newer_version(
    aws_env: str, engine_url: str
) -> None:
    newer = [_record("Orders", 200, {"id": {"S": "x"}, "status": {"S": "shipped"}}, op="MODIFY")]
    older = [_record("Orders", 100, {"id": {"S": "x"}, "status": {"S": "new"}, "coupon": {"S": "SAVE10"}})]
    s3, bucket = _ingest([newer, older], Contracts())
    older_file, newer_file = _lake_files(s3, bucket)
    settings = WarehouseLoadSettings(lake_bucket=bucket, warehouse_url=engine_url)
    one, other = warehouse.connect(engine_url, s3_client=s3), warehouse.connect(engine_url, s3_client=s3)
    send = other.execute
    interleaved: list[Any] = []

    def load_the_older_file_first(statements: Any) -> None:
        # Two loader invocations at once (SQS delivers to two): the other one adds `coupon` and commits
        # the older version after this load has read the table's columns and before its transaction.
        # Timing is the one thing a real run cannot be made to repeat; everything else is real.
        if str(statements[0]).startswith("LOCK") and not interleaved:
            interleaved.append(load_files([older_file], settings=settings, warehouse=one, s3_client=s3))
        send(statements)

    other.execute = load_the_older_file_first  # type: ignore[method-assign]
    with contextlib.closing(one), contextlib.closing(other):
        report = load_files([newer_file], settings=settings, warehouse=other, s3_client=s3)
        assert report.loaded == [newer_file] and interleaved[0].loaded == [older_file]
        rows = one.query("SELECT id, status, coupon FROM orders").rows
    assert [tuple(r) for r in rows] == [("x", "shipped", None)]


# The longest names DynamoDB and Redshift allow: a table name of 255 characters (its warehouse name is cut
# to 127 bytes) and attribute names of 127 bytes, two of them alike in their first 126.
_LONG_TABLE = "Orders-" + "t" * 248
_LONG_A, _LONG_B, _LONG_C = "a" * 127, "a" * 126 + "b", "c" * 70


@pytest.mark.parametrize("engine_url", ["duckdb", "postgres"], indirect=True)
def test_names_of_up_to_127_bytes_load_and_read_back_as_redshift_names(aws_env: str, engine_url: str) -> None:
    first = [_record(_LONG_TABLE, 1, {"id": {"S": "x"}, _LONG_A: {"S": "1"}, _LONG_B: {"N": "2"}})]
    # A later file brings a third long column: the table grows instead of failing every later load.
    later = [
        _record(_LONG_TABLE, 2, {"id": {"S": "x"}, _LONG_A: {"S": "3"}, _LONG_C: {"BOOL": True}}, "MODIFY"),
        _record(_LONG_TABLE, 3, {"id": {"S": "y"}, _LONG_B: {"N": "4"}}),
    ]
    wh, bucket = _pipeline([first], engine_url, Contracts())
    wh.close()
    wh, _ = _pipeline([later], engine_url, Contracts(), bucket=bucket)
    table = table_identifier(_LONG_TABLE)
    assert len(table.encode()) == 127
    with contextlib.closing(wh):
        result = wh.query(f"SELECT * FROM {quote_ident(table)} ORDER BY id")
        catalog = wh.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            f"WHERE table_name = {sql_literal(table)} ORDER BY ordinal_position"
        ).rows
    columns = ["id", _LONG_A, _LONG_B, _LONG_C]
    assert [[dict(zip(result.columns, r, strict=True))[c] for c in columns] for r in result.rows] == [
        ["x", "3", None, True],
        ["y", None, 4, None],
    ]
    assert {name for t, name in catalog if t == table} >= set(columns)


def test_an_epoch_before_year_one_in_a_timestamp_column_does_not_stop_the_load(
    aws_env: str, engine_url: str
) -> None:
    # A contract types a TTL-style attribute as TIMESTAMP; one producer wrote a garbage epoch. Before, it
    # became the year 1200 BC, which the load's COPY (and every Python client reading it) could not handle.
    contracts = parse_contracts(
        {
            "version": 1,
            "sources": [
                {"table": "Sess", "routes": [{"target": "sessions", "columns": {"ends": "TIMESTAMP"}}]}
            ],
        }
    )
    batch = [
        _record("Sess", 1, {"id": {"S": "a"}, "ends": {"N": "-99999999999"}}),
        _record("Sess", 2, {"id": {"S": "b"}, "ends": {"S": "0001-01-01T00:00:00+01:00"}}),
        _record("Sess", 3, {"id": {"S": "c"}, "ends": {"N": "1790000000"}}),
    ]
    wh, _ = _pipeline([batch], engine_url, contracts)
    with contextlib.closing(wh):
        rows = wh.query("SELECT id, ends, CAST(_overflow AS VARCHAR) FROM sessions ORDER BY id").rows
    assert [(i, e, json.loads(o) if o else None) for i, e, o in rows] == [
        ("a", None, {"ends": "-99999999999"}),
        ("b", None, {"ends": "0001-01-01T00:00:00+01:00"}),
        ("c", datetime(2026, 9, 21, 14, 13, 20), None),
    ]


def test_keys_that_differ_only_in_trailing_blanks_are_distinct_items(aws_env: str, engine_url: str) -> None:
    # DynamoDB keys 'a', 'a ' and 'a  ' are three items (user input with a stray blank). Redshift compares
    # VARCHAR ignoring trailing blanks, so the load compares key lengths as well: within one load and
    # across loads, changing or deleting one of them leaves the others as they are.
    first = [
        _record("Notes", i, {"id": {"S": k}, "v": {"N": str(i)}}) for i, k in enumerate(["a", "a ", "a  "], 1)
    ]
    second = [
        _record("Notes", 4, {"id": {"S": "a "}, "v": {"N": "40"}}, op="MODIFY"),
        _record("Notes", 5, {"id": {"S": "a  "}}, op="REMOVE"),
        _record("Notes", 6, {"id": {"S": "b "}, "v": {"N": "6"}}),
        _record("Notes", 7, {"id": {"S": "b"}, "v": {"N": "7"}}),
    ]
    s3, bucket = _ingest([first], Contracts())
    settings = WarehouseLoadSettings(lake_bucket=bucket, warehouse_url=engine_url)
    with contextlib.closing(warehouse.connect(engine_url, s3_client=s3)) as wh:
        loaded = load_files(_lake_files(s3, bucket), settings=settings, warehouse=wh, s3_client=s3)
        _ingest([second], Contracts(), bucket)
        again = load_files(_lake_files(s3, bucket), settings=settings, warehouse=wh, s3_client=s3)
        rows = wh.query("SELECT id, v FROM notes").rows
    assert not loaded.failed and not again.failed and not again.quarantined
    assert sorted((k, int(v)) for k, v in rows) == [("a", 1), ("a ", 40), ("b", 7), ("b ", 6)]


def test_a_sort_or_distribution_key_on_a_map_attribute_is_left_out_of_the_table_keys(
    aws_env: str, engine_url: str
) -> None:
    # Redshift refuses a SUPER column as DISTKEY or SORTKEY; a contract may name an attribute whose values
    # turn out to be maps (typed SUPER from its first value). The table is created without that key, so
    # the rows load, instead of a CREATE TABLE that fails every load of the table.
    contracts = parse_contracts(
        {
            "version": 1,
            "sources": [
                {
                    "table": "Events",
                    "routes": [{"target": "events", "sort_key": ["meta", "at"], "dist_key": "meta"}],
                }
            ],
        }
    )
    # The keys are recorded once the attributes are (the second batch); its file is loaded first, so the
    # table is created from a file that names them.
    first = [_record("Events", 1, {"id": {"S": "e1"}, "meta": {"M": {"k": {"S": "v"}}}, "at": {"N": "5"}})]
    second = [_record("Events", 2, {"id": {"S": "e2"}, "meta": {"M": {}}, "at": {"N": "6"}})]
    s3, bucket = _ingest([first, second], contracts)
    settings = WarehouseLoadSettings(lake_bucket=bucket, warehouse_url=engine_url)
    with contextlib.closing(warehouse.connect(engine_url, s3_client=s3)) as wh:
        for key in reversed(_lake_files(s3, bucket)):
            report = load_files([key], settings=settings, warehouse=wh, s3_client=s3)
            assert not report.failed and not report.quarantined, report.summary()
        assert sorted(wh.query("SELECT id, at FROM events").rows) == [("e1", 5), ("e2", 6)]
