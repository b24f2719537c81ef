"""Reading AWS's RDS export metadata: every table a full export holds is read, whatever its name."""

from __future__ import annotations

import json

from thermocline.sources.rds_export.layout import parse_tables_info, table_prefix


def _info(*targets: str) -> str:
    return json.dumps(
        {"perTableStatus": [{"target": t, "status": "COMPLETE", "schemaMetadata": {}} for t in targets]}
    )


def test_a_table_name_holding_dots_does_not_make_the_whole_export_unreadable() -> None:
    # A full export includes PostgreSQL tables whose names hold dots (only slashes are skipped); before,
    # one such table made the export's metadata unreadable and no table of the export was refreshed.
    tables = parse_tables_info(
        _info("shop.public.orders", "shop.public.Odd.Table", "shop.s2.odd_table", "app.users")
    )
    assert [(t.engine, t.database, t.schema, t.table) for t in tables] == [
        ("postgres", "shop", "public", "orders"),
        ("postgres", "shop", "public", "Odd.Table"),
        ("postgres", "shop", "s2", "odd_table"),
        ("mysql", "app", "app", "users"),
    ]
    assert table_prefix("exports", "exp-1", tables[1]) == "exports/exp-1/shop/public.Odd.Table/"
