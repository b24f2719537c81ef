"""Lambda DynamoDB Streams records → lake rows → one ``pyarrow.Table`` per warehouse table.

Pure: no boto3, no I/O. The service (``services/stream_ingest.py``) feeds it the recorded table schemas,
persists the ones it changes and decides where everything is written; :func:`decode_stream_records` is
the public, stand-alone entry point.

Per record: the envelope (``envelope``), the route (``thermocline.contracts.Router``), then the item
image staged into its table's batch (``staging``, with ``values`` converting and ``super_json``
encoding). A record is all or nothing: one that fails halfway is cut back out of the column lists, with
any column it recorded or widened undone; it becomes a :class:`Reject` and the rest of the batch goes
on. At the end each batch becomes Arrow (``batch``) carrying the lake metadata.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pyarrow as pa

from thermocline.contracts import Contracts, DeadRoute, Route, Router, load_contracts
from thermocline.lake.columns import SEQ_WIDTH
from thermocline.lake.table_schema import TableSchema
from thermocline.sources.dynamodb_streams import fast_loop, fastpath
from thermocline.sources.dynamodb_streams.batch import (
    _arrow_table,
    _BadRows,
    _Batch,
    _Unholdable,
    move_to_overflow,
)
from thermocline.sources.dynamodb_streams.envelope import (
    _OPS,
    MAX_EPOCH_S,
    MIN_EPOCH_S,
    _event_time_us,
    _is_ttl_delete,
    _keys_of,
    pad_sequence_number,
    source_table_name,
)
from thermocline.sources.dynamodb_streams.errors import RecordDecodeError
from thermocline.sources.dynamodb_streams.staging import _apply_contract, stage_record
from thermocline.sources.dynamodb_streams.super_json import overflow_object
from thermocline.sources.dynamodb_streams.values import _plan_entry

__all__ = ["DecodeResult", "Reject", "TableBatch", "decode_batch", "decode_stream_records"]


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
    # Contract routes that can never match a source table of the batch (``Router.dead_routes``).
    dead_routes: list[DeadRoute] = field(default_factory=list)


class _Opened(NamedTuple):
    """A record :meth:`_Decoder.open` read and routed, and its table's batch: what staging it needs."""

    table: str
    batch: _Batch
    image: dict[str, Any]
    op: str
    padded: str  # the SequenceNumber padded for sorting (``_seq``)
    seq_raw: Any
    seq_text: str | None
    event_us: int | None
    ttl: bool
    source_table: str


