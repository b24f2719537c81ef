"""Monthly cost of a deployment from its volumes, against Amazon Data Firehose and zero-ETL (pure).

A model, not a bill: each line says what it assumes. The figure that dominates is nearly always the
warehouse: Redshift Serverless bills every second a query runs, with a 60-second minimum, so loads every
minute keep it billed around the clock while loads every 15 minutes bill it about an hour in 15.
"""

from __future__ import annotations

from dataclasses import dataclass

from thermocline.ops.prices import PRICES, RECORDED_ON, REGION

SECONDS_PER_MONTH = 30 * 24 * 3600
HOURS_PER_MONTH = 30 * 24


@dataclass(frozen=True)
class Volumes:
    writes_per_second: float
    item_kb: float = 1.0
    tables: int = 4
    reports_per_day: int = 4
    retention_days: int = 365
    load_interval_seconds: int = 60
    base_rpu: int = 8
    # Seconds of warehouse work per load and per report (COPY + merge of one interval's files).
    load_seconds: float = 20.0
    report_seconds: float = 30.0
    # Parquet (zstd) of DynamoDB items: about a third of their JSON size.
    parquet_ratio: float = 0.35

    @property
    def changes_per_month(self) -> float:
        return self.writes_per_second * SECONDS_PER_MONTH

    @property
    def change_gb_per_month(self) -> float:
        return self.changes_per_month * self.item_kb / 1e6


@dataclass(frozen=True)
class Line:
    what: str
    usd: float
    assumes: str


def _p(name: str) -> float:
    return PRICES[name].usd


def warehouse_lines(v: Volumes, refresh_seconds: int) -> list[Line]:
    """Redshift Serverless compute for one refresh every ``refresh_seconds`` and the reports, and storage."""
    refreshes = SECONDS_PER_MONTH / refresh_seconds
    billed = min(refresh_seconds, max(60.0, v.load_seconds))
    load_hours = min(HOURS_PER_MONTH, refreshes * billed / 3600)
    report_hours = v.reports_per_day * 30 * max(60.0, v.report_seconds) / 3600
    rows_gb = v.change_gb_per_month * min(v.retention_days, 365) / 30 * 0.5
    return [
        Line(
            "Redshift Serverless, loads",
            load_hours * v.base_rpu * _p("redshift_rpu_hour"),
            f"{v.base_rpu} RPU x {load_hours:,.0f} h ({refreshes:,.0f} refreshes, {billed:.0f} s billed each)",
        ),
        Line(
            "Redshift Serverless, reports",
            report_hours * v.base_rpu * _p("redshift_rpu_hour"),
            f"{v.reports_per_day}/day, {max(60.0, v.report_seconds):.0f} s billed each",
        ),
        Line(
            "Redshift managed storage",
            rows_gb * _p("redshift_gb_month"),
            f"{rows_gb:,.1f} GB: the changes of {min(v.retention_days, 365)} days at half their size",
        ),
    ]


def thermocline_lines(v: Volumes) -> list[Line]:
    c = v.changes_per_month
    # The stream trigger invokes at least once per batching window (5 s) while writes flow.
    ingest_calls = max(c / 1000, SECONDS_PER_MONTH / 5) if c else 0
    ingest_gbs = ingest_calls * 0.2 * 1.0 + c * 0.00005 * 1.0
    files = ingest_calls * min(v.tables, 1000)
    lake_gb = v.change_gb_per_month * v.parquet_ratio * v.retention_days / 30
    loads = SECONDS_PER_MONTH / v.load_interval_seconds
    load_gbs = loads * v.load_seconds * 0.5
    lambda_usd = (ingest_gbs + load_gbs) * _p("lambda_gb_second") + (ingest_calls + loads) * _p(
        "lambda_request"
    )
    return [
        Line("DynamoDB Streams reads", 0.0, "free when read by a Lambda trigger"),
        Line(
            "Lambda (ingest + load)",
            lambda_usd,
            f"{ingest_calls:,.0f} ingest calls at 1 GB x 0.2 s, {loads:,.0f} loads at 512 MB x {v.load_seconds:.0f} s",
        ),
        Line(
            "S3 lake storage",
            lake_gb * _p("s3_gb_month"),
            f"{lake_gb:,.1f} GB Parquet kept {v.retention_days} days",
        ),
        Line(
            "S3 requests",
            files * (_p("s3_put") + 2 * _p("s3_get")),
            f"{files:,.0f} lake files (one per table per batch)",
        ),
        Line(
            "SQS",
            (files * 3 + 6 * SECONDS_PER_MONTH / 20) * _p("sqs_request"),
            "send, receive, delete per file; long-polling pollers",
        ),
        Line(
            "CloudWatch alarms + dashboard",
            30 * _p("cloudwatch_alarm") + _p("cloudwatch_dashboard"),
            "about 30 alarms, one dashboard",
        ),
        *warehouse_lines(v, v.load_interval_seconds),
    ]


