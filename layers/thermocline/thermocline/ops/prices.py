"""Unit prices ``thermocline cost`` uses: AWS on-demand list prices, us-east-1, with where and when.

They were copied from AWS's public pricing pages on the date below and are not fetched at run time (the
command works offline). Prices change and differ by Region: check the page before quoting a figure.
"""

from __future__ import annotations

from dataclasses import dataclass

RECORDED_ON = "2026-11-27"
REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str


PRICES: dict[str, Price] = {
    "lambda_gb_second": Price(0.0000166667, "GB-second (x86_64)", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_request": Price(0.20 / 1e6, "request", "https://aws.amazon.com/lambda/pricing/"),
    "s3_gb_month": Price(0.023, "GB-month (S3 Standard)", "https://aws.amazon.com/s3/pricing/"),
    "s3_put": Price(0.005 / 1000, "PUT request", "https://aws.amazon.com/s3/pricing/"),
    "s3_get": Price(0.0004 / 1000, "GET request", "https://aws.amazon.com/s3/pricing/"),
    "sqs_request": Price(0.40 / 1e6, "request (standard queue)", "https://aws.amazon.com/sqs/pricing/"),
    "streams_read_by_lambda": Price(
        0.0, "stream read by a Lambda trigger (free)", "https://aws.amazon.com/dynamodb/pricing/on-demand/"
    ),
    "redshift_rpu_hour": Price(
        0.375,
        "RPU-hour (Serverless, billed per second, 60 s minimum)",
        "https://aws.amazon.com/redshift/pricing/",
    ),
    "redshift_gb_month": Price(
        0.024, "GB-month (Redshift Managed Storage)", "https://aws.amazon.com/redshift/pricing/"
    ),
    "cloudwatch_alarm": Price(0.10, "standard alarm-month", "https://aws.amazon.com/cloudwatch/pricing/"),
    "cloudwatch_dashboard": Price(3.00, "dashboard-month", "https://aws.amazon.com/cloudwatch/pricing/"),
    "kds_cdc_unit": Price(
        0.10 / 1e6,
        "change data capture unit (1 KB) to Kinesis Data Streams",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "kds_stream_hour": Price(
        0.04,
        "stream-hour (Kinesis Data Streams on-demand)",
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
    ),
    "kds_gb_in": Price(
        0.08,
        "GB written (Kinesis Data Streams on-demand)",
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
    ),
    "kds_gb_out": Price(
        0.04,
        "GB read (Kinesis Data Streams on-demand)",
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
    ),
    "firehose_gb": Price(
        0.029, "GB ingested, records rounded up to 5 KB", "https://aws.amazon.com/firehose/pricing/"
    ),
    "firehose_parquet_gb": Price(
        0.018, "GB converted to Parquet", "https://aws.amazon.com/firehose/pricing/"
    ),
    "ddb_incremental_export_gb": Price(
        0.10,
        "GB of changed data exported (incremental export)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
}
