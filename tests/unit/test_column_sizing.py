"""Inferred column types a warehouse can keep: strings sized by their longest value in UTF-8 bytes and
widened as longer ones arrive (never cut below Redshift's 65,535 bytes), and key columns typed so that
no later key needs them changed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.test_decode import record
from thermocline.lake.table_schema import TableSchema
from thermocline.lake.types import VARCHAR_MAX, ColumnType, varchar_for
from thermocline.sources.dynamodb_streams import decode_batch


def _decode(values: list[str], schemas: dict[str, TableSchema] | None = None) -> Any:
    records = [record({"id": {"S": f"k{i}"}, "note": {"S": v}}) for i, v in enumerate(values)]
    return decode_batch(records, None, schemas)


def _note_type(result: Any) -> str:
    return result.schemas["example_table"].columns["note"].type.sql


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["x"], "VARCHAR(256)"),
        (["x" * 256], "VARCHAR(256)"),  # exactly a step
        (["x" * 257], "VARCHAR(1024)"),  # one byte over it
        (["é" * 128], "VARCHAR(256)"),  # 128 characters, 256 bytes
        (["é" * 128 + "a"], "VARCHAR(1024)"),  # 129 characters, 257 bytes
        (["a" + "€" * 85], "VARCHAR(256)"),  # 86 characters, 1 + 85 * 3 = 256 bytes
        (["ab" + "€" * 85], "VARCHAR(1024)"),  # the last 3-byte character crosses the step: 257 bytes
        (["x", "x" * 5000, "x" * 300], "VARCHAR(16384)"),  # the longest value of the batch decides
        (["x" * VARCHAR_MAX], f"VARCHAR({VARCHAR_MAX})"),
    ],
)
def test_string_columns_are_sized_by_their_longest_value_in_bytes(values: list[str], expected: str) -> None:
    result = _decode(values)
    assert not result.rejects
    longest = max(len(v.encode()) for v in values)
    assert _note_type(result) == expected == varchar_for(longest).sql
    table = result.tables["example_table"].arrow
    assert table.column("note").to_pylist() == values  # whole, never cut
    assert set(table.column("_overflow").to_pylist()) == {None}


def test_a_column_widens_when_a_longer_value_arrives_in_a_later_batch() -> None:
    first = _decode(["short"])
    assert _note_type(first) == "VARCHAR(256)"
    later = _decode(["y" * 1025], first.schemas)
    assert _note_type(later) == "VARCHAR(4096)"
    assert ("example_table", "note", "VARCHAR(4096)") in [tuple(map(str, w)) for w in later.widened]
    assert later.tables["example_table"].arrow.column("note").to_pylist() == ["y" * 1025]


@pytest.mark.parametrize("extra", [1, 7])
def test_values_longer_than_65535_bytes_keep_a_prefix_in_the_column_and_the_whole_in_overflow(
    extra: int,
) -> None:
    value = "é" * ((VARCHAR_MAX + extra) // 2) + "z" * ((VARCHAR_MAX + extra) % 2)
    assert len(value.encode()) == VARCHAR_MAX + extra
    result = _decode([value])
    assert _note_type(result) == f"VARCHAR({VARCHAR_MAX})"
    table = result.tables["example_table"].arrow
    prefix = table.column("note").to_pylist()[0]
    assert value.startswith(prefix) and VARCHAR_MAX - 1 <= len(prefix.encode()) <= VARCHAR_MAX
    assert json.loads(table.column("_overflow").to_pylist()[0]) == {"note": value}


def test_key_strings_take_the_width_of_any_dynamodb_key_and_key_numbers_hold_38_digits() -> None:
    keys = {"pk": {"S": "x" * 300}, "n": {"N": "1" * 38}}
    result = decode_batch([record({**keys, "v": {"S": "a"}}, keys=keys)], None)
    assert not result.rejects
    columns = result.schemas["example_table"].columns
    assert columns["pk"].type.sql == "VARCHAR(2048)"  # DynamoDB: a key value is at most 2,048 bytes
    assert columns["n"].type.sql == "DECIMAL(38,0)"  # no BIGINT that a 20-digit key would outgrow
    assert result.tables["example_table"].arrow.column("pk").to_pylist() == ["x" * 300]


def test_a_recorded_bigint_key_widens_for_a_key_past_19_digits_instead_of_refusing_it() -> None:
    legacy = TableSchema("example_table", primary_key=["id"])
    legacy.add("id", ColumnType.parse("BIGINT"))
    big = "123456789012345678901234"
    result = decode_batch(
        [record({"id": {"N": big}}, keys={"id": {"N": big}})], None, {"example_table": legacy}
    )
    assert not result.rejects
    assert result.schemas["example_table"].columns["id"].type.sql == "DECIMAL(38,0)"
    assert str(result.tables["example_table"].arrow.column("id").to_pylist()[0]) == big


def test_a_key_no_column_can_hold_is_refused_with_its_reason_never_cut() -> None:
    first = decode_batch([record({"id": {"N": "5"}}, keys={"id": {"N": "5"}})], None)
    result = decode_batch([record({"id": {"N": "5.5"}}, keys={"id": {"N": "5.5"}})], None, first.schemas)
    assert [r.reason for r in result.rejects] == [
        "primary key attribute 'id' does not fit column type DECIMAL(38,0)"
    ]
