"""Backfill a table that already holds data, hand over to the stream at the seam, and reconcile — on the
local stack (template.yaml deployed into moto's server, handlers in-process, a DuckDB warehouse).

moto's ExportTableToPointInTime writes no manifests, no export time and no incremental exports, so the
exports here are written in AWS's documented layout by ``thermocline.local.exports`` (a consistent scan
at the export time for a full export, the stream's records in the window for an incremental one).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from thermocline import warehouse
from thermocline.local.exports import LocalExports
from thermocline.local.session import LocalStack
from thermocline.services import backfill
from thermocline.services.reconcile import Reconciliation, handle_reconcile_event, reconcile_export
from thermocline.settings import BackfillSettings, ReconcileSettings

pytestmark = pytest.mark.moto


class Pipeline:
    """The deployed stack with its stream poller and load drainer, and the seam's moving parts."""

    def __init__(self, local: LocalStack) -> None:
        self.local = local
        self.ddb = local.client("dynamodb")
        self.s3 = local.client("s3")
        self.table = local.resource("Table")
        self.lake = local.resource("LakeBucket")
        self.poller = local.stream_poller()
        self.drainer = local.load_drainer()
        self.exports = LocalExports(self.ddb, self.s3, local.client("dynamodbstreams"), items_per_file=7)
        self.settings = BackfillSettings(lake_bucket=self.lake, chunk_items=5, **self.table_contracts())

    def table_contracts(self) -> dict[str, str]:
        path = self.local.environment_for("StreamIngestFunction").get("CONTRACTS_PATH")
        return {"contracts_path": path} if path else {}

    def put(self, pk: str, sk: str, **attrs: Any) -> None:
        item = {"pk": {"S": pk}, "sk": {"S": sk}}
        for name, value in attrs.items():
            item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
        self.ddb.put_item(TableName=self.table, Item=item)

    def delete(self, pk: str, sk: str) -> None:
        self.ddb.delete_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    def deliver(self) -> None:
        """The stream to the lake and the lake to the warehouse, as the event source mappings would."""
        self.poller.poll()
        self.drainer.drain()

    def export(self, **window: datetime) -> str:
        return backfill.start_backfill(self.ddb, self.exports, self.settings, self.table, **window)

    def backfill(self, export_arn: str) -> int:
        plan, summary = backfill.plan_backfill(
            self.s3, self.ddb, self.settings, self.exports.describe(export_arn)
        )
        items = 0
        for index in range(len(plan.files)):
            outcome = backfill.run_file(self.s3, self.settings, plan, summary, index)
            assert outcome.finished
            items += outcome.done.items
        return items

    def reconcile(self, export_arn: str | None = None) -> Reconciliation:
        """The warehouse vs a fresh export (or ``export_arn``), as `thermocline reconcile` compares them."""
        settings = ReconcileSettings(lake_bucket=self.lake, warehouse_url=self.local.warehouse_url)
        status = self.exports.describe(export_arn or self.export())
        with contextlib.closing(self.warehouse()) as wh:
            return reconcile_export(self.s3, self.ddb, wh, settings, status)

    def warehouse(self) -> Any:
        return warehouse.connect(self.local.warehouse_url, s3_client=self.s3)

    def table_state(self) -> dict[tuple[str, str], dict[str, str]]:
        """The source table read directly (the test's own, independent view of the truth)."""
        items = self.ddb.scan(TableName=self.table, ConsistentRead=True)["Items"]
        return {
            (i["pk"]["S"], i["sk"]["S"]): {k: next(iter(v.values())) for k, v in i.items()} for i in items
        }


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    with LocalStack(tmp_path / "state", log_level="ERROR") as local:
        yield Pipeline(local)


def _orders_in_warehouse(p: Pipeline) -> dict[tuple[str, str], tuple[str, int]]:
    with contextlib.closing(p.warehouse()) as wh:
        rows = wh.query('SELECT "pk", "sk", "status", "total" FROM "orders"').rows
    return {(pk, sk): (status, int(total)) for pk, sk, status, total in rows}


