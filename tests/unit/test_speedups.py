"""The C fast path (sources/dynamodb_streams/_speedups.c) never changes a result: it decides only what the pure-Python
reference decides the same way, and hands everything else back untouched."""

from __future__ import annotations

import copy
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from tests.unit.test_decode_properties import attribute_values, batches, lambda_record
from thermocline.contracts import load_contracts, parse_contracts
from thermocline.lake.table_schema import TableSchema
from thermocline.sources.dynamodb_streams import (
    DecodeResult,
    decode_batch,
    fastpath,
    super_json,
    target_tables,
)

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
    records: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    fast: bool,
    contracts: Any = None,
    **options: Any,
) -> DecodeResult:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(fastpath, "stage_row", None)
            m.setattr(fastpath, "super_json", None)
            m.setattr(fastpath, "decode_records", None)
            m.setattr(fastpath, "arrow_column", None)
            m.setattr(fastpath, "route_records", None)
            m.setattr(fastpath, "ColumnBuffer", None)
            m.setattr(fastpath, "arrow_table", None)
        return decode_batch(copy.deepcopy(records), contracts, **options)


def _tables(result: DecodeResult) -> dict[str, pa.Table]:
    return {name: batch.arrow for name, batch in result.tables.items()}


def _outcome(result: DecodeResult) -> dict[str, Any]:
    """Everything a decode returns besides the tables, comparable."""
    return {
        "rejects": [(r.index, r.reason, r.table, r.sequence_number, r.event_time_us) for r in result.rejects],
        "schemas": {name: schema.to_json() for name, schema in result.schemas.items()},
        "changed": sorted(result.changed_schemas),
        "sequence_numbers": {name: batch.sequence_numbers for name, batch in result.tables.items()},
        "imageless": result.imageless,
        "truncated": result.truncated_values,
        "overflow": result.overflow_values,
        "widened": result.widened,
        "conflicts": result.contract_conflicts,
        "oversize": result.oversize,
        "oldest": result.oldest_event_us,
    }


def _assert_same(
    records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, contracts: Any = None, **options: Any
) -> DecodeResult:
    fast, slow = (
        _decode(records, monkeypatch, True, contracts, **options),
        _decode(records, monkeypatch, False, contracts, **options),
    )
    assert _tables(fast).keys() == _tables(slow).keys()
    for name, table in _tables(fast).items():
        assert table.equals(_tables(slow)[name], check_metadata=True), name
    assert _outcome(fast) == _outcome(slow)
    return fast


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


def _single_table_records(n: int) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import single_table
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return single_table.generate_records(n)


