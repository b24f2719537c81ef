"""Lambda DynamoDB Streams records → lake rows → one ``pyarrow.Table`` per warehouse table.

Pure: no boto3, no I/O. The service (``services/stream_ingest.py``) feeds it the recorded table schemas and
persists the ones it changes; :func:`decode_stream_records` is the public, stand-alone entry point.

Design notes (why it is shaped like this):

* Values go straight from the AttributeValue JSON into per-column Python lists and then into Arrow with
  vectorised casts (number text → int64/decimal128). No ``Decimal`` per value, no per-item dicts: that is
  where the naive ``TypeDeserializer`` → ``Table.from_pylist`` path spends its time.
* Numbers are kept as their exact text until the column's final type is known, so a column that widens
  from BIGINT to DECIMAL halfway through a batch converts every row the same way.
* A record is all or nothing: one that fails halfway is cut back out of the column lists, with any column
  it recorded or widened undone; it becomes a :class:`Reject` and the rest of the batch goes on.
"""

from __future__ import annotations

import base64
import binascii
import gc
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from thermocline.contracts import Contracts, Route, load_contracts
from thermocline.names import table_identifier, unique_identifier
from thermocline.parquet import oversize_key, with_lake_metadata
from thermocline.schema import (
    BOOLEAN,
    OVERFLOW_COLUMN,
    SUPER,
    VARBYTE,
    VARCHAR,
    Column,
    ColumnType,
    TableSchema,
    infer_number_type,
    number_shape,
    widen_for_number,
)

__all__ = [
    "DecodeResult",
    "Reject",
    "RecordDecodeError",
    "SEQ_WIDTH",
    "TableBatch",
    "decode_batch",
    "decode_stream_records",
    "pad_sequence_number",
    "source_table_name",
    "target_tables",
]

SEQ_WIDTH = 40
_OPS = {"INSERT": "I", "MODIFY": "U", "REMOVE": "D"}
_TTL_PRINCIPAL = "dynamodb.amazonaws.com"
_ARN_TABLE = re.compile(r":table/([^/]+)")
_DIGITS = re.compile(r"[0-9]{1,40}")
# The C fast paths (thermocline/_speedups.c): SUPER values as JSON, and staging a record whose attributes all
# take `_Decoder._stage`'s fast paths. They decide only the well-formed common case and otherwise change
# nothing, so the pure-Python code below stays the reference for every result. PURE_PYTHON=1 in the
# environment forces the reference path (debugging, comparing the two). FAST_PATH_UNAVAILABLE says why the
# fast path is not in use (None when it is): the service reports it, since decoding is then ~2.6x slower.
PURE_PYTHON = "THERMOCLINE_PURE_PYTHON"
FAST_PATH_UNAVAILABLE: str | None = None
_stage_row: Any = None
_super_json: Any = None
if os.environ.get(PURE_PYTHON) == "1":
    FAST_PATH_UNAVAILABLE = f"{PURE_PYTHON}=1"
else:
    try:
        from thermocline._speedups import stage_row as _stage_row
        from thermocline._speedups import super_json as _super_json
    except ImportError as exc:
        FAST_PATH_UNAVAILABLE = f"thermocline._speedups did not load: {exc}"

_encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]  # the C encoder, no ASCII escaping
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)


class RecordDecodeError(ValueError):
    """A stream record that can never be decoded (malformed, unknown type tag, ...)."""


class _Undecodable(Exception):
    """Internal: raised while staging one record; becomes a Reject."""


class _Overflow(Exception):
    """Internal: this value does not fit its column; it goes to ``_overflow``."""

    def __init__(self, json_text: str) -> None:
        self.json_text = json_text


@dataclass
class Reject:
    """A record that could not be decoded, with the reason. Never silently dropped."""

    index: int
    record: Any
    reason: str
    table: str | None = None
    sequence_number: str | None = None
    event_time_us: int | None = None


@dataclass
class TableBatch:
    """The lake rows of one warehouse table from one batch."""

    table: str
    arrow: pa.Table
    schema: TableSchema
    sequence_numbers: list[str]  # the original SequenceNumber of each row, in row order


@dataclass
class DecodeResult:
    tables: dict[str, TableBatch] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    schemas: dict[str, TableSchema] = field(default_factory=dict)
    changed_schemas: set[str] = field(default_factory=set)
    # INSERT/MODIFY records whose stream view type carries no new image (KEYS_ONLY, OLD_IMAGE): quarantined
    # (also in ``rejects``) and counted, never written as rows, since a keys-only row would blank the item.
    imageless: list[tuple[str, str, str]] = field(default_factory=list)  # (table, view type, seq)
    truncated_values: int = 0
    overflow_values: int = 0
    widened: list[tuple[str, str, str]] = field(default_factory=list)  # (table, column, new type)
    # Contract declarations that differ from the recorded type: (table, column, recorded, declared).
    contract_conflicts: list[tuple[str, str, str, str]] = field(default_factory=list)
    # Values too large for a warehouse row, moved out of it: lake key → the value's JSON (UTF-8).
    oversize: dict[str, bytes] = field(default_factory=dict)
    oldest_event_us: int | None = None  # of every record with a readable event time, for ingest lag


# ---------------------------------------------------------------------------------------------- envelope


def source_table_name(record: Mapping[str, Any]) -> str:
    """The DynamoDB table name of a record, from ``eventSourceARN``.

    A real ARN looks like ``arn:aws:dynamodb:us-east-1:123:table/Orders/stream/2024-...``. Hand-written test
    events (Powertools' among them) carry a bare string instead; it is then taken as the table name.
    """
    arn = record.get("eventSourceARN")
    if not isinstance(arn, str) or not arn.strip():
        raise _Undecodable("record has no eventSourceARN")
    m = _ARN_TABLE.search(arn)
    return m.group(1) if m else arn


