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
thermocline status | cost | bootstrap-sql | smoke   operating a deployment (thermocline/cli/ops.py)

exit status: 0 success; 1 something did not reach the warehouse (records or lake files quarantined, records
or files failed: each is listed with its reason) or the demo did not reconcile; 2 bad usage (a file, the
contracts, the state directory or a function name: one line on stderr, before the local stack starts).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from thermocline.cli import exports, hot, local, ops, replay, reports
from thermocline.cli.usage import UsageError

__all__ = ["build_parser", "main"]

# Each module adds its subcommands (``register(sub)``); the order is the order of `thermocline --help`.
_GROUPS = (local, replay, exports, reports, ops, hot)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thermocline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in _GROUPS:
        group.register(sub)
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
