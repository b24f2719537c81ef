"""Captured batches as people have them replay: null-valued type tags, get-records output."""

from __future__ import annotations

import json
from decimal import Decimal

from thermocline.local.captured import lambda_event, normalise_attribute_value
from thermocline.sources.dynamodb_streams import decode_batch

ARN = "arn:aws:dynamodb:us-east-1:1:table/T/stream/x"
ALL_NULL = {"S": None, "N": None, "B": None, "SS": None, "NS": None, "BS": None, "M": None, "L": None}


def _av(**set_one: object) -> dict:
    return {**ALL_NULL, "NULL": None, "BOOL": None, **set_one}


def test_an_attribute_value_with_every_tag_and_one_set_decodes_as_that_type() -> None:
    image = {
        "id": _av(S="a"),
        "n": _av(N="12.50"),
        "flag": _av(BOOL=False),
        "nothing": _av(NULL=True),
        "nested": _av(M={"inner": _av(L=[_av(N="1"), _av(S="two")])}),
        "lower": {"s": "x", "n": None},
    }
    record = {
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": ARN,
        "dynamodb": {"Keys": {"id": _av(S="a")}, "NewImage": image, "SequenceNumber": "1"},
    }
    result = decode_batch(lambda_event({"Records": [record]})["Records"])
    assert not result.rejects
    (row,) = result.tables["t"].arrow.to_pylist()
    assert row["id"] == "a" and row["flag"] is False and row["lower"] == "x"
    assert row["n"] == Decimal("12.5")
    assert json.loads(row["nested"]) == {"inner": [1, "two"]}


def test_values_with_no_or_two_tags_set_are_left_for_the_decoder_to_quarantine() -> None:
    for av in ({"S": None, "N": None}, {"S": "a", "N": "1"}, {"S": "a", "Colour": None}):
        assert normalise_attribute_value(av) == av
    record = {
        "eventName": "INSERT",
        "eventSourceARN": ARN,
        "dynamodb": {
            "Keys": {"id": {"S": "a"}},
            "NewImage": {"id": {"S": "a", "N": "1"}},
            "SequenceNumber": "1",
        },
    }
    result = decode_batch(lambda_event({"Records": [record]})["Records"])
    assert len(result.rejects) == 1 and "AttributeValue" in result.rejects[0].reason
