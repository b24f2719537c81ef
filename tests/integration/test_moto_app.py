"""The local stack's moto server answers GetRecords and Scan exactly as moto as released does, only faster.

Two servers, the same writes (every attribute type; an insert, an update, a delete), and the records as
boto3 parses them must be equal, apart from the random event ids and the clock (and moto's size estimate, which counts the clock's digits).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

from thermocline.local import moto_server

pytestmark = pytest.mark.moto


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    started = [moto_server.start(module="moto.server"), moto_server.start()]
    try:
        yield {"released": started[0].endpoint, "thermocline": started[1].endpoint}
    finally:
        for server in started:
            server.stop()


def _records_and_items(endpoint: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    kwargs = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "t"}
    kwargs["aws_secret_access_key"] = "t"
    ddb = boto3.client("dynamodb", **kwargs)
    arn = ddb.create_table(
        TableName="Items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    key = {"pk": {"S": "USER#1"}, "sk": {"S": "PROFILE"}}
    item = {
        **key,
        "name": {"S": 'Zoë "quoted" \\ \u2028'},
        "total": {"N": "150.25"},
        "big": {"N": "-1.5E+125"},
        "avatar": {"B": base64.b64decode("3q2+7w==")},
        "active": {"BOOL": True},
        "nothing": {"NULL": True},
        "address": {"M": {"city": {"S": "Osaka"}, "geo": {"M": {"lat": {"N": "34.69"}}}}},
        "lines": {"L": [{"N": "1"}, {"S": "x"}, {"L": []}, {"M": {}}]},
        "tags": {"SS": ["a", "b"]},
        "sizes": {"NS": ["38", "40.5"]},
        "blobs": {"BS": [b"\x01", b"\x02\x03"]},
    }
    ddb.put_item(TableName="Items", Item=item)
    ddb.update_item(
        TableName="Items",
        Key=key,
        UpdateExpression="SET #t = :t REMOVE nothing",
        ExpressionAttributeNames={"#t": "total"},
        ExpressionAttributeValues={":t": {"N": "99"}},
    )
    ddb.put_item(TableName="Items", Item={**item, "sk": {"S": "ORDER#2"}})
    ddb.put_item(TableName="Items", Item={"pk": {"S": "USER#2"}, "sk": {"S": "USER"}, "n": {"N": "0"}})
    ddb.delete_item(TableName="Items", Key=key)
    pages = ddb.get_paginator("scan").paginate(TableName="Items", Limit=1)  # LastEvaluatedKey on each page
    items = [item for page in pages for item in page["Items"]]
    streams = boto3.client("dynamodbstreams", **kwargs)
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"], items


def test_get_records_and_scan_answer_as_moto_released_does(servers: dict[str, str]) -> None:
    released, released_items = _records_and_items(servers["released"])
    ours, our_items = _records_and_items(servers["thermocline"])
    assert our_items == released_items
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in our_items] == [("USER#1", "ORDER#2"), ("USER#2", "USER")]
    assert our_items[0]["blobs"] == {"BS": [b"\x01", b"\x02\x03"]}
    assert [r["eventName"] for r in ours] == ["INSERT", "MODIFY", "INSERT", "INSERT", "REMOVE"]
    for want, got in zip(released, ours, strict=True):
        for record in (want, got):
            assert len(record.pop("eventID")) == 32
            created = record["dynamodb"].pop("ApproximateCreationDateTime")
            assert isinstance(created, dt.datetime)
            assert abs(created - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
            assert created.microsecond % 1000 == 0  # milliseconds, as moto sends them
            # moto counts the record's own JSON, its clock's digits included
            assert record["dynamodb"].pop("SizeBytes") > 0
        assert got == want
    assert ours[0]["dynamodb"]["NewImage"]["avatar"] == {"B": b"\xde\xad\xbe\xef"}
    assert ours[1]["dynamodb"]["NewImage"]["total"] == {"N": "99"}
    assert Decimal(ours[0]["dynamodb"]["NewImage"]["big"]["N"]) == Decimal("-1.5E+125")
