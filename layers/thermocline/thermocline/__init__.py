"""Thermocline: DynamoDB Streams and Aurora exports to a Parquet lake and Amazon Redshift, exactly once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["decode_stream_records"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    import pyarrow as pa

    from thermocline.contracts import Contracts


def decode_stream_records(
    records: list[dict[str, Any]], contracts: Contracts | None = None
) -> dict[str, pa.Table]:
    """Decode the ``Records`` of a Lambda DynamoDB Streams event into one Arrow table per target table."""
    from thermocline.sources.dynamodb_streams import decode_stream_records as _decode

    return _decode(records, contracts)
