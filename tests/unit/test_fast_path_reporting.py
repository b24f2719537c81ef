"""Decoding is never silently slow: without the C fast path the function says so once per cold start, with
a metric, and THERMOCLINE_PURE_PYTHON=1 forces the reference path on purpose (same tables, slower).

Each case runs in a fresh interpreter, as a cold start does. The missing extension is caused by blocking
its import (``sys.modules[name] = None``), the way a layer built for another platform fails to load it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLER = ROOT / "functions" / "stream_ingest"
EXTENSION = "thermocline.sources.dynamodb_streams._speedups"
EVENTS = [ROOT / "events" / name for name in ("dynamodb-all-types.json", "dynamodb-store.json")]

COLD_START = f"""
import json, sys, types
sys.path.insert(0, {str(HANDLER)!r})
BLOCK
import app
context = types.SimpleNamespace(function_name="ingest", memory_limit_in_mb=1024, aws_request_id="r",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:ingest")
for _ in range(3):
    app.lambda_handler({{"Records": []}}, context)
"""

DECODE = f"""
import json
from thermocline.sources.dynamodb_streams import decode_stream_records, fastpath
records = [r for path in {[str(p) for p in EVENTS]!r} for r in json.load(open(path))["Records"]]
tables = decode_stream_records(records)
print(json.dumps({{"unavailable": fastpath.FAST_PATH_UNAVAILABLE, "fast": fastpath.stage_row is not None,
    "tables": {{name: t.to_pylist() for name, t in tables.items()}}}}, default=str, sort_keys=True))
"""


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "LAKE_BUCKET": "lake",
        "POWERTOOLS_SERVICE_NAME": "stream-ingest",
        "POWERTOOLS_METRICS_NAMESPACE": "Thermocline",
        **env,
    }
    environ.pop("POWERTOOLS_METRICS_DISABLED", None)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=True
    )


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_a_missing_extension_is_reported_once_per_cold_start_with_a_metric() -> None:
    done = _run(COLD_START.replace("BLOCK", f"sys.modules[{EXTENSION!r}] = None"))
    lines = _lines(done.stdout)
    warnings = [line for line in lines if line.get("message") == "decoding on the pure-Python path"]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "WARNING"
    assert f"{EXTENSION} did not load" in warnings[0]["reason"]
    metric = [line for line in lines if "DecodeFastPathUnavailable" in line]
    assert len(metric) == 1 and metric[0]["DecodeFastPathUnavailable"] == [1.0]


def test_a_loaded_extension_reports_nothing() -> None:
    pytest.importorskip(EXTENSION, reason="the C fast path is not built (no compiler?)")
    done = _run(COLD_START.replace("BLOCK", ""))
    assert "pure-Python" not in done.stdout
    assert "DecodeFastPathUnavailable" not in done.stdout


def test_the_environment_forces_the_reference_path_with_the_same_tables() -> None:
    pytest.importorskip(EXTENSION, reason="the C fast path is not built (no compiler?)")
    fast = json.loads(_run(DECODE).stdout)
    pure = json.loads(_run(DECODE, THERMOCLINE_PURE_PYTHON="1").stdout)
    assert (fast["fast"], fast["unavailable"]) == (True, None)
    assert (pure["fast"], pure["unavailable"]) == (False, "THERMOCLINE_PURE_PYTHON=1")
    assert pure["tables"] == fast["tables"] and fast["tables"]
