"""DynamoDB Streams → lake rows: the decoder behind StreamIngestFunction.

Modules, in the order a record passes through them: ``envelope`` (source table, operation, sequence
number, event time, keys), routing (``thermocline.contracts.Router``), ``staging`` (the item image into
its table's column lists), ``values`` (attribute values → column values; the plan-entry interface),
``super_json`` (maps, lists and sets as exact JSON), ``batch`` (Arrow build), ``decoder`` (the batch as a
whole). ``fastpath`` loads the C fast path (``_speedups.c``) that mirrors ``staging`` and ``super_json``.
"""

from __future__ import annotations

from thermocline.sources.dynamodb_streams.decoder import (
    DecodeResult,
    Reject,
    TableBatch,
    decode_batch,
    decode_stream_records,
)
from thermocline.sources.dynamodb_streams.envelope import (
    pad_sequence_number,
    source_table_name,
    target_tables,
)
from thermocline.sources.dynamodb_streams.errors import RecordDecodeError
from thermocline.sources.dynamodb_streams.super_json import av_to_json

__all__ = [
    "DecodeResult",
    "RecordDecodeError",
    "Reject",
    "TableBatch",
    "av_to_json",
    "decode_batch",
    "decode_stream_records",
    "pad_sequence_number",
    "source_table_name",
    "target_tables",
]
