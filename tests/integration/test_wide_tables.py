"""Wide tables and long names, through ingest and load, under Redshift's rules (the local engines refuse a
statement over the Data API's 100,000 bytes and a batch over 40 statements): warehouse = source.

* A sparse table as wide as a table grows (1,599 columns, bookkeeping included: Redshift allows 1,600 and
  a column's type change needs one more for a moment): most items fill a few columns, all of them
  together fill every one. The INSERT of its rows is over 100,000 bytes, so the load inserts the keys and
  updates the columns in groups instead; the rows must be exactly the source's.
* Attributes past the last column are kept in ``_overflow``, not dropped.
* The same width with column names of 127 bytes (Redshift's longest): the CREATE TABLE of the target
  (over 200,000 bytes), of the staging table and a full refresh's INSERT are each over 100,000 bytes, and
  the table must still load, by a CDC load and then by a full refresh.
* A DynamoDB table name of 255 characters (the longest DynamoDB allows) makes a ``_source`` of 264 bytes.

DuckDB, PostgreSQL, and the Data API engine talking to Redshift played by ``data_api_fake``.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.data_api_fake import DataApiOnDuckDB, TrackingDuckDB
from thermocline import aws, warehouse
from thermocline.contracts import Contracts
from thermocline.lake.columns import MAX_ATTRIBUTE_COLUMNS, METADATA_COLUMNS, TARGET_COLUMNS
from thermocline.load import full_refresh, load_files
from thermocline.names import quote_ident, table_identifier
from thermocline.services.stream_ingest import handle_stream_event
from thermocline.settings import StreamIngestSettings, WarehouseLoadSettings
from thermocline.warehouse.redshift_data import RedshiftDataWarehouse

pytestmark = pytest.mark.moto


@pytest.fixture(
    params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres), "redshift-data"],
)
def engine(request: pytest.FixtureRequest, tmp_path: Path, aws_env: str) -> Iterator[Any]:
    """A function making a fresh warehouse (and its URL) on the S3 client given."""

    def make(s3: Any) -> tuple[Any, str]:
        if request.param == "duckdb":
            url = f"duckdb:///{tmp_path}/{uuid.uuid4().hex[:8]}.duckdb"
            return warehouse.connect(url, s3_client=s3), url
        if request.param == "postgres":
            url = request.getfixturevalue("postgres_dsn")
            return warehouse.connect(url, s3_client=s3), url
        duck = TrackingDuckDB(str(tmp_path / f"{uuid.uuid4().hex[:8]}.duckdb"), s3_client=s3)
        client = aws.client("redshift-data")
        DataApiOnDuckDB(client, duck)
        wh = RedshiftDataWarehouse(
            database="dev", workgroup="analytics-wg", client=client, poll_seconds=0, sleep=lambda _: None
        )
        return wh, "redshift-data://analytics-wg/dev"

    yield make


def _av(index: int, version: int) -> dict[str, Any]:
    """Attribute ``index``'s value in an item's ``version``: its type is fixed by the attribute."""
    kind = index % 3
    if kind == 0:
        return {"N": str(index * 1000 + version)}
    if kind == 1:
        return {"S": f"v{version}-{index}"}
    return {"BOOL": (index + version) % 2 == 0}


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        return value
    try:
        return Decimal(value)
    except ArithmeticError:
        return value


def _plain(av: dict[str, Any]) -> Any:
    ((tag, value),) = av.items()
    return Decimal(value) if tag == "N" else value


class Source:
    """A DynamoDB table as a stream sees it: its items, and the records of every change."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.items: dict[str, dict[str, Any]] = {}
        self.records: list[dict[str, Any]] = []

    def put(self, key: str, attributes: dict[str, Any]) -> None:
        image = {"id": {"S": key}, **attributes}
        self._record("MODIFY" if key in self.items else "INSERT", key, image)
        self.items[key] = image

    def remove(self, key: str) -> None:
        self._record("REMOVE", key, self.items.pop(key))

    def _record(self, op: str, key: str, image: dict[str, Any]) -> None:
        seq = 100_000 + len(self.records)
        self.records.append(
            {
                "eventName": op,
                "eventSource": "aws:dynamodb",
                "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{self.table}/stream/x",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_790_000_000 + seq,
                    "Keys": {"id": {"S": key}},
                    "SequenceNumber": str(seq),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                    ("OldImage" if op == "REMOVE" else "NewImage"): image,
                },
            }
        )

    def expected(self) -> dict[str, dict[str, Any]]:
        return {key: {a: _plain(av) for a, av in item.items()} for key, item in self.items.items()}


def _ingest(source: Source, bucket: str, s3: Any, per_batch: int, redeliver: int = 0) -> list[str]:
    """Every record through StreamIngestFunction in batches (the first ``redeliver`` batches twice, as
    Lambda retries them); the lake files written."""
    batches = [source.records[i : i + per_batch] for i in range(0, len(source.records), per_batch)]
    for batch in [*batches, *batches[:redeliver]]:
        response = handle_stream_event(
            {"Records": batch},
            settings=StreamIngestSettings(lake_bucket=bucket),
            s3_client=s3,
            contracts=Contracts(),
        )
        assert response == {"batchItemFailures": []}
    assert not s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/").get("Contents")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="cdc/")
    return [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".parquet")]