# Ways a record can be malformed or unusual, each applied to a copy of a well-formed one: the fast path must
# hand every one of them to the Python path (or decide it identically), never crash, never differ.
def _mutations(rng: random.Random) -> list[Any]:
    def body(r: dict[str, Any]) -> dict[str, Any]:
        return r["dynamodb"]

    def image(r: dict[str, Any]) -> dict[str, Any]:
        return body(r).get("NewImage") or body(r).get("OldImage") or {}

    def some_attribute(r: dict[str, Any]) -> str:
        names = [a for a in image(r) if a not in ("pk", "sk")] or ["extra"]
        return rng.choice(names)

    odd_values: list[Any] = [
        None,
        1,
        1.5,
        True,
        "",
        "x",
        [],
        {},
        {"S": "a", "N": "1"},
        {"S": 1},
        {"N": "1e999999"},
        {"N": "abc"},
        {"N": " 1"},
        {"N": "+1"},
        {"N": "007"},
        {"N": "1" * 60},
        {"N": "-0"},
        {"N": "0.00000"},
        {"S": "\ud800"},
        {"S": "nul\x00"},
        {"S": "x" * 70_000},
        {"B": "not base64!"},
        {"B": "AAA"},
        {"B": b"raw bytes"},
        {"BOOL": 1},
        {"NULL": False},
        {"Q": "unknown tag"},
        {"M": {"k": 1}},
        {"M": {1: {"S": "v"}}},
        {"L": ({"S": "tuple"},)},
        {"SS": ["a", 1]},
        {"NS": ["1", "x"]},
        {"BS": ["AA==", "!"]},
        {"M": {"\ud800": {"S": "surrogate key"}}},
        {"S": "ünïcödé ✓"},
        {"L": [{"L": [{"L": [{"S": "deep"}]}]}]},
    ]
    return [
        lambda r: r.pop("eventName"),
        lambda r: r.update(eventName=rng.choice(["insert", 1, None, "DELETE", ""])),
        lambda r: r.pop("dynamodb"),
        lambda r: r.update(dynamodb=rng.choice([[], "body", None])),
        lambda r: r.pop("eventSourceARN"),
        lambda r: r.update(eventSourceARN=rng.choice(["", " ", 7, "Other-Table", "arn:x:table/Shop-store"])),
        lambda r: body(r).pop("Keys"),
        lambda r: body(r).update(Keys=rng.choice([{}, [], "k", {"pk": {"S": "USER#1"}}])),
        lambda r: body(r)["Keys"].update(sk=rng.choice(odd_values)),
        lambda r: body(r)["Keys"].update(pk={"NULL": True}),
        lambda r: body(r).update(SequenceNumber=rng.choice(["", "12a", "1" * 41, 123, None, "١٢", "0"])),
        lambda r: body(r).pop("SequenceNumber"),
        lambda r: body(r).update(
            ApproximateCreationDateTime=rng.choice(
                [
                    None,
                    1.5,
                    1_764_000_000.0000005,
                    2.5e-6,
                    float("nan"),
                    float("inf"),
                    -1e20,
                    10**30,
                    True,
                    "2026-11-27T10:00:00Z",
                    "1764000000",
                    "yesterday",
                    [],
                    -62_135_596_800,
                    253_402_300_800,
                ]
            )
        ),
        lambda r: body(r).pop("ApproximateCreationDateTime"),
        lambda r: body(r).update(NewImage=rng.choice([None, {}, [], "image"])),
        lambda r: body(r).update(OldImage=rng.choice([None, {}, [], "image", 0])),
        lambda r: r.update(eventName="REMOVE"),
        lambda r: r.update(
            userIdentity=rng.choice(
                [
                    None,
                    [],
                    {"type": "Service"},
                    {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                    {"type": 1, "principalId": "dynamodb.amazonaws.com"},
                    {"principalId": "dynamodb.amazonaws.com"},
                ]
            )
        ),
        lambda r: image(r).pop("sk", None),
        lambda r: image(r).update({rng.choice(["pk", "sk"]): rng.choice(odd_values)}),
        lambda r: image(r).update({some_attribute(r): rng.choice(odd_values)}),
        lambda r: image(r).update({f"new_{rng.randrange(5)}": rng.choice(odd_values)}),
        lambda r: image(r).update({7: {"S": "non-string attribute name"}}),
        lambda r: image(r).update({"avatar": {"S": "was binary"}, "loyalty_points": {"N": "1.5"}}),
        lambda r: image(r).update(
            {"total": {"N": rng.choice(["1E+70", "123456789012345678901234567890.5"])}}
        ),
    ]


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("routing", ["default", "contract"])
def test_malformed_and_unusual_records_decode_identically_with_and_without_the_fast_path(
    seed: int, routing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random mutations of a single-table stream (envelope, keys, images, values): the same tables,
    rejects with the same reasons, schemas, counters and oversize values, whichever path decodes."""
    rng = random.Random(seed)
    records = copy.deepcopy(_SINGLE_TABLE)
    mutations = _mutations(rng)
    for index in rng.sample(range(len(records)), 60):
        for _ in range(rng.randint(1, 2)):
            mutate = rng.choice(mutations)
            try:
                mutate(records[index])
            except (KeyError, AttributeError, TypeError):
                pass  # a mutation that does not apply to this (already mutated) record
    records.insert(rng.randrange(len(records)), rng.choice([None, 1, "record", [], {}]))
    contracts = parse_contracts(yaml.safe_load(_CONTRACT)) if routing == "contract" else None
    options = {"spill_over": rng.choice([None, 64, 4096])}
    if options["spill_over"] is not None:
        options["oversize_key"] = lambda table, digest: f"oversize/{table}/{digest}"
    result = _assert_same(records, monkeypatch, contracts, **options)
    assert result.rejects, "the mutations must produce rejects for the comparison to mean anything"


_SINGLE_TABLE = _single_table_records(300)
# Globs the C fast path matches itself ('*', '?', non-ASCII), a glob with a set and a regex (matched by
# their compiled patterns), an unmatched target and a route on a key that is sometimes absent.
_CONTRACT = """
version: 1
sources:
  - table: "Shop-*"
    unmatched: shop_other
    routes:
      - {target: users, match: {pk: "USER#*", sk: "USER"}, primary_key: [pk, sk]}
      - {target: user_profiles, match: {sk: "PROF?LE"}}
      - {target: order_lines, match: {sk: "ORDER#*#LINE#*"}, columns: {quantity: BIGINT}}
      - {target: orders, match: {sk: "ORDER#[0-9]*"}, sort_key: [created_at], columns: {total: "DECIMAL(12,2)"}}
      - {target: carts, match: {sk: {regex: "CART|CÄRT"}}, primary_key: [pk, sk]}
      - {target: odd_keys, match: {pk: "*#*#*", kind: "*"}}
  - table: "Other-Table"
    routes:
      - {target: other_users, match: {pk: "USER#0000*"}}
"""


def test_contract_routes_decided_in_c_match_the_routers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every route kind of the contract above, reviews unmatched, a second source table partly falling
    back to default routing; non-ASCII key text."""
    records = copy.deepcopy(_SINGLE_TABLE)
    for i, record in enumerate(records[::7]):
        record["eventSourceARN"] = "arn:aws:dynamodb:us-east-1:1:table/Other-Table/stream/x"
        if i % 3 == 0:
            record["dynamodb"]["Keys"]["pk"] = {"S": "USER#ü#✓"}
            for name in ("NewImage", "OldImage"):
                if name in record["dynamodb"]:
                    record["dynamodb"][name]["pk"] = {"S": "USER#ü#✓"}
    result = _assert_same(records, monkeypatch, parse_contracts(yaml.safe_load(_CONTRACT)))
    assert {"users", "user_profiles", "order_lines", "orders", "carts", "shop_other", "other_users"} <= set(
        result.tables
    )
    assert any(name.startswith("other_table") for name in result.tables)


def test_the_fast_path_decodes_almost_every_record_of_a_single_table_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The point of the C batch loop: only records C cannot decide (a value to widen a column for, an
    _overflow to spill, anything malformed) reach Python; in this stream, none. Not the first record of a
    table either: the Python path opens the table, and C stages the record."""
    from thermocline.sources.dynamodb_streams import decoder

    calls = []
    original = decoder._Decoder.add

    def counting(self: Any, index: int, record: Any) -> Any:
        calls.append(index)
        return original(self, index, record)

    monkeypatch.setattr(decoder._Decoder, "add", counting)
    records = _single_table_records(2000)
    result = decode_batch(records)
    assert calls == []
    assert sum(batch.arrow.num_rows for batch in result.tables.values()) == len(records)


def test_float_event_times_round_as_python_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Epoch seconds as floats (some tools write 1693997155.0): microseconds rounded half to even, exactly
    as round() does, including halves and the edges of the accepted range."""
    rng = random.Random(3)
    times = [2.5e-6, 3.5e-6, -2.5e-6, 0.0, -0.0, 1_764_000_000.0000005, 253_402_300_799.0, -62_135_596_800.0]
    times += [rng.uniform(-1e10, 1e11) for _ in range(150)] + [
        rng.randint(0, 10**7) + 0.5e-6 for _ in range(50)
    ]
    records = copy.deepcopy(_SINGLE_TABLE[: len(times)])
    for record, when in zip(records, times, strict=True):
        record["dynamodb"]["ApproximateCreationDateTime"] = when
    result = _assert_same(records, monkeypatch)
    assert not result.rejects


def _reference_array(values: list[Any], n: int, arrow_type: pa.DataType) -> pa.Array | Exception:
    padded = values + [None] * (n - len(values))
    try:
        if (
            pa.types.is_decimal(arrow_type)
            or arrow_type == pa.int64()
            and any(isinstance(v, str) for v in values)
        ):
            return pa.array(padded, pa.string()).cast(arrow_type)
        return pa.array(padded, arrow_type)
    except (pa.ArrowException, OverflowError, UnicodeEncodeError) as exc:
        return exc


def _number_texts(rng: random.Random, precision: int, scale: int) -> list[str]:
    texts = ["0", "-0", "1", "-1", "007", "0.5", ".5", "5.", "1e5", "1E+5", " 1", "1 ", "", "-", "1.2.3", "١"]
    texts += ["1E+3", "0E+99", "0.0E-5", "1.E5", "1E", "1E+", "E5", "1e-1", "-9.99E-1", "12345E-3", "1E+0003"]
    for _ in range(300):
        whole = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, precision - scale + 2)))
        whole = "0" if precision == scale and rng.random() < 0.8 else whole
        frac = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, scale + 2)))
        exponent = rng.choice(["", "", f"E{rng.randint(-40, 40):+d}", f"e{rng.randint(0, 9)}", "E+99999"])
        texts.append(
            rng.choice(["", "-"]) + (whole.lstrip("0") or "0") + ("." + frac if frac else "") + exponent
        )
    return texts


