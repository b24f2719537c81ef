"""The load leg on a real DuckDB file, lake files in moto's S3 over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from tests.integration.load_fixtures import ORDERS_COLUMNS, SourceModel, put_lake_file, warehouse_rows
from thermocline import aws, warehouse
from thermocline.load import load_files
from thermocline.services.warehouse_load import handle_load_event
from thermocline.settings import WarehouseLoadSettings
from thermocline.warehouse import Capabilities

pytestmark = pytest.mark.moto
BUCKET = "lake"


@pytest.fixture
def s3(aws_env: str):
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def settings(tmp_path: Path) -> WarehouseLoadSettings:
    return WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=f"duckdb:///{tmp_path}/wh.duckdb")


@pytest.fixture
def wh(settings, s3):
    engine = warehouse.connect(settings.warehouse_url, s3_client=s3)
    yield engine
    engine.close()


def _notification(keys: list[str]) -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": BUCKET}, "object": {"key": quote_plus(k), "size": 1}},
                }
                for k in keys
            ]
        }
    )


def _sqs_event(bodies: list[str]) -> dict:
    return {
        "Records": [
            {"messageId": f"m{i}", "receiptHandle": f"h{i}", "body": body, "eventSource": "aws:sqs"}
            for i, body in enumerate(bodies)
        ]
    }


def test_insert_update_delete_and_dedupe_end_to_end(s3, settings, wh):
    src = SourceModel()
    first = [src.insert(f"USER#{i}") for i in range(20)]
    second = [src.update("USER#1"), src.update("USER#1"), src.delete("USER#2"), src.update("USER#3")]
    second += [src.delete("USER#4", ttl=True), src.insert("USER#4")]
    k1 = put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, first)
    # The same change twice in one file (an at-least-once retry inside a batch).
    k2 = put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, second + second[:2], shard="shardId-00000002")

    event = _sqs_event(
        [json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}), _notification([k1, k2])]
    )
    result = handle_load_event(event, settings=settings, warehouse=wh, s3_client=s3)

    assert result == {"batchItemFailures": []}
    assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()
    ledger = wh.query(
        "SELECT file_key, status, row_count FROM thermocline.load_ledger ORDER BY file_key"
    ).rows
    assert ledger == [(k1, "loaded", 20), (k2, "loaded", 8)]


def test_replayed_files_are_skipped_by_the_ledger(s3, settings, wh):
    src = SourceModel()
    key = put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, src.random_changes(60))
    first = load_files([key], settings=settings, warehouse=wh, s3_client=s3)
    again = load_files([key, key], settings=settings, warehouse=wh, s3_client=s3)
    assert (first.loaded, again.loaded, again.skipped) == ([key], [], [key])
    assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()


def test_loads_too_large_for_one_statement_are_split(s3, settings, wh, monkeypatch):
    # Shrink the statement limit so six ordinary files cannot share one ledger INSERT, while every
    # statement of a one-file load still fits (the engine refuses larger ones, as the Data API does).
    monkeypatch.setattr(wh, "capabilities", Capabilities(max_statement_bytes=1400, max_statements=40))
    src = SourceModel(seed=12)
    keys = [
        put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, batch, shard=f"shardId-{i}")
        for i, batch in enumerate(src.batches(src.random_changes(60, keys=20), 10))
    ]
    executed: list[list[str]] = []
    execute = wh.execute

    def recording_execute(statements):
        executed.append(list(statements))
        return execute(statements)

    monkeypatch.setattr(wh, "execute", recording_execute)
    report = load_files(keys, settings=settings, warehouse=wh, s3_client=s3)
    assert sorted(report.loaded) == sorted(keys)
    assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()
    ledger = wh.query("SELECT file_key FROM thermocline.load_ledger").rows
    assert sorted(k for (k,) in ledger) == sorted(keys), "every file is recorded exactly once"
    loads = [s for s in executed if any("load_ledger" in sql and "INSERT" in sql.upper() for sql in s)]
    files_per_load = [sum(any(key in sql for sql in statements) for key in keys) for statements in loads]
    assert len(loads) > 1, "the six files could not share one load"
    assert sum(files_per_load) == len(keys)
    # Every load fits the statement limit.
    for statements in loads:
        assert max(len(sql.encode()) for sql in statements) <= 1400