def _rows(wh: Any, table: str) -> dict[str, dict[str, Any]]:
    """The target's rows as items: non-NULL columns and the attributes kept in ``_overflow``. Read with
    ``SELECT *``: naming 1,599 columns of 127 bytes would be a statement over the Data API's limit."""
    result = wh.query(f"SELECT * FROM {quote_ident(table)}")  # noqa: S608
    out = {}
    for row in result.rows:
        record = dict(zip(result.columns, row, strict=True))
        overflow = record.pop("_overflow")
        item = {c: v for c, v in record.items() if not c.startswith("_") and v is not None}
        # Numbers are kept in _overflow as their exact text.
        item.update((json.loads(overflow) if isinstance(overflow, str) else overflow) or {})
        item = {c: _number(v) for c, v in item.items()}
        item["_source"] = record["_source"]
        out[str(item["id"])] = item
    return out


def _load(make: Any, s3: Any, bucket: str, keys: list[str]) -> tuple[Any, Any]:
    wh, url = make(s3)
    settings = WarehouseLoadSettings(lake_bucket=bucket, warehouse_url=url, max_files_per_load=500)
    report = load_files(keys, settings=settings, warehouse=wh, s3_client=s3)
    return wh, report


def _wide_name(index: int) -> str:
    # 30 characters: the INSERT of 1,599 such columns is over 100,000 bytes, their CREATE is not.
    return f"attribute_{index:04d}_of_a_wide_item"


def _longest_name(index: int) -> str:
    # 127 bytes, the longest column name Redshift allows, kept as it is (names.safe_identifier).
    return f"attribute_{index:04d}_".ljust(127, "x")


def _count_columns(wh: Any, table: str) -> int:
    return wh.query(
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = CURRENT_SCHEMA() "
        f"AND table_name = '{table}'"
    ).rows[0][0]


def _lake() -> tuple[Any, str]:
    """An S3 client and a fresh lake bucket."""
    s3 = aws.client("s3")
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    return s3, bucket


def _sparse(table: str, name: Any) -> tuple[Source, int]:
    """A source whose items each fill four attributes (``name(index)``) and together every column the
    table can have; and how many items."""
    source = Source(table)
    width = MAX_ATTRIBUTE_COLUMNS
    items = width // 4 + 1
    for i in range(items):
        source.put(f"k{i}", {name((4 * i + j) % width): _av((4 * i + j) % width, 0) for j in range(4)})
    return source, items


def test_a_table_of_1599_columns_loads_exactly(engine: Any) -> None:
    s3, bucket = _lake()
    source, items = _sparse("Wide", _wide_name)
    width = MAX_ATTRIBUTE_COLUMNS
    for i in range(0, items, 3):  # updates that move items to other columns
        source.put(f"k{i}", {_wide_name((7 * i + j) % width): _av((7 * i + j) % width, 1) for j in range(3)})
    for i in range(1, items, 10):
        source.remove(f"k{i}")
    keys = _ingest(source, bucket, s3, per_batch=100, redeliver=2)

    wh, report = _load(engine, s3, bucket, keys)
    try:
        assert report.failed == [] and report.quarantined == [], report.summary()
        got = _rows(wh, "wide")
        count = _count_columns(wh, "wide")
    finally:
        wh.close()
    assert count == MAX_ATTRIBUTE_COLUMNS + 1 + len(TARGET_COLUMNS) == 1599
    expected = source.expected()
    assert {k: {a: v for a, v in item.items() if a != "_source"} for k, item in got.items()} == expected
    assert {item["_source"] for item in got.values()} == {"dynamodb:Wide"}


def _snapshot(s3: Any, bucket: str, cdc_keys: list[str], items: dict[str, dict[str, Any]], key: str) -> None:
    """A snapshot file of ``items`` with the columns (and types) of the widest lake file of ``cdc_keys``:
    its rows, without ``_op`` and ``_seq``; attributes past its columns in ``_overflow``."""
    tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in cdc_keys]
    widest = max(tables, key=lambda t: t.num_columns).schema
    schema = pa.schema([f for f in widest if f.name not in ("_op", "_seq")], metadata=widest.metadata)
    named = {f.name for f in schema if not f.name.startswith("_")}
    rows = []
    for item in items.values():
        past = {a: str(v) if isinstance(v, Decimal) else v for a, v in item.items() if a not in named}
        rows.append(
            {
                **item,
                "_overflow": json.dumps(past) if past else None,
                "_source": "snapshot",
                "_ttl_expired": False,
            }
        )
    arrays = [pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema]
    body = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), body)
    s3.put_object(Bucket=bucket, Key=key, Body=body.getvalue())


