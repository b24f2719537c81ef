"""The ``thermocline`` command: the local stack's front door.

thermocline demo [--orders N]                  the whole pipeline, reconciled (make demo)
thermocline invoke <LogicalId> --event FILE    one handler, as `sam local invoke -e FILE` would run it
thermocline replay FILE... --state DIR         captured Streams events → lake → DuckDB at DIR/warehouse.duckdb
thermocline up [--state DIR]                   moto's server with the template deployed, until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
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
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def validate_stream_event(path: Path) -> dict[str, Any]:
    """Check that a file holds a Lambda DynamoDB Streams event; the error names the file and the problem."""
    event = _load_json(path)
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        raise UsageError(f'{path}: not a DynamoDB Streams event (expected an object with a "Records" list)')
    if not event["Records"]:
        raise UsageError(f"{path}: the event has no records")
    for i, record in enumerate(event["Records"]):
        where = f"{path}: record {i}"
        if not isinstance(record, dict):
            raise UsageError(f"{where}: not an object")
        if record.get("eventSource") != "aws:dynamodb":
            raise UsageError(f"{where}: eventSource is {record.get('eventSource')!r}, not 'aws:dynamodb'")
        if record.get("eventName") not in ("INSERT", "MODIFY", "REMOVE"):
            raise UsageError(
                f"{where}: eventName is {record.get('eventName')!r}, not INSERT, MODIFY or REMOVE"
            )
        arn = record.get("eventSourceARN")
        if not isinstance(arn, str) or not arn.strip():
            raise UsageError(f"{where}: eventSourceARN is missing (it names the source table)")
        ddb = record.get("dynamodb")
        if not isinstance(ddb, dict):
            raise UsageError(f"{where}: no dynamodb object")
        if not isinstance(ddb.get("Keys"), dict) or not ddb["Keys"]:
            raise UsageError(f"{where}: dynamodb.Keys is missing or empty")
        if not str(ddb.get("SequenceNumber", "")).isdigit():
            raise UsageError(f"{where}: dynamodb.SequenceNumber is missing or not a number")
    return event


def _stack(args: argparse.Namespace, **kwargs: Any) -> Any:
    from thermocline.local.session import LocalStack

    return LocalStack(Path(args.state), endpoint=getattr(args, "endpoint", None), **kwargs)


def cmd_demo(args: argparse.Namespace) -> int:
    from thermocline.local.demo import run_demo

    summary = run_demo(args.orders, Path(args.state), Path(args.out), redeliver=args.redeliver)
    return 0 if summary.reconciled else 1


def cmd_invoke(args: argparse.Namespace) -> int:
    event = _load_json(Path(args.event))
    if not isinstance(event, dict):
        raise UsageError(f"{args.event}: a Lambda event must be a JSON object")
    with _stack(args, log_level=args.log_level) as local:
        if args.function not in local.stack.functions:
            known = ", ".join(sorted(local.stack.functions))
            raise UsageError(f"no function {args.function!r} in template.yaml (functions: {known})")
        response = local.invoke(args.function, event)
    print(json.dumps(response, indent=2, default=str))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from thermocline.local.session import INGEST

    # Every file is checked before anything is written, so a bad file leaves nothing half-loaded.
    events = [(Path(p), validate_stream_event(Path(p))) for p in args.files]
    if args.contracts:
        contracts = Path(args.contracts).resolve()
    else:
        # Default routing: a contracts directory with no contracts in it, so even a table whose name
        # matches a shipped contract (the demo's `*-store`) is routed by its own name and Keys.
        contracts = Path(args.state).resolve() / "default-routing"
        contracts.mkdir(parents=True, exist_ok=True)
    function_env = {"CONTRACTS_PATH": str(contracts)}
    started = time.monotonic()
    with _stack(args, log_level=args.log_level, function_env=function_env) as local:
        failures = 0
        records = 0
        for path, event in events:
            response = local.invoke(INGEST, event)
            failed = (response or {}).get("batchItemFailures") or []
            records += len(event["Records"])
            if failed:
                failures += 1
                print(
                    f"{path}: {len(failed)} records reported as failed: "
                    f"{', '.join(f['itemIdentifier'] for f in failed)}",
                    file=sys.stderr,
                )
        drained = local.load_drainer().drain()
        from thermocline import warehouse
        from thermocline.names import quote_ident

        with contextlib.closing(warehouse.connect(local.warehouse_url, s3_client=local.client("s3"))) as wh:
            tables = wh.query(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('information_schema', 'pg_catalog', 'thermocline') ORDER BY 2"
            ).rows
            counts = {
                name: wh.query(f"SELECT COUNT(*) FROM {quote_ident(schema)}.{quote_ident(name)}").rows[0][0]  # noqa: S608
                for schema, name in tables
            }
    print(
        f"replayed {records} records from {len(events)} files in {time.monotonic() - started:.1f}s; "
        f"{drained.records} lake files loaded into {local.warehouse_url}"
    )
    for table, count in counts.items():
        print(f"  {table}: {count} rows")
    return 1 if failures or drained.failed_batches else 0


def cmd_up(args: argparse.Namespace) -> int:
    with _stack(args, log_level=args.log_level) as local:
        print(f"moto server: {local.endpoint}")
        print(f"warehouse:   {local.warehouse_url}")
        for logical_id, physical in sorted(local.stack.resources.items()):
            print(f"  {logical_id:<32} {physical}")
        print(
            f"export AWS_ENDPOINT_URL={local.endpoint} AWS_ACCESS_KEY_ID=thermocline-local "
            "AWS_SECRET_ACCESS_KEY=thermocline-local AWS_DEFAULT_REGION=us-east-1",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
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

    replay = sub.add_parser("replay", help="push captured DynamoDB Streams events into the DuckDB warehouse")
    replay.add_argument("files", nargs="+", help='event files shaped {"Records": [...]}')
    replay.add_argument(
        "--state", required=True, help="state directory; the warehouse is DIR/warehouse.duckdb"
    )
    replay.add_argument("--contracts", help="table contracts file (default: default routing)")
    replay.add_argument("--endpoint", help="use an already running moto server")
    replay.add_argument("--log-level", default="WARNING")
    replay.set_defaults(func=cmd_replay)

    up = sub.add_parser("up", help="start moto's server with the template deployed and keep it running")
    up.add_argument("--state", default=str(DEFAULT_STATE / "up"), help="state directory")
    up.add_argument("--log-level", default="INFO")
    up.set_defaults(func=cmd_up)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"thermocline {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
