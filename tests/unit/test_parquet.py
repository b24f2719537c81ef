from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import load_event
from thermocline import decode_stream_records
from thermocline.contracts import load_contracts
from thermocline.lake.keys import cdc_key as lake_key
from thermocline.lake.keys import oversize_key, shard_token
from thermocline.lake.keys import record_quarantine_key as quarantine_key
from thermocline.lake.metadata import read_lake_metadata
from thermocline.lake.parquet import split_by_event_date, to_parquet_bytes


def test_lake_keys_follow_the_contract_and_are_deterministic() -> None:
    shard = shard_token("arn:aws:dynamodb:us-east-1:1:table/T/stream/2026")
    assert shard == shard_token("arn:aws:dynamodb:us-east-1:1:table/T/stream/2026")
    assert shard != shard_token("arn:aws:dynamodb:us-east-1:1:table/T/stream/2027")
    first, last = "1".rjust(40, "0"), "9".rjust(40, "0")
    assert lake_key("cdc", "orders", "2026-11-25", shard, first, last) == (
        f"cdc/orders/dt=2026-11-25/{shard}-{first}-{last}.parquet"
    )
    assert quarantine_key("quarantine/", None, "2026-11-25", shard, first) == (
        f"quarantine/unknown/dt=2026-11-25/{shard}-{first}.json"
    )
    # Outside every dt= partition and not .parquet: the loader's discovery must never pick it up.
    assert oversize_key("cdc", "orders", "ab12") == "cdc/orders/_oversize/ab12.json"


def test_lake_files_are_compressed_parquet_that_pyarrow_and_duckdb_read_alike(tmp_path: Path) -> None:
    tables = decode_stream_records(load_event("dynamodb-store.json"), load_contracts(None))
    data = to_parquet_bytes(tables["order_lines"])
    parquet = pq.ParquetFile(io.BytesIO(data))
    assert parquet.metadata.row_group(0).column(0).compression == "SNAPPY"
    assert parquet.metadata.num_row_groups == 1
    meta = read_lake_metadata(parquet.schema_arrow)
    assert meta["version"] == 1 and meta["table"] == "order_lines"
    assert meta["columns"]["unit_price"] == "DECIMAL(12,2)" and meta["columns"]["_overflow"] == "SUPER"
    assert meta["attributes"]["unit_price"] == "unit_price"

    con = duckdb.connect()
    path = tmp_path / "order_lines.parquet"
    path.write_bytes(data)
    con.execute("CREATE TABLE f AS SELECT * FROM read_parquet(?)", [str(path)])
    rows = con.execute("SELECT sku, unit_price, _op, _event_time FROM f ORDER BY _seq").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("BK-0042", Decimal("49.50"), "I"),
        ("IN-0007", Decimal("51.00"), "I"),
        ("IN-0007", Decimal("51.00"), "D"),
    ]
    assert json.loads(con.execute("SELECT attributes FROM f LIMIT 1").fetchone()[0]) == {
        "format": "hardback",
        "gift_wrap": True,
    }


def test_rows_split_into_one_partition_per_utc_event_date() -> None:
    table = pa.table(
        {
            "_seq": ["1", "2", "3"],
            "_event_time": pa.array([86_399_000_000, 86_400_000_000, None], pa.timestamp("us", tz="UTC")),
        }
    )
    parts = split_by_event_date(table, "2026-11-25")
    assert [(d, t.column("_seq").to_pylist()) for d, t in parts] == [
        ("1970-01-01", ["1"]),
        ("1970-01-02", ["2"]),
        ("2026-11-25", ["3"]),
    ]


def _lake_types_table() -> pa.Table:
    """A column of every Arrow type the lake writes (``ColumnType.arrow``), nullable and required."""
    from thermocline.lake.types import _ARROW

    samples = {
        "BIGINT": -(2**63),
        "DOUBLE PRECISION": 1.5,
        "VARCHAR": "ünïcode",
        "VARBYTE": b"\x00\xff",
        "BOOLEAN": True,
        "SUPER": '{"a":[1,2.50]}',
        "TIMESTAMP": datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC),
        "SMALLINT": -(2**15),
        "INTEGER": 2**31 - 1,
        "REAL": 0.25,
        "DATE": date(1, 1, 1),
        "TIME": time(23, 59, 59, 999999),
        "TIMESTAMPTZ": datetime(1, 1, 1, tzinfo=UTC),
    }
    assert set(samples) == set(_ARROW)
    arrays, fields = [], []
    for kind, arrow_type in sorted(_ARROW.items()):
        name = kind.lower().replace(" ", "_")
        arrays += [pa.array([samples[kind], None], arrow_type), pa.array([samples[kind]] * 2, arrow_type)]
        fields += [pa.field(name, arrow_type), pa.field(name + "_required", arrow_type, nullable=False)]
    arrays.append(pa.array([Decimal("-12.50"), None], pa.decimal128(12, 2)))
    fields.append(pa.field("price", pa.decimal128(12, 2)))
    arrays.append(pa.array(["1".rjust(40, "0"), "2".rjust(40, "0")]))
    fields.append(pa.field("_seq", pa.string(), nullable=False))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata={"thermocline": '{"version": 1}'}))