@pytest.mark.parametrize(("precision", "scale"), [(38, 18), (38, 0), (12, 2), (38, 38), (5, 5), (19, 0)])
def test_decimal_columns_built_in_c_equal_arrows_cast(precision: int, scale: int) -> None:
    """Number text → decimal128 in C only where it is certainly what Arrow's cast gives; else the cast."""
    rng = random.Random(precision * 100 + scale)
    arrow_type = pa.decimal128(precision, scale)
    in_c = 0
    for text in _number_texts(rng, precision, scale):
        built = speedups.arrow_column([text, None], 3, 5, precision, scale)
        reference = _reference_array([text, None], 3, arrow_type)
        if built is None:
            continue
        in_c += 1
        assert not isinstance(reference, Exception), text
        nulls, buffers = built
        array = pa.Array.from_buffers(arrow_type, 3, [pa.py_buffer(b) if b else None for b in buffers], nulls)
        assert array.equals(reference), text
    assert in_c > 60, "most numbers that fit are built in C"


def test_random_number_text_built_in_c_equals_arrows_cast() -> None:
    """Any precision and scale, mantissas up to 40 digits, exponents: built in C only where the cast agrees."""
    rng = random.Random(5)
    in_c = 0
    for _ in range(5000):
        precision = rng.randint(1, 38)
        scale = rng.randint(0, precision)
        mantissa = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40)))
        if rng.random() < 0.5:
            mantissa = mantissa.lstrip("0") or "0"
        if rng.random() < 0.5:
            k = rng.randint(0, len(mantissa))
            mantissa = (mantissa[:k] or "0") + "." + (mantissa[k:] or "0")
        exponent = rng.choice(["", f"E{rng.randint(-45, 45):+d}", f"e{rng.randint(-45, 45)}"])
        text = rng.choice(["", "-"]) + mantissa + exponent
        built = speedups.arrow_column([text], 1, 5, precision, scale)
        if built is None:
            continue
        in_c += 1
        arrow_type = pa.decimal128(precision, scale)
        array = pa.Array.from_buffers(
            arrow_type, 1, [pa.py_buffer(b) if b else None for b in built[1]], built[0]
        )
        assert array.equals(pa.array([text], pa.string()).cast(arrow_type)), (text, precision, scale)
    assert in_c > 300


