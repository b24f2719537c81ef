"""The local stack's moto server answers GetRecords and Scan exactly as moto as released does, only faster.

Two servers, the same writes (every attribute type; an insert, an update, a delete), and the records as
boto3 parses them must be equal, apart from the random event ids and the clock (and moto's size estimate, which counts the clock's digits).
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

import boto3
import pytest

from thermocline.local.wire import keep_wire_json

pytestmark = pytest.mark.moto


def _records_and_items(
    endpoint: str, table: str = "Items", *, wire: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    kwargs = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "t"}
    kwargs["aws_secret_access_key"] = "t"
    ddb = boto3.client("dynamodb", **kwargs)
    streams = boto3.client("dynamodbstreams", **kwargs)
    if wire:
        keep_wire_json(ddb, "Scan")
        keep_wire_json(streams, "GetRecords")
    arn = streamed_table(ddb, table)
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
    ddb.put_item(TableName=table, Item=item)
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #t = :t REMOVE nothing",
        ExpressionAttributeNames={"#t": "total"},
        ExpressionAttributeValues={":t": {"N": "99"}},
    )
    ddb.put_item(TableName=table, Item={**item, "sk": {"S": "ORDER#2"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "USER#2"}, "sk": {"S": "USER"}, "n": {"N": "0"}})
    ddb.delete_item(TableName=table, Key=key)
    pages = ddb.get_paginator("scan").paginate(TableName=table, Limit=1)  # LastEvaluatedKey on each page
    items = [item for page in pages for item in page["Items"]]
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


def _parsed(value: Any) -> Any:
    """A wire attribute value as boto3 parses it: binary values from base64 text to bytes."""
    ((tag, inner),) = value.items()
    if tag == "B":
        return {"B": base64.b64decode(inner)}
    if tag == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if tag == "M":
        return {"M": {k: _parsed(v) for k, v in inner.items()}}
    if tag == "L":
        return {"L": [_parsed(v) for v in inner]}
    return value


def _image(image: dict[str, Any]) -> dict[str, Any]:
    return {name: _parsed(value) for name, value in image.items()}


def test_answers_kept_as_wire_json_hold_what_boto3_parses(servers: dict[str, str]) -> None:
    """keep_wire_json: the JSON as sent (binary as base64 text, times in epoch seconds) carries exactly
    the values boto3 parses out of it; Scan's pagination still follows LastEvaluatedKey."""
    parsed_records, parsed_items = _records_and_items(servers["thermocline"], "Parsed")
    wire_records, wire_items = _records_and_items(servers["thermocline"], "Wire", wire=True)
    assert isinstance(wire_items[0]["avatar"]["B"], str)
    assert [_image(item) for item in wire_items] == parsed_items
    assert len(wire_records) == len(parsed_records) == 5
    for wire, parsed in zip(wire_records, parsed_records, strict=True):
        created = wire["dynamodb"].pop("ApproximateCreationDateTime")
        assert isinstance(created, float)
        assert abs(created - parsed["dynamodb"].pop("ApproximateCreationDateTime").timestamp()) < 60
        for record in (wire, parsed):
            record.pop("eventID")
            record["dynamodb"].pop("SizeBytes")
        for image in ("Keys", "NewImage", "OldImage"):
            if image in wire["dynamodb"]:
                wire["dynamodb"][image] = _image(wire["dynamodb"][image])
        wire["dynamodb"]["SequenceNumber"] = parsed["dynamodb"]["SequenceNumber"]  # each table its own
        assert wire == parsed


