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


def _canonical(value: object) -> object:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return str(Decimal(value).normalize())
    return value


def _items(db: Path) -> dict[str, list[tuple]]:
    """Each table's rows as the items they hold: columns and ``_overflow`` merged, numbers canonical.

    Column *types* follow the first value a table sees, so runs that see the files in another order may
    type a column differently (and keep the misfits in ``_overflow``); the items must be the same."""
    out = {}
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            cursor = con.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            rows = []
            for values in cursor.fetchall():
                row = dict(zip(names, values, strict=True))
                overflow = json.loads(row.pop("_overflow") or "{}", parse_float=Decimal)
                item = {k: v for k, v in row.items() if v is not None or k not in overflow}
                item.update(overflow)
                rows.append(tuple(sorted((k, repr(_canonical(v))) for k, v in item.items())))
            out[table] = sorted(rows)
    return out


def test_a_stream_split_over_several_replay_runs_equals_one_run(tmp_path: Path) -> None:
    """Types drift between the files (a flag turns from BOOL to text, a count from integer to decimal);
    the lake kept in the state directory makes every run decide as one run does."""
    batches = []
    seq = 200
    for round_ in range(4):
        records = []
        for n in range(5):
            seq += 1
            key = {"id": {"S": f"k{n}"}}
            flag = {"BOOL": n % 2 == 0} if round_ < 2 else {"S": f"maybe-{n}"}
            count = {"N": str(n + round_)} if round_ != 2 else {"N": f"{n}.{round_}5"}
            item = {**key, "flag": flag, "count": count, "round": {"N": str(round_)}}
            name = "INSERT" if round_ == 0 else ("REMOVE" if (round_ == 3 and n == 4) else "MODIFY")
            records.append(_record(seq, name, key, None if name == "REMOVE" else item, item, table="Drift"))
        # one record no decoder can read, in every batch: quarantined, the rest of the batch goes on
        seq += 1
        records.append(_record(seq, "INSERT", {"id": {"S": "bad"}}, {"id": {"X": "?"}}, table="Drift"))
        path = tmp_path / f"batch{round_}.json"
        path.write_text(json.dumps({"Records": records}))
        batches.append(str(path))

    whole = thermocline("replay", *batches, "--state", str(tmp_path / "one"))
    assert whole.returncode == 1, whole.stdout + whole.stderr  # records were quarantined
    assert "records quarantined: 4" in whole.stdout
    for split, state in (
        ([[batches[2]], [batches[0], batches[3]], [batches[1]]], "split"),
        (
            [[b] for b in reversed(batches)],
            "reversed",
        ),
    ):
        for files in split:
            result = thermocline("replay", *files, "--state", str(tmp_path / state))
            assert result.returncode == 1, result.stdout + result.stderr
            assert (
                "records quarantined: 1" in result.stdout * len(files)
                or "records quarantined: 2" in result.stdout
            )
        assert _items(tmp_path / state / "warehouse.duckdb") == _items(tmp_path / "one" / "warehouse.duckdb")
    rows = _rows(tmp_path / "one" / "warehouse.duckdb", "SELECT id, round FROM drift ORDER BY id")
    assert rows == [("k0", 3), ("k1", 3), ("k2", 3), ("k3", 3)]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(c) for c in text)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_an_interrupted_replay_leaves_no_server_behind(tmp_path: Path, signum: str) -> None:
    import signal
    import subprocess
    import sys
    import time

    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "thermocline.cli", "replay", str(ROOT / "events" / "dynamodb-update.json")]
        + ["--state", str(tmp_path / "state")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    servers: set[int] = set()
    while not servers and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        servers = _children(process.pid)
    assert servers, "the command never started its moto server"
    time.sleep(0.5)  # interrupted while the stack comes up
    process.send_signal(getattr(signal, signum))
    process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in servers), f"moto's server outlived a {signum}ed command"


def test_a_second_command_on_a_busy_state_directory_says_it_waits_then_runs(tmp_path: Path) -> None:
    import fcntl
    import subprocess
    import sys
    import time

    state = tmp_path / "state"
    state.mkdir()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AWS_")}
    with open(state / ".lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        process = subprocess.Popen(
            [sys.executable, "-m", "thermocline.cli", "replay", str(ROOT / "events" / "dynamodb-update.json")]
            + ["--state", str(state)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(5)
        assert process.poll() is None, "the second command must wait, not fail"
    out, err = process.communicate(timeout=300)
    assert "is in use by another command; waiting for it to finish" in err
    assert process.returncode == 0, out + err