def test_a_table_of_1599_columns_named_in_127_bytes_loads_and_refreshes(engine: Any) -> None:
    s3, bucket = _lake()
    source, items = _sparse("WideLong", _longest_name)
    width = MAX_ATTRIBUTE_COLUMNS
    for i in range(0, items, 5):
        source.put(
            f"k{i}", {_longest_name((9 * i + j) % width): _av((9 * i + j) % width, 1) for j in range(2)}
        )
    for i in range(2, items, 25):
        source.remove(f"k{i}")
    # The first batch holds every insert: its file has all the columns, so the target is created that wide.
    keys = _ingest(source, bucket, s3, per_batch=items, redeliver=1)
    at_load = source.expected()

    wh, url = engine(s3)
    settings = WarehouseLoadSettings(lake_bucket=bucket, warehouse_url=url, max_files_per_load=500)
    try:
        report = load_files(keys, settings=settings, warehouse=wh, s3_client=s3)
        assert report.failed == [] and report.quarantined == [], report.summary()
        loaded = _rows(wh, "widelong")
        columns = [
            str(r[0])
            for r in wh.query(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = CURRENT_SCHEMA() "
                "AND table_name = 'widelong' ORDER BY ordinal_position"
            ).rows
        ]
        # A full refresh onto that table, from a snapshot in which items changed, went and came back.
        for i in range(1, items, 7):
            source.put(f"k{i}", {_longest_name((11 * i) % width): _av((11 * i) % width, 2)})
        for i in range(3, items, 30):
            source.remove(f"k{i}")
        snapshot = "snapshot/widelong/export-1/part-0.parquet"
        _snapshot(s3, bucket, keys, source.expected(), snapshot)
        refreshed = full_refresh([snapshot], settings=settings, warehouse=wh, s3_client=s3)
        assert refreshed.failed == [] and refreshed.loaded == [snapshot], refreshed.summary()
        after = _rows(wh, "widelong")
    finally:
        wh.close()
    # The columns of one CREATE: the key, the attributes in the order the first file has them, _overflow,
    # then the bookkeeping columns.
    first_file = pq.read_schema(io.BytesIO(s3.get_object(Bucket=bucket, Key=min(keys))["Body"].read()))
    assert columns == [
        *(f.name for f in first_file if f.name not in METADATA_COLUMNS),
        *(c.name for c in TARGET_COLUMNS),
    ]
    assert len(columns) == 1599 and sum(len(c.encode()) == 127 for c in columns) == width - 1
    assert {item.pop("_source") for item in loaded.values()} == {"dynamodb:WideLong"}
    assert loaded == at_load
    assert {item.pop("_source") for item in after.values()} == {"snapshot"}
    assert after == source.expected() != at_load


def test_attributes_past_the_last_column_are_kept_in_overflow(engine: Any) -> None:
    s3, bucket = _lake()
    source = Source("Wider")
    width = MAX_ATTRIBUTE_COLUMNS + 20
    for i in range(width // 40):
        source.put(f"k{i}", {f"a{(40 * i + j):04d}": _av(40 * i + j, 0) for j in range(40)})
    keys = _ingest(source, bucket, s3, per_batch=10)

    wh, report = _load(engine, s3, bucket, keys)
    try:
        assert report.failed == [] and report.quarantined == [], report.summary()
        got = _rows(wh, "wider")
    finally:
        wh.close()
    assert {
        k: {a: v for a, v in item.items() if a != "_source"} for k, item in got.items()
    } == source.expected()


def test_a_table_name_of_255_characters_loads_with_its_source(engine: Any) -> None:
    s3, bucket = _lake()
    name = ("Orders.2026-" + "x" * 300)[:255]
    source = Source(name)
    source.put("k1", {"total": {"N": "12.50"}, "note": {"S": "first"}})
    source.put("k2", {"total": {"N": "3"}})
    source.put("k1", {"total": {"N": "13"}, "note": {"S": "second"}})
    keys = _ingest(source, bucket, s3, per_batch=2)

    table = table_identifier(name)
    assert len(table.encode()) <= 127
    wh, url = engine(s3)
    # The table as an earlier version deployed it: _source VARCHAR(256), which the loader widens.
    wh.execute(
        [
            f"CREATE TABLE {quote_ident(table)} (id VARCHAR(65535), total DECIMAL(38,18), note VARCHAR(65535), "
            '"_overflow" SUPER, "_seq" VARCHAR(40), "_event_time" TIMESTAMP, "_ttl_expired" BOOLEAN, '
            '"_source" VARCHAR(256), "_deleted" BOOLEAN)'
        ]
    )
    settings = WarehouseLoadSettings(lake_bucket=bucket, warehouse_url=url)
    try:
        report = load_files(keys, settings=settings, warehouse=wh, s3_client=s3)
        assert report.failed == [] and report.quarantined == [], report.summary()
        got = _rows(wh, table)
        width = wh.query(
            "SELECT character_maximum_length FROM information_schema.columns WHERE table_schema = "
            f"CURRENT_SCHEMA() AND table_name = '{table}' AND column_name = '_source'"
        ).rows[0][0]
    finally:
        wh.close()
    assert width in (None, 512)  # DuckDB keeps no VARCHAR length
    assert {k: item.pop("_source") for k, item in got.items()} == {
        "k1": f"dynamodb:{name}",
        "k2": f"dynamodb:{name}",
    }
    assert got == source.expected()
