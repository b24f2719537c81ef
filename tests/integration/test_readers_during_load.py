"""Loads do not block readers: during a load, a report on the target sees the old rows at once.

PostgreSQL takes LOCK as Redshift does (ACCESS EXCLUSIVE), so a loader that locked the target would make
this reader wait. The load is held open mid-transaction, after its LOCK and inside its COPY, by pausing
the loader's read of the lake file (a botocore event hook on its own S3 client; nothing is faked).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import psycopg
import pytest

from tests.integration.load_fixtures import ORDERS_COLUMNS, SourceModel, put_lake_file, warehouse_rows
from thermocline import aws, warehouse
from thermocline.load import load_files
from thermocline.settings import WarehouseLoadSettings

pytestmark = [pytest.mark.moto, pytest.mark.postgres]
BUCKET = "lake"


def test_a_reader_sees_the_old_rows_while_a_load_runs(aws_env: str, postgres_dsn: str) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=postgres_dsn)
    src = SourceModel(seed=5)
    first = put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, src.random_changes(20, keys=10), shard="A")
    with contextlib.closing(warehouse.connect(postgres_dsn, s3_client=s3)) as wh:
        load_files([first], settings=settings, warehouse=wh, s3_client=s3)
        before = warehouse_rows(wh, "orders", ORDERS_COLUMNS)
    assert before == src.expected()
    second = put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, src.random_changes(20, keys=10), shard="B")

    # The engine's own client, which only its COPY uses (the loader reads footers with ``s3``).
    copy_s3 = aws.client("s3")
    in_copy, release = threading.Event(), threading.Event()

    def pause_in_copy(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == second:
            in_copy.set()
            release.wait(30)

    copy_s3.meta.events.register("before-parameter-build.s3.GetObject", pause_in_copy)
    reports: list[Any] = []

    def load() -> None:
        with contextlib.closing(warehouse.connect(postgres_dsn, s3_client=copy_s3)) as wh:
            reports.append(load_files([second], settings=settings, warehouse=wh, s3_client=s3))

    loader = threading.Thread(target=load, name="loader")
    loader.start()
    try:
        assert in_copy.wait(30), "the load never reached its COPY"
        # The load's transaction is open and holds its lock; a reader must not wait for it.
        with psycopg.connect(postgres_dsn, autocommit=True) as reader:
            reader.execute("SET statement_timeout = '3s'")
            count = reader.execute('SELECT COUNT(*) FROM "orders"').fetchone()[0]
        assert count == len(before)
    finally:
        release.set()
        loader.join(60)
    assert reports and reports[0].loaded == [second]
    with contextlib.closing(warehouse.connect(postgres_dsn, s3_client=s3)) as wh:
        assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()