def _orders_in_table(p: Pipeline) -> dict[tuple[str, str], tuple[str, int]]:
    return {
        key: (item["status"], int(item["total"]))
        for key, item in p.table_state().items()
        if key[1].startswith("ORDER#") and "#LINE#" not in key[1]
    }


def _order(p: Pipeline, n: int, status: str, total: int) -> None:
    p.put(f"USER#{n % 3}", f"ORDER#{n:04d}", status=status, total=total, region="eu")


def test_backfill_hands_over_to_the_stream_at_the_seam_and_reconcile_proves_it(pipeline: Pipeline) -> None:
    p = pipeline
    # Items written before the stream existed: the pipeline never sees them.
    for n in range(20):
        _order(p, n, "placed", 100 + n)
    assert p.poller.discard() == 20
    # Changes the stream delivers before the export: an update, a delete, a new order.
    _order(p, 1, "paid", 101)
    p.delete("USER#2", "ORDER#0002")
    _order(p, 30, "placed", 130)
    p.deliver()

    arn = p.export()  # the export time: the table's state from here on is what the export holds
    time.sleep(1.1)  # past the seam margin: what follows is certainly after the export time
    # During the export: changes the stream delivers before the backfill is loaded ...
    _order(p, 3, "shipped", 103)
    p.delete("USER#1", "ORDER#0004")
    _order(p, 31, "placed", 131)
    p.deliver()
    # ... and changes written during the export whose stream files load only after the backfill.
    _order(p, 5, "refunded", 0)
    p.delete("USER#0", "ORDER#0006")
    p.poller.poll()  # in the lake, not yet loaded

    assert p.backfill(arn) == 20  # items in the export: 20 - 1 deleted + 1 new
    p.drainer.drain()  # export rows and the pending stream files load together
    # After the export: more changes, a delete of an exported item, a re-insert of one deleted earlier.
    _order(p, 7, "paid", 107)
    p.delete("USER#2", "ORDER#0008")
    _order(p, 2, "placed", 202)
    p.deliver()

    got, want = _orders_in_warehouse(p), _orders_in_table(p)
    assert got == want
    assert got[("USER#0", "ORDER#0003")] == ("shipped", 103)  # changed during the export: the stream won
    assert got[("USER#2", "ORDER#0005")] == ("refunded", 0)  # its stream file loaded after the export's
    assert ("USER#1", "ORDER#0004") not in got  # deleted during the export: did not come back
    assert ("USER#0", "ORDER#0006") not in got
    assert ("USER#2", "ORDER#0008") not in got  # deleted after the export
    assert got[("USER#2", "ORDER#0002")] == ("placed", 202)  # deleted before, inserted again after
    assert got[("USER#1", "ORDER#0010")] == ("placed", 110)  # only ever in the export

    report = p.reconcile()
    assert report.ok, "\n".join(report.lines())
    assert report.tables["orders"].expected == len(want)

    # A row changed behind the pipeline's back, one deleted, one added: reconcile names each.
    with contextlib.closing(p.warehouse()) as wh:
        wh.execute(
            [
                'UPDATE "orders" SET "status" = \'lost\' WHERE "sk" = \'ORDER#0011\'',
                'DELETE FROM "orders" WHERE "sk" = \'ORDER#0012\'',
                'INSERT INTO "orders" ("pk", "sk", "status", "_source", "_seq", "_event_time") '
                f"VALUES ('USER#9', 'ORDER#9999', 'ghost', 'dynamodb:{p.table}', '0', TIMESTAMP '2000-01-01 00:00:00')",
            ]
        )
    time.sleep(1.1)
    report = p.reconcile()
    orders = report.tables["orders"]
    assert (orders.missing, orders.extra, orders.differing) == (1, 1, 1), "\n".join(report.lines())
    assert orders.examples["missing"] == ["USER#0/ORDER#0012"]
    assert orders.examples["extra"] == ["USER#9/ORDER#9999"]
    assert orders.examples["differing"][0].startswith(
        "USER#2/ORDER#0011 (status: table 'placed' warehouse 'lost'"
    )
    assert not report.ok


