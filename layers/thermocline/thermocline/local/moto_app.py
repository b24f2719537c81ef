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

moto reads every request through botocore's shape model as well (``parse_parameters``); for a
BatchWriteItem of 25 items that walk cost ~7 ms, more than writing the items. DynamoDB's writes and Scan
carry only attribute values, names, expressions and flags, so ``json.loads`` gives the same parameters
once binary values are decoded from base64 (``parsed_request``); anything else (the legacy parameters,
other actions, a body it cannot read) goes through moto's parser as before.

moto numbers a stream record by the shard's length before appending it; two writes served at once (the
server runs a thread per connection) could take the same number. DynamoDB gives every record of a shard
its own, increasing sequence number, so records are added one at a time (``stream_add``).

The server logs errors only: a line for each of the demo's ~10,000 requests cost CPU (and a lock every
request thread waits on) and buried the errors in ``moto.log``.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import unix_time
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import StreamShard, Table
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


# Requests read with json.loads: their parameters are attribute values (maps of them in these members, in
# RequestItems for BatchWriteItem), names, expressions, numbers and flags.
FAST_REQUESTS = frozenset({"BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem", "Scan"})
_ATTRIBUTE_MAPS = ("Item", "Key", "ExpressionAttributeValues", "ExclusiveStartKey")
_LEGACY = frozenset({"Expected", "AttributeUpdates", "ScanFilter", "ConditionalOperator"})


class _NotPlain(ValueError):
    """The request holds parameters left to moto's parser."""


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    ((tag, inner),) = value.items()
    if tag == "B":
        return {"B": base64.b64decode(inner)}
    if tag == "BS":
        return {"BS": [base64.b64decode(item) for item in inner]}
    if tag == "M":
        return {"M": _attributes(inner)}
    if tag == "L":
        return {"L": [_attribute(item) for item in inner]}
    return value


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _attribute(value) for name, value in values.items()}


def _write_request(request: dict[str, Any]) -> dict[str, Any]:
    if "PutRequest" in request:
        return {"PutRequest": {"Item": _attributes(request["PutRequest"]["Item"])}}
    return {"DeleteRequest": {"Key": _attributes(request["DeleteRequest"]["Key"])}}


def parsed_request(body: bytes) -> dict[str, Any]:
    """One of ``FAST_REQUESTS`` as moto's parser would give it: the JSON, binary values as bytes."""
    params = json.loads(body)
    if not isinstance(params, dict) or _LEGACY & params.keys():
        raise _NotPlain
    for name in _ATTRIBUTE_MAPS:
        if name in params:
            params[name] = _attributes(params[name])
    if "RequestItems" in params:
        params["RequestItems"] = {
            table: [_write_request(request) for request in requests]
            for table, requests in params["RequestItems"].items()
        }
    return params


_parse_parameters = BaseResponse.parse_parameters


def parse_parameters(self: DynamoHandler, request: Any) -> None:
    if self._get_action() in FAST_REQUESTS:
        try:
            self.params = parsed_request(request.data)
            return
        except Exception:  # noqa: BLE001, S110 - moto's parser reads it, and reports what is wrong
            pass
    _parse_parameters(self, request)


_stream_add = StreamShard.add
_stream_lock = threading.Lock()


def stream_add(self: StreamShard, old: Item | None, new: Item | None) -> None:
    with _stream_lock:
        _stream_add(self, old, new)


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
    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]
    StreamShard.add = stream_add  # type: ignore[method-assign]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from moto.server import main as serve

    serve()


if __name__ == "__main__":
    main()
