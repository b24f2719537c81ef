"""SUPER columns are staged as VARCHAR sized by the longest JSON text their files record (the
``super_bytes`` lake metadata), in the steps inferred strings use; whatever is not recorded, or in doubt,
is staged at the largest VARCHAR as before, so no value is ever cut."""

from __future__ import annotations

import json

import pyarrow as pa
import sqlglot
from sqlglot import exp

from thermocline.conform import move_to_overflow
from thermocline.lake.columns import CDC_COLUMNS
from thermocline.lake.metadata import (
    METADATA_KEY,
    TableSpec,
    read_super_bytes,
    super_bytes,
    super_bytes_of_files,
)
from thermocline.load.sql import LedgerEntry, full_refresh_sql, load_sql

SPEC = TableSpec(
    table="orders",
    primary_key=("pk",),
    columns=(
        ("pk", "VARCHAR(256)"),
        ("doc", "SUPER"),
        ("tags", "SUPER"),
        ("_overflow", "SUPER"),
        *((c.name, c.type) for c in CDC_COLUMNS),
    ),
)


def _staged(super_bytes_: dict[str, int] | None) -> dict[str, str]:
    statements = load_sql(
        SPEC,
        manifest_url="s3://lake/m",
        files=[LedgerEntry("cdc/orders/a.parquet", 1)],
        load_id="l1",
        super_bytes=super_bytes_,
    )
    create = next(s for s in statements if s.startswith('CREATE TEMP TABLE "thermocline$stage"'))
    tree = sqlglot.parse_one(create, read="redshift")
    return {c.name: c.args["kind"].sql("redshift") for c in tree.find_all(exp.ColumnDef)}


def test_super_is_staged_in_the_step_that_holds_its_longest_recorded_text():
    staged = _staged({"doc": 256, "tags": 257, "_overflow": 0})
    assert staged["doc"] == "VARCHAR(256)"
    assert staged["tags"] == "VARCHAR(1024)"
    assert staged["_overflow"] == "VARCHAR(256)"
    assert staged["pk"] == "VARCHAR(256)"
    assert _staged({"doc": 65535, "tags": 70000})["tags"] == "VARCHAR(65535)"


def test_super_without_a_recorded_length_is_staged_at_the_largest_varchar():
    assert [_staged(None)[c] for c in ("doc", "tags", "_overflow")] == ["VARCHAR(65535)"] * 3
    # A column the files do not record keeps the largest VARCHAR; the recorded ones are sized.
    assert _staged({"doc": 10}) == {**_staged(None), "doc": "VARCHAR(256)"}


def test_a_full_refresh_stages_super_by_its_recorded_length_too():
    statements = full_refresh_sql(
        SPEC, manifest_url="s3://lake/m", files=[LedgerEntry("a", 1)], load_id="r1", super_bytes={"doc": 300}
    )
    create = next(s for s in statements if s.startswith("CREATE TEMP TABLE"))
    assert '"doc" VARCHAR(1024)' in create and '"tags" VARCHAR(65535)' in create


def test_the_recorded_length_counts_utf8_bytes_of_text_columns_only():
    text = '{"t":"' + "é" * 100 + '"}'  # 108 characters, 208 bytes
    table = pa.table(
        {
            "doc": pa.array([text, None, "[]"]),
            "tags": pa.array([None, None, None], pa.string()),
            "nested": pa.array([[1, 2], None, []]),
            "name": pa.array(["x" * 300, None, None]),
        }
    )
    columns = {"doc": "SUPER", "tags": "SUPER", "nested": "SUPER", "name": "VARCHAR(1024)"}
    # Nested Parquet (COPY's SERIALIZETOJSON writes its JSON) has no text to measure: not recorded.
    assert super_bytes(table, columns) == {"doc": 208, "tags": 0}


def _schema(meta: dict) -> pa.Schema:
    return pa.schema([pa.field("doc", pa.string())], metadata={METADATA_KEY: json.dumps(meta).encode()})


def test_a_file_records_nothing_or_anything_in_doubt_means_not_recorded():
    assert read_super_bytes(_schema({"version": 1, "super_bytes": {"doc": 12}})) == {"doc": 12}
    assert read_super_bytes(_schema({"version": 1})) is None
    assert read_super_bytes(pa.schema([pa.field("doc", pa.string())])) is None
    for doubtful in ([12], {"doc": -1}, {"doc": "12"}, {"doc": 1.5}, {"doc": True}, {"doc": None}):
        assert read_super_bytes(_schema({"version": 1, "super_bytes": doubtful})) is None, doubtful


def test_files_loaded_together_are_staged_for_the_longest_and_any_unrecorded_file_means_the_largest():
    assert super_bytes_of_files([{"doc": 256, "tags": 3}, {"doc": 257, "tags": 1}]) == {"doc": 257, "tags": 3}
    assert super_bytes_of_files([{"doc": 256, "tags": 3}, {"doc": 1}]) == {"doc": 256}
    assert super_bytes_of_files([{"doc": 256}, None]) is None
    assert super_bytes_of_files([None, {"doc": 256}]) is None


def test_moving_values_into_overflow_records_the_longer_overflow_text():
    meta = {"version": 1, "columns": {"pk": "VARCHAR(256)", "n": "BIGINT", "_overflow": "SUPER"}}
    meta["super_bytes"] = {"_overflow": 2}
    table = pa.table({"pk": ["a"], "n": pa.array([123456789], pa.int64()), "_overflow": ["{}"]})
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    moved = move_to_overflow(table, {"n": "VARCHAR(256)"})
    assert moved.column("_overflow").to_pylist() == ['{"n":"123456789"}']
    assert read_super_bytes(moved.schema) == {"_overflow": len('{"n":"123456789"}')}