def firehose_lines(v: Volumes) -> list[Line]:
    c = v.changes_per_month
    billed_gb = c * max(5.0, 5.0 * -(-v.item_kb // 5)) / 1e6
    return [
        Line(
            "Kinesis Data Streams for DynamoDB (CDC units)",
            c * max(1.0, -(-v.item_kb // 1)) * _p("kds_cdc_unit"),
            "one unit per KB written",
        ),
        Line(
            "Kinesis Data Streams on-demand",
            HOURS_PER_MONTH * _p("kds_stream_hour")
            + v.change_gb_per_month * (_p("kds_gb_in") + _p("kds_gb_out")),
            "one stream, written once, read by Firehose",
        ),
        Line(
            "Firehose ingestion",
            billed_gb * _p("firehose_gb"),
            f"{billed_gb:,.1f} GB billed (5 KB per record minimum)",
        ),
        Line(
            "Firehose Parquet conversion",
            billed_gb * _p("firehose_parquet_gb"),
            "JSON to Parquet for the lake",
        ),
        Line(
            "S3 lake storage",
            v.change_gb_per_month * v.parquet_ratio * v.retention_days / 30 * _p("s3_gb_month"),
            "same lake",
        ),
        *warehouse_lines(v, max(60, min(900, v.load_interval_seconds))),
        Line(
            "not included", 0.0, "Firehose appends: dedupe, updates and deletes need a MERGE job of your own"
        ),
    ]


def zero_etl_lines(v: Volumes) -> list[Line]:
    return [
        Line("zero-ETL integration", 0.0, "no charge for the integration itself"),
        Line(
            "DynamoDB incremental exports",
            v.change_gb_per_month * _p("ddb_incremental_export_gb"),
            "the changed data, exported by the integration",
        ),
        *warehouse_lines(v, 15 * 60),
        Line(
            "not included", 0.0, "no Parquet lake, no quarantine, refresh every 15-30 min, SUPER columns only"
        ),
    ]


def render(v: Volumes) -> list[str]:
    out = [
        f"Monthly cost, {REGION} on-demand prices recorded {RECORDED_ON}: {v.writes_per_second:g} writes/s of "
        f"{v.item_kb:g} KB, {v.tables} tables, {v.reports_per_day} reports/day, {v.retention_days} days of lake, "
        f"a load every {v.load_interval_seconds} s",
        "",
    ]
    for title, lines in (
        ("Thermocline", thermocline_lines(v)),
        ("Kinesis Data Streams + Amazon Data Firehose", firehose_lines(v)),
        ("DynamoDB zero-ETL integration with Redshift", zero_etl_lines(v)),
    ):
        out.append(f"{title}: ${sum(line.usd for line in lines):,.2f}/month")
        out += [f"  {line.what:<44} ${line.usd:>10,.2f}  {line.assumes}" for line in lines]
        out.append("")
    out.append(f"Unit prices (AWS pricing pages, {REGION}, recorded {RECORDED_ON}; check before quoting):")
    out += [f"  {name:<28} ${p.usd:.10g} per {p.unit}  {p.source}" for name, p in PRICES.items()]
    return out
