"""Moved: ``thermocline.sources.dynamodb_streams``. This alias goes away once nothing imports it."""

from thermocline.lake.columns import SEQ_WIDTH
from thermocline.sources.dynamodb_streams import (
    DecodeResult,
    RecordDecodeError,
    Reject,
    TableBatch,
    av_to_json,
    decode_batch,
    decode_stream_records,
    pad_sequence_number,
    source_table_name,
    target_tables,
)

__all__ = [
    "SEQ_WIDTH",
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
