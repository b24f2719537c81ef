"""Exactly once, proven on a real DuckDB file and a real PostgreSQL server (primary keys not enforced).

Every test ends by comparing the warehouse with the source model row for row and value for value.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import redshift_connector

from tests.integration.load_fixtures import (
    ORDERS_COLUMNS,
    SourceModel,
    normalize_row,
    parquet_bytes,
    put_lake_file,
    warehouse_rows,
)
from thermocline import aws, warehouse
from thermocline.load import full_refresh, load_files
from thermocline.services.warehouse_load import handle_load_event
from thermocline.settings import WarehouseLoadSettings

BUCKET = "lake"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def s3(aws_env: str):
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def settings(engine_url: str) -> WarehouseLoadSettings:
    return WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=engine_url)


@pytest.fixture
def connect(settings, s3) -> Callable[[], warehouse.Warehouse]:
    opened: list[warehouse.Warehouse] = []

    def factory() -> warehouse.Warehouse:
        opened.append(warehouse.connect(settings.warehouse_url, s3_client=s3))
        return opened[-1]

    yield factory
    for wh in opened:
        wh.close()


def _write_batches(s3, src: SourceModel, rows, size: int, shard: str) -> list[str]:
    return [
        put_lake_file(s3, BUCKET, src.table, src.columns, batch, shard=shard)
        for batch in src.batches(rows, size)
    ]


def _sqs(keys: list[str]) -> dict:
    body = {
        "Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": BUCKET}, "object": {"key": k}}}
            for k in keys
        ]
    }
    return {
        "Records": [
            {"messageId": "m1", "receiptHandle": "h", "body": json.dumps(body), "eventSource": "aws:sqs"}
        ]
    }


def _load_each(keys: list[str], settings, wh, s3) -> None:
    """Load the files one at a time, in the order given; each must load."""
    for key in keys:
        report = load_files([key], settings=settings, warehouse=wh, s3_client=s3)
        assert report.loaded == [key]


def _ledger(wh) -> list[tuple]:
    return wh.query(
        "SELECT file_key, COUNT(*) FROM thermocline.load_ledger GROUP BY file_key ORDER BY file_key"
    ).rows


def test_replaying_every_batch_three_times(s3, settings, connect):
    src = SourceModel(seed=1)
    changes = src.random_changes(400)
    wh = connect()
    keys: list[str] = []
    for attempt, size in enumerate([37, 37, 53]):
        # The first two deliveries write the same files; the third cuts the batches differently (other
        # file names), so only the per-key sequence logic — not the ledger — can keep it exact.
        shard = "shardId-A" if attempt < 2 else "shardId-B"
        batch_keys = _write_batches(s3, src, changes, size, shard)
        for key in batch_keys:
            assert handle_load_event(_sqs([key]), settings=settings, warehouse=wh, s3_client=s3) == {
                "batchItemFailures": []
            }
        keys += batch_keys
        assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()
    assert _ledger(wh) == [(k, 1) for k in sorted(set(keys))]


def test_batches_delivered_out_of_order(s3, settings, connect):
    src = SourceModel(seed=2)
    changes = src.random_changes(400, keys=30)
    keys = _write_batches(s3, src, changes, 20, "shardId-A")
    random.Random(3).shuffle(keys)
    wh = connect()
    _load_each(keys, settings, wh, s3)
    assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()
    # Deleted keys must stay deleted even though older inserts arrived after their delete.
    deleted = {(r["pk"], r["sk"]) for r in changes} - set(src.state)
    assert deleted and not deleted & set(warehouse_rows(wh, "orders", ORDERS_COLUMNS))


@pytest.mark.parametrize("delete_mode", ["hard", "soft"])
def test_one_load_of_many_files_repeating_keys_and_copies_keeps_each_keys_newest_version(
    s3, engine_url, connect, delete_mode
):
    """Dozens of versions of each key spread over many files, every other change also in a redelivered
    copy (other file names), so some keys' newest version arrives once and some twice: one load must keep
    exactly each key's newest version, or its delete."""
    settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=engine_url, delete_mode=delete_mode)
    src = SourceModel(seed=9)
    changes = src.random_changes(480, keys=12)
    keys = _write_batches(s3, src, changes, 12, "shardId-A")
    keys += _write_batches(s3, src, changes[::2], 30, "shardId-B")
    random.Random(5).shuffle(keys)
    wh = connect()
    report = load_files(keys, settings=settings, warehouse=wh, s3_client=s3)
    assert sorted(report.loaded) == sorted(keys) and len(keys) > 40
    where = 'WHERE NOT "_deleted"' if delete_mode == "soft" else ""
    assert warehouse_rows(wh, "orders", ORDERS_COLUMNS, where=where) == src.expected()
    rows = wh.query("SELECT COUNT(*) FROM orders").rows[0][0]
    # Soft deletes keep every key ever seen, flagged; hard deletes only the live ones.
    ever = {(c["pk"], c["sk"]) for c in changes}
    assert rows == (len(ever) if delete_mode == "soft" else len(src.state))


