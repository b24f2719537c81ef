"""Reading load events and lake file schemas (no AWS, no database)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from thermocline.lake.metadata import UnreadableLakeFileError
from thermocline.lake.metadata import read_file_spec as spec_from_arrow_schema
from thermocline.load.notifications import parse_message
from thermocline.settings import WarehouseLoadSettings

SETTINGS = WarehouseLoadSettings(lake_bucket="lake", warehouse_url="duckdb:///tmp/x.duckdb")


def _body(*records: dict) -> str:
    return json.dumps({"Records": list(records)})


def _record(key: str, bucket: str = "lake", event: str = "ObjectCreated:Put") -> dict:
    return {"eventName": event, "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 5}}}


def test_test_event_carries_no_files():
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "lake"})
    assert parse_message(body, SETTINGS.lake_bucket, SETTINGS.lake_prefix) == []


def test_keys_are_url_decoded_and_filtered_to_lake_parquet():
    body = _body(
        _record("cdc/user+profiles/dt%3D2026-11-01/shardId-1-a.parquet"),
        _record("cdc/orders/x.json"),
        _record("_manifests/orders/1.manifest"),
        _record("cdc/orders/y.parquet", bucket="other"),
        _record("cdc/orders/z.parquet", event="ObjectRemoved:Delete"),
    )
    assert parse_message(body, SETTINGS.lake_bucket, SETTINGS.lake_prefix) == [
        "cdc/user profiles/dt=2026-11-01/shardId-1-a.parquet"
    ]


def test_notifications_delivered_through_sns_are_unwrapped():
    inner = _body(_record("cdc/orders/a.parquet"))
    body = json.dumps({"Type": "Notification", "Message": inner})
    assert parse_message(body, SETTINGS.lake_bucket, SETTINGS.lake_prefix) == ["cdc/orders/a.parquet"]


def test_spec_from_schema_keeps_file_order_and_declared_types():
    meta = {
        "version": 1,
        "table": "orders",
        "primary_key": ["pk"],
        "columns": {"pk": "VARCHAR(64)", "doc": "SUPER"},
    }
    schema = pa.schema(
        [
            pa.field("pk", pa.string()),
            pa.field("doc", pa.string()),
            pa.field("amount", pa.decimal128(38, 4)),
            pa.field("_op", pa.string()),
            pa.field("_seq", pa.string()),
        ]
    ).with_metadata({"thermocline": json.dumps(meta)})
    spec = spec_from_arrow_schema(schema)
    assert tuple((name, ctype.sql) for name, ctype in spec.columns) == (
        ("pk", "VARCHAR(64)"),
        ("doc", "SUPER"),
        ("amount", "DECIMAL(38,4)"),
        ("_op", "VARCHAR(1)"),
        ("_seq", "VARCHAR(40)"),
    )
    assert spec.primary_key == ("pk",) and spec.is_cdc


@pytest.mark.parametrize("metadata", [None, {"thermocline": "{not json"}, {"thermocline": '{"table": "t"}'}])
def test_files_without_usable_metadata_are_unreadable(metadata):
    schema = pa.schema([pa.field("pk", pa.string())]).with_metadata(metadata)
    with pytest.raises(UnreadableLakeFileError):
        spec_from_arrow_schema(schema)


def test_the_lambda_path_loads_no_translator_and_no_driver():
    # Inside Lambda the Data API engine sends SQL as written: the handler's cold start need not import
    # sqlglot (only the local engines translate) nor any database driver.
    import subprocess
    import sys

    code = (
        "import sys, thermocline.services.warehouse_load, thermocline.warehouse.redshift_data; "
        "print(sorted(m for m in ('sqlglot', 'duckdb', 'psycopg', 'redshift_connector') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