@pytest.mark.parametrize(
    ("kind", "arrow_type", "values", "in_c"),
    [
        (4, pa.int64(), ["9223372036854775807", "-9223372036854775808", "0", "-0", "12", None, "-17"], True),
        (4, pa.int64(), ["9223372036854775808"], False),
        (4, pa.int64(), ["1.0"], False),
        (4, pa.int64(), ["+1"], False),
        (6, pa.timestamp("us", tz="UTC"), [0, -1, 2**63 - 1, None, -(2**63)], True),
        (6, pa.timestamp("us", tz="UTC"), [2**63], False),
        (6, pa.timestamp("us", tz="UTC"), [True], False),
        (7, pa.bool_(), [True, False, None, True] * 5, True),
        (7, pa.bool_(), [1], False),
        (8, pa.binary(), [b"", b"\x00\xff", None, b"abc"], True),
        (8, pa.binary(), [bytearray(b"x")], False),
        (1, pa.string(), ["", "a", None, "ünï ✓ 𝄞", "nul\x00ok"], True),
        (2, pa.string(), ["ünï ✓ 𝄞", None, "tab\t"], True),
        (2, pa.string(), ["nul\x00"], False),
        (2, pa.string(), ["lone \ud800"], False),
        (3, pa.string(), ['{"a":"\\\\u0000"}'], False),
        (3, pa.string(), ['{"a":"\\u0000"}'], False),
        (3, pa.string(), ['{"a":"x"}', None], True),
        (2, pa.string(), [1], False),
    ],
)
def test_columns_built_in_c_equal_pyarrows_or_are_left_to_it(
    kind: int, arrow_type: Any, values: list[Any], in_c: bool
) -> None:
    """Well-formed columns are built in C, identical to pa.array; anything else (another type, text
    that is not Unicode, NUL and its JSON escape, which the Python path moves) is left to pa.array."""
    n = len(values) + 2
    built = speedups.arrow_column(values, n, kind, 0, 0)
    assert (built is not None) == in_c, values
    if built is not None:
        nulls, buffers = built
        array = pa.Array.from_buffers(arrow_type, n, [pa.py_buffer(b) if b else None for b in buffers], nulls)
        array.validate(full=True)
        assert array.equals(_reference_array(values, n, arrow_type))


