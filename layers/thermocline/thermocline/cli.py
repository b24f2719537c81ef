"""The ``thermocline`` command: the local stack's front door.

thermocline demo [--orders N]                  the whole pipeline, reconciled (make demo)
thermocline invoke <LogicalId> --event FILE    one handler, as `sam local invoke -e FILE` would run it
thermocline replay FILE... --state DIR         captured Streams events → lake → DuckDB at DIR/warehouse.duckdb
thermocline up [--state DIR]                   moto's server with the template deployed, until Ctrl-C
thermocline aurora-export --dsn URL --state DIR  a PostgreSQL database → RDS export → DIR/warehouse.duckdb
thermocline report list                        the shipped report definitions, one per line
thermocline report run NAME [--param k=v]... --state DIR
                                               a report on DIR/warehouse.duckdb → DIR/reports/NAME/<run-date>/
thermocline hot get <view> [--bucket B]        read a real-time view from Redis (REDIS_URL or --redis-url)
thermocline status | cost | bootstrap-sql      operating a deployment (thermocline/ops/cli.py)

exit status: 0 success; 1 something did not reach the warehouse (records or lake files quarantined, records
or files failed: each is listed with its reason) or the demo did not reconcile; 2 bad usage (a file, the
contracts, the state directory or a function name: one line on stderr, before the local stack starts).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_STATE = Path(".thermocline")


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not an event file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def validate_stream_event(path: Path, table: str | None = None) -> dict[str, Any]:
    """Read a captured Streams batch (a Lambda event, or ``aws dynamodbstreams get-records`` output) as the
    Lambda event to replay; the error names the file and the problem.

    Only what makes the file unusable as a whole is refused here; a record that cannot be decoded is
    quarantined with its reason by the function, as in AWS, and the rest of the file goes on.
    """
    from thermocline.local.captured import CaptureError, lambda_event

    try:
        event = lambda_event(_load_json(path), table=table)
    except CaptureError as exc:
        raise UsageError(f"{path}: {exc}") from None
    if not event["Records"]:
        raise UsageError(f"{path}: the event has no records")
    for i, record in enumerate(event["Records"]):
        where = f"{path}: record {i}"
        if not isinstance(record, dict):
            raise UsageError(f"{where}: not an object")
        if record.get("eventSource") != "aws:dynamodb":
            raise UsageError(f"{where}: eventSource is {record.get('eventSource')!r}, not 'aws:dynamodb'")
    return event


def _state_dir(value: str) -> Path:
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--state {value}: exists and is not a directory")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not path.exists() and not parent.is_dir():
        raise UsageError(f"--state {value}: {parent} is not a directory")
    return path


def _contracts(value: str) -> Path:
    from thermocline.contracts import ContractError, load_contracts

    try:
        load_contracts(value)
    except ContractError as exc:
        raise UsageError(f"--contracts: {exc}") from None
    return Path(value).resolve()


def _function(name: str) -> None:
    from thermocline.local import stack

    template = stack.load_template(stack.default_template())
    functions = sorted(
        logical_id
        for logical_id, resource in (template.get("Resources") or {}).items()
        if resource.get("Type") == "AWS::Serverless::Function"
    )
    if name not in functions:
        raise UsageError(f"no function {name!r} in template.yaml (functions: {', '.join(functions)})")


def _waiting(state: Path) -> None:
    print(f"thermocline: {state} is in use by another command; waiting for it to finish", file=sys.stderr)


def _stack(args: argparse.Namespace, **kwargs: Any) -> Any:
    from thermocline.local.session import LocalStack

    return LocalStack(Path(args.state), endpoint=getattr(args, "endpoint", None), on_busy=_waiting, **kwargs)


def cmd_demo(args: argparse.Namespace) -> int:
    from thermocline.local.demo import run_demo

    _state_dir(args.state)
    if args.orders < 1:
        raise UsageError(f"--orders must be at least 1, got {args.orders}")
    summary = run_demo(args.orders, Path(args.state), Path(args.out), redeliver=args.redeliver)
    return 0 if summary.reconciled else 1


def cmd_invoke(args: argparse.Namespace) -> int:
    event = _load_json(Path(args.event))
    if not isinstance(event, dict):
        raise UsageError(f"{args.event}: a Lambda event must be a JSON object")
    _state_dir(args.state)
    _function(args.function)
    with _stack(args, log_level=args.log_level, keep_lake=True) as local:
        response = local.invoke(args.function, event)
    print(json.dumps(response, indent=2, default=str))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from thermocline.local.replay import replay

    # Everything is checked before the local stack starts: a bad argument leaves nothing half-done.
    events = [(Path(p), validate_stream_event(Path(p), args.table)) for p in args.files]
    state = _state_dir(args.state)
    if args.contracts:
        contracts = _contracts(args.contracts)
    else:
        # Default routing: a contracts directory with no contracts in it, so even a table whose name
        # matches a shipped contract (the demo's `*-store`) is routed by its own name and Keys.
        contracts = state.resolve() / "default-routing"
        contracts.mkdir(parents=True, exist_ok=True)
    function_env = {"CONTRACTS_PATH": str(contracts)}
    # Replay needs the bucket, queues, table and the functions' environment, not CloudFormation: after
    # the first run they are created directly (stack_snapshot), the start-up's largest cost.
    with _stack(
        args, log_level=args.log_level, function_env=function_env, keep_lake=True, recreate=True
    ) as local:
        summary = replay(local, events)
    for line in summary.lines():
        print(line)
    return 0 if summary.complete else 1


def cmd_aurora_export(args: argparse.Namespace) -> int:
    import psycopg

    from thermocline.local.aurora import run_export

    state = _state_dir(args.state)
    tables = [t.strip() for t in (args.tables or "").split(",") if t.strip()] or None
    try:
        psycopg.connect(args.dsn, connect_timeout=10).close()
    except psycopg.Error as exc:
        raise UsageError(f"--dsn: cannot connect: {str(exc).strip().splitlines()[0]}") from None
    with _stack(args, log_level=args.log_level, keep_lake=True) as local:
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


def cmd_hot_get(args: argparse.Namespace) -> int:
    import os

    from thermocline.hot.views import ViewError, load_view

    url = args.redis_url or os.environ.get("REDIS_URL")
    if not url:
        raise UsageError("no Redis to read: pass --redis-url or set REDIS_URL (`thermocline up` prints it)")
    try:
        view = load_view(args.view)
    except ViewError as exc:
        raise UsageError(str(exc)) from None
    import redis

    from thermocline.hot.store import HotStore
    from thermocline.local.hot import current_bucket, view_table

    store = HotStore(redis.Redis.from_url(url))
    bucket = args.bucket or current_bucket(store, view)
    try:
        if args.json:
            print(json.dumps(store.read(view, bucket).as_dict(), indent=2))
            return 0
        from rich.console import Console

        Console().print(view_table(store, view, bucket, limit=args.limit))
        others = [b for b in store.buckets(view) if b != bucket]
        if others:
            print(f"other windows in Redis: {', '.join(others)} (--bucket)")
    except redis.RedisError as exc:
        raise UsageError(f"Redis at {url}: {exc}") from None
    return 0


def write_sam_env_vars(local: Any, path: Path) -> Path:
    """``sam local invoke --env-vars`` file: every function's environment, pointed at the local stack.

    The container reaches moto's server on 127.0.0.1 with ``--docker-network host``.
    """
    env = {logical_id: local.environment_for(logical_id) for logical_id in sorted(local.stack.functions)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(env, indent=2, sort_keys=True) + "\n")
    return path


def cmd_up(args: argparse.Namespace) -> int:
    _state_dir(args.state)
    with _stack(args, log_level=args.log_level, keep_lake=True) as local:
        print(f"moto server: {local.endpoint}")
        env_file = write_sam_env_vars(local, Path(args.state) / "sam-env.json")
        print(
            f"sam local invoke --env-vars {env_file} --docker-network host <Function> -e events/<file>.json"
        )
        print(f"warehouse:   {local.warehouse_url}")
        print(f"redis:       {local.redis_url or local.redis_missing}")
        for logical_id, physical in sorted(local.stack.resources.items()):
            print(f"  {logical_id:<32} {physical}")
        print(
            f"export AWS_ENDPOINT_URL={local.endpoint} AWS_ACCESS_KEY_ID=thermocline-local "
            "AWS_SECRET_ACCESS_KEY=thermocline-local AWS_DEFAULT_REGION=us-east-1"
            + (f" REDIS_URL={local.redis_url}" if local.redis_url else ""),
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def _when(text: str | None) -> Any:
    if text is None:
        return None
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not an ISO 8601 time: {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cmd_backfill(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from thermocline.local.backfill import run_backfill
    from thermocline.services.backfill import BackfillError

    export_from, export_to = _when(args.export_from), _when(args.export_to)
    if export_to is not None and export_from is None:
        raise UsageError("--to needs --from (an incremental export covers a window)")
    with _stack(args, log_level=args.log_level, keep_lake=True) as local:
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

    with _stack(args, log_level=args.log_level, keep_lake=True) as local:
        report = run_reconcile(local, args.table)
    print("\n".join(report.lines()))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(), indent=2))
    return 0 if report.ok else 1


def cmd_report_list(args: argparse.Namespace) -> int:
    from thermocline.reporting.definition import available_reports, load_report

    for name in available_reports():
        definition = load_report(name)
        params = ", ".join(
            f"{p.name}={'(required)' if p.required else p.default}" for p in definition.parameters
        )
        print(f"{name}\t{definition.title}\t{definition.schedule}\t{params or '-'}")
    return 0


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {pair!r}: expected key=value")
        if key.strip() in params:
            raise UsageError(f"--param {key.strip()} given twice")
        params[key.strip()] = value
    return params


def cmd_report_run(args: argparse.Namespace) -> int:
    import datetime as dt
    from contextlib import closing

    from thermocline import warehouse
    from thermocline.reporting.definition import ReportError
    from thermocline.services.analytics_report import ReportRequest, produce_report, write_to_directory

    state = Path(args.state).resolve()
    request = ReportRequest(args.name, _parse_params(args.param))
    url = args.warehouse
    if url is None:
        path = state / "warehouse.duckdb"
        if not path.is_file():
            raise UsageError(
                f"no warehouse at {path}: run `thermocline demo --state {args.state}` or replay first"
            )
        url = f"duckdb:///{path}"
    try:
        with closing(warehouse.connect(url)) as wh:
            produced = produce_report(request, warehouse=wh, now=dt.datetime.now(dt.UTC))
    except (ReportError, warehouse.WarehouseError) as exc:
        raise UsageError(" ".join(str(exc).split())) from None
    files = write_to_directory(produced, state / "reports")
    print(f"{produced.definition.name}: {produced.rows:,} rows for {produced.run.run_date.isoformat()}")
    for path in files:
        print(f"  {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thermocline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline on the local stack and reconcile it")
    demo.add_argument(
        "--orders", type=int, default=12000, help="orders to generate (default 12000, about two minutes)"
    )
    demo.add_argument("--state", default=str(DEFAULT_STATE / "demo"), help="state directory")
    demo.add_argument("--out", default="out", help="where the summary and report copies go (default out/)")
    demo.add_argument(
        "--redeliver", action="store_true", help="deliver every stream batch twice (at-least-once delivery)"
    )
    demo.set_defaults(func=cmd_demo)

    invoke = sub.add_parser("invoke", help="run one function's handler on the local stack")
    invoke.add_argument("function", help="logical ID in template.yaml, e.g. StreamIngestFunction")
    invoke.add_argument("--event", "-e", required=True, help="event file (the same as sam local invoke -e)")
    invoke.add_argument("--state", default=str(DEFAULT_STATE / "invoke"), help="state directory")
    invoke.add_argument("--endpoint", help="use an already running moto server (see `thermocline up`)")
    invoke.add_argument("--log-level", default="INFO")
    invoke.set_defaults(func=cmd_invoke)

    replay = sub.add_parser(
        "replay",
        help="push captured DynamoDB Streams events into the DuckDB warehouse",
        description="Replay captured DynamoDB Streams batches (Lambda events, or `aws dynamodbstreams "
        "get-records` output with --table) through StreamIngestFunction and the loader into "
        "DIR/warehouse.duckdb. DIR keeps the local account's lake (DIR/lake: schemas, lake files, "
        "quarantine), so several runs add up to one run with all their files, in any order.",
        epilog="exit status: 0 every record reached the warehouse; 1 records or lake files were "
        "quarantined or not loaded (each is listed with its reason); 2 bad usage (one line on stderr, "
        "nothing started). A second command on a busy DIR waits for the first.",
    )
    replay.add_argument("files", nargs="+", help='event files shaped {"Records": [...]}')
    replay.add_argument(
        "--table", help="source table of records without eventSourceARN (aws dynamodbstreams get-records)"
    )
    replay.add_argument(
        "--state", required=True, help="state directory; the warehouse is DIR/warehouse.duckdb"
    )
    replay.add_argument("--contracts", help="table contracts file (default: default routing)")
    replay.add_argument("--endpoint", help="use an already running moto server")
    replay.add_argument("--log-level", default="WARNING")
    replay.set_defaults(func=cmd_replay)

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

    up = sub.add_parser("up", help="start moto's server with the template deployed and keep it running")
    up.add_argument("--state", default=str(DEFAULT_STATE / "up"), help="state directory")
    up.add_argument("--log-level", default="INFO")
    up.set_defaults(func=cmd_up)

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

    report = sub.add_parser("report", help="list the shipped reports or run one on the local warehouse")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    listing = report_sub.add_parser(
        "list", help="the shipped report definitions: name, title, schedule, parameters"
    )
    listing.set_defaults(func=cmd_report_list)
    run = report_sub.add_parser("run", help="run one report and write its files under DIR/reports/")
    run.add_argument("name", help="report name (see `thermocline report list`)")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter (repeatable), e.g. months=6",
    )
    run.add_argument("--state", required=True, help="state directory holding warehouse.duckdb (demo, replay)")
    run.add_argument("--warehouse", help="another warehouse URL instead (e.g. postgresql://...)")
    run.set_defaults(func=cmd_report_run)
    from thermocline.ops.cli import register as register_ops

    register_ops(sub)

    hot = sub.add_parser("hot", help="the real-time views in Redis")
    hot_sub = hot.add_subparsers(dest="hot_command", required=True)
    get = hot_sub.add_parser("get", help="print a view (the current window unless --bucket)")
    get.add_argument("view", help="a view name, e.g. revenue_by_region_today")
    get.add_argument("--bucket", help="the window to read, e.g. 2026-11-27, 2026-W48, 2026-11, all")
    get.add_argument("--redis-url", help="default: $REDIS_URL")
    get.add_argument("--limit", type=int, default=20, help="rows to print (default 20)")
    get.add_argument("--json", action="store_true", help="print the view as JSON")
    get.set_defaults(func=cmd_hot_get)
    return parser


def _terminate(signum: int, _frame: Any) -> None:
    # SIGTERM/SIGHUP unwind like Ctrl-C: the local stack's exit stops moto's server and saves the lake.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _terminate)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"thermocline {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"thermocline {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
