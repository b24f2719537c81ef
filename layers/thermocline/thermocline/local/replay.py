# ruff: noqa: S608 -- the ledger queries quote every value with sql_literal and every name with quote_ident
"""``thermocline replay``: captured Streams batches → StreamIngestFunction → lake → loader → DuckDB.

The summary is read from where the results are, not from what the functions answered: lake files from
the bucket and the warehouse's load ledger (loaded, quarantined with the reason, or not loaded at all),
quarantined records from the quarantine prefix (with their reasons), rows from the tables.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from thermocline.local.session import INGEST, LocalStack

__all__ = ["ReplaySummary", "replay"]

_LAKE_PREFIX = "cdc/"
_QUARANTINE_PREFIX = "quarantine/"
_FILE_QUARANTINE_PREFIX = "quarantine/load/"


@dataclass
class ReplaySummary:
    records: int = 0
    files: int = 0
    seconds: float = 0.0
    failed_records: list[str] = field(default_factory=list)  # "<file>: <sequence number>"
    lake_files: int = 0  # written by this run, or left unloaded by an earlier one
    loaded: int = 0  # of those, in the ledger as loaded
    quarantined_files: dict[str, str] = field(default_factory=dict)  # key → reason
    not_loaded: list[str] = field(default_factory=list)  # any lake file the ledger does not hold
    quarantined_records: dict[str, str] = field(default_factory=dict)  # quarantine key → reason
    rows: dict[str, int] = field(default_factory=dict)
    warehouse_url: str = ""

    @property
    def complete(self) -> bool:
        """Every record of this run reached the warehouse."""
        return not (
            self.failed_records or self.quarantined_files or self.not_loaded or self.quarantined_records
        )

    def lines(self) -> list[str]:
        out = [
            f"replayed {self.records} records from {self.files} files in {self.seconds:.1f}s into "
            f"{self.warehouse_url}",
            f"  lake files: {self.lake_files}, {self.loaded} loaded (ledger), "
            f"{len(self.quarantined_files)} quarantined, {len(self.not_loaded)} not loaded",
        ]
        out += [
            f"    quarantined file {key}: {reason}" for key, reason in sorted(self.quarantined_files.items())
        ]
        out += [f"    not loaded: {key}" for key in self.not_loaded]
        out.append(f"  records quarantined: {len(self.quarantined_records)}")
        out += [f"    {key}: {reason}" for key, reason in sorted(self.quarantined_records.items())]
        if self.failed_records:
            out.append(f"  records reported as failed: {', '.join(self.failed_records)}")
        out.append("  tables:" if self.rows else "  tables: none")
        out += [f"    {table}: {count} rows" for table, count in self.rows.items()]
        return out


def replay(local: LocalStack, events: list[tuple[Path, dict[str, Any]]]) -> ReplaySummary:
    """Ingest each event, drain the load queue into the warehouse, and summarise what landed where."""
    started = datetime.now(UTC)
    summary = ReplaySummary(files=len(events), warehouse_url=local.warehouse_url)
    for path, event in events:
        response = local.invoke(INGEST, event)
        summary.records += len(event["Records"])
        for failure in (response or {}).get("batchItemFailures") or []:
            summary.failed_records.append(f"{path}: {failure['itemIdentifier']}")
    local.load_drainer().drain()

    # The bucket holds this run's lake files and quarantined objects only, besides lake files earlier
    # runs left unloaded (lake_state.restore): everything listed here is this run's to account for.
    s3 = local.client("s3")
    bucket = local.resource("LakeBucket")
    lake_files: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.startswith(_LAKE_PREFIX) and key.endswith(".parquet"):
                lake_files.append(key)
            elif key.startswith(_QUARANTINE_PREFIX) and not key.startswith(_FILE_QUARANTINE_PREFIX):
                if key.endswith(".json"):
                    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                    summary.quarantined_records[key] = _reason(body)

    # Imported here, not at the top: the command imports this module before its moto server starts.
    from thermocline import warehouse

    ledger = local.ledger(lake_files)
    with contextlib.closing(warehouse.connect(local.warehouse_url, s3_client=s3)) as wh:
        summary.rows = _row_counts(wh)
    summary.lake_files = len(lake_files)
    summary.loaded = sum(1 for k in lake_files if ledger.get(k, ("", ""))[0] == "loaded")
    summary.quarantined_files = {
        k: ledger[k][1] for k in lake_files if ledger.get(k, ("", ""))[0] == "quarantined"
    }
    summary.not_loaded = sorted(k for k in lake_files if k not in ledger)
    summary.seconds = (datetime.now(UTC) - started).total_seconds()
    return summary


def _reason(body: bytes) -> str:
    try:
        return str(json.loads(body).get("reason"))
    except (ValueError, AttributeError):
        return "(unreadable quarantine object)"


def _row_counts(wh: Any) -> dict[str, int]:
    from thermocline.load.sql import BOOKKEEPING_SCHEMA, sql_literal
    from thermocline.names import quote_ident

    tables = wh.query(
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE table_schema NOT IN ('information_schema', 'pg_catalog', {sql_literal(BOOKKEEPING_SCHEMA)}) "
        "ORDER BY 2"
    ).rows
    return {
        name: int(wh.query(f"SELECT COUNT(*) FROM {quote_ident(schema)}.{quote_ident(name)}").rows[0][0])
        for schema, name in tables
    }
