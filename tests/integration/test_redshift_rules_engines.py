"""The local engines keep Redshift's record of each table's keys and views, and refuse what Redshift
refuses: ALTER COLUMN ... TYPE or DROP COLUMN on a DISTKEY, SORTKEY or PRIMARY KEY column, and DROP of a
column or table an ordinary view reads; a late-binding view never blocks a change."""

from __future__ import annotations

import contextlib

import pytest

from tests.integration.conftest import LOCAL_ENGINES
from thermocline import warehouse
from thermocline.warehouse import TerminalLoadError

pytestmark = LOCAL_ENGINES

CREATE = (
    'CREATE TABLE "orders" ("pk" VARCHAR(16), "n" BIGINT, "region" VARCHAR(8), "note" VARCHAR(8), '
    '"extra" BIGINT) DISTKEY("pk") SORTKEY("pk", "n")'
)


def _schema(wh: warehouse.Warehouse) -> str:
    return "main" if wh.dialect == "duckdb" else "public"


def test_key_columns_cannot_be_altered_or_dropped_but_other_columns_can(engine_url: str) -> None:
    with contextlib.closing(warehouse.connect(engine_url)) as wh:
        wh.execute([CREATE, 'CREATE TABLE "keyed" ("id" BIGINT, "v" VARCHAR(4), PRIMARY KEY ("id"))'])
        with pytest.raises(TerminalLoadError, match=r"column 'pk' .* DISTKEY, SORTKEY"):
            wh.execute(['ALTER TABLE "orders" ALTER COLUMN "pk" TYPE VARCHAR(64)'])
        with pytest.raises(TerminalLoadError, match=r"drop column 'n' .* SORTKEY"):
            wh.execute(['ALTER TABLE "orders" DROP COLUMN "n"'])
        with pytest.raises(TerminalLoadError, match=r"column 'id' .* PRIMARY KEY"):
            wh.execute(['ALTER TABLE "keyed" DROP COLUMN "id"'])
        wh.execute(['ALTER TABLE "orders" ALTER COLUMN "region" TYPE VARCHAR(64)'])
        wh.execute(['ALTER TABLE "orders" DROP COLUMN "extra"'])
        # The record follows the table through a rename, as Redshift's catalog does.
        wh.execute(['ALTER TABLE "orders" RENAME TO "orders_2"'])
        with pytest.raises(TerminalLoadError, match="DISTKEY"):
            wh.execute(['ALTER TABLE "orders_2" ALTER COLUMN "pk" TYPE VARCHAR(64)'])
        # A refused statement leaves the whole transaction undone.
        with pytest.raises(TerminalLoadError):
            wh.execute(
                ['ALTER TABLE "orders_2" DROP COLUMN "note"', 'ALTER TABLE "orders_2" DROP COLUMN "pk"']
            )
        columns = wh.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders_2' ORDER BY 1"
        ).rows
        assert [c for (c,) in columns] == ["n", "note", "pk", "region"]


def test_an_ordinary_view_blocks_drops_and_a_late_binding_view_does_not(engine_url: str) -> None:
    with contextlib.closing(warehouse.connect(engine_url)) as wh:
        schema = _schema(wh)
        wh.execute([CREATE, "INSERT INTO orders VALUES ('a', 1, 'eu', 'x', 7)"])
        wh.execute(
            [
                'CREATE VIEW "by_region" AS SELECT "pk", "region" FROM "orders"',
                f'CREATE VIEW "all_orders" AS SELECT * FROM {schema}."orders" WITH NO SCHEMA BINDING',
            ]
        )
        with pytest.raises(TerminalLoadError, match=r"drop column 'region' .* view .*by_region"):
            wh.execute(['ALTER TABLE "orders" DROP COLUMN "region"'])
        with pytest.raises(TerminalLoadError, match=r"drop table .*orders.* view .*by_region"):
            wh.execute(['DROP TABLE "orders"'])
        # Columns no ordinary view reads change freely; widening a column a view reads is allowed.
        wh.execute(['ALTER TABLE "orders" DROP COLUMN "extra"'])
        wh.execute(['ALTER TABLE "orders" ALTER COLUMN "region" TYPE VARCHAR(64)'])
        assert wh.query('SELECT "pk", "region" FROM "by_region"').rows == [("a", "eu")]
        # With the ordinary view gone, the table can be replaced; the late-binding view reads the new one.
        wh.execute(['DROP VIEW "by_region"'])
        wh.execute(
            [
                'CREATE TABLE "orders_new" ("pk" VARCHAR(64), "n" DECIMAL(38,0), "region" VARCHAR(64), '
                '"note" VARCHAR(8)) DISTKEY("pk") SORTKEY("pk", "n")',
                'INSERT INTO "orders_new" SELECT "pk", "n", "region", "note" FROM "orders"',
                'DROP TABLE "orders"',
                'ALTER TABLE "orders_new" RENAME TO "orders"',
            ]
        )
        assert wh.query(f'SELECT "pk", "n" FROM {schema}."all_orders"').rows == [("a", 1)]


def test_a_late_binding_view_names_its_tables_with_their_schema(engine_url: str) -> None:
    with contextlib.closing(warehouse.connect(engine_url)) as wh:
        wh.execute([CREATE])
        with pytest.raises(TerminalLoadError, match="qualify table 'orders'"):
            wh.execute(['CREATE VIEW "v" AS SELECT * FROM "orders" WITH NO SCHEMA BINDING'])
