"""One screen of pipeline health for a deployed stack or the local stack (``thermocline status``).

Everything is read from the stack's own resources, found by logical id through CloudFormation, so the same
code reads a ``sam deploy`` stack and the local stack (moto's server): CloudWatch for the stream's iterator
age, the load lag and report failures; SQS for files waiting and the failure queues; S3 for quarantined
records and the last report runs; the warehouse's ledger for the last load. Clients are injected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from thermocline.load.sql import BOOKKEEPING_SCHEMA, LEDGER_TABLE
from thermocline.names import qualified_name
from thermocline.runtime import Runtime
from thermocline.warehouse import Warehouse, WarehouseError

FAILURE_QUEUES = ("StreamFailureQueue", "LoadDeadLetterQueue", "InvocationFailureQueue")


@dataclass
class PipelineStatus:
    stack: str
    now: dt.datetime
    iterator_age_ms: float | None = None
    files_waiting: int | None = None
    files_in_flight: int | None = None
    failures: dict[str, int] = field(default_factory=dict)
    last_load_at: dt.datetime | None = None
    files_loaded: int | None = None
    files_quarantined: int | None = None
    ledger_problem: str | None = None
    load_lag_s: float | None = None
    quarantined_records: int = 0
    reports: dict[str, str] = field(default_factory=dict)
    report_errors_24h: float | None = None

    @property
    def healthy(self) -> bool:
        return not any(self.failures.values()) and not self.quarantined_records and not self.report_errors_24h

    def lines(self) -> list[str]:
        def value(x: Any, unit: str = "") -> str:
            return "no data" if x is None else f"{x:,.0f}{unit}" if isinstance(x, float) else f"{x}{unit}"

        last = (
            "never"
            if self.last_load_at is None
            else (f"{self.last_load_at:%Y-%m-%d %H:%M:%S} UTC ({_ago(self.now - self.last_load_at)} ago)")
        )
        out = [
            f"stack {self.stack}: {'healthy' if self.healthy else 'NEEDS ATTENTION'} at {self.now:%Y-%m-%d %H:%M} UTC",
            f"  stream iterator age (max, 1 h)  {value(self.iterator_age_ms, ' ms')}",
            f"  lake files waiting to load      {value(self.files_waiting)} (in flight {value(self.files_in_flight)})",
            f"  last load                       {last}",
            f"  load lag (max, 1 h)             {value(self.load_lag_s, ' s')}",
            f"  files in the ledger             {value(self.files_loaded)} loaded, {value(self.files_quarantined)} quarantined",
            f"  quarantined records (S3)        {self.quarantined_records}",
        ]
        if self.ledger_problem:
            out.append(f"  ledger                          unreadable: {self.ledger_problem}")
        out += [f"  {name:<32}{depth} message(s)" for name, depth in self.failures.items()]
        out.append(f"  report failures (24 h)          {value(self.report_errors_24h)}")
        if not self.reports:
            out.append("  last report runs                none")
        for name, day in sorted(self.reports.items()):
            out.append(f"  report {name}: last run {day}")
        return out


def _ago(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    return (
        f"{seconds // 3600} h {seconds % 3600 // 60} min"
        if seconds >= 3600
        else f"{seconds // 60} min {seconds % 60} s"
    )


def stack_resources(cfn: Any, stack_name: str) -> dict[str, str]:
    """Logical id -> physical id of the stack's resources."""
    resources: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for r in page["StackResourceSummaries"]:
            if r.get("LogicalResourceId") and r.get("PhysicalResourceId"):
                resources[r["LogicalResourceId"]] = r["PhysicalResourceId"]
    return resources


def _metric(
    cloudwatch: Any,
    namespace: str,
    name: str,
    dims: dict[str, str],
    stat: str,
    now: dt.datetime,
    hours: int = 1,
) -> float | None:
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - dt.timedelta(hours=hours),
        EndTime=now,
        Period=300,
        Statistics=[stat],
    )["Datapoints"]
    if not points:
        return None
    values = [p[stat] for p in points]
    return float(sum(values) if stat == "Sum" else max(values))


