"""`thermocline replay`: captured Streams events → lake → DuckDB warehouse, with default routing."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.e2e.conftest import ROOT, thermocline

pytestmark = [pytest.mark.e2e]


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _record(
    seq: int, name: str, keys: dict, new: dict | None, old: dict | None = None, table: str = "Captured-Orders"
) -> dict:
    ddb: dict = {
        "ApproximateCreationDateTime": 1795608000 + seq,
        "Keys": keys,
        "SequenceNumber": str(seq),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        ddb["NewImage"] = new
    if old is not None:
        ddb["OldImage"] = old
    return {
        "eventID": f"id{seq}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": ddb,
        "eventSourceARN": f"arn:aws:dynamodb:eu-west-1:123456789012:table/{table}/stream/2026-11-01T00:00:00.000",
    }


def test_aws_and_powertools_sample_events_replay_into_duckdb(tmp_path: Path) -> None:
    files = [str(ROOT / "events" / "dynamodb-update.json"), str(ROOT / "events" / "dynamodb-powertools.json")]
    result = thermocline("replay", *files, "--state", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    db = tmp_path / "warehouse.duckdb"
    tables = {r[0] for r in _rows(db, "SELECT table_name FROM information_schema.tables")}
    # AWS's published sample streams from ExampleTableWithStream: INSERT, MODIFY, REMOVE of one item.
    assert "exampletablewithstream" in tables
    assert _rows(db, "SELECT COUNT(*) FROM exampletablewithstream") == [(0,)]
    # Powertools' test event names its source "eventsource_arn": default routing takes the name as it is.
    assert _rows(db, "SELECT id, message FROM eventsource_arn") == [(101, "New item!")]


def test_replay_applies_inserts_updates_and_deletes_and_adds_on_a_second_run(tmp_path: Path) -> None:
    k1, k2 = {"id": {"S": "a"}}, {"id": {"S": "b"}}
    blob = {"blob": {"B": base64.b64encode(b"\x00\x01").decode()}}
    first = tmp_path / "batch1.json"
    first.write_text(
        json.dumps(
            {
                "Records": [
                    _record(
                        101,
                        "INSERT",
                        k1,
                        {**k1, **blob, "total": {"N": "150.25"}},
                    ),
                    _record(102, "INSERT", k2, {**k2, "total": {"N": "7"}}),
                    _record(
                        103,
                        "MODIFY",
                        k1,
                        {**k1, **blob, "total": {"N": "99.5"}},
                        {**k1, **blob, "total": {"N": "150.25"}},
                    ),
                ]
            }
        )
    )
    second = tmp_path / "batch2.json"
    second.write_text(
        json.dumps(
            {
                "Records": [
                    _record(104, "REMOVE", k2, None, {**k2, "total": {"N": "7"}}),
                    _record(105, "INSERT", {"id": {"S": "c"}}, {"id": {"S": "c"}, "total": {"N": "1"}}),
                ]
            }
        )
    )
    state = tmp_path / "state"
    assert thermocline("replay", str(first), "--state", str(state)).returncode == 0
    db = state / "warehouse.duckdb"
    assert _rows(db, "SELECT id, total FROM captured_orders ORDER BY id") == [
        ("a", Decimal("99.5")),
        ("b", Decimal("7")),
    ]
    assert _rows(db, "SELECT blob FROM captured_orders WHERE id = 'a'") == [(b"\x00\x01",)]

    result = thermocline("replay", str(second), str(first), "--state", str(state))
    assert result.returncode == 0, result.stdout + result.stderr
    # The second run adds to the first; replaying batch1 again changes nothing (older versions are ignored).
    assert _rows(db, "SELECT id, total FROM captured_orders ORDER BY id") == [
        ("a", Decimal("99.5")),
        ("c", Decimal("1")),
    ]


def test_replay_of_a_non_streams_file_fails_with_one_line_and_loads_nothing(tmp_path: Path) -> None:
    good = ROOT / "events" / "dynamodb-update.json"
    bad = ROOT / "events" / "analytics-report-schedule.json"
    result = thermocline("replay", str(good), str(bad), "--state", str(tmp_path / "s"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "analytics-report-schedule.json" in result.stderr
    assert not (tmp_path / "s" / "warehouse.duckdb").exists()