def test_an_error_answer_kept_as_wire_json_still_raises(servers: dict[str, str]) -> None:
    from botocore.exceptions import ClientError

    streams = boto3.client(
        "dynamodbstreams",
        endpoint_url=servers["thermocline"],
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    keep_wire_json(streams, "DescribeStream")
    with pytest.raises(ClientError) as raised:
        streams.describe_stream(StreamArn="arn:aws:dynamodb:us-east-1:123456789012:table/None/stream/x")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def streamed_table(ddb: Any, name: str) -> str:
    """A table keyed by ``pk``/``sk`` (both S) with a NEW_AND_OLD_IMAGES stream; its stream ARN."""
    arn = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    return str(arn)


def _client(endpoint: str, service: str = "dynamodb", **options: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
        **options,
    )


def _scan_order(endpoint: str) -> list[tuple[str, str]]:
    ddb = _client(endpoint)
    ddb.create_table(
        TableName="Numbers",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for pk in ("b", "a", "B", "ä"):
        for n in ("10", "9", "-1.5", "1E+3", "0.25", "100"):
            ddb.put_item(TableName="Numbers", Item={"pk": {"S": pk}, "n": {"N": n}})
    pages = ddb.get_paginator("scan").paginate(TableName="Numbers", Limit=5)
    return [(i["pk"]["S"], i["n"]["N"]) for page in pages for i in page["Items"]]


def test_scan_pages_through_items_in_the_order_moto_released_does(servers: dict[str, str]) -> None:
    ours = _scan_order(servers["thermocline"])
    assert ours == _scan_order(servers["released"])
    assert ours[:6] == [("B", "-1.5"), ("B", "0.25"), ("B", "9"), ("B", "10"), ("B", "100"), ("B", "1E+3")]


_ITEM = {
    "pk": {"S": "USER#1"},
    "sk": {"S": "ORDER#1"},
    "avatar": {"B": "3q2+7w=="},
    "blobs": {"BS": ["AQ==", "AgM="]},
    "nested": {"M": {"l": {"L": [{"N": "1.5"}, {"B": "Ag=="}, {"NULL": True}, {"BOOL": False}, {"M": {}}]}}},
    "tags": {"SS": ["a", "b"]},
    "sizes": {"NS": ["38", "-1E+125"]},
    "name": {"S": 'Zoë "q" \\ \u2028'},
}
_KEY = {"pk": {"S": "USER#1"}, "sk": {"B": "AQ=="}}
_REQUESTS = {
    "BatchWriteItem": {
        "RequestItems": {"t": [{"PutRequest": {"Item": _ITEM}}, {"DeleteRequest": {"Key": _KEY}}], "u": []},
        "ReturnConsumedCapacity": "TOTAL",
        "ReturnItemCollectionMetrics": "SIZE",
    },
    "PutItem": {
        "TableName": "t",
        "Item": _ITEM,
        "ConditionExpression": "attribute_not_exists(pk) OR #n = :v",
        "ExpressionAttributeNames": {"#n": "name"},
        "ExpressionAttributeValues": {":v": {"B": "AQ=="}, ":m": {"M": {"x": {"BS": ["AQ=="]}}}},
        "ReturnValues": "ALL_OLD",
    },
    "UpdateItem": {
        "TableName": "t",
        "Key": _KEY,
        "UpdateExpression": "SET #s = :s ADD n :one",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "PAID"}, ":one": {"N": "1"}},
        "ReturnValues": "UPDATED_NEW",
    },
    "DeleteItem": {"TableName": "t", "Key": _KEY, "ReturnValues": "ALL_OLD"},
    "Scan": {
        "TableName": "t",
        "ConsistentRead": True,
        "Limit": 10,
        "Segment": 1,
        "TotalSegments": 4,
        "ExclusiveStartKey": _KEY,
        "FilterExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"B": "AQ=="}},
    },
}


@pytest.mark.parametrize("action", sorted(_REQUESTS))
def test_requests_read_as_json_give_the_parameters_moto_parses(action: str) -> None:
    """moto_app reads DynamoDB's writes and Scan with json.loads: the parameters must be the ones moto's
    own parser (botocore's shape model) gives, binary values as bytes."""
    import json

    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.utils import get_service_model

    from thermocline.local.moto_app import FAST_REQUESTS, parsed_request

    assert action in FAST_REQUESTS
    body = json.dumps(_REQUESTS[action]).encode()
    operation = get_service_model("dynamodb").operation_model(action)
    moto_parsed = PROTOCOL_PARSERS["json"](operation, map_type=dict).parse(
        {"method": "POST", "values": {}, "headers": {}, "body": body, "url_path": "/", "url_params": {}}
    )
    assert parsed_request(body) == moto_parsed