@pytest.mark.parametrize("routing", ["default", "contract", "demo"])
def test_target_tables_routed_in_c_are_the_routers(routing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables a batch routes to (read before decoding, to load their recorded schemas): the same with
    and without the C fast path, malformed records included, and a table owned by another source."""
    rng = random.Random(9)
    records = copy.deepcopy(_SINGLE_TABLE)
    mutations = _mutations(rng)
    for index in rng.sample(range(len(records)), 40):
        try:
            rng.choice(mutations)(records[index])
        except (KeyError, AttributeError, TypeError):
            pass
    for record in records[::11]:
        record["eventSourceARN"] = "arn:aws:dynamodb:us-east-1:1:table/Other-Table/stream/x"
    contracts = {
        "default": None,
        "contract": parse_contracts(yaml.safe_load(_CONTRACT)),
        "demo": load_contracts(ROOT / "layers/thermocline/thermocline/contracts/demo-store.yaml"),
    }[routing]
    schemas = {"other_table": TableSchema(table="other_table", source="dynamodb:Someone-Else")}
    fast = target_tables(records, contracts, schemas)
    with monkeypatch.context() as m:
        m.setattr(fastpath, "route_records", None)
        assert target_tables(records, contracts, schemas) == fast
    assert len(fast) >= 2


@pytest.mark.parametrize(
    "state",
    [
        [],
        [{}, {}, None, None, None, None, None, 0],
        [{}, {}, None, None, print, ValueError, print, 0],
        [{"arn": ("x",)}, {"t": ("not", "a", "sink")}, None, "spill", print, ValueError, print, 0],
        [{"x": 1}, {"t": 1}, 5, -1, 1, int, len, None],
        [{1: 2}, {2: 3}, "oldest", None, None, object, object, object],
    ],
)
def test_the_c_entry_points_refuse_a_malformed_state_without_crashing(state: list[Any]) -> None:
    """Defensive: the C code checks every shape it reads (a wrong state is a TypeError or a deferral)."""
    records = copy.deepcopy(_SINGLE_TABLE[:5])
    try:
        speedups.decode_records(records, state)
    except (TypeError, ValueError, AttributeError):
        pass
    for bad in ([records, {}], ["not a list", []], [records, [{}, set(), 1]], [records, [{}, set()]]):
        with pytest.raises(TypeError):
            speedups.route_records(*bad)
    for args in ([[], 1, 99, 0, 0], [["x"], 0, 1, 0, 0], [[1], 3, 5, 39, 2], [[None], -1, 2, 0, 0]):
        assert speedups.arrow_column(*args) is None
    assert speedups.stage_row({"a": {"S": "x"}}, {"a": ("not", "an", "entry")}, 0, None) is False
    assert speedups.stage_row({"a": {"S": "x"}}, {"a": (None, [], None, "S", 1, "spec")}, 0, None) is False


def _column_with_buffer(kind: str) -> tuple[Any, Any, Any]:
    """A one-column batch (``attr``) whose plan entry stages into a ColumnBuffer, as a batch sets it up."""
    from thermocline.lake.types import ColumnType
    from thermocline.sources.dynamodb_streams.batch import _Batch

    schema = TableSchema(table="t")
    column = schema.add("attr", ColumnType.parse(kind))
    batch = _Batch(schema=schema, route=None)
    values = batch.values.setdefault(column.name, [])
    buffer = batch.buffer_for(column.name)
    assert buffer is not None
    from thermocline.sources.dynamodb_streams.values import _plan_entry

    return batch, {"attr": _plan_entry(column, values, buffer)}, column


@pytest.mark.parametrize(
    ("kind", "kind_code", "arrow_type", "staged"),
    [
        ("VARCHAR(256)", 2, pa.string(), [{"S": "a"}, {"S": "ünï ✓ 𝄞"}, {"S": ""}, {"N": "12"}]),
        ("BIGINT", 4, pa.int64(), [{"N": "9223372036854775"}, {"N": "-0"}, {"N": "7"}]),
        (
            "DECIMAL(38,18)",
            5,
            pa.decimal128(38, 18),
            [{"N": "1.5"}, {"N": "-0.000000000000000001"}, {"N": "1E+3"}],
        ),
        ("SUPER", 3, pa.string(), [{"M": {"k": {"S": "v"}}}, {"L": []}, {"NS": ["1", "2"]}, {"S": "é"}]),
        ("BOOLEAN", 7, pa.bool_(), [{"BOOL": True}, {"BOOL": False}]),
        ("VARBYTE(1024000)", 8, pa.binary(), [{"B": "AAE="}, {"B": ""}]),
    ],
)
@pytest.mark.parametrize("python_share", [0.0, 0.25])
def test_values_staged_into_a_column_buffer_build_the_column_the_list_would(
    kind: str, kind_code: int, arrow_type: Any, staged: list[dict[str, Any]], python_share: float
) -> None:
    """C stages values into the column's Arrow buffers instead of its list; rows the Python path staged stay
    in the list. Built from both (or the buffer alone), the column equals the one built from the list alone
    once the buffer's values are moved into it; a row cut back (a record that falls back) is gone."""
    rng = random.Random(kind_code)
    batch, plan, column = _column_with_buffer(kind)
    values, buffer = batch.values[column.name], batch.buffers[column.name]
    n = 40
    for row in range(n):
        if rng.random() < 0.3:
            continue  # no value in this row
        av = rng.choice(staged)
        if rng.random() < python_share:  # staged by the Python path: into the list
            values.extend([None] * (row - len(values)))
            converted = column_values_of(column, av)
            values.append(converted)
        else:
            assert speedups.stage_row({"attr": av}, plan, row, None) is True
            if rng.random() < 0.2:  # the record fell back after staging this value: cut back
                buffer.truncate(row)
    assert buffer.rows > 0
    built = speedups.arrow_column(values, n, kind_code, 38, 18 if "DECIMAL" in kind else 0, buffer)
    assert built is not None
    nulls, buffers = built
    array = pa.Array.from_buffers(arrow_type, n, [pa.py_buffer(b) if b else None for b in buffers], nulls)
    array.validate(full=True)
    buffer.move_to(values)
    assert buffer.rows == 0
    assert array.equals(_reference_array(values, n, arrow_type))
    with pytest.raises(RuntimeError):  # a row in both the list and the buffer is a bug, never a guess
        assert speedups.stage_row({"attr": staged[0]}, plan, n, None) is True
        values.extend([None] * (n + 1 - len(values)))
        values[n] = "x"
        buffer.move_to(values)


def column_values_of(column: Any, av: dict[str, Any]) -> Any:
    """What the Python path puts in a column's list for an AttributeValue."""
    from thermocline.sources.dynamodb_streams.values import _CONVERT

    ((tag, value),) = av.items()
    return _CONVERT[column.type.kind](column, tag, value)


def test_columns_that_widen_or_refuse_values_mid_batch_decode_identically_from_buffers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Values C put in a column's buffer stay right when the Python path widens the column later (BIGINT to
    DECIMAL, a longer VARCHAR), moves a value to _overflow (NUL) or drops a row Arrow refuses (a lone
    surrogate); the buffers were used."""
    from thermocline.sources.dynamodb_streams import batch as batch_module

    used: list[Any] = []
    original = batch_module._Batch.buffer_for

    def recording(self: Any, name: str) -> Any:
        buffer = original(self, name)
        if buffer is not None:
            used.append(buffer)
        return buffer

    monkeypatch.setattr(batch_module._Batch, "buffer_for", recording)
    records = copy.deepcopy(_SINGLE_TABLE)
    for i, record in enumerate(records):
        image = record["dynamodb"].get("NewImage")
        if image is None:
            continue
        image["count"] = {"N": str(i)}
        image["label"] = {"S": "x" * (i % 7)}
        image["flag"] = {"BOOL": i % 3 == 0}
        if i == 150:
            image["count"] = {"N": "1" * 25 + ".5"}  # BIGINT → DECIMAL
            image["label"] = {"S": "y" * 300}  # VARCHAR(256) → a longer one
        if i == 200:
            image["label"] = {"S": "nul\x00inside"}  # moved to _overflow
        if i == 250:
            image["note"] = {"S": "lone \ud800"}  # a row Arrow refuses: dropped and quarantined
    result = _assert_same(records, monkeypatch)
    assert any(r.reason.endswith("(lone surrogate)") for r in result.rejects)
    assert result.widened
    _assert_same(records, monkeypatch, parse_contracts(yaml.safe_load(_single_table_contract())))
    assert any(buffer.rows > 100 for buffer in used)  # C staged into them


def _single_table_contract() -> str:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import single_table
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return single_table.CONTRACT


@pytest.mark.parametrize("limit", [None, 12])
def test_columns_recorded_while_c_stages_a_record_are_the_python_paths(
    limit: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record with an attribute the table lacks stays in C: the Python path's code records the column
    (same name, collisions and all, same type) and C stages the rest. NULL first values record nothing; a
    record that then fails (a bad value after the new column, a name that is not Unicode, an unknown tag)
    forgets the columns it recorded, and the Python path decides it whole; so does a table at the column
    limit, whose new attributes go to _overflow."""
    from thermocline.sources.dynamodb_streams import decoder, fast_loop, staging

    if limit is not None:
        monkeypatch.setattr(fast_loop, "MAX_ATTRIBUTE_COLUMNS", limit)
        monkeypatch.setattr(staging, "MAX_ATTRIBUTE_COLUMNS", limit)
    deferred: list[int] = []
    original = decoder._Decoder.add

    def counting(self: Any, index: int, record: Any) -> Any:
        deferred.append(index)
        return original(self, index, record)

    records = copy.deepcopy(_SINGLE_TABLE[:120])
    extras: list[dict[str, Any]] = [
        {"Name": {"S": "a"}, "name": {"S": "b"}, "NAME": {"N": "3"}},  # collisions: name, name_2, name_3
        {"later": {"NULL": True}},  # no column yet
        {"later": {"N": "1.25"}, "flags": {"SS": ["x"]}, "blob": {"B": "AAE="}, "ok": {"BOOL": False}},
        {"fresh": {"S": "kept?"}, "bad_number": {"N": "12abc"}},  # fails after recording `fresh`
        {"bad \ud800 name": {"S": "x"}},
        {"weird": {"Q": "unknown tag"}},
        {"fresh": {"S": "now kept"}, "score": {"N": "1" * 30}},
    ]
    for i, extra in enumerate(extras):
        image = (
            records[20 + 10 * i]["dynamodb"].get("NewImage") or records[20 + 10 * i]["dynamodb"]["OldImage"]
        )
        image.update(extra)
    result = _assert_same(records, monkeypatch)
    _assert_same(records, monkeypatch, parse_contracts(yaml.safe_load(_single_table_contract())))
    with monkeypatch.context() as m:
        m.setattr(decoder._Decoder, "add", counting)
        decode_batch(copy.deepcopy(records))
    (schema,) = result.schemas.values()
    if limit is None:
        assert {"name", "name_2", "name_3", "later", "fresh"} <= set(schema.columns)
        # The three records that fail are the Python path's; no record that only adds columns is, nor the
        # table's first record (the Python path opens the table, C stages it).
        assert deferred == [50, 60, 70], deferred
    else:
        assert len(schema.columns) == limit and result.overflow_values > 0


