"""A key column that must change type (a number key past BIGINT's 19 digits, a string key that grows) is
changed by rebuilding the table, which Redshift accepts where ALTER and DROP COLUMN are refused (the local
engines refuse them too: warehouse/ddl_rules.py); the tombstone table follows, also when it lags
behind its target; a user's ordinary view stops the change with an error naming it and leaves the table
as it was, a late-binding view reads the rebuilt table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.conftest import LOCAL_ENGINES
from tests.integration.load_fixtures import BASE_TIME, parquet_bytes
from thermocline import aws, warehouse
from thermocline.lake.metadata import TableSpec
from thermocline.lake.types import ColumnType
from thermocline.load import load_files
from thermocline.load.sql import rebuild_sql, table_columns_sql, tombstone_table
from thermocline.settings import WarehouseLoadSettings
from thermocline.warehouse import TerminalLoadError, WarehouseError

BUCKET = "lake"
BIG = 123456789012345678901234  # 24 digits: no BIGINT holds it
DECIMAL_KEY = ColumnType.parse("DECIMAL(38,0)")
SPEC = TableSpec(
    "orders", primary_key=("id",), columns=(("id", DECIMAL_KEY),), dist_key="id", sort_key=("id",)
)


@pytest.fixture
def s3(aws_env: str) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


class Source:
    """A table keyed by a number ``id``, DISTKEY and SORTKEY ``id``, written as lake files."""

    def __init__(self, s3: Any) -> None:
        self.s3, self.seq, self.files = s3, 10**20, 0

    def row(self, op: str, key: int, v: str | None) -> dict[str, Any]:
        self.seq += 7
        return {
            "id": key,
            "v": v,
            "_op": op,
            "_seq": str(self.seq).zfill(40),
            "_event_time": BASE_TIME + timedelta(seconds=self.seq % 1000),
            "_ttl_expired": False,
            "_source": "dynamodb:orders",
        }

    def put(self, key_type: str, rows: list[dict[str, Any]]) -> str:
        self.files += 1
        columns = {"id": key_type, "v": "VARCHAR(64)"}
        if key_type.startswith("DECIMAL"):
            rows = [{**r, "id": Decimal(r["id"])} for r in rows]
        key = (
            f"cdc/orders/dt=2026-11-01/shardId-{self.files:04d}-{rows[0]['_seq']}-{rows[-1]['_seq']}.parquet"
        )
        self.s3.put_object(
            Bucket=BUCKET, Key=key, Body=parquet_bytes("orders", columns, rows, primary_key=("id",))
        )
        return key


def _load(wh: Any, url: str, s3: Any, key: str) -> Any:
    settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=url)
    return load_files([key], settings=settings, warehouse=wh, s3_client=s3)


def _rows(wh: Any, relation: str = '"orders"') -> dict[int, str]:
    return {int(r[0]): r[1] for r in wh.query(f"SELECT id, v FROM {relation}").rows}


def _type(wh: Any, table: str, column: str, schema: str | None = None) -> str:
    where = f"table_schema = '{schema}'" if schema else "table_schema = CURRENT_SCHEMA()"
    rows = wh.query(
        "SELECT data_type, numeric_precision, numeric_scale FROM information_schema.columns "
        f"WHERE {where} AND table_name = '{table}' AND column_name = '{column}'"
    ).rows
    data_type, precision, scale = rows[0]
    return "BIGINT" if str(data_type).upper() == "BIGINT" else f"DECIMAL({precision},{scale})"


def test_a_bigint_key_retyped_to_decimal_rebuilds_the_table_and_loads_exactly(
    s3: Any, engine_url: str
) -> None:
    src = Source(s3)
    first = src.put("BIGINT", [src.row("I", 1, "one"), src.row("I", 2, "two")])
    grown = src.put(
        "DECIMAL(38,0)", [src.row("I", BIG, "big"), src.row("U", 1, "one-b"), src.row("D", 2, None)]
    )
    gone = src.put("DECIMAL(38,0)", [src.row("D", BIG, None)])
    with contextlib.closing(warehouse.connect(engine_url, s3_client=s3)) as wh:
        assert _load(wh, engine_url, s3, first).loaded == [first]
        assert _load(wh, engine_url, s3, grown).loaded == [grown]
        assert _rows(wh) == {1: "one-b", BIG: "big"}
        assert _type(wh, "orders", "id") == "DECIMAL(38,0)"
        assert _type(wh, tombstone_table("orders"), "id", "thermocline") == "DECIMAL(38,0)"
        if wh.dialect in ("duckdb", "postgres"):
            # The rebuilt table is still distributed and sorted by its key (the local engines keep
            # Redshift's record of it: warehouse/ddl_rules.py).
            with pytest.raises(TerminalLoadError, match="DISTKEY, SORTKEY"):
                wh.execute(['ALTER TABLE "orders" DROP COLUMN "id"'])
        # A delete of the 24-digit key lands in the tombstones; replaying the file changes nothing.
        assert _load(wh, engine_url, s3, gone).loaded == [gone]
        assert (Decimal(BIG),) in wh.query(f'SELECT id FROM thermocline."{tombstone_table("orders")}"').rows
        wh.execute([f"DELETE FROM thermocline.load_ledger WHERE file_key = '{grown}'"])
        assert _load(wh, engine_url, s3, grown).loaded == [grown]
        assert _rows(wh) == {1: "one-b"}


@LOCAL_ENGINES  # late-binding views: the local engines emulate them, the Redshift shim does not
def test_an_ordinary_view_stops_the_rebuild_with_its_name_and_a_late_binding_view_reads_the_new_table(
    s3: Any, engine_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    src = Source(s3)
    first = src.put("BIGINT", [src.row("I", 1, "one")])
    grown = src.put("DECIMAL(38,0)", [src.row("I", BIG, "big")])
    with contextlib.closing(warehouse.connect(engine_url, s3_client=s3)) as wh:
        schema = "main" if wh.dialect == "duckdb" else "public"
        _load(wh, engine_url, s3, first)
        wh.execute(['CREATE VIEW "orders_v" AS SELECT "id", "v" FROM "orders"'])
        caplog.clear()
        report = _load(wh, engine_url, s3, grown)
        assert report.failed == [grown] and not report.loaded and not report.quarantined
        errors = [str(getattr(r, "error", "")) for r in caplog.records if r.levelname == "ERROR"]
        assert any("view" in e and "orders_v" in e and "NO SCHEMA BINDING" in e for e in errors), errors
        if wh.dialect == "postgres":  # the catalog lookup that names the view where Redshift's error does not
            assert any("views that depend on 'orders': public.orders_v" in e for e in errors), errors
        # Nothing half-changed: the table, its type and its rows are as they were.
        assert _type(wh, "orders", "id") == "BIGINT" and _rows(wh) == {1: "one"}
        # Replaced by a late-binding view, the same file loads (redelivery) and the view reads the new table.
        wh.execute(
            [
                'DROP VIEW "orders_v"',
                f'CREATE VIEW "orders_v" AS SELECT "id", "v" FROM {schema}."orders" WITH NO SCHEMA BINDING',
            ]
        )
        assert _load(wh, engine_url, s3, grown).loaded == [grown]
        assert _rows(wh, '"orders_v"') == {1: "one", BIG: "big"}


@contextlib.contextmanager
def _one_bigint_row(s3: Any, engine_url: str) -> Iterator[tuple[Any, Source]]:
    """A warehouse whose "orders" holds one row loaded with a BIGINT key, and the source that wrote it."""
    src = Source(s3)
    first = src.put("BIGINT", [src.row("I", 1, "one")])
    with contextlib.closing(warehouse.connect(engine_url, s3_client=s3)) as wh:
        _load(wh, engine_url, s3, first)
        yield wh, src


def test_a_tombstone_table_narrower_than_its_target_catches_up(s3: Any, engine_url: str) -> None:
    with _one_bigint_row(s3, engine_url) as (wh, src):
        # As a loader before this rule left it: the target retyped, its tombstone table not.
        rows = wh.query(table_columns_sql("orders")).rows
        wh.execute(rebuild_sql(SPEC, rows, {"id": DECIMAL_KEY}))
        assert _type(wh, tombstone_table("orders"), "id", "thermocline") == "BIGINT"
        gone = src.put("DECIMAL(38,0)", [src.row("I", BIG, "big"), src.row("D", BIG, None)])
        late = src.put("DECIMAL(38,0)", [src.row("I", BIG, "late")])
        assert _load(wh, engine_url, s3, gone).loaded == [gone]  # before: the tombstone INSERT overflowed
        assert _type(wh, tombstone_table("orders"), "id", "thermocline") == "DECIMAL(38,0)"
        assert (Decimal(BIG),) in wh.query(f'SELECT id FROM thermocline."{tombstone_table("orders")}"').rows
        assert _load(wh, engine_url, s3, late).loaded == [late]
        assert _rows(wh) == {1: "one", BIG: "late"}


def test_a_rebuild_from_a_stale_reading_changes_nothing(s3: Any, engine_url: str) -> None:
    with _one_bigint_row(s3, engine_url) as (wh, _):
        stale = wh.query(table_columns_sql("orders")).rows
        # Another loader grows the table between this one's reading and its rebuild.
        wh.execute(
            ['ALTER TABLE "orders" ADD COLUMN "late" VARCHAR(16)', 'UPDATE "orders" SET "late" = \'kept\'']
        )
        with pytest.raises(WarehouseError, match="changed while it was being rebuilt"):
            wh.execute(rebuild_sql(SPEC, stale, {"id": DECIMAL_KEY}))
        assert wh.query('SELECT "id", "late" FROM "orders"').rows == [(1, "kept")]
        assert _type(wh, "orders", "id") == "BIGINT"
