"""Ingest and load of the sample events, pinned (tests/golden/): the objects StreamIngestFunction writes
(keys, Parquet files read back, schemas, quarantined records) and every statement a load sends to the
warehouse, with the rows it leaves there. Against moto's S3 and a DuckDB warehouse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS
from tests.golden_files import check, lake_file, read_parquet
from tests.integration.load_fixtures import ORDERS_COLUMNS, put_lake_file
from thermocline import aws, warehouse
from thermocline.load import full_refresh, load_files
from thermocline.names import quote_ident
from thermocline.runtime import Runtime
from thermocline.services.stream_ingest import handle_stream_event
from thermocline.settings import StreamIngestSettings, WarehouseLoadSettings

pytestmark = pytest.mark.moto

BUCKET = "lake"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
STREAM_EVENTS = sorted(p.name for p in EVENTS.glob("dynamodb-*.json"))
_LOAD_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{12}")


@pytest.fixture
def s3(aws_env: str) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def _keys(s3: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def _objects(s3: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _keys(s3):
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        out[key] = lake_file(read_parquet(body)) if key.endswith(".parquet") else json.loads(body)
    return out


def _ingest(s3: Any, name: str) -> dict[str, Any]:
    event = json.loads((EVENTS / name).read_text())
    return handle_stream_event(
        event,
        settings=StreamIngestSettings(lake_bucket=BUCKET),
        s3_client=s3,
        runtime=Runtime(clock=lambda: NOW),
    )


@pytest.mark.parametrize("name", STREAM_EVENTS)
def test_objects_written_for_each_sample_event_are_unchanged(s3: Any, name: str) -> None:
    response = _ingest(s3, name)
    check(f"ingest-{name.removesuffix('.json')}", {"response": response, "objects": _objects(s3)})


class Recording:
    """A warehouse that notes every statement and query before the real engine runs it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.log: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def execute(self, statements: Sequence[str]) -> None:
        self.log.append(["execute", [_LOAD_ID.sub("<load-id>", s) for s in statements]])
        self.inner.execute(statements)

    def query(self, sql: str) -> Any:
        self.log.append(["query", _LOAD_ID.sub("<load-id>", sql)])
        return self.inner.query(sql)


def _contents(wh: Any, tables: list[str]) -> dict[str, Any]:
    out = {}
    for table in tables:
        result = wh.query(f"SELECT * FROM {quote_ident(table)} ORDER BY 1, 2")  # noqa: S608
        out[table] = {"columns": result.columns, "rows": [list(r) for r in result.rows]}
    return out


@pytest.mark.parametrize("delete_mode", ["hard", "soft"])
def test_statements_of_a_load_are_unchanged(s3: Any, tmp_path: Path, delete_mode: str) -> None:
    for name in ("dynamodb-store.json", "dynamodb-all-types.json", "dynamodb-update.json"):
        assert _ingest(s3, name) == {"batchItemFailures": []}
    keys = _keys(s3, "cdc/")
    settings = WarehouseLoadSettings(
        lake_bucket=BUCKET, warehouse_url=f"duckdb://{tmp_path}/w.duckdb", delete_mode=delete_mode
    )
    wh = Recording(warehouse.connect(settings.warehouse_url, s3_client=s3))
    try:
        report = load_files(keys, settings=settings, warehouse=wh, s3_client=s3)
        assert not report.failed and not report.quarantined
        again = load_files(keys, settings=settings, warehouse=wh, s3_client=s3)
        tables = sorted(report.rows)
        check(
            f"load-statements-{delete_mode}",
            {
                "keys": keys,
                "report": report.summary() | {"max_lag_seconds": None},
                "again": again.summary() | {"max_lag_seconds": None},
                "statements": wh.log,
                "warehouse": _contents(wh.inner, tables),
            },
        )
    finally:
        wh.close()


def test_statements_of_a_full_refresh_are_unchanged(s3: Any, tmp_path: Path) -> None:
    rows = [
        {"pk": f"USER#{i}", "sk": "ORDER#1", "region": "eu-west", "qty": i, "paid": i % 2 == 0}
        for i in range(3)
    ]
    columns = {k: ORDERS_COLUMNS[k] for k in ("pk", "sk", "region", "qty", "paid")}
    keys = [
        put_lake_file(s3, BUCKET, "orders", columns, rows[:2], cdc=False, prefix="snapshot", shard="a"),
        put_lake_file(s3, BUCKET, "orders", columns, rows[2:], cdc=False, prefix="snapshot", shard="b"),
    ]
    settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=f"duckdb://{tmp_path}/w.duckdb")
    wh = Recording(warehouse.connect(settings.warehouse_url, s3_client=s3))
    try:
        report = full_refresh(keys, settings=settings, warehouse=wh, s3_client=s3)
        check(
            "load-full-refresh",
            {
                "report": report.summary(),
                "statements": wh.log,
                "warehouse": _contents(wh.inner, ["orders"]),
            },
        )
    finally:
        wh.close()