def pad_sequence_number(seq: Any) -> str:
    """Zero-pad a stream sequence number to 40 characters so that text order is numeric order."""
    if not isinstance(seq, str) or not _DIGITS.fullmatch(seq):
        raise _Undecodable(f"SequenceNumber is not 1 to 40 digits: {str(seq)[:60]!r}")
    return seq.rjust(SEQ_WIDTH, "0")


def _event_time_us(value: Any) -> int | None:
    """``ApproximateCreationDateTime`` → microseconds since the epoch (UTC).

    Lambda events carry epoch seconds (an int, or a float such as 1693997155.0); boto3's streams client
    returns a datetime; some tools write ISO-8601 text. All are accepted.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise _Undecodable("ApproximateCreationDateTime is not a time")
    if isinstance(value, int):
        return value * 1_000_000
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _Undecodable("ApproximateCreationDateTime is not a time")
        return round(value * 1_000_000)
    if isinstance(value, datetime):
        return _datetime_us(value)
    if isinstance(value, str):
        try:
            return _event_time_us(float(value))
        except ValueError:
            try:
                return _datetime_us(datetime.fromisoformat(value))
            except ValueError:
                pass
    raise _Undecodable(f"ApproximateCreationDateTime is not a time: {str(value)[:60]!r}")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _datetime_us(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _is_ttl_delete(record: Mapping[str, Any]) -> bool:
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html
    identity = record.get("userIdentity")
    return (
        isinstance(identity, dict)
        and identity.get("type") == "Service"
        and identity.get("principalId") == _TTL_PRINCIPAL
    )


# ------------------------------------------------------------------------------------------------ routing


CONTRACT_OWNER = "contract"


class _Router:
    """Record → (target table, route, owner). Caches the contract lookup per source table.

    Distinct source tables never share a warehouse table unless a contract routes them there: under
    default routing a source table takes ``table_identifier(name)``, or ``_2``, ``_3``... when that
    table already belongs to another source (``my-table``, ``my.table`` and ``My_Table`` all make
    ``my_table``) or is a contract's target. Who owns a table is recorded in its schema (``source``),
    so every function and every replay that reads the schemas decides the same.
    """

    def __init__(self, contracts: Contracts | None, schemas: Mapping[str, TableSchema] | None = None) -> None:
        self._contracts = contracts or Contracts()
        self._sources: dict[str, Any] = {}
        self._defaults: dict[str, str] = {}
        self._reserved = self._contracts.targets
        self.owners: dict[str, str] = {
            table: schema.source for table, schema in (schemas or {}).items() if schema.source
        }

    def contract_for(self, source_table: str) -> Any:
        return self._sources.get(source_table)

    def _default(self, source_table: str) -> str:
        name = self._defaults.get(source_table)
        if name is None:
            owner = "dynamodb:" + source_table
            base = table_identifier(source_table)
            name = unique_identifier(
                base, _Taken(lambda t: t in self._reserved or self.owners.get(t, owner) != owner)
            )
            self.owners[name] = owner
            self._defaults[source_table] = name
        return name

    def route(self, source_table: str, keys: Mapping[str, Any]) -> tuple[str, Route | None, str]:
        try:
            source = self._sources[source_table]
        except KeyError:
            source = self._sources[source_table] = self._contracts.for_table(source_table)
        if source is None:
            return self._default(source_table), None, "dynamodb:" + source_table
        route = source.route(keys)
        if route is not None:
            return route.target, route, CONTRACT_OWNER
        if source.unmatched:
            return source.unmatched, None, CONTRACT_OWNER
        return self._default(source_table), None, "dynamodb:" + source_table


class _Taken:
    """A container answering ``name in taken`` with a predicate (for ``unique_identifier``)."""

    def __init__(self, predicate: Any) -> None:
        self._predicate = predicate

    def __contains__(self, name: object) -> bool:
        return bool(self._predicate(name))


def _keys_of(record: Mapping[str, Any]) -> dict[str, Any]:
    body = record.get("dynamodb")
    if not isinstance(body, dict):
        raise _Undecodable("record has no 'dynamodb' object")
    keys = body.get("Keys")
    if not isinstance(keys, dict) or not keys:
        raise _Undecodable("record has no Keys")
    return keys


def target_tables(
    records: Iterable[Any],
    contracts: Contracts | None = None,
    schemas: Mapping[str, TableSchema] | None = None,
) -> set[str]:
    """Every warehouse table a batch routes to (records that cannot be routed are skipped here), given
    the recorded ``schemas`` (which say who owns a table)."""
    router = _Router(contracts, schemas)
    out = set()
    for record in records:
        try:
            out.add(router.route(source_table_name(record), _keys_of(record))[0])
        except (_Undecodable, AttributeError, TypeError):
            continue
    return out


# --------------------------------------------------------------------------------------- value encoding


def _single(av: Any) -> tuple[str, Any]:
    if type(av) is not dict or len(av) != 1:
        raise _Undecodable(f"not a DynamoDB AttributeValue: {str(av)[:80]!r}")
    ((tag, value),) = av.items()
    return tag, value


def _canonical_number(text: Any) -> str:
    """Validate an N value that is not plain JSON number syntax and re-spell it exactly (+5, .5, 007)."""
    if not isinstance(text, str):
        raise _Undecodable(f"N value is not a string: {str(text)[:60]!r}")
    try:
        number_shape(text)
    except ValueError:
        raise _Undecodable(f"N value is not a number: {text[:60]!r}") from None
    return str(Decimal(text))


def _check_number(text: Any) -> str:
    """An N value as JSON number text, exactly. Plain integers (the common case) take two C calls."""
    if text.isdigit():
        if text.isascii() and (text[0] != "0" or len(text) == 1):
            return text
    elif _JSON_NUMBER.fullmatch(text):
        return text
    return _canonical_number(text)


def _check_str(value: Any) -> str:
    if type(value) is not str:
        raise _Undecodable(f"S value is not a string: {str(value)[:60]!r}")
    return value


def _binary_text(value: Any) -> str:
    """Binary as base64 text (how Lambda events carry it; boto3 clients hand us bytes)."""
    if type(value) is str:
        _binary_bytes(value)  # validates: text that is not base64 is not binary
        return value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise _Undecodable(f"B value is neither base64 text nor bytes: {str(value)[:60]!r}")


def _binary_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _Undecodable(f"B value is not valid base64: {value[:60]!r}") from None
    raise _Undecodable(f"B value is neither base64 text nor bytes: {str(value)[:60]!r}")


# '"key":' for map keys seen before. json.loads (Lambda's event parser included) hands out one string object
# per distinct key, with its hash cached, so this lookup is cheaper than encoding the key again.
_KEY_PREFIX: dict[str, str] = {}
_KEY_PREFIX_MAX = 65536


def _key_prefix(key: Any) -> str:
    prefix = (_encode_str(key) if key.isascii() else _json_str(key)) + ":"
    if len(_KEY_PREFIX) >= _KEY_PREFIX_MAX:
        _KEY_PREFIX.clear()
    _KEY_PREFIX[key] = prefix
    return prefix


def _json_map(value: Any) -> str:
    """An M payload as a JSON object. The hot loop of nested data: strings and plain numbers are handled
    inline with C-level calls only; everything else goes through `_json_value`."""
    parts = []
    append = parts.append
    prefixes = _KEY_PREFIX
    for key, av in value.items():
        ((tag, x),) = av.items()
        if tag == "S":
            text = _encode_str(x) if x.isascii() else _json_str(x)
        elif tag == "N":
            text = x if x.isdigit() and x.isascii() and (x[0] != "0" or len(x) == 1) else _check_number(x)
        elif tag == "M":
            text = _json_map(x)
        elif tag == "BOOL" and (x is True or x is False):
            text = "true" if x else "false"
        else:
            text = _json_value(tag, x)
        prefix = prefixes.get(key)
        append((prefix or _key_prefix(key)) + text)
    return "{" + ",".join(parts) + "}"


def _json_list(value: Any) -> str:
    if type(value) is not list:
        raise _Undecodable("L value is not a list")
    parts = []
    append = parts.append
    for av in value:
        ((tag, x),) = av.items()
        append(_json_map(x) if tag == "M" else _json_value(tag, x))
    return "[" + ",".join(parts) + "]"


def _json_str(text: Any) -> str:
    """A JSON string literal; text that is not valid Unicode (lone surrogates) is rejected here, not by
    Arrow later."""
    if not text.isascii():
        _utf8_length(text)
    return _encode_str(text)


def _json_value(tag: str, value: Any) -> str:
    """One AttributeValue's payload as JSON text. Ordered by how often each tag occurs.

    This is the hot loop of nested data: no per-node helper calls for strings and numbers, and
    ``encode_basestring`` (C) rejects a non-string on its own with a TypeError.
    """
    if tag == "S":
        return _encode_str(value) if value.isascii() else _json_str(value)
    if tag == "N":
        return _check_number(value)
    if tag == "M":
        return _json_map(value)
    if tag == "L":
        return _json_list(value)
    if tag == "BOOL":
        if value is True:
            return "true"
        if value is False:
            return "false"
        raise _Undecodable("BOOL value is not a boolean")
    if tag == "NULL":
        return "null"
    if tag == "SS":
        return "[" + ",".join([_json_str(x) for x in _set_items(value, tag)]) + "]"
    if tag == "NS":
        return "[" + ",".join([_check_number(x) for x in _set_items(value, tag)]) + "]"
    if tag == "B":
        return _encode_str(_binary_text(value))
    if tag == "BS":
        return "[" + ",".join([_encode_str(_binary_text(x)) for x in _set_items(value, tag)]) + "]"
    raise _Undecodable(f"unknown DynamoDB type tag {str(tag)[:40]!r}")


def _super_text(tag: str, value: Any) -> str:
    """A SUPER value's JSON text: the C fast path when it can decide, else `_json_value` (the reference)."""
    if _super_json is not None:
        text = _super_json(tag, value)
        if text is not None:
            return text
    return _json_value(tag, value)


