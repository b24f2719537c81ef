"""Property: any DynamoDB item → decode → Parquet → read back is what boto3's TypeDeserializer says it is.

Numbers are compared exactly (Decimal), binary as bytes, sets as sets; values that did not fit their column
are read back from ``_overflow``. The only representation choices are the documented ones: nested binary
is base64 text inside SUPER JSON, and sets are JSON arrays.
"""

from __future__ import annotations

import base64
import io
import json
from decimal import Decimal
from typing import Any

import pyarrow.parquet as pq
from boto3.dynamodb.types import Binary, TypeDeserializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thermocline.lake.metadata import read_lake_metadata
from thermocline.lake.parquet import to_parquet_bytes
from thermocline.sources.dynamodb_streams import decode_batch

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Prop/stream/2026-01-01T00:00:00.000"


@st.composite
def dynamodb_numbers(draw: Any) -> str:
    """Numbers as DynamoDB holds them: up to 38 significant digits, magnitude 1E-130 to 1E+125."""
    digits = draw(st.integers(min_value=0, max_value=10**38 - 1))
    if digits == 0:
        return "0"
    n = len(str(digits))
    exponent = draw(st.integers(min_value=-130 - (n - 1) + n, max_value=125 - n + 1))
    exponent = max(min(exponent, 125 - n + 1), -130)
    sign = draw(st.sampled_from(["", "-"]))
    value = Decimal(f"{sign}{digits}E{exponent}")
    style = draw(st.sampled_from(["str", "plain"]))
    plain = format(value, "f")
    # DynamoDB never spells a number with more than 38 digits, trailing zeros included.
    if style == "plain" and len(plain.lstrip("-").replace(".", "").strip("0")) <= 38 and len(plain) < 60:
        if len(plain.lstrip("-").replace(".", "")) <= 38:
            return plain
    return str(value)


texts = st.text(max_size=30)
blobs = st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode())
# Sets are generated in sorted order: inside SUPER a set is a JSON array in the order DynamoDB gave it,
# and the comparison below sorts the TypeDeserializer's (unordered) sets the same way.
BY_TAG = {
    "S": texts.map(lambda s: {"S": s}),
    "N": dynamodb_numbers().map(lambda n: {"N": n}),
    "B": blobs.map(lambda b: {"B": b}),
    "BOOL": st.booleans().map(lambda b: {"BOOL": b}),
    "SS": st.lists(texts, min_size=1, max_size=4, unique=True).map(lambda v: {"SS": sorted(v)}),
    "NS": st.lists(dynamodb_numbers(), min_size=1, max_size=4, unique_by=Decimal).map(
        lambda v: {"NS": sorted(v, key=Decimal)}
    ),
    "BS": st.lists(st.binary(max_size=8), min_size=1, max_size=3, unique=True).map(
        lambda v: {"BS": sorted(base64.b64encode(b).decode() for b in v)}
    ),
}
NULL = st.just({"NULL": True})
attribute_values = st.recursive(
    st.one_of(*BY_TAG.values(), NULL),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda v: {"L": v}),
        st.dictionaries(texts, children, max_size=4).map(lambda v: {"M": v}),
    ),
    max_leaves=12,
)
BY_TAG["L"] = st.lists(attribute_values, max_size=4).map(lambda v: {"L": v})
BY_TAG["M"] = st.dictionaries(texts, attribute_values, max_size=4).map(lambda v: {"M": v})


@st.composite
def batches(draw: Any) -> list[dict[str, Any]]:
    names = draw(st.lists(st.text(min_size=1, max_size=12), max_size=6, unique=True))
    names = [n for n in names if n != "id"]
    # One type per attribute name across the batch (type *conflicts* are exercised by example in test_decode).
    kinds = {n: draw(st.sampled_from(sorted(BY_TAG))) for n in names}
    items = []
    for i in range(draw(st.integers(min_value=1, max_value=5))):
        item: dict[str, Any] = {"id": {"S": f"item-{i}"}}
        for name in names:
            if draw(st.booleans()):
                item[name] = draw(st.one_of(BY_TAG[kinds[name]], NULL))
        items.append(item)
    return items


