"""The local stack's moto server stores items and applies updates as moto as released does, with its
faster item construction (``moto_app.item_init``) and its parsed update expressions kept by their text."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_moto_app import _client, streamed_table
from thermocline.local.workload import PHASES, Workload, run_phase

pytestmark = pytest.mark.moto

_LIMIT = 405000  # moto's item size limit, in its own count: names and values, as bytes


def _stream(endpoint: str, arn: str) -> list[dict[str, Any]]:
    streams = _client(endpoint, "dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    for record in records:  # the random event id and the clock (whose digits moto's size counts)
        record.pop("eventID")
        for field in ("ApproximateCreationDateTime", "SizeBytes"):
            record["dynamodb"].pop(field)
    return records


def _workload(endpoint: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ddb = _client(endpoint)
    arn = streamed_table(ddb, "Workload")
    workload = Workload(orders=40, now=dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC))
    for phase in PHASES:  # one writer: the stream's order is the requests' order
        run_phase(ddb, "Workload", workload, phase)
    items = [i for page in ddb.get_paginator("scan").paginate(TableName="Workload") for i in page["Items"]]
    return _stream(endpoint, arn), items


def test_the_demo_workload_gives_the_records_and_items_moto_released_gives(servers: dict[str, str]) -> None:
    records, items = _workload(servers["thermocline"])
    assert (records, items) == _workload(servers["released"])
    names = {r["eventName"] for r in records}
    assert names == {"INSERT", "MODIFY", "REMOVE"}
    assert len(records) > 150


def _attempts(endpoint: str) -> list[Any]:
    """Items around the size limit, with one attribute or many, by PutItem and BatchWriteItem: each one's
    error (code and message) or the item read back."""
    ddb = _client(endpoint)
    streamed_table(ddb, "Sizes")
    outcomes: list[Any] = []
    key_size = len("pk") + len("k") + len("sk") + len("s")
    for attributes in (1, 3, 40):
        for over in (-1, 0, 1):
            room = _LIMIT - key_size + over
            names = [f"a{n:02d}" for n in range(attributes)]
            room -= sum(len(name) for name in names)
            values = [room // attributes + (1 if n < room % attributes else 0) for n in range(attributes)]
            item = {"pk": {"S": "k"}, "sk": {"S": "s"}} | {
                name: {"S": "x" * size} for name, size in zip(names, values, strict=True)
            }
            for write in ("put", "batch"):
                try:
                    if write == "put":
                        ddb.put_item(TableName="Sizes", Item=item)
                    else:
                        ddb.batch_write_item(RequestItems={"Sizes": [{"PutRequest": {"Item": item}}]})
                    got = ddb.get_item(TableName="Sizes", Key={"pk": {"S": "k"}, "sk": {"S": "s"}}).get(
                        "Item"
                    )
                    outcomes.append(("stored", sorted((got or {}).items())))
                    ddb.delete_item(TableName="Sizes", Key={"pk": {"S": "k"}, "sk": {"S": "s"}})
                except ClientError as error:
                    outcomes.append(("error", error.response["Error"]))
    return outcomes


def test_items_at_the_size_limit_are_stored_or_refused_as_moto_released_does(servers: dict[str, str]) -> None:
    ours = _attempts(servers["thermocline"])
    assert ours == _attempts(servers["released"])
    assert {kind for kind, _ in ours} == {"stored", "error"}
