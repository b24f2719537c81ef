"""Writing a decoded Streams batch's schemas and rejects to the lake (adapters: S3 through injected clients).

Shared by every producer of DynamoDB items: StreamIngestFunction, and the backfill from a table export
(whose items become stream records first). Where the lake files go stays the caller's decision.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from thermocline.concurrency import concurrently
from thermocline.contracts import Contracts
from thermocline.lake import keys as lake_keys
from thermocline.lake.quarantine import Quarantine
from thermocline.lake.schema_store import SchemaStore
from thermocline.lake.table_schema import TableSchema
from thermocline.lake.types import VARCHAR_MAX, SchemaError
from thermocline.observability import logger
from thermocline.sources.dynamodb_streams.decoder import DecodeResult, Reject, decode_batch
from thermocline.sources.dynamodb_streams.envelope import target_tables

__all__ = ["SchemaConflictError", "decode_and_record", "quarantine_reject"]

_SCHEMA_ATTEMPTS = 5


class SchemaConflictError(RuntimeError):
    """The recorded schema kept changing under us; the batch is retried."""


def decode_and_record(
    records: list[Any], contracts: Contracts, store: SchemaStore, lake_prefix: str
) -> DecodeResult:
    """Decode ``records`` on top of their tables' recorded schemas, recording changed schemas first.

    A schema another writer changed since it was read is re-read and the batch decoded again on top of it
    (at most a few times, then :class:`SchemaConflictError`: the caller retries the batch). Oversize values
    are named under ``lake_prefix`` (``lake.keys.oversize_key``). S3 errors propagate.
    """
    schemas: dict[str, TableSchema] = {}
    read: set[str] = set()

    def read_schemas() -> None:
        # Routing depends on the schemas (who owns a table), and may name a table whose schema is not
        # read yet (`my_table` belongs to another source: `my_table_2`): read until it names no new one.
        # Only a table recorded as another source's than routing assumed can change a route, so the batch
        # is routed again only then (a pass over every record).
        while True:
            owners: dict[str, str] = {}
            wanted = sorted(target_tables(records, contracts, schemas, owners=owners) - read)
            read.update(wanted)
            for table, loaded in zip(
                wanted, concurrently(functools.partial(_load, store), wanted), strict=True
            ):
                if loaded is not None:
                    schemas[table] = loaded
            if not any(_owned_by_another(schemas.get(t), owners.get(t)) for t in wanted):
                return

    read_schemas()
    for _attempt in range(_SCHEMA_ATTEMPTS):
        result = decode_batch(
            records,
            contracts,
            schemas,
            spill_over=VARCHAR_MAX,
            oversize_key=functools.partial(lake_keys.oversize_key, lake_prefix),
        )
        lost = []
        for table in sorted(result.changed_schemas):
            schema = result.schemas[table]
            if table in schemas and schema.same_as(schemas[table]):
                continue
            if store.save(schema):
                schemas[table] = schema.copy()
            else:
                lost.append(table)
        if not lost:
            for table in sorted(result.changed_schemas):
                logger.info("table schema recorded", table=table, columns=list(result.schemas[table].columns))
            return result
        for table in lost:
            reloaded = store.load(table)
            if reloaded is not None:
                schemas[table] = reloaded
        read_schemas()
        logger.info("schema changed concurrently, decoding again", tables=lost)
    raise SchemaConflictError(f"schema of {lost} kept changing")


def _load(store: SchemaStore, table: str) -> TableSchema | None:
    try:
        return store.load(table)
    except (SchemaError, ValueError, KeyError) as exc:
        raise SchemaConflictError(f"recorded schema of {table} is unreadable: {exc}") from exc


def _owned_by_another(schema: TableSchema | None, routed_owner: str | None) -> bool:
    return (
        schema is not None
        and bool(schema.source)
        and routed_owner is not None
        and schema.source != routed_owner
    )


def quarantine_reject(quarantine: Quarantine, reject: Reject, shard: str, today: datetime) -> bool:
    """Quarantine one reject; False (logged) when S3 refused, so the record is retried."""
    try:
        key = quarantine.record(
            reject.record,
            reject.reason,
            table=reject.table,
            date=lake_keys.utc_date(reject.event_time_us, today),
            shard=shard,
            sequence_number=reject.sequence_number,
        )
    except (ClientError, BotoCoreError, OSError) as exc:
        logger.warning("quarantine write failed", table=reject.table, error=str(exc))
        return False
    logger.error(
        "record quarantined",
        key=key,
        reason=reject.reason,
        table=reject.table,
        sequence_number=reject.sequence_number,
    )
    return True
