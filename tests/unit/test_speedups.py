"""The C fast path (sources/dynamodb_streams/_speedups.c) never changes a result: it decides only what the pure-Python
reference decides the same way, and hands everything else back untouched."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from tests.unit.test_decode_properties import attribute_values, batches, lambda_record
from thermocline.contracts import parse_contracts
from thermocline.sources.dynamodb_streams import DecodeResult, decode_batch, fastpath, super_json

speedups = pytest.importorskip(
    "thermocline.sources.dynamodb_streams._speedups", reason="the C fast path is not built (no compiler?)"
)

ROOT = Path(__file__).resolve().parents[2]
HOSTILE: list[tuple[str, Any]] = [
    ("S", 'tab\tquote"backslash\\bell\x07del\x7f'),
    ("S", "naïve ünïcödé"),
    ("S", "lone \ud800 surrogate"),
    ("N", "+5"),
    ("N", ".5"),
    ("N", "007"),
    ("N", "1e5"),
    ("N", "1E+125"),
    ("N", "-0.000"),
    ("N", "12abc"),
    ("N", "١٢"),
    ("N", 5),
    ("BOOL", 1),
    ("NULL", False),
    ("M", {"k": {"S": "v", "N": "1"}}),
    ("M", {"k": "not an attribute value"}),
    ("M", {1: {"S": "non-string key"}}),
    ("M", {"ключ": {"S": "non-ASCII key"}}),
    ("L", [{"B": "AAE="}, {"BS": ["AA=="]}]),
    ("L", ({"S": "a tuple, not a list"},)),
    ("SS", ["a", 1]),
    ("NS", ["1", "x"]),
    ("X", "unknown tag"),
]


def _nested(depth: int) -> dict[str, Any]:
    av: dict[str, Any] = {"S": "leaf"}
    for _ in range(depth):
        av = {"L": [av]}
    return av


def _reference(tag: str, value: Any) -> str | Exception:
    try:
        return super_json._json_value(tag, value)
    except Exception as exc:  # noqa: BLE001 - the reference's outcome, error included, is what is compared
        return exc


@given(attribute_values)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_super_json_equals_the_python_encoder_or_defers(av: dict[str, Any]) -> None:
    ((tag, value),) = av.items()
    fast = speedups.super_json(tag, value)
    if fast is not None:
        assert fast == _reference(tag, value)
        json.loads(fast)


@pytest.mark.parametrize(("tag", "value"), HOSTILE + [("L", _nested(70)["L"])], ids=lambda v: repr(v)[:30])
def test_hostile_payloads_are_left_to_the_python_path_or_encoded_identically(tag: str, value: Any) -> None:
    fast = speedups.super_json(tag, value)
    reference = _reference(tag, value)
    if isinstance(reference, Exception):
        assert fast is None, "an input the reference rejects must never be encoded by the fast path"
    elif fast is not None:
        assert fast == reference


def _decode(
    records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, fast: bool, contracts: Any = None
) -> DecodeResult:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(fastpath, "stage_row", None)
            m.setattr(fastpath, "super_json", None)
        return decode_batch(records, contracts)


def _tables(result: DecodeResult) -> dict[str, pa.Table]:
    return {name: batch.arrow for name, batch in result.tables.items()}


def _assert_same(
    records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, contracts: Any = None
) -> None:
    fast, slow = (
        _decode(records, monkeypatch, True, contracts),
        _decode(records, monkeypatch, False, contracts),
    )
    assert _tables(fast).keys() == _tables(slow).keys()
    for name, table in _tables(fast).items():
        assert table.equals(_tables(slow)[name], check_metadata=True), name
    assert [(r.index, r.reason) for r in fast.rejects] == [(r.index, r.reason) for r in slow.rejects]


@given(items=batches())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_decoding_with_and_without_the_fast_path_gives_identical_tables(
    items: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _assert_same([lambda_record(item, i) for i, item in enumerate(items)], monkeypatch)


def test_benchmark_workload_and_sample_events_decode_identically(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_decode
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    records = bench_decode.generate_records(500)
    # Schema changes mid-batch (a new attribute, a type conflict, a poison record) take the Python path
    # for those records only; the rest stay on the fast path.
    records[100]["dynamodb"].setdefault("NewImage", {})["surprise"] = {"M": {"x": {"N": "1"}}}
    records[200]["dynamodb"].setdefault("NewImage", {})["total"] = {"S": "not a number any more"}
    records[300]["dynamodb"]["NewImage"] = {"pk": {"Q": "poison"}}
    for path in sorted((ROOT / "events").glob("dynamodb-*.json")):
        records.extend(json.loads(path.read_text())["Records"])
    _assert_same(records, monkeypatch)


def test_single_table_workload_decodes_identically_with_default_and_contract_routing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Six entity types, sparse attributes, numbers of every shape: the benchmark's single-table stream."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import single_table
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    records = single_table.generate_records(1500)
    _assert_same(records, monkeypatch)
    contracts = parse_contracts(yaml.safe_load(single_table.CONTRACT))
    _assert_same(records, monkeypatch, contracts)
    assert len(_decode(records, monkeypatch, True, contracts).tables) == 6


def test_ci_builds_the_fast_path() -> None:
    """CI must measure and ship what users get: the extension is present wherever a compiler is."""
    if os.environ.get("THERMOCLINE_REQUIRE_SERVICES") == "1":
        assert fastpath.stage_row is not None and fastpath.super_json is not None
