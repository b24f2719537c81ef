"""Moved: ``thermocline.lake`` (``parquet``, ``metadata``, ``keys``). This alias goes away once nothing
imports it."""

from thermocline.lake.keys import cdc_key as lake_key
from thermocline.lake.keys import (
    export_lake_key,
    export_token,
    oversize_key,
    shard_token,
    snapshot_key,
    snapshot_stamp,
    utc_date,
)
from thermocline.lake.keys import record_quarantine_key as quarantine_key
from thermocline.lake.metadata import METADATA_KEY, lake_metadata, read_lake_metadata, with_lake_metadata
from thermocline.lake.parquet import COMPRESSION, split_by_event_date, to_parquet_bytes

__all__ = [
    "COMPRESSION",
    "METADATA_KEY",
    "export_lake_key",
    "export_token",
    "lake_key",
    "lake_metadata",
    "oversize_key",
    "quarantine_key",
    "read_lake_metadata",
    "shard_token",
    "snapshot_key",
    "snapshot_stamp",
    "split_by_event_date",
    "to_parquet_bytes",
    "utc_date",
    "with_lake_metadata",
]
