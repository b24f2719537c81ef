"""``thermocline replay``: captured DynamoDB Streams batches through the local stack into DuckDB."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from thermocline.cli.local import open_stack
from thermocline.cli.usage import UsageError, contracts_path, load_json, state_dir


def validate_stream_event(path: Path, table: str | None = None) -> dict[str, Any]:
    """Read a captured Streams batch (a Lambda event, or ``aws dynamodbstreams get-records`` output) as the
    Lambda event to replay; the error names the file and the problem.

    Only what makes the file unusable as a whole is refused here; a record that cannot be decoded is
    quarantined with its reason by the function, as in AWS, and the rest of the file goes on.
    """
    from thermocline.local.captured import CaptureError, lambda_event

    try:
        event = lambda_event(load_json(path), table=table)
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


def cmd_replay(args: argparse.Namespace) -> int:
    from thermocline.local.replay import replay

    # Everything is checked before the local stack starts: a bad argument leaves nothing half-done.
    events = [(Path(p), validate_stream_event(Path(p), args.table)) for p in args.files]
    state = state_dir(args.state)
    if args.contracts:
        contracts = contracts_path(args.contracts)
    else:
        # Default routing: a contracts directory with no contracts in it, so even a table whose name
        # matches a shipped contract (the demo's `*-store`) is routed by its own name and Keys.
        contracts = state.resolve() / "default-routing"
        contracts.mkdir(parents=True, exist_ok=True)
    function_env = {"CONTRACTS_PATH": str(contracts)}
    # Replay needs the bucket, queues, table and the functions' environment, not CloudFormation: after
    # the first run they are created directly (stack_snapshot), the start-up's largest cost.
    with open_stack(
        args, log_level=args.log_level, function_env=function_env, keep_lake=True, recreate=True
    ) as local:
        summary = replay(local, events)
    for line in summary.lines():
        print(line)
    return 0 if summary.complete else 1


def register(sub: Any) -> None:
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
