"""Schema changes Redshift accepts: a key that grows widens the target and its tombstones, each ALTER
alone (Redshift refuses ALTER COLUMN ... TYPE in a transaction block), and no declared PRIMARY KEY."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from tests.integration.load_fixtures import SourceModel, put_lake_file, warehouse_rows
from thermocline import aws, warehouse
from thermocline.lake.metadata import TableSpec
from thermocline.load import load_files
from thermocline.load.sql import ensure_table_sql, tombstone_table
from thermocline.settings import WarehouseLoadSettings

BUCKET = "lake"
NARROW = {"pk": "VARCHAR(16)", "sk": "VARCHAR(16)", "region": "VARCHAR(64)"}
WIDE = {"pk": "VARCHAR(64)", "sk": "VARCHAR(16)", "region": "VARCHAR(64)"}


@pytest.fixture
def s3(aws_env: str) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def _lengths(wh: Any, table: str, schema: str | None = None) -> dict[str, int | None]:
    where = f"table_schema = '{schema}'" if schema else "table_schema = CURRENT_SCHEMA()"
    rows = wh.query(
        "SELECT column_name, character_maximum_length FROM information_schema.columns "
        f"WHERE {where} AND table_name = '{table}'"
    ).rows
    return {str(r[0]): r[1] for r in rows}


def test_a_longer_key_widens_target_and_tombstones_and_its_delete_lands(s3: Any, engine_url: str) -> None:
    settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=engine_url)
    src = SourceModel(columns=dict(NARROW), seed=3)
    first = put_lake_file(s3, BUCKET, "orders", NARROW, [src.insert("USER#1")], shard="shardId-A")
    long_key = "USER#" + "x" * 40
    rows = [src.insert(long_key), src.insert("USER#2")]
    rows.append(src.delete(long_key))
    second = put_lake_file(s3, BUCKET, "orders", WIDE, rows, shard="shardId-B")
    with contextlib.closing(warehouse.connect(engine_url, s3_client=s3)) as wh:
        assert load_files([first], settings=settings, warehouse=wh, s3_client=s3).loaded == [first]
        report = load_files([second], settings=settings, warehouse=wh, s3_client=s3)
        assert report.loaded == [second], report.summary()
        assert warehouse_rows(wh, "orders", NARROW) == src.expected()
        if wh.dialect == "postgres":  # DuckDB keeps no VARCHAR lengths
            assert _lengths(wh, "orders")["pk"] == 64
            assert _lengths(wh, tombstone_table("orders"), "thermocline")["pk"] == 64
        tombstones = wh.query(f'SELECT pk FROM thermocline."{tombstone_table("orders")}"').rows
        assert (long_key,) in tombstones


def test_targets_declare_no_primary_key_but_keep_dist_and_sort_keys() -> None:

    spec = TableSpec(
        table="orders",
        primary_key=("pk",),
        columns=(("pk", "VARCHAR(64)"), ("_op", "VARCHAR(1)"), ("_seq", "VARCHAR(40)")),
        dist_key="pk",
        sort_key=("pk",),
    )
    create = ensure_table_sql(spec, None)[0]
    assert "PRIMARY KEY" not in create.upper()
    assert create.endswith('DISTKEY("pk") SORTKEY("pk")')


def test_a_table_gaining_fifty_columns_at_once_grows_in_batches_the_data_api_accepts(
    s3: Any, engine_url: str
) -> None:
    settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=engine_url)
    src = SourceModel(columns=dict(NARROW), seed=4)
    first = put_lake_file(s3, BUCKET, "orders", NARROW, [src.insert("USER#1")], shard="shardId-A")
    grown = {**NARROW, **{f"c{i:02d}": "VARCHAR(64)" for i in range(50)}}
    row = {**src.insert("USER#2"), **{f"c{i:02d}": f"v{i}" for i in range(50)}}
    second = put_lake_file(s3, BUCKET, "orders", grown, [row], shard="shardId-B")
    with contextlib.closing(warehouse.connect(engine_url, s3_client=s3)) as wh:
        load_files([first], settings=settings, warehouse=wh, s3_client=s3)
        assert load_files([second], settings=settings, warehouse=wh, s3_client=s3).loaded == [second]
        assert wh.query("SELECT c00, c49 FROM orders WHERE pk = 'USER#2'").rows == [("v0", "v49")]
