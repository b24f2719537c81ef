"""``thermocline report list`` and ``report run``: the shipped report definitions, run on a warehouse."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from thermocline.cli.usage import UsageError


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
    from thermocline import warehouse
    from thermocline.reporting.definition import ReportError
    from thermocline.runtime import Runtime
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
        with warehouse.connect(url) as wh:
            produced = produce_report(request, warehouse=wh, now=Runtime().clock())
    except (ReportError, warehouse.WarehouseError) as exc:
        raise UsageError(" ".join(str(exc).split())) from None
    files = write_to_directory(produced, state / "reports")
    print(f"{produced.definition.name}: {produced.rows:,} rows for {produced.run.run_date.isoformat()}")
    for path in files:
        print(f"  {path}")
    return 0


def register(sub: Any) -> None:
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