def _set_items(value: Any, tag: str) -> list[Any]:
    if type(value) is not list:
        raise _Undecodable(f"{tag} value is not a list")
    return value


def av_to_json(av: Any) -> str:
    """One AttributeValue as JSON text (the SUPER representation), exactly.

    Maps → objects, lists and sets → arrays, numbers → JSON numbers with their exact digits (read them back
    with ``json.loads(text, parse_float=Decimal)``), binary → base64 strings, NULL → null.
    """
    try:
        ((tag, value),) = av.items()
        return _super_text(tag, value)
    except (AttributeError, TypeError, ValueError) as exc:
        raise _Undecodable(f"not a DynamoDB AttributeValue: {exc}") from None


_KNOWN_TAGS = frozenset(("S", "N", "M", "L", "BOOL", "NULL", "SS", "NS", "B", "BS"))


def _overflow_json(tag: str, value: Any) -> str:
    # A number that does not fit its column is kept as exact *text*: readers that turn JSON numbers into
    # floats would otherwise round it.
    if tag == "N":
        return _encode_str(_check_number(value))
    return av_to_json({tag: value})


# ----------------------------------------------------------------------------------- column converters
#
# Each converter takes (column, tag, value) and returns what goes into the column's Python list, raises
# _Overflow with the JSON for the overflow column, or raises _Undecodable. Numbers stay text until build.


