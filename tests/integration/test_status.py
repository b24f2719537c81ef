"""``thermocline status`` against the local stack: moto's server over HTTP and a DuckDB ledger."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from thermocline import aws, cli
from thermocline.cli.local import write_sam_env_vars
from thermocline.load.sql import LedgerEntry, ensure_bookkeeping_sql, ledger_insert_sql
from thermocline.local import stack
from thermocline.warehouse import connect

pytestmark = pytest.mark.moto


def _ledger(path: Path, files: list[LedgerEntry]) -> str:
    url = f"duckdb:///{path}"
    wh = connect(url)
    try:
        wh.execute([*ensure_bookkeeping_sql(), *ledger_insert_sql("orders", files, "load-1")])
    finally:
        wh.close()
    return url


def test_status_reads_the_local_stack_and_its_ledger(aws_env: str, tmp_path: Path, capsys) -> None:
    info = stack.deploy(aws_env)
    s3, sqs = aws.client("s3"), aws.client("sqs")
    lake, reports = info.resources["LakeBucket"], info.resources["ReportsBucket"]
    # Lake files waiting (besides S3's test event), a quarantined record, a failed stream batch, report runs.
    queue = info.resources["LoadQueue"]
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    waiting = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    for n in range(2):
        sqs.send_message(QueueUrl=info.resources["LoadQueue"], MessageBody=json.dumps({"n": n}))
    s3.put_object(Bucket=lake, Key="quarantine/orders/2026-11-27/r1.json", Body=b"{}")
    s3.put_object(Bucket=lake, Key="quarantine/load/cdc/orders/f.parquet.error.json", Body=b"{}")
    sqs.send_message(QueueUrl=info.resources["StreamFailureQueue"], MessageBody="{}")
    for day in ("2026-11-26", "2026-11-27"):
        s3.put_object(
            Bucket=reports, Key=f"monthly_sales_growth_by_region/{day}/report.html", Body=b"<html/>"
        )
    s3.put_object(Bucket=reports, Key="monthly_sales_growth_by_region/latest/report.html", Body=b"<html/>")
    url = _ledger(
        tmp_path / "wh.duckdb",
        [
            LedgerEntry("cdc/orders/a.parquet", 10),
            LedgerEntry("cdc/orders/b.parquet", 10, status="quarantined"),
        ],
    )

    code = cli.main(["status", "--endpoint", aws_env, "--region", "us-east-1", "--warehouse", url])

    out = capsys.readouterr().out
    assert code == 1, out  # a failed stream batch and a quarantined record need attention
    assert "stack thermocline: NEEDS ATTENTION" in out
    assert f"lake files waiting to load      {waiting + 2} (in flight 0)" in out
    assert "files in the ledger             1 loaded, 1 quarantined" in out
    assert "quarantined records (S3)        1" in out
    assert "StreamFailureQueue              1 message(s)" in out
    assert "LoadDeadLetterQueue             0 message(s)" in out
    assert "report monthly_sales_growth_by_region: last run 2026-11-27" in out
    last = next(line for line in out.splitlines() if "last load" in line)
    assert dt.datetime.now(dt.UTC).strftime("%Y-%m-%d") in last
    # Without CloudWatch data points (moto has none yet) the figures say so instead of a zero.
    assert "stream iterator age (max, 1 h)  no data" in out


def test_status_says_when_there_is_no_ledger_yet(aws_env: str, tmp_path: Path, capsys) -> None:
    stack.deploy(aws_env)
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    code = cli.main(["status", "--endpoint", aws_env, "--region", "us-east-1", "--warehouse", url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "stack thermocline: healthy" in out
    assert "last load                       never" in out
    assert "ledger                          unreadable:" in out


def test_up_writes_an_env_vars_file_for_sam_local_invoke(aws_env: str, tmp_path: Path) -> None:
    from thermocline.local.session import LocalStack

    with LocalStack(tmp_path / "state", endpoint=aws_env) as local:
        path = write_sam_env_vars(local, tmp_path / "state" / "sam-env.json")
        env = json.loads(path.read_text())
        lake = local.resource("LakeBucket")
    # One entry per function (sam local invoke --env-vars), each pointed at the local stack.
    assert {"StreamIngestFunction", "WarehouseLoadFunction", "AnalyticsReportFunction"} <= set(env)
    assert env["StreamIngestFunction"]["AWS_ENDPOINT_URL"] == aws_env
    assert env["StreamIngestFunction"]["LAKE_BUCKET"] == lake
    assert env["WarehouseLoadFunction"]["WAREHOUSE_URL"].startswith("duckdb:///")
