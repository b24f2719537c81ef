"""Every object key layout of the lake bucket, in one place.

Each function takes its prefix (from the function's settings: ``LAKE_PREFIX``, ``QUARANTINE_PREFIX``, ...)
and returns a key; nothing else in the package spells a key. Pure. The layouts (docs/architecture.md,
"Lake files"):

=====================================================================  ==========================================
``cdc/<table>/dt=YYYY-MM-DD/<shard>-<first-seq>-<last-seq>.parquet``   CDC lake files (:func:`cdc_key`)
``cdc/<table>/dt=YYYY-MM-DD/x<export>-<file>-<chunk>.parquet``         rows of a DynamoDB table export (:func:`export_lake_key`)
``snapshot/<table>/at=<stamp>/<export-id>/part-<n>.parquet``          RDS/Aurora snapshot export parts (:func:`snapshot_key`)
``cdc/<table>/_oversize/<sha256>.json``                                values too large for a row (:func:`oversize_key`)
``_schemas/<table>.json``                                              recorded table schemas (:func:`schema_key`)
``quarantine/<table>/dt=YYYY-MM-DD/<shard>-<seq>.json``                undecodable records (:func:`record_quarantine_key`)
``quarantine/load/<lake key>`` and ``<...>.error.json``                unloadable lake files (:func:`file_quarantine_key`)
``_manifests/<table>/<load-id>.manifest``                              COPY manifests (:func:`manifest_key`)
``_conformed/<lake key>``                                              a lake file conformed to the warehouse (:func:`conformed_key`)
=====================================================================  ==========================================

A new source adds its layouts here, beside these.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

__all__ = [
    "cdc_key",
    "conformed_key",
    "export_lake_key",
    "export_token",
    "file_quarantine_error_key",
    "file_quarantine_key",
    "is_lake_file",
    "manifest_key",
    "oversize_key",
    "record_quarantine_key",
    "schema_key",
    "shard_token",
    "snapshot_key",
    "snapshot_stamp",
    "table_folder",
    "utc_date",
]

LAKE_FILE_SUFFIX = ".parquet"


def _prefix(prefix: str) -> str:
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def shard_token(event_source_arn: str) -> str:
    """A stable, key-safe stand-in for the shard id.

    Lambda does not tell the function which shard a batch came from; one invocation holds records of one
    shard of one stream, and sequence numbers do not repeat within a stream, so the stream ARN (hashed)
    plus the sequence range identifies the batch.
    """
    return "s" + hashlib.sha256(event_source_arn.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def utc_date(epoch_us: int | None, default: datetime) -> str:
    """The ``dt=`` partition of an event time (epoch microseconds), or of ``default`` when it has none."""
    if epoch_us is None:
        return default.astimezone(UTC).strftime("%Y-%m-%d")
    return datetime.fromtimestamp(epoch_us / 1_000_000, tz=UTC).strftime("%Y-%m-%d")


def cdc_key(prefix: str, table: str, date: str, shard: str, first_seq: str, last_seq: str) -> str:
    """``cdc/<table>/dt=YYYY-MM-DD/<shard>-<first-seq>-<last-seq>.parquet`` (sequence numbers padded).

    A pure function of the batch: a retried batch overwrites its own file instead of adding a duplicate.
    """
    return f"{_prefix(prefix)}{table}/dt={date}/{shard}-{first_seq}-{last_seq}{LAKE_FILE_SUFFIX}"


def export_lake_key(prefix: str, table: str, date: str, export_arn: str, file_index: int, chunk: int) -> str:
    """``cdc/<table>/dt=YYYY-MM-DD/x<export-token>-<file>-<chunk>.parquet`` for rows of a table export.

    A pure function of the export and the chunk of its data file, so a chunk written again after an
    interruption overwrites its own file.
    """
    token = export_token(export_arn)
    return f"{_prefix(prefix)}{table}/dt={date}/{token}-{file_index:06d}-{chunk:06d}{LAKE_FILE_SUFFIX}"


def export_token(export_arn: str) -> str:
    """The name part every lake file of one export shares (``x`` and 12 hex digits)."""
    return "x" + hashlib.sha256(export_arn.encode("utf-8")).hexdigest()[:12]


def snapshot_stamp(snapshot_time: datetime) -> str:
    """``YYYYMMDDTHHMMSSffffffZ``: fixed width, so text order is time order (the newest applied export
    of a table is the largest key in the ledger)."""
    return snapshot_time.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def snapshot_key(prefix: str, table: str, snapshot_time: datetime, export_id: str, index: int) -> str:
    """``snapshot/<table>/at=<stamp>/<export-id>/part-<index>.parquet``: one lake file per exported part.

    A pure function of the export, so a retried export rewrites its own files.
    """
    return f"{_prefix(prefix)}{table}/at={snapshot_stamp(snapshot_time)}/{export_id}/part-{index:05d}.parquet"


def is_lake_file(key: str, prefix: str) -> bool:
    """Whether an object key names a lake file the loader loads (not an oversize value, not a schema)."""
    return key.startswith(prefix) and key.endswith(LAKE_FILE_SUFFIX)


def table_folder(key: str, prefix: str) -> str:
    """The ``<table>`` folder a lake key sits in under ``prefix`` ("" when it is not under it): the only
    table a file's rows may be loaded into, whatever its metadata says."""
    return key[len(prefix) :].split("/", 1)[0] if key.startswith(prefix) else ""


def oversize_key(prefix: str, table: str, sha256: str) -> str:
    """``cdc/<table>/_oversize/<sha256>.json``: a value too large for a warehouse row, stored whole.

    Beside the table's lake files, in a folder Athena, Spectrum and Hive skip (leading ``_``), and not a
    ``.parquet`` object, so the loader's discovery never sees it.
    """
    return f"{_prefix(prefix)}{table}/_oversize/{sha256}.json"


def schema_key(prefix: str, table: str) -> str:
    """``_schemas/<table>.json``: the recorded attribute→column mapping of one warehouse table."""
    return f"{_prefix(prefix)}{table}.json"


def record_quarantine_key(prefix: str, table: str | None, date: str, shard: str, seq: str) -> str:
    """``quarantine/<table-or-unknown>/dt=YYYY-MM-DD/<shard>-<seq>.json``: one undecodable record."""
    return f"{_prefix(prefix)}{table or 'unknown'}/dt={date}/{shard}-{seq}.json"


def file_quarantine_key(prefix: str, lake_key: str) -> str:
    """``quarantine/load/<lake key>``: the copy of a lake file the loader could not load."""
    return f"{prefix.rstrip('/')}/load/{lake_key}"


def file_quarantine_error_key(prefix: str, lake_key: str) -> str:
    """``quarantine/load/<lake key>.error.json``: why that file could not be loaded."""
    return file_quarantine_key(prefix, lake_key) + ".error.json"


def conformed_key(lake_key: str) -> str:
    """``_conformed/<lake key>``: a copy of a lake file conformed to the warehouse's column types, beside
    the lake and outside the notified prefix."""
    return f"_conformed/{lake_key}"


def manifest_key(prefix: str, table: str, load_id: str) -> str:
    """Where a load's COPY manifest is written: outside ``cdc/`` so it never triggers a load notification."""
    return f"{prefix.rstrip('/')}/{table}/{load_id}.manifest"