def _utf8_length(text: str) -> int:
    """Length in UTF-8 bytes (what Redshift's VARCHAR limit counts); rejects text that is not Unicode."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise _Undecodable("S value is not valid Unicode (lone surrogate)") from None


def _truncate_utf8(text: str, limit: int) -> str:
    """The longest prefix of at most ``limit`` UTF-8 bytes that ends on a character boundary."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


@dataclass
class _Batch:
    """Per-table state while decoding: column lists, row count, metadata columns."""

    schema: TableSchema
    route: Route | None
    values: dict[str, list[Any]] = field(default_factory=dict)
    overflow: list[str | None] = field(default_factory=list)
    op: list[str] = field(default_factory=list)
    seq: list[str] = field(default_factory=list)
    seq_original: list[str] = field(default_factory=list)
    event_time: list[int | None] = field(default_factory=list)
    ttl: list[bool] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    record_index: list[int] = field(default_factory=list)
    # attribute → _plan_entry (column, its value list, converter, fast tag, fast check): one dict lookup
    # per attribute in the hot loop.
    plan: dict[str, tuple[Column, list[Any], Any, str, Any]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.op)


def _missing_key(batch: _Batch, row: int) -> str | None:
    """Why row ``row`` has no value in a primary key column, or None: a row without its key cannot be
    merged, so the record is quarantined instead."""
    values = batch.values
    for name in batch.schema.primary_key:
        column_values = values.get(name)
        if column_values is None or len(column_values) <= row or column_values[row] is None:
            attribute = batch.schema.columns[name].attribute
            return f"primary key attribute {attribute!r} is missing or NULL"
    return None


