"""The batch loop on the C fast path: the state ``fastpath.decode_records`` reads, and the records it
hands back to the Python path.

C decodes every record it can decide, in order; each other record goes to ``_Decoder.add`` (the reference),
after which the state is refreshed for that record's source and warehouse table: the record that created
a table's batch, recorded a column or routed a source table for the first time makes the records after it
decidable in C. The state, as ``_speedups.c`` reads it:

* by ``eventSourceARN``: ``(source text, fixed target, contract routes, fallback)``
  (``envelope.refresh_arn_entry``);
* by warehouse table, its *sink*: the plan (``values.PlanEntry`` by attribute), the primary key columns'
  value lists, then the bookkeeping lists of ``batch._Batch`` in the order of :func:`_sink`;
* the converters' ``_Overflow`` and ``values._widen``: a value that cannot widen its column goes to the
  row's ``_overflow`` in C too (C counts them; a row whose ``_overflow`` needs spilling goes to Python).

Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from thermocline.sources.dynamodb_streams.batch import _Batch
from thermocline.sources.dynamodb_streams.envelope import refresh_arn_entry
from thermocline.sources.dynamodb_streams.values import _Overflow, _widen

if TYPE_CHECKING:
    from thermocline.sources.dynamodb_streams.decoder import _Decoder

__all__ = ["run"]


def _sink(batch: _Batch) -> tuple[Any, ...] | None:
    keys = tuple(batch.values.get(name) for name in batch.schema.primary_key)
    if any(values is None for values in keys):
        return None
    return (
        batch.plan,
        keys,
        batch.overflow,
        batch.op,
        batch.seq,
        batch.seq_original,
        batch.event_time,
        batch.ttl,
        batch.source,
        batch.record_index,
    )


def run(decoder: _Decoder, decode_records: Callable[[list[Any], list[Any]], None]) -> None:
    """Decode ``decoder.records`` (a list) with ``decode_records``, deferring to ``decoder.add``."""
    arn_routes: dict[str, tuple[Any, ...]] = {}
    sinks: dict[str, tuple[Any, ...]] = {}

    def defer(index: int, record: Any) -> None:
        table = decoder.add(index, record)
        if table is not None:
            batch = decoder.batches.get(table)
            sink = None if batch is None else _sink(batch)
            if sink is None:
                sinks.pop(table, None)
            else:
                sinks[table] = sink
        refresh_arn_entry(arn_routes, decoder.router, record)

    state: list[Any] = [arn_routes, sinks, None, decoder.spill_over, defer, _Overflow, _widen, 0]
    decode_records(decoder.records, state)
    decoder.result.overflow_values += state[7]
    oldest, known = state[2], decoder.result.oldest_event_us
    if oldest is not None and (known is None or oldest < known):
        decoder.result.oldest_event_us = oldest
