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
objects do), once per item instead of once per comparison. A plain Scan page (no filter, projection,
index or segment; moto's own scan answers the others) goes further (``scan``): each table keeps that
order until a write adds, replaces or deletes an item, the page starts where bisecting it for the
``ExclusiveStartKey`` says, and the items are serialised as they are, not copied first; so reading a
table page by page no longer sorts and walks it from the first item on every page. Pages, their
``LastEvaluatedKey`` and writes seen between pages are as moto's (the test compares them).

moto reads every request through botocore's shape model as well (``parse_parameters``); for a
BatchWriteItem of 25 items that walk cost ~7 ms, more than writing the items. DynamoDB's writes and Scan
carry only attribute values, names, expressions and flags, so ``json.loads`` gives the same parameters
once binary values are decoded from base64 (``parsed_request``); anything else (the legacy parameters,
other actions, a body it cannot read) goes through moto's parser as before.

moto numbers a stream record by the shard's length before appending it; two writes served at once (the
server runs a thread per connection) could take the same number. DynamoDB gives every record of a shard
its own, increasing sequence number, so records are added one at a time (``stream_add``).

moto's ``Item`` checks the 400 KB item limit as each attribute is added by summing the sizes of all the
attributes added before it (``LimitedSizeDict``): quadratic in the attributes, and half of a BatchWriteItem's
time. ``item_init`` builds the same item with a running sum: the same attributes, and ``ItemSizeTooLarge``
at the same attribute for the same sums. An UpdateItem parsed its expression twice per request
(``UpdateExpressionParser.make``), an expression the demo sends thousands of times: parsed trees are kept
by their text (no one changes a tree: moto's validator works on its own copy).

The server logs errors only: a line for each of the demo's ~10,000 requests cost CPU (and a lock every
request thread waits on) and buried the errors in ``moto.log``.
"""

from __future__ import annotations

import base64
import bisect
import functools
import itertools
import json
import logging
import threading
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import unix_time
from moto.dynamodb.comparisons import OpDefault
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, StreamShard, Table
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

from thermocline.local import moto_http


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


# moto's limit (dynamo_type.LimitedSizeDict): "between 409 and 410KB" by its authors' tests
_ITEM_LIMIT = 405000


def item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """``Item.__init__``: each attribute's size (name and value, as ``LimitedSizeDict`` counts them)
    added to a running sum instead of summing every earlier attribute again."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        size = bytesize(key) + typed.size()
        if total + size > _ITEM_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, key, typed)
        total += size


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


# Each table's last write (a number from one counter, so two writes never leave the same mark) and its
# items in key order as of a mark. Keyed weakly by the table object: a table moto replaces (a failed
# transaction puts back its copy) or deletes starts without an order.
_writes = itertools.count(1)
_last_write: weakref.WeakKeyDictionary[Table, int] = weakref.WeakKeyDictionary()
_orders: weakref.WeakKeyDictionary[Table, tuple[int, list[Any], list[Item]]] = weakref.WeakKeyDictionary()


def _marking(write: Callable[..., Any]) -> Callable[..., Any]:
    """``Table.put_item``/``delete_item``, the only changes to a table's set of items: mark the table
    written once the change is made (a Scan that read the mark before sorts again next time)."""

    @functools.wraps(write)
    def marked(self: Table, *args: Any, **kwargs: Any) -> Any:
        try:
            return write(self, *args, **kwargs)
        finally:
            _last_write[self] = next(_writes)

    return marked


def _in_key_order(table: Table) -> tuple[list[Any], list[Item]]:
    """The table's key values and items in key order, sorted again only after a write that adds,
    replaces or deletes an item (an UpdateItem of an existing item changes that item in place)."""
    mark = _last_write.get(table, 0)
    cached = _orders.get(table)
    if cached is not None and cached[0] == mark:
        return cached[1], cached[2]
    items = all_items(table)
    keys = [_key_order(item) for item in items]
    _orders[table] = (mark, keys, items)
    return keys, items


def _start_key(table: Table, start: dict[str, Any]) -> Any:
    """An ExclusiveStartKey as the values ``_key_order`` gives, or None when it is not exactly the
    table's key attributes with their types (moto's scan answers those requests)."""
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    types = [table.hash_key_type, table.range_key_type]
    if start.keys() != set(names):
        return None
    values = []
    for name, kind in zip(names, types, strict=False):
        value = start[name]
        if not isinstance(value, dict) or value.keys() != {kind} or kind not in ("S", "N", "B"):
            return None
        values.append(DynamoType(value).cast_value)
    return tuple(values) if table.range_key_attr else values[0]


_released_scan = Table.scan


def scan(
    self: Table,
    filters: dict[str, Any],
    limit: int | None,
    exclusive_start_key: dict[str, Any] | None,
    filter_expression: Any = None,
    index_name: str | None = None,
    consistent_read: bool = False,
    projection_expression: list[list[str]] | None = None,
    segments: tuple[None, None] | tuple[int, int] = (None, None),
) -> tuple[list[Item], int, dict[str, Any] | None]:
    """``Table.scan`` for a plain page of the table (no filter, projection, index or segment; moto's
    own scan answers the others): the same items and LastEvaluatedKey, found by bisecting the table's
    cached key order instead of sorting and walking from the first item, and without moto's copy of
    each item (the answer is serialised from them at once, and nothing changes them on the way)."""
    args = (filters, limit, exclusive_start_key, filter_expression, index_name, consistent_read)
    no_filter = filter_expression is None or isinstance(filter_expression, OpDefault)  # moto's "no filter"
    plain = no_filter and not (filters or index_name or projection_expression)
    if not plain or segments != (None, None) or (limit is not None and limit < 1):
        return _released_scan(self, *args, projection_expression, segments)
    keys, items = _in_key_order(self)
    first = 0
    if exclusive_start_key is not None:
        start = _start_key(self, exclusive_start_key)
        if start is None:
            return _released_scan(self, *args, projection_expression, segments)
        first = bisect.bisect_right(keys, start)  # moto skips every item at or before the start key
    results: list[Item] = []
    size = 0
    last_evaluated_key = None
    for item in itertools.islice(items, first, None):
        item_size = item.size()
        # as moto: a page ends at Limit items or before the item that takes it over 1 MB, and has a
        # LastEvaluatedKey only when an item is left after it
        if len(results) == limit or size + item_size > RESULT_SIZE_LIMIT:
            last_evaluated_key = self._get_last_evaluated_key(results[-1], None)
            break
        results.append(item)
        size += item_size
    return results, len(results), last_evaluated_key


def install() -> None:
    """Change moto, in this process, as the module docstring says."""
    for handler, name in PLAIN_JSON:
        setattr(handler, name, _plain_json(getattr(handler, name)))
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.put_item = _marking(Table.put_item)  # type: ignore[method-assign]
    Table.delete_item = _marking(Table.delete_item)  # type: ignore[method-assign]
    Table.scan = scan  # type: ignore[method-assign]
    Item.__init__ = item_init  # type: ignore[method-assign]
    parse = functools.lru_cache(maxsize=1024)(UpdateExpressionParser.make)
    UpdateExpressionParser.make = staticmethod(parse)  # type: ignore[method-assign,assignment]
    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]
    StreamShard.add = stream_add  # type: ignore[method-assign]
    moto_http.install()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def serve() -> None:
    from moto.server import main as moto_main

    moto_main()


def main() -> None:
    install()
    serve()


if __name__ == "__main__":
    main()