class _Decoder:
    def __init__(
        self,
        records: list[Any],
        contracts: Contracts | None,
        schemas: Mapping[str, TableSchema] | None,
        spill_over: int | None = None,
        spill_prefix: str = "cdc/",
    ) -> None:
        self.records = records
        self.spill_over = spill_over
        self.spill_prefix = spill_prefix
        self._sources: dict[str, str] = {}
        self._fixed_routes: dict[str, tuple[str, Route | None, str]] = {}
        self.router = _Router(contracts, schemas)
        self.schemas: dict[str, TableSchema] = {k: v.copy() for k, v in (schemas or {}).items()}
        self.batches: dict[str, _Batch] = {}
        self.result = DecodeResult()

    # -- schema -------------------------------------------------------------------------------------

    def _batch_for(
        self, table: str, route: Route | None, keys: Mapping[str, Any], image: Mapping[str, Any], owner: str
    ) -> _Batch:
        batch = self.batches.get(table)
        if batch is not None:
            return batch
        schema = self.schemas.get(table)
        if schema is None:
            schema = TableSchema(table=table, source=owner)
            self.schemas[table] = schema
            self.result.changed_schemas.add(table)
        elif schema.source and schema.source != owner:
            # A contract now routes into a table a source table took under default routing.
            raise _Undecodable(f"warehouse table {table!r} already holds {schema.source}; route elsewhere")
        changed = _apply_contract(schema, route, keys, image, self.result.contract_conflicts)
        if changed:
            self.result.changed_schemas.add(table)
        batch = self.batches[table] = _Batch(schema=schema, route=route)
        for name in schema.columns:
            batch.values[name] = []
        return batch

    # -- one record ---------------------------------------------------------------------------------

    def add(self, index: int, record: Any) -> None:
        table: str | None = None
        seq_text: str | None = None
        event_us: int | None = None
        try:
            if type(record) is not dict:
                raise _Undecodable("record is not an object")
            body = record.get("dynamodb")
            keys = _keys_of(record)
            seq_raw = body.get("SequenceNumber")
            seq_text = seq_raw if isinstance(seq_raw, str) else None
            op = _OPS.get(record.get("eventName"))  # type: ignore[arg-type]
            if op is None:
                raise _Undecodable(f"unknown eventName {str(record.get('eventName'))[:40]!r}")
            if type(seq_raw) is str and seq_raw.isdigit() and seq_raw.isascii() and len(seq_raw) <= SEQ_WIDTH:
                padded = seq_raw.rjust(SEQ_WIDTH, "0")
            else:
                padded = pad_sequence_number(seq_raw)
            when = body.get("ApproximateCreationDateTime")
            event_us = when * 1_000_000 if type(when) is int else _event_time_us(when)
            if event_us is not None and (
                self.result.oldest_event_us is None or event_us < self.result.oldest_event_us
            ):
                self.result.oldest_event_us = event_us
            arn = record.get("eventSourceARN")
            source_table = self._sources.get(arn) if type(arn) is str else None
            if source_table is None:
                source_table = self._sources[arn] = source_table_name(record)
            fixed = self._fixed_routes.get(source_table)
            if fixed is not None:
                table, route, owner = fixed
            else:
                table, route, owner = self.router.route(source_table, keys)
                if self.router.contract_for(source_table) is None:
                    self._fixed_routes[source_table] = (table, route, owner)
            if op == "D":
                image = body.get("OldImage") or keys
                ttl = _is_ttl_delete(record)
            else:
                image = body.get("NewImage")
                ttl = False
                if image is None or image == {}:
                    # Nothing to write (a keys-only row would blank the item in the warehouse), but the
                    # change is kept: quarantined with the reason, and counted.
                    view = str(body.get("StreamViewType") or "unknown")
                    self.result.imageless.append((table, view, seq_text or ""))
                    raise _Undecodable(
                        f"{record.get('eventName')} record has no NewImage (stream view type {view}); "
                        "replicate from a NEW_IMAGE or NEW_AND_OLD_IMAGES stream"
                    )
            if type(image) is not dict:
                raise _Undecodable("item image is not a map")
            if op == "D" and image is not keys:
                # An old image normally holds the key attributes; a delete row must always have them.
                missing = {k: v for k, v in keys.items() if k not in image}
                if missing:
                    image = {**image, **missing}
            elif any(k not in image for k in keys):
                # Keys are authoritative; a new image lacking one would become a row without its key.
                image = {**image, **{k: v for k, v in keys.items() if k not in image}}
            batch = self._batch_for(table, route, keys, image, owner)
            overflow, added, widened = self._stage(batch, image)
        except _Undecodable as exc:
            self.result.rejects.append(
                Reject(
                    index, record, str(exc), table, seq_text, event_us if isinstance(event_us, int) else None
                )
            )
            return
        except (AttributeError, TypeError, ValueError) as exc:
            self.result.rejects.append(
                Reject(index, record, f"malformed record: {exc}", table, seq_text, None)
            )
            return
        # The record decoded completely: its attribute values are in; add the row's bookkeeping columns.
        batch.overflow.append(overflow)
        batch.op.append(op)
        batch.seq.append(padded)
        batch.seq_original.append(seq_raw)
        batch.event_time.append(event_us)
        batch.ttl.append(ttl)
        batch.source.append("dynamodb:" + source_table)
        batch.record_index.append(index)
        if added or widened:
            self.result.changed_schemas.add(table)
            for column, _old_type in widened:
                self.result.widened.append((table, column.name, column.type.sql))

    def _stage(
        self, batch: _Batch, image: Mapping[str, Any]
    ) -> tuple[str | None, list[Column], list[tuple[Column, ColumnType]]]:
        """Append one record's attribute values to the batch's column lists, as row ``batch.rows``.

        All or nothing: on any error the lists are cut back, widened types restored and columns recorded
        for this record forgotten, then the error propagates.
        """
        if _stage_row is not None and _stage_row(image, batch.plan, batch.rows, self.spill_over):
            missing = _missing_key(batch, batch.rows)
            if missing is not None:
                for column_values in batch.values.values():
                    del column_values[batch.rows :]
                raise _Undecodable(missing)
            return None, [], []
        schema = batch.schema
        plan = batch.plan
        values = batch.values
        row = batch.rows
        overflow: list[tuple[str, str]] | None = None
        spill = self.spill_over
        added: list[Column] = []
        widened: list[tuple[Column, ColumnType]] = []
        truncated = 0
        try:
            for attribute, av in image.items():
                try:
                    ((tag, value),) = av.items()
                except (AttributeError, ValueError):
                    raise _Undecodable(
                        f"attribute {str(attribute)[:60]!r} is not a DynamoDB AttributeValue"
                    ) from None
                entry = plan.get(attribute)
                if entry is None:
                    column = schema.by_attribute.get(attribute)
                    if column is None:
                        if tag not in _KNOWN_TAGS:
                            raise _Undecodable(
                                f"attribute {str(attribute)[:60]!r}: unknown DynamoDB type tag {str(tag)[:40]!r}"
                            )
                        if type(attribute) is not str:
                            raise _Undecodable("attribute name is not a string")
                        _utf8_length(attribute)
                        new_type = _infer_type(tag, value)
                        if new_type is None:  # NULL: no column until the attribute has a value
                            continue
                        column = schema.add(attribute, new_type)
                        added.append(column)
                    entry = plan[attribute] = _plan_entry(column, values.setdefault(column.name, []))
                column, column_values, convert, fast_tag, fast_check = entry
                try:
                    # Fast paths for the common cases; everything else (and every doubt) goes to `convert`.
                    if tag == fast_tag:
                        if fast_tag == "S":
                            if type(value) is str and len(value) <= fast_check and value.isascii():
                                converted = value
                            else:
                                converted = convert(column, tag, value)
                        elif fast_check(value):
                            converted = value
                        else:
                            converted = convert(column, tag, value)
                    elif fast_check is None and tag != "NULL":
                        converted = _super_text(tag, value)
                    else:
                        converted = convert(column, tag, value)
                except _Overflow as over:
                    if column.name in schema.primary_key:
                        raise _Undecodable(
                            f"primary key attribute {attribute!r} does not fit column type {column.type.sql}"
                        ) from None
                    widened_type = None if column.declared or tag != "N" else _widen(column, value)
                    if widened_type is None:
                        if overflow is None:
                            overflow = []
                        overflow.append((attribute, over.json_text))
                        continue
                    widened.append((column, column.type))
                    column.type = widened_type
                    plan[attribute] = _plan_entry(column, column_values)
                    converted = _CONVERT[widened_type.kind](column, tag, value)
                except _Truncated as cut:
                    if column.name in schema.primary_key:
                        # Truncated keys could collide: the record is quarantined instead.
                        raise _Undecodable(
                            f"primary key attribute {attribute!r} is longer than column type {column.type.sql}"
                        ) from None
                    converted = cut.prefix
                    if overflow is None:
                        overflow = []
                    overflow.append((attribute, _encode_str(value)))
                    truncated += 1
                except _Undecodable as exc:
                    raise _Undecodable(f"attribute {str(attribute)[:60]!r}: {exc}") from None
                if (
                    spill is not None
                    and fast_check is None
                    and converted is not None
                    and len(converted) * 4 > spill
                    and len(converted.encode("utf-8")) > spill
                ):
                    # A SUPER value larger than a warehouse can stage: it is spilled (see _overflow_text).
                    if overflow is None:
                        overflow = []
                    overflow.append((attribute, converted))
                    converted = None
                filled = len(column_values)
                if filled != row:
                    column_values.extend([None] * (row - filled))
                column_values.append(converted)
            missing = _missing_key(batch, row)
            if missing is not None:
                raise _Undecodable(missing)
        except BaseException:
            for column_values in values.values():
                del column_values[row:]
            for column, old_type in widened:
                column.type = old_type
            for column in reversed(added):
                schema.remove(column)
                del values[column.name]
            batch.plan = {a: _plan_entry(e[0], e[1]) for a, e in plan.items() if a in schema.by_attribute}
            raise
        if overflow:
            self.result.overflow_values += len(overflow) - truncated
            self.result.truncated_values += truncated
            return self._overflow_text(schema.table, overflow), added, widened
        return None, added, widened

    def _overflow_text(self, table: str, entries: list[tuple[str, str]]) -> str:
        """The ``_overflow`` JSON of one row.

        With a spill limit (the service uses Redshift's 65,535-byte VARCHAR, which is how the loader stages
        SUPER), the largest values are moved out until the object fits: each is stored whole as its own
        lake object, named by its SHA-256, and replaced by ``{"$oversize": {"key", "bytes", "sha256"}}``.
        """
        text = "{" + ",".join(_encode_str(a) + ":" + j for a, j in entries) + "}"
        limit = self.spill_over
        if limit is None or len(text) * 4 <= limit or len(text.encode("utf-8")) <= limit:
            return text
        sized = sorted(range(len(entries)), key=lambda i: len(entries[i][1]), reverse=True)
        entries = list(entries)
        for i in sized:
            attribute, value_json = entries[i]
            data = value_json.encode("utf-8")
            digest = hashlib.sha256(data).hexdigest()
            key = oversize_key(self.spill_prefix, table, digest)
            self.result.oversize[key] = data
            entries[i] = (
                attribute,
                json.dumps(
                    {"$oversize": {"key": key, "bytes": len(data), "sha256": digest}}, separators=(",", ":")
                ),
            )
            text = "{" + ",".join(_encode_str(a) + ":" + j for a, j in entries) + "}"
            if len(text.encode("utf-8")) <= limit:
                break
        return text

    # -- build ---------------------------------------------------------------------------------------

    def finish(self) -> DecodeResult:
        for table, batch in self.batches.items():
            if batch.rows == 0:
                continue
            arrow = self._build(batch)
            if arrow.num_rows == 0:
                continue
            self.result.tables[table] = TableBatch(
                table=table,
                arrow=with_lake_metadata(arrow, batch.schema),
                schema=batch.schema,
                sequence_numbers=list(batch.seq_original),
            )
        self.result.schemas = self.schemas
        self.result.rejects.sort(key=lambda r: r.index)
        return self.result

    def _build(self, batch: _Batch) -> pa.Table:
        while True:
            try:
                return _arrow_table(batch)
            except _BadRows as bad:
                self._drop_rows(batch, bad.rows, bad.reason)

    def _drop_rows(self, batch: _Batch, rows: set[int], reason: str) -> None:
        """Reject rows whose values Arrow refuses (text that is not valid Unicode) and keep the rest."""
        for row in sorted(rows):
            index = batch.record_index[row]
            self.result.rejects.append(
                Reject(
                    index,
                    self.records[index],
                    reason,
                    batch.schema.table,
                    batch.seq_original[row],
                    batch.event_time[row],
                )
            )
        n = batch.rows
        keep = [i for i in range(n) if i not in rows]

        def pick(values: list[Any]) -> list[Any]:
            if len(values) < n:
                values = values + [None] * (n - len(values))
            return [values[i] for i in keep]

        batch.values = {name: pick(vals) for name, vals in batch.values.items()}
        for attr in ("overflow", "op", "seq", "seq_original", "event_time", "ttl", "source", "record_index"):
            setattr(batch, attr, pick(getattr(batch, attr)))


