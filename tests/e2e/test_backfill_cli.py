"""``thermocline backfill`` and ``thermocline reconcile`` as a user runs them, against a running local stack."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from tests.e2e.conftest import thermocline
from thermocline import warehouse
from thermocline.local.session import LocalStack

pytestmark = pytest.mark.moto


def test_backfill_then_reconcile_from_the_command_line(tmp_path: Path) -> None:
    with LocalStack(tmp_path / "up", log_level="ERROR") as up:
        ddb, table = up.client("dynamodb"), up.resource("Table")
        for n in range(1200):  # written before any pipeline ran: only the export has them
            item = {"pk": {"S": f"USER#{n % 40}"}, "sk": {"S": f"ORDER#{n:05d}"}, "total": {"N": str(n)}}
            item |= {"status": {"S": "placed"}, "region": {"S": "eu"}}
            ddb.put_item(TableName=table, Item=item)
        state = tmp_path / "cli"
        common = ["--endpoint", str(up.endpoint), "--state", str(state)]

        result = thermocline("backfill", "--table", "Table", *common)
        assert result.returncode == 0, result.stderr[-3000:]
        run = json.loads(result.stdout)
        assert run["items"] == 1200
        assert run["rows"] == {"orders": 1200}
        assert run["lake_files_loaded"] == run["lake_files"] > 0
        progress = result.stderr
        assert "1,200/1,200 items  2/2 files" in progress and "items/s" in progress, progress
        assert " KB read" in progress, progress

        result = thermocline("reconcile", "--table", table, *common, "--json", str(tmp_path / "r.json"))
        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
        assert "MATCH" in result.stdout
        assert "orders: 1200 in the table, 1200 in the warehouse" in result.stdout

        # Behind the pipeline's back: the warehouse loses a row; reconcile names it and fails.
        with contextlib.closing(warehouse.connect(f"duckdb:///{state / 'warehouse.duckdb'}")) as wh:
            wh.execute(['DELETE FROM "orders" WHERE "sk" = \'ORDER#00042\''])
        result = thermocline("reconcile", "--table", table, *common, "--json", str(tmp_path / "r.json"))
        assert result.returncode == 1
        assert "missing: USER#2/ORDER#00042" in result.stdout
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["tables"]["orders"]["missing"] == 1 and not report["ok"]


def test_backfill_refuses_a_table_without_a_stream(tmp_path: Path) -> None:
    with LocalStack(tmp_path / "up", log_level="ERROR") as up:
        up.client("dynamodb").create_table(
            TableName="no-stream",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        result = thermocline(
            "backfill", "--table", "no-stream", "--endpoint", str(up.endpoint), "--state", str(tmp_path / "c")
        )
    assert result.returncode == 2
    assert "its stream is off or carries no new images" in result.stderr
