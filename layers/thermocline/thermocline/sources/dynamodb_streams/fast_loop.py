"""The batch loop on the C fast path: the state ``fastpath.decode_records`` reads, and the records it
hands back to the Python path.

C decodes every record it can decide, in order; each other record goes to ``_Decoder.add`` (the reference),
after which the state is refreshed for that record's source and warehouse table. The first record of a
source table or of a warehouse table is opened by the Python path (``_Decoder.open``: routed, its table's
batch made) and then decided in C; a record that recorded a column or widened one in the Python path
makes the records after it decidable in C too. The state, as ``_speedups.c`` reads it:

* by ``eventSourceARN``: ``(source text, fixed target, contract routes, fallback)``
  (``envelope.refresh_arn_entry``);
* by warehouse table, its *sink*: the plan (``values.PlanEntry`` by attribute), the primary key columns'
  value lists, then the bookkeeping lists of ``batch._Batch`` in the order of :func:`_sink` (the column
  buffers of ``_seq`` and ``_event_time`` in their places: C writes those two there);
* the converters' ``_Overflow`` and ``values._widen``: a value that cannot widen its column goes to the
  row's ``_overflow`` in C too (C counts them; a row whose ``_overflow`` needs spilling goes to Python);
* ``open_table(index, record)``: a record C could decide but that is the first of its source table (no
  routes yet) or of its warehouse table (no sink yet) is read, routed and its table's batch opened by the
  Python path's own code (``_Decoder.open``), and C decides it then; a record the Python path rejects
  there is done;
* ``new_column(table, attribute, tag, value)``: an attribute the table's plan lacks is recorded here, by
  the Python path's own code (``staging.first_type``/``add_column``), and C stages the record on; then
  ``settle(table, staged)`` keeps the columns (the schema changed) or forgets them (C left the record to
  the Python path, which decides it whole).

Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from thermocline.lake.columns import MAX_ATTRIBUTE_COLUMNS
from thermocline.lake.table_schema import Column
from thermocline.sources.dynamodb_streams.batch import _Batch
from thermocline.sources.dynamodb_streams.envelope import refresh_arn_entry
from thermocline.sources.dynamodb_streams.errors import RecordDecodeError
from thermocline.sources.dynamodb_streams.staging import add_column, first_type, forget_column
from thermocline.sources.dynamodb_streams.values import _Overflow, _widen

if TYPE_CHECKING:
    from thermocline.sources.dynamodb_streams.decoder import _Decoder

__all__ = ["run"]


def _sink(batch: _Batch) -> tuple[Any, ...] | None:
    keys = tuple(batch.values.get(name) for name in batch.schema.primary_key)
    seq, event_time = batch.buffers.get("_seq"), batch.buffers.get("_event_time")
    if any(values is None for values in keys) or seq is None or event_time is None:
        return None
    return (
        batch.plan,
        keys,
        batch.overflow,
        batch.op,
        seq,
        batch.seq_original,
        event_time,
        batch.ttl,
        batch.source,
        batch.record_index,
    )


def run(decoder: _Decoder, decode_records: Callable[[list[Any], list[Any]], None]) -> None:
    """Decode ``decoder.records`` (a list) with ``decode_records``, deferring to ``decoder.add``."""
    from thermocline.sources.dynamodb_streams.decoder import Reject  # decoder imports this module

    arn_routes: dict[str, tuple[Any, ...]] = {}
    sinks: dict[str, tuple[Any, ...]] = {}

    def refresh(table: str | None, record: Any) -> None:
        if table is not None:
            batch = decoder.batches.get(table)
            sink = None if batch is None else _sink(batch)
            if sink is None:
                sinks.pop(table, None)
            else:
                sinks[table] = sink
        refresh_arn_entry(arn_routes, decoder.router, record)

    def defer(index: int, record: Any) -> None:
        refresh(decoder.add(index, record), record)

    def open_table(index: int, record: Any) -> bool:
        """Route a record C could decide but for its source's routes or its table's batch (the first
        record of either), as the Python path does, opening the batch. True: C stages it now (or defers it
        after all); False: the Python path rejected it."""
        opened = decoder.open(index, record)
        rejected = type(opened) is Reject
        refresh(opened.table, record)
        return not rejected

    added: list[tuple[_Batch, Column]] = []

    def new_column(table: str, attribute: str, tag: Any, value: Any) -> Any:
        """The plan entry of a column recorded for ``attribute``; False: NULL, no column (as the Python
        path skips it); None: the Python path decides the record (a table at the column limit, anything
        it would reject)."""
        batch = decoder.batches.get(table)
        if batch is None or attribute in batch.schema.by_attribute:
            return None
        try:
            new_type = first_type(attribute, tag, value)
        except (RecordDecodeError, AttributeError, TypeError, ValueError, RecursionError):
            return None
        if new_type is None:
            return False
        if len(batch.schema.columns) >= MAX_ATTRIBUTE_COLUMNS:
            return None
        added.append((batch, add_column(batch, attribute, new_type)))
        return batch.plan[attribute]

    def settle(table: str, staged: bool) -> None:
        if staged:
            decoder.result.changed_schemas.add(table)
        else:
            for batch, column in reversed(added):
                forget_column(batch, column)
        added.clear()

    state: list[Any] = [
        arn_routes,
        sinks,
        None,
        decoder.spill_over,
        defer,
        _Overflow,
        _widen,
        0,
        new_column,
        settle,
        open_table,
    ]
    decode_records(decoder.records, state)
    decoder.result.overflow_values += state[7]
    oldest, known = state[2], decoder.result.oldest_event_us
    if oldest is not None and (known is None or oldest < known):
        decoder.result.oldest_event_us = oldest
