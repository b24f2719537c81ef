"""moto's server, with the answers that carry many items sent as plain JSON: ``python -m
thermocline.local.moto_app -H 127.0.0.1 -p PORT`` (what ``moto_server.start`` runs).

moto serialises every response by walking the service's shape model value by value. For DynamoDB Streams'
``GetRecords`` (a thousand records of nested attribute values per page) and DynamoDB's ``Scan`` (a
megabyte of items per page) that walk was most of the local stack's time: about 280 stream records/s
delivered, minutes to scan the demo table for reconciliation. The records and items moto keeps are
already in the wire shape (attribute values as DynamoDB's JSON, names as the API spells them), so
``json.dumps`` of the same result gives the same document; timestamps become epoch seconds and binary
values base64 text, as the JSON protocol sends them. (One difference: a binary key attribute in a stream
record comes back as written, where moto's serialiser base64-encodes moto's already encoded copy again.)
``tests/integration/test_moto_app.py`` compares both servers' answers.

A Scan page also sorts the whole table (moto pages through items in key order, skipping up to the
``ExclusiveStartKey``): moto sorts by its attribute-value objects, two Python-level comparisons per step,
so reading a table of 50,000 items page by page took tens of seconds. The same order comes from sorting by
the key values themselves (a key attribute has one type in every item, so its values compare as moto's
objects do), once per item instead of once per comparison.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import unix_time
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):  # to the millisecond, as moto's serialiser sends it
        return round(unix_time(value), 3)
    if isinstance(value, bytes):  # B and BS values, which the JSON protocol sends as base64 text
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not part of a DynamoDB answer")


# The actions answered as plain JSON: their results hold only wire-shaped dicts, lists, text and numbers.
PLAIN_JSON = ((DynamoDBStreamsHandler, "get_records"), (DynamoHandler, "scan"))


def _plain_json(action: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(action)
    def answer(self: Any) -> Any:
        result = action(self)
        return json.dumps(result.result, default=_wire) if isinstance(result, ActionResult) else result

    return answer


def _key_order(item: Item) -> Any:
    # moto's own sort key, (hash, range) or hash alone, with the values its objects compare by
    if item.range_key:
        return (item.hash_key.cast_value, item.range_key.cast_value)
    return item.hash_key.cast_value


def all_items(self: Table) -> list[Item]:
    """``Table.all_items``: every item in key order, sorted by the keys' values."""
    if self.range_key_attr:
        items = [item for by_range in self.items.values() for item in by_range.values()]
    else:
        items = list(self.items.values())
    return sorted(items, key=_key_order)


def main() -> None:
    for handler, name in PLAIN_JSON:
        setattr(handler, name, _plain_json(getattr(handler, name)))
    Table.all_items = all_items  # type: ignore[method-assign]
    from moto.server import main as serve

    serve()


if __name__ == "__main__":
    main()
