# ruff: noqa: S608 -- identifiers go through quote_ident, the one value through a bound parameter.
"""Reconcile the warehouse with a DynamoDB table, from a fresh export of the table (never a scan of it).

The export's items are decoded with the stream's decoder and the table contracts into the rows each
warehouse table must hold; the warehouse's rows from the same source (``_source``) are read and compared
by primary key and value. Per warehouse table the report counts rows *missing* from the warehouse,
*extra* rows the table does not have, rows whose values *differ*, keys held *twice*, and rows *excluded*:
changed after the export time (their warehouse version, row or tombstone, is from the stream at or after
the export time minus the seam margin), so neither side can be compared with the other.

Memory holds one normalised tuple per expected row; a data file is read in chunks.
The report and the one representation per value it compares are ``thermocline/reconciliation.py``.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from thermocline.contracts import Contracts
from thermocline.lake import keys as lake_keys
from thermocline.lake.columns import TARGET_COLUMNS
from thermocline.lake.schema_store import SchemaStore
from thermocline.lake.table_schema import TableSchema
from thermocline.lake.types import VARCHAR_MAX
from thermocline.load.sql import (
    BOOKKEEPING_SCHEMA,
    SEAM_MARGIN_SECONDS,
    table_columns_sql,
    tombstone_table,
)
from thermocline.names import qualified_name, quote_ident, table_identifier
from thermocline.observability import logger
from thermocline.reconciliation import EXAMPLES, Reconciliation, TableDiff, key_text, normalise, show
from thermocline.runtime import Runtime
from thermocline.services.backfill import export_plan, table_contracts
from thermocline.settings import ReconcileSettings
from thermocline.sources.dynamodb_export import ExportSummary, to_stream_records
from thermocline.sources.dynamodb_export.exports import Exports, ExportStatus
from thermocline.sources.dynamodb_export.progress import Plan
from thermocline.sources.dynamodb_export.reader import read_chunks
from thermocline.sources.dynamodb_streams import decode_batch

__all__ = [
    "Reconciliation",
    "TableDiff",
    "expected_rows",
    "handle_reconcile_event",
    "reconcile_export",
    "reconcile_warehouse",
]

_TARGET_NAMES = frozenset(c.name for c in TARGET_COLUMNS)


# --- the export's side -----------------------------------------------------------------------------------


@dataclass
class Expected:
    schemas: dict[str, TableSchema]
    rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]]  # table -> key -> column -> normalised value
    undecodable: int = 0
    # The warehouse tables the source table routes to (even those the export leaves empty); None: every
    # table with a schema.
    tables: set[str] | None = None


def routed_tables(
    contracts: Contracts, source_table: str, schemas: Mapping[str, TableSchema] | None = None
) -> set[str]:
    """Every warehouse table the source table's items can land in: its contract's routes and unmatched
    table, or its default table — the one its recorded schema names as its own (default routing may have
    named it ``<name>_2`` or ``src_<name>``: docs/ingest.md), else the default name. Read even when the
    export holds none of its items, so rows left behind there are found."""
    owned = {t for t, s in (schemas or {}).items() if s.source == f"dynamodb:{source_table}"}
    default = owned or {table_identifier(source_table)}
    contract = contracts.for_table(source_table)
    if contract is None:
        return default
    return {r.target for r in contract.routes} | ({contract.unmatched} if contract.unmatched else default)


def expected_rows(
    s3: Any,
    plan: Plan,
    summary: ExportSummary,
    contracts: Contracts,
    schemas: dict[str, TableSchema],
    lake_prefix: str = "cdc/",
) -> Expected:
    """The rows each warehouse table must hold at the export time, decoded as the stream decodes them
    (``schemas``: the recorded schemas, so columns get the names and types the warehouse has)."""
    tables = routed_tables(contracts, summary.table_name, schemas)
    out = Expected(dict(schemas), {}, tables=tables)
    for file in plan.files:
        for chunk in read_chunks(s3, plan.bucket, file["key"], plan.chunk_items):
            records, bad = to_stream_records(chunk.lines, summary, plan.key_attributes, file["key"])
            # Spilled as the stream spills them: a value too large for a row is referenced from _overflow
            # by its content's digest, so the export's reference equals the warehouse's.
            result = decode_batch(
                records,
                contracts,
                out.schemas,
                spill_over=VARCHAR_MAX,
                oversize_key=functools.partial(lake_keys.oversize_key, lake_prefix),
            )
            out.schemas = result.schemas
            out.undecodable += len(bad) + len(result.rejects)
            for table, batch in result.tables.items():
                schema = batch.schema
                supers = {n for n, c in schema.columns.items() if c.type.kind == "SUPER"} | {"_overflow"}
                names = [n for n in batch.arrow.column_names if n not in _TARGET_NAMES and n != "_op"]
                tables.add(table)
                rows = out.rows.setdefault(table, {})
                for row in batch.arrow.select(names).to_pylist():
                    key = tuple(normalise(row[c], False) for c in schema.primary_key)
                    rows[key] = {n: normalise(row[n], n in supers) for n in names}
    return out


# --- the comparison --------------------------------------------------------------------------------------


def reconcile_warehouse(warehouse: Any, summary: ExportSummary, expected: Expected) -> Reconciliation:
    report = Reconciliation(
        summary.table_name, summary.export_arn, summary.as_of.isoformat(), undecodable=expected.undecodable
    )
    cutoff = summary.as_of - timedelta(seconds=SEAM_MARGIN_SECONDS)
    source = f"dynamodb:{summary.table_name}"
    wanted = expected.tables if expected.tables is not None else set(expected.schemas)
    for table in sorted(wanted | set(expected.rows)):
        schema = expected.schemas.get(table)
        if schema is None:
            continue  # nothing ever recorded for it: neither side can hold rows
        columns = {str(r[0]): str(r[1]) for r in warehouse.query(table_columns_sql(table)).rows}
        want = expected.rows.get(table, {})
        if not columns:
            diff = report.tables[table] = TableDiff(table, expected=len(want))
            for key in list(want)[:EXAMPLES]:
                diff.examples.setdefault("missing", []).append(key_text(key))
            diff.missing = len(want)
            continue
        report.tables[table] = _compare(warehouse, table, schema, columns, want, source, cutoff)
    return report


def _compare(
    warehouse: Any,
    table: str,
    schema: TableSchema,
    columns: dict[str, str],
    want: dict[tuple[Any, ...], dict[str, Any]],
    source: str,
    cutoff: datetime,
) -> TableDiff:
    diff = TableDiff(table, expected=len(want))
    pk = list(schema.primary_key)
    data = [c for c in columns if c not in _TARGET_NAMES]
    supers = {c for c, t in columns.items() if t.upper() in ("SUPER", "JSON", "JSONB")} | {"_overflow"}
    supers |= {n for n, c in schema.columns.items() if c.type.kind == "SUPER"}
    select = ", ".join(quote_ident(c) for c in [*data, "_event_time", "_deleted"])
    result = warehouse.query(
        f'SELECT {select} FROM {quote_ident(table)} WHERE "_source" = :source', {"source": source}
    )
    changed_after: set[tuple[Any, ...]] = set()
    held: dict[tuple[Any, ...], dict[str, Any]] = {}
    counts: Counter[tuple[Any, ...]] = Counter()
    for raw in result.rows:
        row = dict(zip([*data, "_event_time", "_deleted"], raw, strict=True))
        key = tuple(normalise(row[c], False) for c in pk)
        if _after(row["_event_time"], cutoff):
            changed_after.add(key)
            continue
        if row["_deleted"]:
            continue
        counts[key] += 1
        held[key] = {c: normalise(row[c], c in supers) for c in data}
    tombs = qualified_name(BOOKKEEPING_SCHEMA, tombstone_table(table))
    keys = ", ".join(quote_ident(c) for c in pk)
    for raw in warehouse.query(f'SELECT {keys}, "_event_time" FROM {tombs}').rows:
        if _after(raw[-1], cutoff):
            changed_after.add(tuple(normalise(v, False) for v in raw[:-1]))
    diff.warehouse = sum(counts.values())
    diff.excluded = len(changed_after)
    for key, n in counts.items():
        if n > 1 and key not in changed_after:
            diff.note("duplicated", f"{key_text(key)} held {n} times")
    for key, values in want.items():
        if key in changed_after:
            continue
        got = held.get(key)
        if got is None:
            diff.note("missing", key_text(key))
            continue
        wrong = [c for c in sorted(set(values) | set(got)) if values.get(c) != got.get(c)]
        if wrong:
            shown = ", ".join(
                f"{c}: table {show(values.get(c))} warehouse {show(got.get(c))}" for c in wrong[:3]
            )
            diff.note("differing", f"{key_text(key)} ({shown})")
    for key in held:
        if key not in want and key not in changed_after:
            diff.note("extra", key_text(key))
    return diff


def _after(value: Any, cutoff: datetime) -> bool:
    if not isinstance(value, datetime):
        return False
    return (value if value.tzinfo else value.replace(tzinfo=UTC)) >= cutoff


# --- one run ---------------------------------------------------------------------------------------------


def recorded_schemas(s3: Any, bucket: str, prefix: str) -> dict[str, TableSchema]:
    store = SchemaStore(s3, bucket, prefix)
    schemas = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=store.prefix):
        for obj in page.get("Contents", []):
            name = obj["Key"].removeprefix(store.prefix).removesuffix(".json")
            schema = store.load(name)
            if schema is not None:
                schemas[name] = schema
    return schemas


def reconcile_export(
    s3: Any,
    ddb: Any,
    wh: Any,
    settings: ReconcileSettings,
    status: ExportStatus,
    runtime: Runtime | None = None,
) -> Reconciliation:
    """Compare the warehouse with a COMPLETED export; the report goes to S3, the mismatches to a metric."""
    metrics = (runtime or Runtime()).metrics
    plan, summary = export_plan(s3, ddb, status, settings.chunk_items)
    schemas = recorded_schemas(s3, settings.lake_bucket, settings.schema_prefix)
    contracts = table_contracts(settings.contracts_path)
    expected = expected_rows(s3, plan, summary, contracts, schemas, settings.lake_prefix)
    report = reconcile_warehouse(wh, summary, expected)
    key = f"{settings.reconcile_prefix}{summary.table_name}/{summary.export_id}.json"
    body = json.dumps(report.to_json(), indent=1).encode()
    s3.put_object(Bucket=settings.lake_bucket, Key=key, Body=body, ContentType="application/json")
    metrics.add_metric(name="ReconcileMismatches", unit="Count", value=report.mismatches)
    metrics.add_metric(
        name="ReconcileExcluded", unit="Count", value=sum(t.excluded for t in report.tables.values())
    )
    log = logger.info if report.ok else logger.error
    log("reconciled", table=summary.table_name, ok=report.ok, mismatches=report.mismatches, report=key)
    return report


def handle_reconcile_event(
    event: dict[str, Any],
    *,
    settings: ReconcileSettings,
    s3: Any,
    ddb: Any,
    exports: Exports,
    warehouse: Any,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """Reconcile against the export the previous run started, then start the next run's export.

    An export takes minutes to hours, longer than one invocation may wait; so each (scheduled) run compares
    the warehouse with the export started by the run before, and items changed since are excluded.
    """
    runtime = runtime or Runtime()
    table = event.get("table") or settings.table_name
    if not table:
        raise ValueError('name the table: {"table": "<name>"} or TABLE_NAME')
    pending_key = f"{settings.reconcile_prefix}{table}/pending.json"
    result: dict[str, Any] = {"table": table}
    pending = _read_json(s3, settings.lake_bucket, pending_key)
    if pending is not None:
        status = exports.describe(pending["export_arn"])
        if status.status == "IN_PROGRESS":
            return {**result, "waiting_for": status.export_arn}
        if status.status == "COMPLETED":
            result["report"] = reconcile_export(s3, ddb, warehouse, settings, status, runtime).to_json()
        else:
            runtime.metrics.add_metric(name="ReconcileExportFailures", unit="Count", value=1)
            logger.error("reconcile export failed", export_arn=status.export_arn, failure=status.failure)
    table_arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    arn = exports.start(table_arn, settings.lake_bucket, f"{settings.export_prefix.rstrip('/')}/{table}")
    body = json.dumps({"export_arn": arn}).encode()
    s3.put_object(Bucket=settings.lake_bucket, Key=pending_key, Body=body, ContentType="application/json")
    return {**result, "next_export_arn": arn}


def _read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    except s3.exceptions.NoSuchKey:
        return None