def test_two_loaders_at_once(s3, settings, connect):
    src = SourceModel(seed=4)
    keys = _write_batches(s3, src, src.random_changes(300, keys=40), 15, "shardId-A")
    loaders = [connect(), connect()]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(wh, order: list[str]) -> None:
        try:
            start.wait()
            for i in range(0, len(order), 4):
                report = load_files(order[i : i + 4], settings=settings, warehouse=wh, s3_client=s3)
                assert not report.failed and not report.quarantined
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(loaders[0], keys)),
        threading.Thread(target=run, args=(loaders[1], list(reversed(keys)))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a loader is still running after two minutes"
    assert not errors, errors
    wh = connect()
    assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()
    assert _ledger(wh) == [(k, 1) for k in sorted(keys)]


_KILLED_LOADER = textwrap.dedent(
    """
    import sys, time
    from thermocline import aws, warehouse
    from thermocline.load import load_files
    from thermocline.settings import WarehouseLoadSettings

    settings = WarehouseLoadSettings(lake_bucket=sys.argv[1], warehouse_url=sys.argv[2])
    s3 = aws.client("s3")
    wh = warehouse.connect(settings.warehouse_url, s3_client=s3)
    if hasattr(type(wh), "_copy"):  # the local engines emulate COPY
        owner, name = type(wh), "_copy"
    else:  # the driver engine sends COPY as written, through the driver's cursor
        import redshift_connector
        owner, name = redshift_connector.Cursor, "execute"
    original = getattr(owner, name)

    def copy_then_hang(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if name == "_copy" or str(args[0]).lstrip().upper().startswith("COPY"):
            print("COPIED", flush=True)
            time.sleep(120)
        return result

    setattr(owner, name, copy_then_hang)
    load_files(sys.argv[3:], settings=settings, warehouse=wh, s3_client=s3)
    """
)


def test_killed_between_copy_and_commit(s3, settings, connect, engine_url):
    src = SourceModel(seed=5)
    first = _write_batches(s3, src, src.random_changes(120, keys=25), 40, "shardId-A")
    wh = connect()
    load_files(first[:2], settings=settings, warehouse=wh, s3_client=s3)
    before = warehouse_rows(wh, "orders", ORDERS_COLUMNS)
    wh.close()  # DuckDB: one writer process per file

    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_LOADER, BUCKET, engine_url, first[2]],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"COPIED"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    wh = connect()
    assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == before
    assert [k for k, _ in _ledger(wh)] == sorted(first[:2])
    report = load_files(first, settings=settings, warehouse=wh, s3_client=s3)
    assert (report.loaded, sorted(report.skipped)) == ([first[2]], sorted(first[:2]))
    assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()


def test_soft_deletes_flag_rows(s3, engine_url, connect):
    settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=engine_url, delete_mode="soft")
    src = SourceModel(seed=6)
    changes = src.random_changes(200, keys=20)
    keys = _write_batches(s3, src, changes, 25, "shardId-A")
    random.Random(1).shuffle(keys)
    wh = connect()
    _load_each(keys, settings, wh, s3)
    live = warehouse_rows(wh, "orders", ORDERS_COLUMNS, where='WHERE NOT "_deleted"')
    assert live == src.expected()
    flagged = wh.query('SELECT pk, sk, _ttl_expired FROM orders WHERE "_deleted"').rows
    last_delete = {}
    for row in changes:
        if row["_op"] == "D":
            last_delete[(row["pk"], row["sk"])] = row["_ttl_expired"]
    assert {(p, s): ttl for p, s, ttl in flagged} == {
        k: v for k, v in last_delete.items() if k not in src.state
    }


def test_schema_growth_adds_columns(s3, settings, connect):
    src = SourceModel(
        seed=8, columns={k: v for k, v in ORDERS_COLUMNS.items() if k not in {"score", "items"}}
    )
    early = _write_batches(s3, src, src.random_changes(60, keys=15), 30, "shardId-A")
    wh = connect()
    load_files(early, settings=settings, warehouse=wh, s3_client=s3)
    before = warehouse_rows(wh, "orders", src.columns)
    assert before == src.expected()

    src.columns = dict(ORDERS_COLUMNS)  # the lake gained score (DOUBLE) and items (SUPER)
    late_changes = [src.update(pk) for pk, _ in list(src.state)[:5]] + [src.insert("USER#NEW")]
    late = put_lake_file(s3, BUCKET, "orders", src.columns, late_changes, shard="shardId-B")
    assert load_files([late], settings=settings, warehouse=wh, s3_client=s3).loaded == [late]

    rows = warehouse_rows(wh, "orders", ORDERS_COLUMNS)
    touched = {(r["pk"], r["sk"]) for r in late_changes}
    expected = {}
    for key, row in src.state.items():
        if key in touched:
            expected[key] = {c: row.get(c) for c in ORDERS_COLUMNS}
        else:
            expected[key] = {**{c: row.get(c) for c in src.columns}, "score": None, "items": None}
    assert rows == {k: normalize_row(v, ORDERS_COLUMNS) for k, v in expected.items()}