def test_reconcile_matches_a_value_too_large_for_a_warehouse_row(pipeline: Pipeline) -> None:
    # A string over 65,535 bytes is cut in its column and kept whole outside the row (docs/ingest.md,
    # "Values too large for a warehouse row"): the export's copy of the item is the same item, not a mismatch.
    p = pipeline
    p.put("USER#0", "ORDER#0001", status="placed", total=1, note="é" * 40_000)
    p.put("USER#0", "ORDER#0002", status="placed", total=2, note="short")
    p.deliver()
    time.sleep(1.1)
    report = p.reconcile()
    assert report.ok, "\n".join(report.lines())
    assert report.tables["orders"].expected == 2


def test_reconcile_excludes_and_counts_items_changed_after_the_export_time(pipeline: Pipeline) -> None:
    p = pipeline
    for n in range(6):
        _order(p, n, "placed", n)
    p.deliver()
    time.sleep(1.1)  # changes within the seam margin before the export time would count as after it
    arn = p.export()
    time.sleep(1.1)
    _order(p, 1, "paid", 1)
    p.delete("USER#2", "ORDER#0002")
    p.deliver()
    report = p.reconcile(arn)
    assert report.ok, "\n".join(report.lines())
    assert report.tables["orders"].excluded == 2
    assert "2 changed after the export time, not compared" in "\n".join(report.lines())


def test_incremental_export_catches_up_after_a_stream_outage(pipeline: Pipeline) -> None:
    p = pipeline
    for n in range(8):
        _order(p, n, "placed", n)
    p.deliver()
    time.sleep(1.1)
    outage_start = datetime.now(UTC)
    # Changes the pipeline never gets: the stream kept them 24 hours, the pipeline was down longer.
    _order(p, 1, "paid", 11)
    p.delete("USER#2", "ORDER#0002")
    _order(p, 20, "placed", 20)
    _order(p, 3, "paid", 13)
    assert p.poller.discard() == 4
    # The pipeline is back: the stream delivers what it still holds (here: one more change to order 3).
    _order(p, 3, "shipped", 23)
    p.poller.poll()
    time.sleep(1.1)
    arn = p.export(export_from=outage_start, export_to=datetime.now(UTC))
    time.sleep(1.1)
    _order(p, 1, "refunded", 0)  # after the incremental window: must win over the export's version
    p.poller.poll()
    p.backfill(arn)
    p.drainer.drain()
    got = _orders_in_warehouse(p)
    assert got == _orders_in_table(p)
    assert got[("USER#1", "ORDER#0001")] == ("refunded", 0)
    assert ("USER#2", "ORDER#0002") not in got
    assert got[("USER#2", "ORDER#0020")] == ("placed", 20)
    assert p.reconcile().ok


def test_scheduled_reconcile_compares_with_the_export_the_previous_run_started(pipeline: Pipeline) -> None:
    p = pipeline
    for n in range(5):
        _order(p, n, "placed", n)
    p.deliver()
    settings = ReconcileSettings(lake_bucket=p.lake, warehouse_url=p.local.warehouse_url, table_name=p.table)

    def run() -> dict[str, Any]:
        with contextlib.closing(p.warehouse()) as wh:
            return handle_reconcile_event(
                {}, settings=settings, s3=p.s3, ddb=p.ddb, exports=p.exports, warehouse=wh
            )

    time.sleep(1.1)  # changes within the seam margin before the export time would count as after it
    first = run()  # nothing to compare yet: it starts the export the next run compares with
    assert "report" not in first and first["next_export_arn"]
    time.sleep(1.1)
    _order(p, 1, "paid", 1)  # after that export: excluded, not a mismatch
    p.deliver()
    second = run()
    assert second["report"]["ok"] is True, second["report"]
    assert second["report"]["export_arn"] == first["next_export_arn"]
    assert second["report"]["tables"]["orders"]["excluded"] == 1
    export_id = first["next_export_arn"].rsplit("/", 1)[-1]
    stored = json.loads(
        p.s3.get_object(Bucket=p.lake, Key=f"_reconcile/{p.table}/{export_id}.json")["Body"].read()
    )
    assert stored == second["report"]