def lambda_record(item: dict[str, Any], seq: int) -> dict[str, Any]:
    return {
        "eventName": "INSERT",
        "eventSourceARN": ARN,
        "dynamodb": {
            "Keys": {"id": item["id"]},
            "NewImage": item,
            "SequenceNumber": str(10**20 + seq),
            "ApproximateCreationDateTime": 1_764_000_000,
        },
    }


def boto3_view(av: dict[str, Any]) -> Any:
    """What TypeDeserializer says an AttributeValue is (it needs bytes where Lambda gives base64)."""

    def to_bytes(v: dict[str, Any]) -> dict[str, Any]:
        ((tag, value),) = v.items()
        if tag == "B":
            return {"B": base64.b64decode(value)}
        if tag == "BS":
            return {"BS": [base64.b64decode(x) for x in value]}
        if tag == "M":
            return {"M": {k: to_bytes(x) for k, x in value.items()}}
        if tag == "L":
            return {"L": [to_bytes(x) for x in value]}
        return v

    return TypeDeserializer().deserialize(to_bytes(av))


def comparable(value: Any, nested: bool = False) -> Any:
    """Normalise a TypeDeserializer value to what the lake can express (see module docstring)."""
    if isinstance(value, Binary):
        value = value.value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode() if nested else bytes(value)
    if isinstance(value, set):
        return sorted(comparable(v, True) for v in value)
    if isinstance(value, list):
        return [comparable(v, True) for v in value]
    if isinstance(value, dict):
        return {k: comparable(v, True) for k, v in value.items()}
    return value


def unmark(value: Any) -> Any:
    """Text with NUL is kept in _overflow as {"$utf8_base64": ...} or {"$json_base64": ...} (decode.py)."""
    if isinstance(value, dict) and len(value) == 1:
        ((marker, encoded),) = value.items()
        if marker == "$utf8_base64":
            return base64.b64decode(encoded).decode("utf-8")
        if marker == "$json_base64":
            return json.loads(
                base64.b64decode(encoded).decode("utf-8"), parse_float=Decimal, parse_int=Decimal
            )
    return value


def read_back(cell: Any, column_type: str) -> Any:
    if column_type == "SUPER":
        return json.loads(cell, parse_float=Decimal, parse_int=Decimal)
    if column_type == "BIGINT":
        return Decimal(cell)
    return cell


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_items_round_trip_through_parquet_as_typedeserializer_sees_them(items: list[dict[str, Any]]) -> None:
    result = decode_batch([lambda_record(item, i) for i, item in enumerate(items)])
    assert not result.rejects, result.rejects
    table = pq.read_table(io.BytesIO(to_parquet_bytes(result.tables["prop"].arrow)))
    meta = read_lake_metadata(table)
    rows = table.to_pylist()
    assert len(rows) == len(items)
    for item, row in zip(items, rows, strict=True):
        overflow = unmark(
            json.loads(row["_overflow"], parse_float=Decimal, parse_int=Decimal) if row["_overflow"] else {}
        )
        overflow = {attribute: unmark(value) for attribute, value in overflow.items()}
        got: dict[str, Any] = {}
        for column, attribute in meta["attributes"].items():
            if attribute in overflow:
                got[attribute] = overflow[attribute]
            elif row[column] is not None:
                got[attribute] = read_back(row[column], meta["columns"][column])
        expected = {}
        for attribute, av in item.items():
            tag = next(iter(av))
            value = comparable(boto3_view(av))
            if value is None:
                continue
            if tag == "N" and attribute in overflow:
                got[attribute] = Decimal(got[attribute])
            expected[attribute] = value
        assert got == expected
