from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

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
