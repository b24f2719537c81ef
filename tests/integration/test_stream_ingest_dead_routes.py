"""A contract route that matches on a non-key attribute can never match: StreamIngestFunction says so once
per execution environment (an ERROR line and a metric) and still stores the items where they do route.
Against moto's S3 over real HTTP, with the demo store's sample event."""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from aws_lambda_powertools import Metrics

from tests.conftest import load_event
from thermocline.aws import client
from thermocline.contracts import parse_contracts
from thermocline.observability import logger
from thermocline.runtime import Runtime
from thermocline.services import stream_ingest
from thermocline.settings import StreamIngestSettings

pytestmark = pytest.mark.moto

BUCKET = "lake"
MESSAGE = "contract route can never match"

# `status` is not a key attribute of the store table (keys pk, sk): paid_orders can never get a row.
DEAD = {
    "version": 1,
    "sources": [
        {
            "table": "*-store",
            "unmatched": "store_other",
            "routes": [
                {"target": "paid_orders", "match": {"status": "PLACED"}},
                {"target": "orders", "match": {"sk": {"regex": "ORDER#o[0-9]+"}}},
            ],
        }
    ],
}
CORRECT = {
    "version": 1,
    "sources": [
        {"table": "*-store", "routes": [{"target": "orders", "match": {"pk": "USER#*", "sk": "ORDER#*"}}]}
    ],
}


@pytest.fixture
def log(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The function's log as CloudWatch gets it (Powertools' JSON lines), in a fresh execution
    environment (nothing reported yet) with an empty lake bucket in moto."""
    client("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setattr(stream_ingest, "_reported_dead_routes", set())
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    level = logger.log_level  # the local stack's tests quiet the shared logger to ERROR
    logger.setLevel("INFO")
    yield out
    logger.setLevel(level)
    logger.removeHandler(handler)


def lines(log: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.getvalue().splitlines()]


def ingest_twice(contract: dict[str, Any]) -> tuple[Any, dict[str, list[float]]]:
    """Two batches of the store's stream (the second later in the shard): the S3 client, and the metrics
    both emitted."""
    s3 = client("s3")
    metrics = Metrics(namespace="ThermoclineTest", service="test")
    metrics.clear_metrics()
    runtime = Runtime(metrics=metrics)
    contracts = parse_contracts(yaml.safe_load(yaml.safe_dump(contract)))
    settings = StreamIngestSettings(lake_bucket=BUCKET)
    first = load_event("dynamodb-store.json")
    second = copy.deepcopy(first)
    for record in second["Records"]:
        record["dynamodb"]["SequenceNumber"] = str(int(record["dynamodb"]["SequenceNumber"]) + 100)
    for event in (first, second):
        response = stream_ingest.handle_stream_event(
            event, settings=settings, s3_client=s3, contracts=contracts, runtime=runtime
        )
        assert response == {"batchItemFailures": []}
    emf = metrics.serialize_metric_set()
    metrics.clear_metrics()
    return s3, {m["Name"]: emf[m["Name"]] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


def lake_rows(s3: Any, table: str) -> list[dict[str, Any]]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"cdc/{table}/").get("Contents", [])
    rows: list[dict[str, Any]] = []
    for obj in sorted(listed, key=lambda o: o["Key"]):
        body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
        rows += pq.read_table(io.BytesIO(body)).to_pylist()
    return rows


def test_a_route_on_a_non_key_attribute_is_reported_once_and_its_items_stored_where_they_route(
    log: io.StringIO,
) -> None:
    s3, metrics = ingest_twice(DEAD)

    errors = [line for line in lines(log) if line["message"].startswith(MESSAGE)]
    assert len(errors) == 1, errors
    (error,) = errors
    assert error["level"] == "ERROR"
    assert error["table_glob"] == "*-store"
    assert error["table"] == "thermocline-store"
    assert error["target"] == "paid_orders"
    assert error["attribute"] == "status"
    assert error["key_attributes"] == ["pk", "sk"]
    assert "routes[0]" in error["contract"]
    assert metrics["ContractRouteNeverMatches"] == [1.0]
    assert metrics["RecordsReceived"] == [8.0, 8.0]  # both batches ran through the service
    # The items are stored: the PLACED order in the next matching route, the rest in `unmatched`.
    assert lake_rows(s3, "paid_orders") == []
    orders = lake_rows(s3, "orders")
    assert [(r["sk"], r["status"], r["_op"]) for r in orders] == [
        ("ORDER#o1001", "PLACED", "I"),
        ("ORDER#o1001", "SHIPPED", "U"),
    ] * 2
    other = lake_rows(s3, "store_other")
    assert sorted({r["sk"] for r in other}) == [
        "ORDER#o1001#LINE#001",
        "ORDER#o1001#LINE#002",
        "PROFILE",
        "SESSION#s9",
        "USER",
    ]


def test_a_contract_matching_key_attributes_reports_nothing(log: io.StringIO) -> None:
    s3, metrics = ingest_twice(CORRECT)

    logged = lines(log)
    assert logged  # the batches were logged, with no error among them
    assert not [line for line in logged if line["level"] == "ERROR"]
    assert "ContractRouteNeverMatches" not in metrics
    assert len(lake_rows(s3, "orders")) == 10  # two batches of 3 order lines and 2 order changes
