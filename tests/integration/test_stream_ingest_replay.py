"""The same captured batches, poison records included, replayed twice through `thermocline replay` with the
demo's contract: the warehouse ends up exactly matching the source items, and nothing is lost."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import load_event
from tests.e2e.conftest import ROOT, thermocline

pytestmark = [pytest.mark.e2e]

CONTRACTS = ROOT / "layers/thermocline/thermocline/contracts/demo-store.yaml"


def source_state(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The DynamoDB table after these records, computed from the records alone (latest image wins)."""
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: int(r["dynamodb"]["SequenceNumber"])):
        keys = r["dynamodb"]["Keys"]
        key = (keys["pk"]["S"], keys["sk"]["S"])
        if r["eventName"] == "REMOVE":
            items.pop(key, None)
        else:
            items[key] = r["dynamodb"]["NewImage"]
    return items


def test_redelivered_batches_with_a_poison_record_leave_the_warehouse_equal_to_the_source(
    tmp_path: Path,
) -> None:
    event = load_event("dynamodb-store.json")
    poisoned = copy.deepcopy(event)
    # A poison record among good ones: a later update of the order with an unknown type tag.
    bad = copy.deepcopy(next(r for r in event["Records"] if r["eventName"] == "MODIFY"))
    bad["dynamodb"]["SequenceNumber"] = str(int(event["Records"][-1]["dynamodb"]["SequenceNumber"]) + 1)
    bad["dynamodb"]["NewImage"]["status"] = {"X": "CANCELLED"}
    poisoned["Records"].append(bad)
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps(poisoned))

    state = tmp_path / "state"
    for _ in range(2):  # the same batch delivered twice
        result = thermocline("replay", str(batch), "--contracts", str(CONTRACTS), "--state", str(state))
        # Exit status 1: a record was quarantined (named with its reason); everything else loaded.
        assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
        assert "records quarantined: 1" in result.stdout
        assert "unknown DynamoDB type tag 'X'" in result.stdout
        assert "0 quarantined, 0 not loaded" in result.stdout

    db = duckdb.connect(str(state / "warehouse.duckdb"), read_only=True)
    expected = source_state(event["Records"])  # the poison record never reached the lake
    by_table = {
        "users": {k for k in expected if k[1] == "USER"},
        "user_profiles": {k for k in expected if k[1] == "PROFILE"},
        "orders": {k for k in expected if k[1].startswith("ORDER#") and "#LINE#" not in k[1]},
        "order_lines": {k for k in expected if "#LINE#" in k[1]},
    }
    for table, keys in by_table.items():
        assert set(db.execute(f'SELECT pk, sk FROM "{table}"').fetchall()) == keys, table  # noqa: S608
    (order,) = db.execute("SELECT status, total, created_at FROM orders").fetchall()
    source_order = expected[("USER#u001", "ORDER#o1001")]
    assert order[0] == source_order["status"]["S"] == "SHIPPED"
    assert order[1] == Decimal(source_order["total"]["N"])
    (line,) = db.execute("SELECT sku, unit_price, quantity FROM order_lines").fetchall()
    assert line == ("BK-0042", Decimal("49.50"), 2)
    (user,) = db.execute("SELECT email, marketing_opt_in, tags FROM users").fetchall()
    assert user[:2] == ("ada@example.com", True)
    assert sorted(json.loads(user[2])) == ["early-adopter", "vip"]
    # The TTL-expired session item was never in the warehouse and is not now.
    assert db.execute("SELECT COUNT(*) FROM thermocline_store").fetchone() == (0,)