def test_a_table_built_in_c_at_once_equals_its_columns_built_one_by_one() -> None:
    """arrow_table hands pyarrow every column at once (the Arrow C data interface): the same arrays as
    arrow_column builds one by one, and each text column's longest value; None as soon as one column must
    be built the Python path's way; an array never imported is released with its capsule; malformed arguments are a TypeError."""
    columns = [
        (["a", None, "ünï"], 2, 0, 0, None),
        (["12", None, "-7"], 4, 0, 0, None),
        (["1.5", "2", None], 5, 12, 2, None),
        ([True, None, False], 7, 0, 0, None),
        ([b"\x00", b"", None], 8, 0, 0, None),
        ([1, 2, None], 6, 0, 0, None),
    ]
    types = [
        pa.string(),
        pa.int64(),
        pa.decimal128(12, 2),
        pa.bool_(),
        pa.binary(),
        pa.timestamp("us", tz="UTC"),
    ]
    n = 4
    schema = pa.schema([pa.field(f"c{i}", t) for i, t in enumerate(types)])
    capsule, longest, address = speedups.arrow_table(columns, n)
    # Each column's longest value in bytes ("ünï" is 5): what the metadata records for a SUPER column.
    assert longest == (5, 0, 0, 0, 1, 0)

    class Offer:
        def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]:
            return schema.__arrow_c_schema__(), capsule

    batch = pa.record_batch(Offer())
    batch.validate(full=True)
    for i, (values, kind, precision, scale, _) in enumerate(columns):
        nulls, buffers = speedups.arrow_column(values, n, kind, precision, scale)
        one = pa.Array.from_buffers(types[i], n, [pa.py_buffer(b) if b else None for b in buffers], nulls)
        assert batch.column(i).equals(one)
        assert batch.column(i).equals(_reference_array(values, n, types[i]))
    # Imported from its address with a schema pyarrow holds (the decoder's way): the same columns.
    _, _, again = built = speedups.arrow_table(columns, n)
    by_address = pa.RecordBatch._import_from_c(again, schema)
    del built  # the capsule, after the import moved the array out of it: frees only the struct (ASan)
    by_address.validate(full=True)
    assert by_address.equals(batch)
    assert speedups.arrow_table([*columns, (["nul\x00"], 2, 0, 0, None)], n) is None
    assert speedups.arrow_table(columns, n) is not None  # dropped unimported: released, no leak (ASan)
    for bad in (["not a list", 1], [[("too", "short")], 1], [[(1, 2, 0, 0, None)], 1], [[columns[0]], "n"]):
        with pytest.raises(TypeError):
            speedups.arrow_table(*bad)


