"""Every sample event in events/ runs through `thermocline invoke`, the local stand-in for `sam local invoke`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, last_json, thermocline

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("demo")]

FUNCTION_BY_PREFIX = {
    "dynamodb-": "StreamIngestFunction",
    "warehouse-load-": "WarehouseLoadFunction",
    "analytics-": "AnalyticsReportFunction",
    "rds-export-": "ExportIngestFunction",
    "hot-views-": "HotViewsFunction",
}
EVENTS = sorted((ROOT / "events").glob("*.json"))


def function_for(event: Path) -> str:
    for prefix, function in FUNCTION_BY_PREFIX.items():
        if event.name.startswith(prefix):
            return function
    raise AssertionError(
        f"{event.name}: no function for this event; name it after one of {list(FUNCTION_BY_PREFIX)}"
    )


def test_every_function_has_a_sample_event() -> None:
    assert {function_for(e) for e in EVENTS} == set(FUNCTION_BY_PREFIX.values())


@pytest.mark.parametrize("event", EVENTS, ids=[e.name for e in EVENTS])
def test_sample_event_runs_through_invoke(event: Path, demo_run: tuple[Path, dict]) -> None:
    base, _ = demo_run  # the demo's warehouse, so the report has tables to read
    result = thermocline("invoke", function_for(event), "--event", str(event), "--state", str(base / "state"))
    assert result.returncode == 0, f"{event.name}: {result.stderr[-3000:]}"
    response = last_json(result.stdout)
    assert isinstance(response, dict)
    if function_for(event) == "StreamIngestFunction":
        records = json.loads(event.read_text())["Records"]
        # A record that cannot be decoded is quarantined, never reported back to block the shard.
        assert response["batchItemFailures"] == [], response
        assert records
    if function_for(event) == "AnalyticsReportFunction":
        request = json.loads(event.read_text())
        run_date = request.get("parameters", {}).get("run_date")
        assert response["report"] == request["report"] and response["rows"] >= 0
        assert all(f"/{run_date or response['run_date']}/" in f for f in response["files"])
    if event.name == "hot-views-rebuild.json":
        # Every view recomputed from the demo's warehouse.
        assert set(response["rebuilt"]) >= {"revenue_by_region_today", "latest_order_status"}, response
    elif function_for(event) == "HotViewsFunction":
        assert response == {"batchItemFailures": []}
