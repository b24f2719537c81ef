"""Wide tables and long names, through ingest and load, under Redshift's rules (the local engines refuse a
statement over the Data API's 100,000 bytes and a batch over 40 statements): warehouse = source.

* A sparse table as wide as a table grows (1,599 columns, bookkeeping included: Redshift allows 1,600 and
  a column's type change needs one more for a moment): most items fill a few columns, all of them
  together fill every one. The INSERT of its rows is over 100,000 bytes, so the load inserts the keys and
  updates the columns in groups instead; the rows must be exactly the source's.
* Attributes past the last column are kept in ``_overflow``, not dropped.
* A DynamoDB table name of 255 characters (the longest DynamoDB allows) makes a ``_source`` of 264 bytes.

DuckDB, PostgreSQL, and the Data API engine talking to Redshift played by ``data_api_fake``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.data_api_fake import DataApiOnDuckDB, TrackingDuckDB
from thermocline import aws, warehouse
from thermocline.contracts import Contracts
from thermocline.lake.columns import MAX_ATTRIBUTE_COLUMNS, TARGET_COLUMNS
from thermocline.load import load_files
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
    """The target's rows as items: non-NULL columns and the attributes kept in ``_overflow``."""
    columns = [
        str(r[0])
        for r in wh.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = CURRENT_SCHEMA() "
            f"AND table_name = '{table}' ORDER BY ordinal_position"
        ).rows
    ]
    data = [c for c in columns if not c.startswith("_")]
    selected = ", ".join([*(quote_ident(c) for c in data), 'CAST("_overflow" AS VARCHAR)', '"_source"'])
    out = {}
    for row in wh.query(f"SELECT {selected} FROM {quote_ident(table)}").rows:  # noqa: S608
        *values, overflow, source = row
        item = {c: v for c, v in zip(data, values, strict=True) if v is not None}
        # Numbers are kept in _overflow as their exact text.
        item.update(json.loads(overflow) if overflow else {})
        item = {c: _number(v) for c, v in item.items()}
        item["_source"] = source
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


def test_a_table_of_1599_columns_loads_exactly(engine: Any) -> None:
    s3 = aws.client("s3")
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    source = Source("Wide")
    width = MAX_ATTRIBUTE_COLUMNS
    # Sparse: each item fills four attributes; together they fill every column the table can have.
    items = width // 4 + 1
    for i in range(items):
        source.put(f"k{i}", {_wide_name((4 * i + j) % width): _av((4 * i + j) % width, 0) for j in range(4)})
    for i in range(0, items, 3):  # updates that move items to other columns
        source.put(f"k{i}", {_wide_name((7 * i + j) % width): _av((7 * i + j) % width, 1) for j in range(3)})
    for i in range(1, items, 10):
        source.remove(f"k{i}")
    keys = _ingest(source, bucket, s3, per_batch=100, redeliver=2)

    wh, report = _load(engine, s3, bucket, keys)
    try:
        assert report.failed == [] and report.quarantined == [], report.summary()
        got = _rows(wh, "wide")
        count = wh.query(
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = CURRENT_SCHEMA() "
            "AND table_name = 'wide'"
        ).rows[0][0]
    finally:
        wh.close()
    assert count == MAX_ATTRIBUTE_COLUMNS + 1 + len(TARGET_COLUMNS) == 1599
    expected = source.expected()
    assert {k: {a: v for a, v in item.items() if a != "_source"} for k, item in got.items()} == expected
    assert {item["_source"] for item in got.values()} == {"dynamodb:Wide"}


def test_attributes_past_the_last_column_are_kept_in_overflow(engine: Any) -> None:
    s3 = aws.client("s3")
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
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
    s3 = aws.client("s3")
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
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