def test_every_lake_type_reads_back_as_written_with_the_metadata_stored_once() -> None:
    table = _lake_types_table()
    data = to_parquet_bytes(table)
    # What the local engines and conform read (the whole file), and what the loader reads (the footer).
    assert pq.read_table(io.BytesIO(data)).equals(table, check_metadata=True)
    footer = pq.read_metadata(io.BytesIO(data))
    assert footer.schema.to_arrow_schema().equals(table.schema, check_metadata=True)
    # Once, as key-value metadata: not a second time inside a serialized Arrow schema.
    assert list(footer.metadata) == [b"thermocline"]


def test_a_type_parquet_cannot_name_keeps_the_arrow_schema_and_reads_back_as_written() -> None:
    table = pa.table(
        {"text": pa.array(["a", None], pa.large_string()), "n": pa.array([1, 2], pa.uint32())}
    ).replace_schema_metadata({"thermocline": '{"version": 1}'})
    data = to_parquet_bytes(table)
    assert pq.read_table(io.BytesIO(data)).equals(table, check_metadata=True)
    assert b"ARROW:schema" in pq.read_metadata(io.BytesIO(data)).metadata


@pytest.mark.parametrize(
    "arrow_type",
    [
        pa.timestamp("us", tz="Europe/Paris"),
        pa.timestamp("ns", tz="UTC"),
        pa.time64("ns"),
        pa.time32("ms"),
        pa.int8(),
        pa.decimal256(40, 2),
    ],
    ids=str,
)
def test_a_type_of_a_lake_types_family_keeps_the_arrow_schema(arrow_type: pa.DataType) -> None:
    """A type of the same Arrow family as a lake type (another unit, time zone or width) is not mistaken
    for it: the file keeps the Arrow schema, so a time zone, a width or a unit Parquet cannot name reads back
    (timestamps are always written in microseconds, as ``coerce_timestamps`` says)."""
    table = pa.table({"v": pa.array([None], arrow_type)}).replace_schema_metadata({"thermocline": "{}"})
    data = to_parquet_bytes(table)
    assert b"ARROW:schema" in pq.read_metadata(io.BytesIO(data)).metadata
    expected = pa.timestamp("us", tz="UTC") if arrow_type == pa.timestamp("ns", tz="UTC") else arrow_type
    assert pq.read_table(io.BytesIO(data)).schema.field("v").type == expected


def test_only_seq_and_event_time_carry_statistics_and_only_repeating_columns_a_dictionary() -> None:
    rows = 300
    table = pa.table(
        {
            "status": ["PAID", "SHIPPED", "PAID"] * (rows // 3),
            "note": ["gift"] * 10 + [None] * (rows - 10),  # sparse: too few values for a dictionary to pay
            "_seq": [str(i).rjust(40, "0") for i in range(rows)],
            "_event_time": pa.array(range(rows), pa.timestamp("us", tz="UTC")),
            "_source": ["dynamodb:Orders"] * rows,
        }
    )
    metadata = pq.read_metadata(io.BytesIO(to_parquet_bytes(table)))
    chunks = {
        metadata.schema.column(i).name: metadata.row_group(0).column(i) for i in range(metadata.num_columns)
    }
    assert {name for name, c in chunks.items() if c.is_stats_set} == {"_seq", "_event_time"}
    assert chunks["_seq"].statistics.min == "0".rjust(40, "0")
    assert {name for name, c in chunks.items() if c.has_dictionary_page} == {
        "status",
        "_event_time",
        "_source",
    }
    assert pq.read_table(io.BytesIO(to_parquet_bytes(table))).equals(table)
    # A table of fewer rows than a dictionary needs has none, in any column.
    small = table.slice(0, 255)
    chunks = pq.read_metadata(io.BytesIO(to_parquet_bytes(small))).row_group(0)
    assert not any(chunks.column(i).has_dictionary_page for i in range(chunks.num_columns))
    assert pq.read_table(io.BytesIO(to_parquet_bytes(small))).equals(small)


def test_a_batch_within_one_day_is_one_partition_and_midnight_splits_it() -> None:
    times = [1_764_028_799_000_000, 1_764_028_799_999_999]  # 2025-11-24 23:59:59 and its last microsecond
    table = pa.table({"_seq": ["1", "2"], "_event_time": pa.array(times, pa.timestamp("us", tz="UTC"))})
    [(date, part)] = split_by_event_date(table, "2000-01-01")
    assert date == "2025-11-24" and part.equals(table)
    table = pa.table(
        {"_seq": ["1", "2"], "_event_time": pa.array([times[1], times[1] + 1], pa.timestamp("us", tz="UTC"))}
    )
    parts = split_by_event_date(table, "2000-01-01")
    assert [(d, t.column("_seq").to_pylist()) for d, t in parts] == [
        ("2025-11-24", ["1"]),
        ("2025-11-25", ["2"]),
    ]
