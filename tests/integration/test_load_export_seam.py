"""The seam between export rows and stream rows, on a real DuckDB file and a real PostgreSQL server.

Each key below is one case of docs/backfill.md. Stream files from before the export are loaded first (the
pipeline ran before the export); the export and the stream files after it are loaded in both orders, and
an old stream file delivered again afterwards changes nothing.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

import pytest

from tests.integration.load_fixtures import put_lake_file
from thermocline import aws, warehouse
from thermocline.load import load_files
from thermocline.load.sql import tombstone_table
from thermocline.settings import WarehouseLoadSettings
from thermocline.sources.dynamodb_export import export_sequence

BUCKET = "lake"
COLUMNS = {"pk": "VARCHAR(64)", "sk": "VARCHAR(64)", "status": "VARCHAR(64)"}
T = datetime(2026, 11, 20, 12, 0, 0, 500000)  # the export time
T_US = int((T - datetime(1970, 1, 1)).total_seconds() * 1_000_000)
EXPORT_SEQ = export_sequence(T_US)
_seq = iter(range(10**21, 10**22, 1000))


def change(pk: str, op: str, status: str | None, at: datetime) -> dict:
    return {
        "pk": pk,
        "sk": "X",
        "status": status,
        "_op": op,
        "_seq": str(next(_seq)).zfill(40),
        "_event_time": at,
        "_ttl_expired": False,
        "_source": "dynamodb:Store",
    }


def exported(pk: str, status: str | None, op: str = "I") -> dict:
    return {
        "pk": pk,
        "sk": "X",
        "status": status,
        "_op": op,
        "_seq": EXPORT_SEQ,
        "_event_time": T,
        "_ttl_expired": False,
        "_source": "dynamodb:Store",
    }


BEFORE = [
    change("gap-repaired", "I", "a", T - timedelta(minutes=5)),  # then changed while the stream was lost
    change("changed-after", "I", "a", T - timedelta(minutes=5)),
    change("deleted-after", "I", "a", T - timedelta(minutes=5)),
    change("deleted-then-recreated", "D", None, T - timedelta(minutes=5)),
    change("same-as-export", "I", "b", T - timedelta(minutes=5)),
    change("deleted-in-window", "I", "a", T - timedelta(minutes=5)),
    # Stamped up to a second before the export time (ApproximateCreationDateTime is rounded down), but
    # made after it: the stream's version must win.
    change("within-margin", "I", "s", T - timedelta(milliseconds=600)),
]
AFTER = [
    change("changed-after", "U", "c", T + timedelta(seconds=5)),
    change("deleted-after", "D", None, T + timedelta(seconds=5)),
    change("same-as-export", "U", "z", T + timedelta(seconds=5)),
]
EXPORT = [
    exported("gap-repaired", "b"),
    exported("changed-after", "b"),
    exported("deleted-after", "b"),
    exported("deleted-then-recreated", "b"),
    exported("same-as-export", "b"),
    exported("export-only", "b"),
    exported("deleted-in-window", None, op="D"),  # an incremental export's delete
    exported("within-margin", "e"),
]
WANT = {
    "gap-repaired": "b",
    "changed-after": "c",
    "deleted-then-recreated": "b",
    "same-as-export": "z",
    "export-only": "b",
    "within-margin": "s",
}


@pytest.mark.parametrize("delete_mode", ["hard", "soft"])
@pytest.mark.parametrize("export_first", [True, False], ids=["export-then-stream", "stream-then-export"])
def test_export_rows_meet_stream_rows_at_the_seam(
    aws_env: str, engine_url: str, export_first: bool, delete_mode: str
) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=engine_url, delete_mode=delete_mode)
    before = put_lake_file(s3, BUCKET, "store", COLUMNS, BEFORE, shard="s1")
    after = put_lake_file(s3, BUCKET, "store", COLUMNS, AFTER, shard="s2")
    export = put_lake_file(s3, BUCKET, "store", COLUMNS, EXPORT, shard="x1", kind="export")
    replay = put_lake_file(s3, BUCKET, "store", COLUMNS, BEFORE, shard="s3")  # the old batch, again
    with contextlib.closing(warehouse.connect(engine_url, s3_client=s3)) as wh:
        for keys in ([before], [export, after] if export_first else [after, export], [replay]):
            for key in keys:
                report = load_files([key], settings=settings, warehouse=wh, s3_client=s3)
                assert report.loaded == [key], report.summary()
        rows = dict(wh.query('SELECT "pk", "status" FROM "store" WHERE NOT "_deleted"').rows)
        if delete_mode == "hard":
            deleted = {
                r[0] for r in wh.query(f'SELECT "pk" FROM "thermocline"."{tombstone_table("store")}"').rows
            }
        else:
            deleted = {r[0] for r in wh.query('SELECT "pk" FROM "store" WHERE "_deleted"').rows}
        replaced = wh.query('SELECT "_seq" FROM "store" WHERE "pk" = \'gap-repaired\'').rows[0][0]
    assert rows == WANT
    assert {"deleted-after", "deleted-in-window"} <= deleted
    # The repaired row took over the sequence number of the stream version it replaced.
    assert replaced == BEFORE[0]["_seq"]
