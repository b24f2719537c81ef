"""``thermocline aurora-export``, ``backfill`` and ``reconcile``: exports of a source into the local
warehouse (an RDS snapshot export of PostgreSQL; a DynamoDB table export, loaded or compared)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from thermocline.cli.local import open_stack
from thermocline.cli.usage import DEFAULT_STATE, UsageError, parse_time, state_dir


def cmd_aurora_export(args: argparse.Namespace) -> int:
    import psycopg

    from thermocline.local.aurora import run_export

    state = state_dir(args.state)
    tables = [t.strip() for t in (args.tables or "").split(",") if t.strip()] or None
    try:
        psycopg.connect(args.dsn, connect_timeout=10).close()
    except psycopg.Error as exc:
        raise UsageError(f"--dsn: cannot connect: {str(exc).strip().splitlines()[0]}") from None
    with open_stack(args, log_level=args.log_level, keep_lake=True) as local:
        try:
            result = run_export(local, dsn=args.dsn, tables=tables)
        except ValueError as exc:  # a --tables name the database does not have
            raise UsageError(f"--tables: {exc}") from None
    response = result.response
    print(f"export {result.export_id}: {result.written.parts} Parquet parts, {result.written.bytes:,} bytes")
    for target, rows in result.written.tables.items():
        print(f"  exported {target}: {rows} rows")
    for target, reason in result.written.skipped.items():
        print(f"  not exported {target}: {reason}")
    for table, rows in response.get("applied", {}).items():
        print(f"  warehouse {table}: refreshed, {rows} rows")
    for table, reason in response.get("skipped", {}).items():
        print(f"  warehouse {table}: unchanged ({reason})")
    for table, reason in response.get("failed", {}).items():
        print(f"  warehouse {table}: FAILED: {reason}", file=sys.stderr)
    print(f"warehouse: {state / 'warehouse.duckdb'}")
    return 1 if response.get("failed") else 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from thermocline.local.backfill import run_backfill
    from thermocline.services.backfill import BackfillError

    export_from, export_to = parse_time(args.export_from), parse_time(args.export_to)
    if export_to is not None and export_from is None:
        raise UsageError("--to needs --from (an incremental export covers a window)")
    with open_stack(args, log_level=args.log_level, keep_lake=True) as local:
        try:
            run = run_backfill(
                local, args.table, export_from=export_from, export_to=export_to, export_arn=args.resume
            )
        except BackfillError as exc:
            raise UsageError(str(exc)) from None
    print(json.dumps(asdict(run), indent=2))
    return 1 if run.quarantined else 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from thermocline.local.backfill import run_reconcile

    with open_stack(args, log_level=args.log_level, keep_lake=True) as local:
        report = run_reconcile(local, args.table)
    print("\n".join(report.lines()))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(), indent=2))
    return 0 if report.ok else 1


def register(sub: Any) -> None:
    aurora = sub.add_parser(
        "aurora-export",
        help="export a PostgreSQL database the way RDS exports a snapshot, into the DuckDB warehouse",
        description="Read a real PostgreSQL database in one consistent transaction and write an export in "
        "the RDS export layout (export_info, export_tables_info, Parquet parts, AWS's type mapping) into the "
        "local stack's ExportBucket; deliver the completion event (RDS-EVENT-0164) to ExportIngestFunction, "
        "which restores the types and refreshes each table in DIR/warehouse.duckdb. Warehouse tables take "
        "the source table's name (prefixed by its schema when that is not public).",
        epilog="exit status: 0 every table refreshed or already current; 1 a table could not be refreshed; "
        "2 bad usage (one line on stderr, nothing started).",
    )
    aurora.add_argument("--dsn", required=True, help="postgresql://user:password@host:port/database")
    aurora.add_argument(
        "--state", required=True, help="state directory; the warehouse is DIR/warehouse.duckdb"
    )
    aurora.add_argument(
        "--tables", help="comma-separated tables to export (schema.table or table), default all"
    )
    aurora.add_argument("--endpoint", help="use an already running moto server")
    aurora.add_argument("--log-level", default="WARNING")
    aurora.set_defaults(func=cmd_aurora_export)

    fill = sub.add_parser(
        "backfill", help="export a table and hand it to the warehouse at a seam with the stream"
    )
    fill.add_argument("--table", required=True, help="table name, or its logical id in template.yaml (Table)")
    fill.add_argument("--from", dest="export_from", help="incremental export from this time (ISO 8601)")
    fill.add_argument("--to", dest="export_to", help="incremental export up to this time (default: now)")
    fill.add_argument("--resume", metavar="EXPORT_ARN", help="finish an interrupted backfill of this export")
    fill.add_argument(
        "--state",
        default=str(DEFAULT_STATE / "backfill"),
        help="state directory: its warehouse.duckdb is loaded",
    )
    fill.add_argument("--endpoint", help="the running moto server of `thermocline up`")
    fill.add_argument("--log-level", default="WARNING")
    fill.set_defaults(func=cmd_backfill)

    rec = sub.add_parser("reconcile", help="compare the warehouse with a fresh export of a table")
    rec.add_argument("--table", required=True, help="table name, or its logical id in template.yaml (Table)")
    rec.add_argument("--json", help="also write the report as JSON to this file")
    rec.add_argument(
        "--state",
        default=str(DEFAULT_STATE / "backfill"),
        help="state directory: its warehouse.duckdb is compared",
    )
    rec.add_argument("--endpoint", help="the running moto server of `thermocline up`")
    rec.add_argument("--log-level", default="WARNING")
    rec.set_defaults(func=cmd_reconcile)