class _Decoder:
    """The state of one batch while it decodes."""

    def __init__(
        self,
        records: list[Any],
        contracts: Contracts | None,
        schemas: Mapping[str, TableSchema] | None,
        spill_over: int | None = None,
        oversize_key: Callable[[str, str], str] | None = None,
    ) -> None:
        if spill_over is not None and oversize_key is None:
            raise ValueError("spill_over needs oversize_key: the caller decides where oversize values go")
        self.records = records
        self.spill_over = spill_over
        self.oversize_key = oversize_key
        self.router = Router(contracts, schemas)
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
            raise RecordDecodeError(
                f"warehouse table {table!r} already holds {schema.source}; route elsewhere"
            )
        changed = _apply_contract(schema, route, keys, image, self.result.contract_conflicts)
        if changed:
            self.result.changed_schemas.add(table)
        batch = self.batches[table] = _Batch(schema=schema, route=route)
        for name, column in schema.columns.items():
            batch.plan[column.attribute] = _plan_entry(
                column, batch.values.setdefault(name, []), batch.buffer_for(name)
            )
        return batch

    # -- one record ---------------------------------------------------------------------------------

    def open(self, index: int, record: Any) -> _Opened | Reject:
        """The first half of :meth:`add`: read the envelope, route the record and open its table's batch
        (recording the table's schema and key columns). Returns what staging needs, or the record's
        :class:`Reject` (already recorded). Opening a record again changes nothing more: the C fast path
        opens a table's first record here and stages it itself, or hands it to :meth:`add` after all."""
        table: str | None = None
        seq_text: str | None = None
        event_us: int | None = None
        try:
            if type(record) is not dict:
                raise RecordDecodeError("record is not an object")
            body = record.get("dynamodb")
            keys = _keys_of(record)
            seq_raw = body.get("SequenceNumber")
            seq_text = seq_raw if isinstance(seq_raw, str) else None
            op = _OPS.get(record.get("eventName"))  # type: ignore[arg-type]
            if op is None:
                raise RecordDecodeError(f"unknown eventName {str(record.get('eventName'))[:40]!r}")
            if type(seq_raw) is str and seq_raw.isdigit() and seq_raw.isascii() and len(seq_raw) <= SEQ_WIDTH:
                padded = seq_raw.rjust(SEQ_WIDTH, "0")
            else:
                padded = pad_sequence_number(seq_raw)
            when = body.get("ApproximateCreationDateTime")
            event_us = (
                when * 1_000_000
                if type(when) is int and MIN_EPOCH_S <= when <= MAX_EPOCH_S
                else _event_time_us(when)
            )
            if event_us is not None and (
                self.result.oldest_event_us is None or event_us < self.result.oldest_event_us
            ):
                self.result.oldest_event_us = event_us
            source_table = source_table_name(record)
            table, route, owner = self.router.route(source_table, keys)
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
                    raise RecordDecodeError(
                        f"{record.get('eventName')} record has no NewImage (stream view type {view}); "
                        "replicate from a NEW_IMAGE or NEW_AND_OLD_IMAGES stream"
                    )
            if type(image) is not dict:
                raise RecordDecodeError("item image is not a map")
            if op == "D" and image is not keys:
                # An old image normally holds the key attributes; a delete row must always have them.
                missing = {k: v for k, v in keys.items() if k not in image}
                if missing:
                    image = {**image, **missing}
            elif any(k not in image for k in keys):
                # Keys are authoritative; a new image lacking one would become a row without its key.
                image = {**image, **{k: v for k, v in keys.items() if k not in image}}
            batch = self._batch_for(table, route, keys, image, owner)
        except (RecordDecodeError, AttributeError, TypeError, ValueError, RecursionError) as exc:
            return self._reject(index, record, exc, table, seq_text, event_us)
        return _Opened(table, batch, image, op, padded, seq_raw, seq_text, event_us, ttl, source_table)

    def add(self, index: int, record: Any) -> str | None:
        """Decode one record into its table's batch, or reject it; returns the table it routed to."""
        opened = self.open(index, record)
        if type(opened) is Reject:
            return opened.table
        table, batch, image, op, padded, seq_raw, seq_text, event_us, ttl, source_table = opened
        try:
            staged = stage_record(batch, image, self.spill_over)
            overflow = None
            if staged.overflow:
                self.result.overflow_values += len(staged.overflow) - staged.truncated
                self.result.truncated_values += staged.truncated
                overflow = overflow_object(
                    staged.overflow,
                    self.spill_over,
                    batch.schema.table,
                    self.oversize_key,
                    self.result.oversize,
                )
            added, widened = staged.added, staged.widened
        except (RecordDecodeError, AttributeError, TypeError, ValueError, RecursionError) as exc:
            self._reject(index, record, exc, table, seq_text, event_us)
            return table
        # The record decoded completely: its attribute values are in; add the row's bookkeeping columns.
        batch.overflow.append(overflow)
        _put(batch.seq, batch.rows, padded)  # C writes the rows it decodes into the column buffer
        batch.seq_original.append(seq_raw)
        _put(batch.event_time, batch.rows, event_us)
        batch.ttl.append(ttl)
        batch.source.append("dynamodb:" + source_table)
        batch.record_index.append(index)
        batch.op.append(op)  # last: batch.rows is the length of this list
        if added or widened:
            self.result.changed_schemas.add(table)
            for column, _old_type in widened:
                self.result.widened.append((table, column.name, column.type.sql))
        return table

    def _reject(
        self,
        index: int,
        record: Any,
        exc: Exception,
        table: str | None,
        seq_text: str | None,
        event_us: Any,
    ) -> Reject:
        """Record why ``record`` could not be decoded: the decoder's own error with the record's event
        time; anything a malformed record raised otherwise without it."""
        if isinstance(exc, RecordDecodeError):
            reason = str(exc)
            when = event_us if isinstance(event_us, int) else None
        elif isinstance(exc, RecursionError):
            # Far deeper than DynamoDB's 32 levels: only a hand-made or corrupted record nests like this.
            reason, when = "value nested too deep to decode", None
        else:
            reason, when = f"malformed record: {exc}", None
        reject = Reject(index, record, reason, table, seq_text, when)
        self.result.rejects.append(reject)
        return reject

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
                arrow=arrow,
                schema=batch.schema,
                sequence_numbers=list(batch.seq_original),
            )
        self.result.schemas = self.schemas
        self.result.dead_routes = self.router.dead_routes
        self.result.rejects.sort(key=lambda r: r.index)
        return self.result

    def _build(self, batch: _Batch) -> pa.Table:
        while True:
            try:
                return _arrow_table(batch)
            except _BadRows as bad:
                self._drop_rows(batch, bad.rows, bad.reason)
            except _Unholdable as found:
                if found.column in batch.schema.primary_key:
                    attribute = batch.schema.columns[found.column].attribute
                    self._drop_rows(
                        batch, set(found.rows), f"primary key attribute {attribute!r}: {found.reason}"
                    )
                else:
                    self.result.overflow_values += move_to_overflow(batch, found)

    def _drop_rows(self, batch: _Batch, rows: set[int], reason: str) -> None:
        """Reject rows whose values Arrow refuses (text that is not valid Unicode) and keep the rest."""
        batch.unbuffer()
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


def _put(values: list[Any], row: int, value: Any) -> None:
    """``value`` as row ``row`` of a bookkeeping list that C's rows left short (they are in a buffer)."""
    if len(values) < row:
        values.extend([None] * (row - len(values)))
    values.append(value)


def decode_batch(
    records: list[Any],
    contracts: Contracts | None = None,
    schemas: Mapping[str, TableSchema] | None = None,
    *,
    spill_over: int | None = None,
    oversize_key: Callable[[str, str], str] | None = None,
) -> DecodeResult:
    """Decode a batch, collecting undecodable records as :class:`Reject` instead of raising.

    ``schemas`` are the recorded schemas of the target tables (not modified; updated copies come back in
    ``result.schemas``, the changed ones named in ``result.changed_schemas``). With ``spill_over`` (bytes),
    no SUPER value or ``_overflow`` object in a row exceeds it: larger values are returned in
    ``result.oversize`` and referenced from ``_overflow`` under the key ``oversize_key(table, sha256)``
    gives (the caller's layout, e.g. :func:`thermocline.lake.keys.oversize_key`).
    """
    decoder = _Decoder(records, contracts, schemas, spill_over, oversize_key)
    # Decoding allocates a great many short strings and tuples and creates no reference cycles. With the
    # cyclic collector on, each of its full passes re-walks every dict of the event (hundreds of thousands
    # for a 10,000-record batch) for nothing; pausing it during the batch is a measured 20-40% win.
    collecting = gc.isenabled()
    gc.disable()
    try:
        decode_records = fastpath.decode_records
        if decode_records is not None and type(records) is list:
            fast_loop.run(decoder, decode_records)
        else:
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
