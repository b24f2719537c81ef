"""Write one EventBridge schedule per shipped report into template.yaml (`make schedules`).

Each report definition (layers/thermocline/thermocline/reports/<name>.yaml) carries its own schedule; this
script turns them into `Schedule` events of AnalyticsReportFunction between the BEGIN/END markers, so the
template cannot drift from the definitions. `--check` exits 1 with a diff when the template is out of date
(the test suite runs it).

One schedule per report rather than one schedule fanning out: each report keeps its own cadence, runs in
its own invocation (its own timeout, retries and failure, so one slow or broken report never holds up the
others), and shows up on its own in CloudWatch.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

from thermocline.reporting.definition import available_reports, load_report

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
BEGIN = "        # BEGIN report schedules"
END = "        # END report schedules"


def logical_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + "Schedule"


def schedules_block() -> str:
    lines = [
        f"{BEGIN}: generated from thermocline/reports/*.yaml by `make schedules`; do not edit by hand",
    ]
    for name in available_reports():
        definition = load_report(name)
        lines += [
            f"        {logical_id(name)}:",
            "          Type: Schedule",
            "          Properties:",
            f"            Description: {json.dumps(definition.title[:512])}",
            f"            Schedule: {json.dumps(definition.schedule)}",
            f"            Input: '{json.dumps({'report': name})}'",
            "            State: !Ref ReportSchedulesState",
            # Schedules EventBridge could not deliver land beside the failed runs (EventInvokeConfig).
            "            DeadLetterConfig:",
            "              Arn: !GetAtt InvocationFailureQueue.Arn",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def render(template: str) -> str:
    start = template.index(BEGIN)
    end = template.index(END, start) + len(END) + 1
    return template[:start] + schedules_block() + template[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if template.yaml is out of date")
    args = parser.parse_args(argv)
    current = TEMPLATE.read_text()
    wanted = render(current)
    if current == wanted:
        return 0
    if args.check:
        sys.stdout.writelines(
            difflib.unified_diff(
                current.splitlines(True), wanted.splitlines(True), "template.yaml", "generated"
            )
        )
        print("template.yaml: report schedules are out of date; run `make schedules`", file=sys.stderr)
        return 1
    TEMPLATE.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