def _count(s3: Any, bucket: str, prefix: str, *, exclude: str | None = None) -> int:
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        total += sum(1 for o in page.get("Contents", []) if not (exclude and o["Key"].startswith(exclude)))
    return total


def _report_runs(s3: Any, bucket: str) -> dict[str, str]:
    """Each report's newest run date: ``<report>/<YYYY-MM-DD>/`` prefixes of the reports bucket."""
    runs: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/"):
        for p in page.get("CommonPrefixes", []):
            name = p["Prefix"].rstrip("/")
            days = [
                d["Prefix"][len(name) + 1 :].rstrip("/")
                for dpage in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=f"{name}/", Delimiter="/"
                )
                for d in dpage.get("CommonPrefixes", [])
            ]
            dated = sorted(d for d in days if d[:4].isdigit())
            if dated:
                runs[name] = dated[-1]
    return runs


def ledger_sql() -> str:
    ledger = qualified_name(BOOKKEEPING_SCHEMA, LEDGER_TABLE)
    return f"SELECT status, COUNT(*) AS files, MAX(loaded_at) AS last_at FROM {ledger} GROUP BY status"  # noqa: S608


def collect_status(
    stack_name: str,
    *,
    cfn: Any,
    sqs: Any,
    s3: Any,
    cloudwatch: Any,
    warehouse: Warehouse | None,
    runtime: Runtime | None = None,
) -> PipelineStatus:
    now = (runtime or Runtime()).clock()
    resources = stack_resources(cfn, stack_name)
    status = PipelineStatus(stack=stack_name, now=now)
    namespace = f"Thermocline/{stack_name}"
    if "StreamIngestFunction" in resources:
        status.iterator_age_ms = _metric(
            cloudwatch,
            "AWS/Lambda",
            "IteratorAge",
            {"FunctionName": resources["StreamIngestFunction"]},
            "Maximum",
            now,
        )
    if "LoadQueue" in resources:
        attrs = sqs.get_queue_attributes(
            QueueUrl=resources["LoadQueue"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        status.files_waiting = int(attrs["ApproximateNumberOfMessages"])
        status.files_in_flight = int(attrs["ApproximateNumberOfMessagesNotVisible"])
    for queue in FAILURE_QUEUES:
        if queue in resources:
            attrs = sqs.get_queue_attributes(
                QueueUrl=resources[queue], AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            status.failures[queue] = int(attrs["ApproximateNumberOfMessages"])
    status.load_lag_s = _metric(
        cloudwatch, namespace, "LoadLagSeconds", {"service": "warehouse-load"}, "Maximum", now
    )
    if "LakeBucket" in resources:
        status.quarantined_records = _count(
            s3, resources["LakeBucket"], "quarantine/", exclude="quarantine/load/"
        )
    if "ReportsBucket" in resources:
        status.reports = _report_runs(s3, resources["ReportsBucket"])
    if "AnalyticsReportFunction" in resources:
        status.report_errors_24h = _metric(
            cloudwatch,
            "AWS/Lambda",
            "Errors",
            {"FunctionName": resources["AnalyticsReportFunction"]},
            "Sum",
            now,
            24,
        )
    if warehouse is not None:
        _read_ledger(status, warehouse)
    return status


def _read_ledger(status: PipelineStatus, warehouse: Warehouse) -> None:
    try:
        rows = warehouse.query(ledger_sql()).rows
    except WarehouseError as exc:
        # No ledger yet (nothing loaded), or no privilege to read it: say which, never guess.
        status.ledger_problem = str(exc).splitlines()[0][:200]
        return
    by_status = {str(s): (int(n), t) for s, n, t in rows}
    status.files_loaded = by_status.get("loaded", (0, None))[0]
    status.files_quarantined = by_status.get("quarantined", (0, None))[0]
    last = by_status.get("loaded", (0, None))[1]
    if isinstance(last, dt.datetime):
        status.last_load_at = last if last.tzinfo else last.replace(tzinfo=dt.UTC)