class _Truncated(Exception):
    """Internal: a string longer than its VARCHAR; the column gets this prefix, ``_overflow`` the whole."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix


class _BadRows(Exception):
    def __init__(self, rows: set[int], reason: str) -> None:
        self.rows = rows
        self.reason = reason


# ------------------------------------------------------------------------------------------- converters


def _null_or_overflow(tag: str, value: Any) -> None:
    if tag == "NULL":
        return None
    raise _Overflow(_overflow_json(tag, value))


_PLAIN_SMALL_INT = re.compile(r"-?\d{1,18}", re.ASCII)


def _conv_varchar(column: Column, tag: str, value: Any) -> Any:
    if tag == "S":
        if type(value) is not str:
            raise _Undecodable("S value is not a string")
        if _utf8_length(value) > column.type.length:
            raise _Truncated(_truncate_utf8(value, column.type.length))
        return value
    if tag == "N":
        return _check_number(value)
    return _null_or_overflow(tag, value)


def _conv_bigint(column: Column, tag: str, value: Any) -> Any:
    if tag == "N":
        text = _check_number(value)
        if _PLAIN_SMALL_INT.fullmatch(text):
            return text
        shape = number_shape(text)
        if shape.fits_bigint():
            return shape.integer_text
        raise _Overflow(_encode_str(text))
    return _null_or_overflow(tag, value)


def _conv_decimal(column: Column, tag: str, value: Any) -> Any:
    if tag == "N":
        text = _check_number(value)
        shape = number_shape(text)
        if shape.fits_decimal(column.type.precision, column.type.scale):
            return text
        raise _Overflow(_encode_str(text))
    return _null_or_overflow(tag, value)


def _conv_double(column: Column, tag: str, value: Any) -> Any:
    if tag == "N":
        return _check_number(value)
    return _null_or_overflow(tag, value)


def _conv_boolean(column: Column, tag: str, value: Any) -> Any:
    if tag == "BOOL":
        if type(value) is not bool:
            raise _Undecodable("BOOL value is not a boolean")
        return value
    return _null_or_overflow(tag, value)


def _conv_varbyte(column: Column, tag: str, value: Any) -> Any:
    if tag == "B":
        data = _binary_bytes(value)
        if len(data) > column.type.length:
            raise _Overflow(_encode_str(_binary_text(value)))
        return data
    return _null_or_overflow(tag, value)


def _conv_super(column: Column, tag: str, value: Any) -> Any:
    if tag == "NULL":
        return None
    return _super_text(tag, value)


def _conv_timestamp(column: Column, tag: str, value: Any) -> Any:
    if tag == "S":
        text = _check_str(value)
        try:
            return _datetime_us(datetime.fromisoformat(text))
        except (ValueError, OverflowError):
            raise _Overflow(_encode_str(text)) from None
    if tag == "N":
        # Epoch seconds, as DynamoDB TTL attributes hold them.
        text = _check_number(value)
        shape = number_shape(text)
        if shape.scale <= 6 and shape.int_digits <= 11:
            return int(Decimal(text) * 1_000_000)
        raise _Overflow(_encode_str(text))
    return _null_or_overflow(tag, value)


def _decimal_pattern(precision: int, scale: int) -> re.Pattern[str]:
    """Plain-notation numbers that certainly fit DECIMAL(precision, scale) (others take the exact path)."""
    int_digits = precision - scale
    whole = "0" if int_digits == 0 else f"(?:0|[1-9]\\d{{0,{int_digits - 1}}})"
    frac = f"(?:\\.\\d{{1,{scale}}})?" if scale else ""
    return re.compile(f"-?{whole}{frac}", re.ASCII)


_FAST_BIGINT = re.compile(r"-?(?:0|[1-9]\d{0,17})", re.ASCII).fullmatch


def _plan_entry(column: Column, values: list[Any]) -> tuple[Column, list[Any], Any, str, Any]:
    """(column, value list, converter, fast tag, fast check) for the hot loop of ``_Decoder._stage``.

    The fast check is: for VARCHAR the string length that certainly fits (4 bytes per character); for
    numbers a C regex matching text that certainly fits; None for SUPER (every tag is JSON).
    """
    kind = column.type.kind
    convert = _CONVERT[kind]
    if kind == "VARCHAR":
        return column, values, convert, "S", column.type.length // 4
    if kind == "BIGINT":
        return column, values, convert, "N", _FAST_BIGINT
    if kind == "DECIMAL":
        return (
            column,
            values,
            convert,
            "N",
            _decimal_pattern(column.type.precision, column.type.scale).fullmatch,
        )
    if kind == "DOUBLE PRECISION":
        return column, values, convert, "N", _JSON_NUMBER.fullmatch
    if kind == "SUPER":
        return column, values, convert, "", None
    return column, values, convert, "\x00", _never


def _never(_value: Any) -> bool:
    return False


_CONVERT = {
    "VARCHAR": _conv_varchar,
    "BIGINT": _conv_bigint,
    "DECIMAL": _conv_decimal,
    "DOUBLE PRECISION": _conv_double,
    "BOOLEAN": _conv_boolean,
    "VARBYTE": _conv_varbyte,
    "SUPER": _conv_super,
    "TIMESTAMP": _conv_timestamp,
}

# ------------------------------------------------------------------------------------------ Arrow build

_STRING_CAST = {"BIGINT", "DECIMAL", "DOUBLE PRECISION"}
_TS = pa.timestamp("us", tz="UTC")


def _padded(values: list[Any], n: int) -> list[Any]:
    if len(values) < n:
        values.extend([None] * (n - len(values)))
    return values


def _string_array(values: list[Any], column: str) -> pa.Array:
    try:
        return pa.array(values, pa.string())
    except (UnicodeEncodeError, pa.ArrowException):
        bad = set()
        for i, v in enumerate(values):
            if v is not None:
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    bad.add(i)
        if not bad:
            raise
        raise _BadRows(bad, f"column {column!r}: text is not valid Unicode (lone surrogate)") from None


def _arrow_table(batch: _Batch) -> pa.Table:
    n = batch.rows
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for name, column in batch.schema.columns.items():
        values = _padded(batch.values.setdefault(name, []), n)
        kind = column.type.kind
        arrow_type = column.type.arrow()
        if kind in ("VARCHAR", "SUPER"):
            array = _string_array(values, name)
        elif kind in _STRING_CAST:
            array = pa.array(values, pa.string()).cast(arrow_type)
        else:
            array = pa.array(values, arrow_type)
        arrays.append(array)
        fields.append(pa.field(name, arrow_type))
    arrays += [
        _string_array(batch.overflow, OVERFLOW_COLUMN),
        pa.array(batch.op, pa.string()),
        pa.array(batch.seq, pa.string()),
        pa.array(batch.event_time, _TS),
        pa.array(batch.ttl, pa.bool_()),
        _string_array(batch.source, "_source"),
    ]
    fields += [
        pa.field(OVERFLOW_COLUMN, pa.string()),
        pa.field("_op", pa.string(), nullable=False),
        pa.field("_seq", pa.string(), nullable=False),
        pa.field("_event_time", _TS),
        pa.field("_ttl_expired", pa.bool_(), nullable=False),
        pa.field("_source", pa.string(), nullable=False),
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


# ------------------------------------------------------------------------------------------- public API


def decode_batch(
    records: list[Any],
    contracts: Contracts | None = None,
    schemas: Mapping[str, TableSchema] | None = None,
    *,
    spill_over: int | None = None,
    spill_prefix: str = "cdc/",
) -> DecodeResult:
    """Decode a batch, collecting undecodable records as :class:`Reject` instead of raising.

    ``schemas`` are the recorded schemas of the target tables (not modified; updated copies come back in
    ``result.schemas``, the changed ones named in ``result.changed_schemas``). With ``spill_over`` (bytes),
    no SUPER value or ``_overflow`` object in a row exceeds it: larger values are returned in
    ``result.oversize`` (lake key → JSON; see :func:`~thermocline.parquet.oversize_key`, under
    ``spill_prefix``) and referenced from ``_overflow``.
    """
    decoder = _Decoder(records, contracts, schemas, spill_over, spill_prefix)
    # Decoding allocates a great many short strings and tuples and creates no reference cycles. With the
    # cyclic collector on, each of its full passes re-walks every dict of the event (hundreds of thousands
    # for a 10,000-record batch) for nothing; pausing it during the batch is a measured 20-40% win.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for index, record in enumerate(records):
            decoder.add(index, record)
        return decoder.finish()
    finally:
        if collecting:
            gc.enable()


def decode_stream_records(
    records: list[dict[str, Any]] | Mapping[str, Any],
    contracts: Contracts | str | os.PathLike[str] | None = None,
) -> dict[str, pa.Table]:
    """Decode the ``Records`` of a Lambda DynamoDB Streams event into one Arrow table per target table.

    ``records`` is the event's ``Records`` list (the whole event is accepted too). ``contracts`` is a
    :class:`~thermocline.contracts.Contracts`, a path to contract YAML, or None for default routing.
    Each table holds lake rows: the item's attributes under safe column names, ``_overflow``, ``_op``,
    ``_seq``, ``_event_time``, ``_ttl_expired``, ``_source``; its schema metadata ``thermocline`` describes
    the columns (see docs/ingest.md). A record that cannot be decoded raises :class:`RecordDecodeError`.
    """
    if isinstance(records, Mapping):
        records = records.get("Records")  # type: ignore[assignment]
    if not isinstance(records, list):
        raise RecordDecodeError("expected the Records list of a DynamoDB Streams event")
    if isinstance(contracts, (str, os.PathLike)):
        contracts = load_contracts(contracts)
    result = decode_batch(records, contracts)
    if result.rejects:
        first = result.rejects[0]
        raise RecordDecodeError(
            f"record {first.index} (SequenceNumber {first.sequence_number}): {first.reason}"
            + (f" (and {len(result.rejects) - 1} more)" if len(result.rejects) > 1 else "")
        )
    return {table: batch.arrow for table, batch in result.tables.items()}


def _infer_type(tag: str, value: Any) -> ColumnType | None:
    if tag == "S":
        return VARCHAR
    if tag == "N":
        try:
            return infer_number_type(number_shape(_check_number(value)))
        except ValueError:
            raise _Undecodable(f"N value is not a number: {str(value)[:60]!r}") from None
    if tag == "BOOL":
        return BOOLEAN
    if tag == "B":
        return VARBYTE
    if tag == "NULL":
        return None
    return SUPER


def _widen(column: Column, value: Any) -> ColumnType | None:
    try:
        return widen_for_number(column.type, number_shape(_check_number(value)))
    except ValueError:
        return None


def _apply_contract(
    schema: TableSchema,
    route: Route | None,
    keys: Mapping[str, Any],
    image: Mapping[str, Any],
    conflicts: list[tuple[str, str, str, str]],
) -> bool:
    """Record key columns first, then the contract's declared columns; set PK/sort/dist. True if changed.

    A contract's ``primary_key`` is honoured even when it names attributes outside the record's ``Keys``:
    such an attribute is recorded from the item (typed by the contract or its first value), and a record
    that lacks it is quarantined (``_missing_key``), never merged on a NULL key."""
    changed = False
    for attribute, av in keys.items():
        if attribute not in schema.by_attribute:
            tag, value = _single(av)
            new_type = _infer_type(tag, value)
            if new_type is None:
                raise _Undecodable(f"key attribute {attribute!r} is NULL")
            declared = route.columns.get(attribute) if route else None
            schema.add(attribute, declared or new_type, declared=declared is not None)
            changed = True
    if route is not None:
        for attribute, type_ in route.columns.items():
            recorded = schema.by_attribute.get(attribute)
            if recorded is None:
                schema.add(attribute, type_, declared=True)
                changed = True
            elif recorded.type != type_:
                # The recorded type wins: files already in the lake and the warehouse table use it.
                conflicts.append((schema.table, recorded.name, recorded.type.sql, type_.sql))
    if not schema.primary_key:
        pk_attributes = (route.primary_key if route and route.primary_key else None) or list(keys)
        for attribute in pk_attributes:
            if attribute in schema.by_attribute:
                continue
            av = image.get(attribute)
            new_type = _infer_type(*_single(av)) if av is not None else None
            if new_type is None:
                raise _Undecodable(f"primary key attribute {attribute!r} is missing or NULL")
            schema.add(attribute, new_type)
        schema.primary_key = [schema.by_attribute[a].name for a in pk_attributes]
        changed = True
    if route is not None and not schema.sort_key and route.sort_key:
        schema.sort_key = [schema.by_attribute[a].name for a in route.sort_key if a in schema.by_attribute]
        changed = True
    if route is not None and schema.dist_key is None and route.dist_key in schema.by_attribute:
        schema.dist_key = schema.by_attribute[route.dist_key].name
        changed = True
    return changed
