"""A bad file in a chunk of good ones, on the Data API path: only the bad file is quarantined.

Redshift reports a SUPER value JSON_PARSE cannot read only as text, after COPY succeeded, and a Parquet
file COPY cannot read in the error it returns to the client (not always in ``sys_load_error_detail``).
Both must be recognised as bad data so the loader isolates the file, and the good files load. Redshift is
played by ``data_api_fake`` (DuckDB behind a real botocore client).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.data_api_fake import DataApiOnDuckDB, TrackingDuckDB
from tests.integration.load_fixtures import ORDERS_COLUMNS, SourceModel, put_lake_file, warehouse_rows
from thermocline import aws
from thermocline.load import load_files
from thermocline.settings import WarehouseLoadSettings
from thermocline.warehouse.redshift_data import RedshiftDataWarehouse

pytestmark = pytest.mark.moto
BUCKET = "lake"


@pytest.fixture
def s3(aws_env: str) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_a_bad_file_in_a_chunk_of_good_ones_is_isolated_and_the_rest_loads(s3: Any, tmp_path) -> None:
    src = SourceModel(seed=11)
    good = [
        put_lake_file(s3, BUCKET, src.table, src.columns, batch, shard=f"shardId-{i:03d}")
        for i, batch in enumerate(src.batches(src.random_changes(60, keys=15), 6))
    ]
    bad_json = put_lake_file(
        s3,
        BUCKET,
        "orders",
        ORDERS_COLUMNS,
        [dict(src.insert("USER#BAD"), items="{not json")],
        shard="shardId-Y",
    )
    src.state.pop(("USER#BAD", "ORDER"))
    # A file whose footer reads well and whose data pages do not: only COPY finds out.
    junk = put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, [src.insert("USER#TORN")], shard="shardId-Z")
    src.state.pop(("USER#TORN", "ORDER"))
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=junk)["Body"].read())
    body[4:260] = b"\xff" * 256
    s3.put_object(Bucket=BUCKET, Key=junk, Body=bytes(body))

    duck = TrackingDuckDB(str(tmp_path / "redshift.duckdb"), s3_client=s3)
    client = aws.client("redshift-data")
    redshift = DataApiOnDuckDB(client, duck)
    wh = RedshiftDataWarehouse(
        database="dev", workgroup="analytics-wg", client=client, poll_seconds=0, sleep=lambda _: None
    )
    settings = WarehouseLoadSettings(
        lake_bucket=BUCKET,
        warehouse_url="redshift-data://analytics-wg/dev",
        copy_iam_role="arn:aws:iam::123456789012:role/copy",
    )
    report = load_files([*good, bad_json, junk], settings=settings, warehouse=wh, s3_client=s3)

    assert sorted(report.quarantined) == sorted([bad_json, junk])
    assert sorted(report.loaded) == sorted(good)
    assert report.failed == []
    assert warehouse_rows(duck, "orders", ORDERS_COLUMNS) == src.expected()
    # The loads went as Data API batches, and the errors were Redshift's texts, not DuckDB's.
    assert any(s.startswith("COPY") for s in redshift.statements)
    for key, words in ((bad_json, "JSON parsing error"), (junk, "Spectrum Scan Error")):
        reason = json.loads(
            s3.get_object(Bucket=BUCKET, Key=f"quarantine/load/{key}.error.json")["Body"].read()
        )
        assert words in reason["reason"], reason
    junk_reason = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"quarantine/load/{junk}.error.json")["Body"].read()
    )
    assert [d["file"] for d in junk_reason["details"]] == [f"s3://{BUCKET}/{junk}"]
