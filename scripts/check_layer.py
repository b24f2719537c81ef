"""Smoke-test a built layer the way Lambda loads it: ``python3.12 scripts/check_layer.py <layer>/python``.

Run it with the CPython the layer was built for (3.12 or 3.13), on its machine. The layer directory goes first on
``sys.path`` as ``/opt/python`` does in Lambda; boto3 and botocore, which the Lambda runtime provides and the
layer leaves out, may be supplied with ``--runtime DIR`` (searched last, after the layer). Exits non-zero, naming the failure, when the
trimmed pyarrow cannot write and read Parquet or a package the functions import is missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import importlib
import importlib.util
import io
import os
import sys
from pathlib import Path

# What the handlers import on the Lambda path, beyond the standard library.
MODULES = (
    "pyarrow",
    "pyarrow.parquet",
    "pyarrow.compute",
    "pyarrow.dataset",
    "yaml",
    "pygal",
    "aws_lambda_powertools",
    "aws_lambda_powertools.utilities.batch",
    "aws_xray_sdk.core",
    "thermocline",
    "thermocline.settings",
    "thermocline.observability",
    "thermocline.warehouse",
    "thermocline.warehouse.redshift_data",
    "thermocline.services.stream_ingest",
    "thermocline.services.warehouse_load",
    "thermocline.services.analytics_report",
    "thermocline.reporting.chart",
    "thermocline.services.export_ingest",
    "thermocline.services.export_start",
)
# Enough environment for the handlers' cold start (settings are read at import time), as inside Lambda.
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "check-layer",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "check-layer",
    "AWS_SECRET_ACCESS_KEY": "check-layer",
    "LAKE_BUCKET": "lake",
    "REPORTS_BUCKET": "reports",
    "LOAD_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/load",
    "WAREHOUSE_URL": "redshift-data://workgroup/database",
    "EXPORT_BUCKET": "exports",
    "SOURCE_ARN": "arn:aws:rds:us-east-1:123456789012:cluster:catalogue",
    "EXPORT_ROLE_ARN": "arn:aws:iam::123456789012:role/export",
    "EXPORT_KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/check-layer",
    "POWERTOOLS_METRICS_NAMESPACE": "Thermocline",
}


def parquet_round_trip() -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "pk": pa.array(["USER#1", "USER#2"]),
            "total": pa.array([decimal.Decimal("150.25"), None], pa.decimal128(38, 2)),
            "n": pa.array([1, 2], pa.int64()),
            "_event_time": pa.array(
                [dt.datetime(2026, 11, 25, tzinfo=dt.UTC)] * 2, pa.timestamp("us", tz="UTC")
            ),
            "_ttl_expired": pa.array([False, True]),
            "blob": pa.array([b"\x00\x01", b""], pa.binary()),
        }
    )
    table = table.replace_schema_metadata({"thermocline": '{"version": 1}'})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    back = pq.read_table(io.BytesIO(sink.getvalue()))
    if not back.equals(table) or back.schema.metadata[b"thermocline"] != b'{"version": 1}':
        raise AssertionError("Parquet round trip changed the table")
    if pc.sum(back["n"]).as_py() != 3:
        raise AssertionError("pyarrow.compute gave a wrong sum")


def report_page() -> None:
    """A shipped report's page, chart included, from the layer's own packages (pygal, pyarrow)."""
    import datetime as dt
    from decimal import Decimal

    from thermocline.reporting.definition import load_report
    from thermocline.reporting.render import ReportResult, RunInfo, render_files

    definition = load_report("monthly_sales_growth_by_region")
    rows = [("eu-west", "2026-10-01 00:00:00", "80.25", 1, None, None)]
    result = ReportResult.check(definition, [c.name for c in definition.columns], rows)
    day = dt.date(2026, 11, 27)
    page = render_files(result, RunInfo(day, dt.datetime(2026, 11, 27, tzinfo=dt.UTC), {"run_date": day}))
    if b"<svg" not in page["report.html"] or result.rows[0][2] != Decimal("80.25"):
        raise AssertionError("the report page has no chart or lost a value")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layer", help="the layer's python/ directory")
    parser.add_argument(
        "--runtime", action="append", default=[], help="directory standing in for the runtime"
    )
    parser.add_argument(
        "--function", action="append", default=[], type=Path, help="a built function directory"
    )
    args = parser.parse_args()
    if sys.version_info[:2] not in ((3, 12), (3, 13)):
        print(
            f"check_layer: needs the layer's CPython (3.12 or 3.13), this is {sys.version.split()[0]}",
            file=sys.stderr,
        )
        return 2
    layer = str(Path(args.layer).resolve())
    # /opt/python comes before the runtime's own packages, as in Lambda.
    sys.path.insert(0, layer)
    sys.path.extend(args.runtime)
    for name in MODULES:
        origin = str(Path(importlib.import_module(name).__file__ or "?").resolve())
        if not origin.startswith(layer):
            raise AssertionError(f"{name} was imported from {origin}, not from the layer")
    parquet_round_trip()
    report_page()
    fast_path = "pure Python"
    if list(Path(layer, "thermocline", "sources", "dynamodb_streams").glob("_speedups.*.so")):
        # Built for this interpreter: it must load, and agree with the reference encoder.
        from thermocline.sources.dynamodb_streams import fastpath, super_json

        if fastpath.super_json is None or fastpath.stage_row is None:
            raise AssertionError("the C fast path is in the layer but does not load under this Python")
        sample = {"a": {"N": "1.50"}, "b": {"L": [{"S": 'x"'}, {"BOOL": True}, {"NULL": True}]}}
        if fastpath.super_json("M", sample) != super_json._json_value("M", sample):
            raise AssertionError("the C fast path disagrees with the pure-Python encoder")
        fast_path = "C fast path"
    os.environ.update(LAMBDA_ENV)
    for function in args.function:
        spec = importlib.util.spec_from_file_location(f"app_{function.name}", function / "app.py")
        if spec is None or spec.loader is None:
            raise AssertionError(f"{function}: no app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "lambda_handler", None)):
            raise AssertionError(f"{function}/app.py has no lambda_handler")
    print(
        f"check_layer: {len(MODULES)} modules and {len(args.function)} handlers import, Parquet round-trips,"
        " a report page renders,"
        f" decoding on the {fast_path}, under Python {sys.version.split()[0]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