@pytest.mark.parametrize("routing", ["default", "contract"])
def test_numbers_at_the_edge_of_a_fixed_point_column_decode_identically(
    routing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C stages a number into a BIGINT or DECIMAL column only when it certainly fits; one digit more in the
    whole part or the fraction, or an exponent, is the Python path's to widen or refuse."""
    contract = parse_contracts(
        yaml.safe_load(
            'version: 1\nsources:\n  - table: "*"\n    routes:\n      - target: edge\n        match: {id: "*"}\n'
            "        columns: {count: BIGINT, price: 'DECIMAL(12,2)'}\n"
        )
    )
    counts = ["7", "-0", "0", "9" * 18, "-" + "9" * 18, "1" * 19, "9" * 19, "1e3", "12.5"]
    prices = ["0.5", "-0.05", "9" * 10 + ".99", "9" * 11, "1.234", "0.00", "1E+2", "12."]
    items = [
        {
            "id": {"S": f"i{n}"},
            "count": {"N": counts[n % len(counts)]},
            "price": {"N": prices[n % len(prices)]},
        }
        for n in range(3 * len(counts) * len(prices))
    ]
    records = [lambda_record(item, i) for i, item in enumerate(items)]
    _assert_same(records, monkeypatch, contract if routing == "contract" else None)


def _exponent_forms(rng: random.Random) -> list[str]:
    """Numbers around the edges of DECIMAL(38,18), DECIMAL(38,0) and DECIMAL(12,2), as DynamoDB may spell
    them: exponents moving the point past an edge or not, zeros that do not count, zero itself."""
    mantissas = ["1", "9.99", "-123.45000", "0.000", "0", "-0", "5", "1.0000000000000000000000001", "100"]
    exponents = [-60, -20, -19, -18, -17, -3, -2, -1, 0, 1, 2, 9, 10, 17, 18, 19, 20, 36, 37, 38, 60, 10**15]
    forms = [
        f"{m}{rng.choice('eE')}{rng.choice(['', '+']) if e >= 0 else ''}{e}"
        for m in mantissas
        for e in exponents
    ]
    forms += [
        "1.5" + "0" * 30,
        "1" + "0" * 37,
        "1" + "0" * 38,
        "0." + "0" * 17 + "1",
        "0." + "0" * 18 + "1",
        "0." + "0" * 18 + "10",
        "12345678901234567890.5",
        "123456789012345678901.5",
        "9999999999.99",
        "99999999999.5",
        "-0.001",
        "0E-999999999999999999999",
        "1E-999999999999999999999",
        "7E+999999999999999999999",
        "1E-999999999999999",
        "1E-9999999999999999",
        "1" * 50 + "E-0000000000000000000000000000001",
    ]
    for _ in range(300):
        whole = "".join(rng.choice("0000123456789") for _ in range(rng.randint(0, 45))).lstrip("0") or "0"
        fraction = "".join(rng.choice("0000123456789") for _ in range(rng.randint(0, 45)))
        exponent = rng.choice(
            ["", "", f"e{rng.randint(-80, 80)}", f"E+{rng.randint(0, 60)}", f"E-{rng.randint(0, 60)}"]
        )
        forms.append(rng.choice(["", "-"]) + whole + ("." + fraction if fraction else "") + exponent)
    return forms


@pytest.mark.parametrize("routing", ["default", "contract"])
def test_numbers_a_decimal_column_cannot_hold_go_to_overflow_in_c_as_in_the_python_path(
    routing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A number too large or too precise for its DECIMAL column (an exponent moving the point, digits past
    the scale) goes to the row's _overflow as its text: C decides it without the converter, as the Python
    path does with it; a number that fits after all (zeros that do not count, zero), a key (quarantined)
    and a BIGINT (which widens) are the converter's. Same tables, rejects, schemas and counters."""
    from thermocline.sources.dynamodb_streams import values

    rng = random.Random(5)
    forms = _exponent_forms(rng)
    contract = parse_contracts(
        yaml.safe_load(
            'version: 1\nsources:\n  - table: "*"\n    routes:\n      - target: edge\n        match: {id: "*"}\n'
            "        columns: {price: 'DECIMAL(12,2)'}\n"
        )
    )
    items: list[dict[str, Any]] = [
        {
            "id": {"N": "0"},
            "auto": {"N": "1.5"},
            "integral": {"N": "1" * 20},
            "price": {"N": "1"},
            "count": {"N": "7"},
        }
    ]
    for n, text in enumerate(forms * 2):
        item: dict[str, Any] = {"id": {"N": str(n + 1)}}
        for attribute in ("auto", "integral", "price", "count"):
            item[attribute] = {"N": rng.choice(forms) if rng.random() < 0.5 else text}
        if rng.random() < 0.05:
            item["id"] = {"N": rng.choice(forms)}
        items.append(item)
    records = [lambda_record(item, i) for i, item in enumerate(items)]
    contracts = contract if routing == "contract" else None
    result = _assert_same(records, monkeypatch, contracts)
    assert result.overflow_values > len(forms) and result.widened and result.rejects

    # Only numbers that overflow a DECIMAL column: C keeps every one in _overflow without the converter.
    calls: list[str] = []
    convert = values._CONVERT["DECIMAL"]

    def counting(column: Any, tag: str, value: Any) -> Any:
        calls.append(value)
        return convert(column, tag, value)

    overflowing = ["1E+60", "-5e60", "9.99E39", "1E-19", "1.5E-40", "0.0000000000000000001", "1" * 21]
    items = [{"id": {"N": "0"}, "auto": {"N": "1.5"}}] + [
        {"id": {"N": str(n + 1)}, "auto": {"N": text}} for n, text in enumerate(overflowing * 20)
    ]
    monkeypatch.setattr(values, "_CONVERT", {**values._CONVERT, "DECIMAL": counting})
    result = _decode([lambda_record(item, i) for i, item in enumerate(items)], monkeypatch, True, contracts)
    assert result.overflow_values == len(items) - 1 and not result.rejects
    assert calls == []


def _entity(record: Any) -> str:
    sort_key = record["dynamodb"]["Keys"]["sk"]["S"]
    return "LINE" if "#LINE#" in sort_key else sort_key.split("#")[0]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("routing", ["default", "contract"])
def test_the_first_records_of_each_table_decode_identically_when_c_opens_the_table(
    seed: int, routing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C decides a table's first record too: the Python path routes it and opens the batch
    (``_Decoder.open``), then C stages it. With the first records of every table (and of the stream)
    mutated, so that opening rejects some, staging others, and C hands some back after opening, the same
    tables, rejects, schemas and counters as the Python path."""
    rng = random.Random(seed)
    records = copy.deepcopy(_SINGLE_TABLE[:120])
    seen: dict[str, int] = {}
    firsts = []
    for index, record in enumerate(records):
        kind = _entity(record)
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] <= 3:
            firsts.append(index)
    mutations = _mutations(rng)
    for index in firsts:
        if rng.random() < 0.7:
            for _ in range(rng.randint(1, 2)):
                try:
                    rng.choice(mutations)(records[index])
                except (KeyError, AttributeError, TypeError):
                    pass
    contracts = parse_contracts(yaml.safe_load(_CONTRACT)) if routing == "contract" else None
    result = _assert_same(records, monkeypatch, contracts)
    assert result.rejects and result.tables


# Routes whose opening can fail: users keyed on an attribute outside Keys (quarantined while absent),
# orders declaring a column type that a recorded schema contradicts.
_OPENING_CONTRACT = """
version: 1
sources:
  - table: "Shop-store"
    routes:
      - {target: users, match: {sk: "USER"}, primary_key: [pk, email]}
      - {target: orders, match: {sk: "ORDER#*"}, primary_key: [pk, order_ref], columns: {total: "DECIMAL(12,2)"}}
      - {target: carts, match: {sk: "CART"}}
"""


@pytest.mark.parametrize(
    "recorded",
    [
        {},
        # Owned by the stream's own default routing: every record the contract routes there is quarantined.
        {"carts": {"source": "dynamodb:Other-Table"}},
        # A recorded type the contract contradicts, and no primary key yet: a conflict per opening.
        {"orders": {"source": "contract", "columns": {"total": "BIGINT"}}},
    ],
    ids=["fresh", "owned-by-another", "conflicting-type"],
)
def test_tables_whose_opening_rejects_records_decode_identically(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first records of a table that opening rejects (its primary key attribute missing, the table
    another source's, an image-less MODIFY) are rejected once, with the Python path's reasons, and the
    next record opens the table; no record is lost or rejected twice."""
    records = copy.deepcopy(_SINGLE_TABLE[:150])
    for record in records:
        if _entity(record) == "USER" and int(record["dynamodb"]["SequenceNumber"]) % 2:
            record["dynamodb"]["NewImage"].pop("email", None)
    first_cart = next(r for r in records if _entity(r) == "CART")
    first_cart["eventName"] = "MODIFY"
    first_cart["dynamodb"].pop("NewImage", None)
    schemas = {
        table: TableSchema.from_json(
            {
                "version": 1,
                "table": table,
                "source": spec["source"],
                "columns": {
                    name: {"attribute": name, "type": sql} for name, sql in spec.get("columns", {}).items()
                },
            }
        )
        for table, spec in recorded.items()
    }
    contracts = parse_contracts(yaml.safe_load(_OPENING_CONTRACT))
    result = _assert_same(records, monkeypatch, contracts, schemas=schemas)
    reasons = [r.reason for r in result.rejects]
    assert any("'email' is missing or NULL" in reason for reason in reasons)
    assert any("has no NewImage" in reason for reason in reasons)
    if "carts" in recorded:
        assert "carts" not in result.tables and any("already holds" in reason for reason in reasons)
    if "orders" in recorded:
        assert result.contract_conflicts
    rejected = [r.index for r in result.rejects]
    assert len(rejected) == len(set(rejected))