def test_integer_column_widens_to_decimal_keeping_every_value(s3, settings, connect):
    from decimal import Decimal

    narrow = {"pk": "VARCHAR(256)", "sk": "VARCHAR(256)", "region": "VARCHAR(64)", "qty": "BIGINT"}
    src = SourceModel(seed=11, columns=dict(narrow))
    early = _write_batches(s3, src, src.random_changes(60, keys=15), 30, "shardId-A")
    wh = connect()
    load_files(early, settings=settings, warehouse=wh, s3_client=s3)

    # The lake widened qty (a fractional value arrived): later files declare DECIMAL(38,18).
    src.columns = {**narrow, "qty": "DECIMAL(38,18)"}
    late_rows = []
    for i, (pk, _) in enumerate(list(src.state)[:6]):
        row = src.update(pk)
        row["qty"] = src.state[(pk, "ORDER")]["qty"] = Decimal(10**19 + i) + Decimal("0.123456789012345678")
        late_rows.append(row)
    late = put_lake_file(s3, BUCKET, "orders", src.columns, late_rows, shard="shardId-B")
    assert load_files([late], settings=settings, warehouse=wh, s3_client=s3).loaded == [late]

    assert warehouse_rows(wh, "orders", src.columns) == src.expected()
    # An older file (BIGINT qty) arriving after the widening still loads.
    replay = put_lake_file(s3, BUCKET, "orders", narrow, [src.insert("USER#LATE")], shard="shardId-C")
    assert load_files([replay], settings=settings, warehouse=wh, s3_client=s3).loaded == [replay]
    assert warehouse_rows(wh, "orders", src.columns) == src.expected()


def test_bad_file_is_quarantined_and_the_rest_loads(s3, settings, connect):
    src = SourceModel(seed=9)
    good = _write_batches(s3, src, src.random_changes(40, keys=10), 20, "shardId-A")
    bad_rows = [dict(src.insert("USER#BAD"), items="{not json")]
    src.state.pop(("USER#BAD", "ORDER"))
    bad = put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, bad_rows, shard="shardId-Z")
    junk = "cdc/orders/dt=2026-11-01/not-parquet.parquet"
    s3.put_object(Bucket=BUCKET, Key=junk, Body=b"hello")
    wh = connect()
    report = load_files([*good, bad, junk], settings=settings, warehouse=wh, s3_client=s3)
    assert sorted(report.loaded) == sorted(good)
    assert sorted(report.quarantined) == sorted([bad, junk])
    assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()
    reason = json.loads(s3.get_object(Bucket=BUCKET, Key=f"quarantine/load/{bad}.error.json")["Body"].read())
    assert reason["file"] == f"s3://{BUCKET}/{bad}"
    assert reason["details"] and all(d["file"] in (None, reason["file"]) for d in reason["details"])
    assert s3.head_object(Bucket=BUCKET, Key=f"quarantine/load/{bad}")["ContentLength"] > 0
    statuses = dict(wh.query("SELECT file_key, status FROM thermocline.load_ledger").rows)
    assert statuses[bad] == statuses[junk] == "quarantined"
    # A quarantined file is not retried by a replay.
    assert load_files([bad], settings=settings, warehouse=wh, s3_client=s3).skipped == [bad]


def test_full_refresh_is_atomic_for_readers(s3, settings, connect, engine_url):
    src = SourceModel(seed=10)
    load_files(
        _write_batches(s3, src, src.random_changes(80, keys=30), 40, "shardId-A"),
        settings=settings,
        warehouse=connect(),
        s3_client=s3,
    )
    old_count = len(src.state)
    snapshot = {f"SNAP#{i}": src._item(f"SNAP#{i}", "ORDER") for i in range(25)}
    key = "snapshot/orders/export-1/part-0.parquet"
    rows = [dict(v, _source="aurora:orders") for v in snapshot.values()]
    s3.put_object(Bucket=BUCKET, Key=key, Body=parquet_bytes("orders", ORDERS_COLUMNS, rows, cdc=False))

    loader = connect()
    reader = connect()
    seen: list[int] = []
    # Each statement the loader runs: the local engines' _run, or the driver's cursor.
    owner = type(loader) if hasattr(type(loader), "_run") else redshift_connector.Cursor
    name = "_run" if owner is type(loader) else "execute"
    original = getattr(owner, name)

    def run_and_peek(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        sql = next(a for a in args if isinstance(a, str))
        if sql.startswith('DELETE FROM "orders"'):
            # Another connection, mid-transaction: it must still see the old contents.
            seen.append(reader.query("SELECT COUNT(*) FROM orders").rows[0][0])
        return result

    setattr(owner, name, run_and_peek)
    try:
        full_refresh([key], settings=settings, warehouse=loader, s3_client=s3)
    finally:
        setattr(owner, name, original)
    assert seen == [old_count]
    expected = {(k, "ORDER"): normalize_row(v, ORDERS_COLUMNS) for k, v in snapshot.items()}
    assert warehouse_rows(reader, "orders", ORDERS_COLUMNS) == expected