def _interleaved_scan(endpoint: str, table: str, hash_type: str, range_type: str | None) -> list[Any]:
    """Scan pages of a table while it is written between them; every page as boto3 parses it."""
    ddb = _client(endpoint)
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    definitions = [{"AttributeName": "pk", "AttributeType": hash_type}]
    if range_type:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        definitions.append({"AttributeName": "sk", "AttributeType": range_type})
    ddb.create_table(
        TableName=table, KeySchema=schema, AttributeDefinitions=definitions, BillingMode="PAY_PER_REQUEST"
    )

    def key(n: int) -> dict[str, Any]:
        hash_value = {"S": f"h{n % 7}"} if hash_type == "S" else {"N": str(n % 7 - 3)}
        if not range_type:
            return {"pk": {"N": str(n)} if hash_type == "N" else {"S": f"h{n:04d}"}}
        return {"pk": hash_value, "sk": {range_type: str(n) if range_type == "N" else f"s{n:04d}"}}

    for n in range(60):
        ddb.put_item(TableName=table, Item={**key(n), "n": {"N": str(n)}, "pad": {"S": "x" * (n % 13)}})
    answers: list[Any] = []
    scanned: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    step = 0
    while True:
        request: dict[str, Any] = {"TableName": table, "Limit": 7, "ConsistentRead": True}
        if start:
            request["ExclusiveStartKey"] = start
        page = ddb.scan(**request)
        page.pop("ResponseMetadata")
        answers.append(page)
        scanned += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
        step += 1
        # a write between pages: new items before and after the position, an item deleted ahead, the
        # page's last item (the next start key) deleted, an item ahead changed in place and replaced
        ddb.put_item(TableName=table, Item={**key(1000 + step), "n": {"N": "-1"}})
        ddb.delete_item(TableName=table, Key=key((step * 11) % 60))
        ddb.update_item(
            TableName=table,
            Key=key((step * 17 + 5) % 60),
            UpdateExpression="SET changed = :s",
            ExpressionAttributeValues={":s": {"N": str(step)}},
        )
        if step % 3 == 0:
            ddb.delete_item(TableName=table, Key={name: start[name] for name in start})
        if step % 4 == 0:
            ddb.put_item(TableName=table, Item={**key((step * 5) % 60), "replaced": {"BOOL": True}})
    # what moto's scan answers itself: Select COUNT, a filter, a projection, a segment, a foreign start key
    answers.append(ddb.scan(TableName=table, Select="COUNT")["Count"])
    filtered = ddb.scan(
        TableName=table, FilterExpression="n > :z", ExpressionAttributeValues={":z": {"N": "9"}}
    )
    answers.append(filtered["Items"])
    answers.append(ddb.scan(TableName=table, ProjectionExpression="pk, changed", Limit=9)["Items"])
    answers.append(ddb.scan(TableName=table, Segment=1, TotalSegments=3)["Items"])
    answers.append(ddb.scan(TableName=table, Limit=5, ExclusiveStartKey=scanned[12])["Items"])
    assert len(scanned) > 60
    return answers


@pytest.mark.parametrize(("hash_type", "range_type"), [("S", "S"), ("N", "N"), ("S", "B"), ("N", None)])
def test_scan_pages_interleaved_with_writes_answer_as_moto_released_does(
    servers: dict[str, str], hash_type: str, range_type: str | None
) -> None:
    """moto_app keeps each table's key order between Scan pages; a write between pages (an insert before
    or after the position, a delete ahead, the start key itself deleted, an item changed in place or
    replaced) must show in the next page exactly as moto as released shows it."""
    table = f"Interleaved{hash_type}{range_type}"
    ours = _interleaved_scan(servers["thermocline"], table, hash_type, range_type)
    assert ours == _interleaved_scan(servers["released"], table, hash_type, range_type)
    assert any(item.get("changed") for page in ours[:-5] for item in page["Items"])
