"""The load's SQL as text: valid Redshift, every identifier quoted, the steps in the order that matters."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from thermocline.lake.columns import CDC_COLUMNS
from thermocline.lake.metadata import TableSpec
from thermocline.lake.types import ColumnType
from thermocline.load.sql import (
    LedgerEntry,
    copy_sql,
    ensure_bookkeeping_sql,
    ensure_table_sql,
    full_refresh_sql,
    is_integer_to_decimal,
    ledger_lookup_sql,
    load_sql,
    rebuild_sql,
    sql_literal,
    table_columns_sql,
    tombstone_table,
    widen_column_sql,
)
from thermocline.names import quote_ident
from thermocline.warehouse.emulation import parse_copy, parse_lock, translate
from thermocline.warehouse.redshift_data import MAX_BATCH_STATEMENTS
from thermocline.warehouse.redshift_errors import load_error_detail_sql

SPEC = TableSpec(
    table="orders",
    primary_key=("pk", "sk"),
    columns=(
        ("pk", "VARCHAR(256)"),
        ("sk", "VARCHAR(256)"),
        ('we"ird Col', "DECIMAL(38,2)"),
        ("items", "SUPER"),
        ("blob", "VARBYTE(16)"),
        *((c.name, c.type) for c in CDC_COLUMNS),
    ),
    sort_key=("pk",),
    dist_key="pk",
)
FILES = [LedgerEntry("cdc/orders/dt=2026-11-01/a'b.parquet", 123, 4), LedgerEntry("cdc/orders/b.parquet", 9)]


def _load(mode: str = "hard") -> list[str]:
    return load_sql(
        SPEC,
        manifest_url="s3://lake/_manifests/orders/l1.manifest",
        files=FILES,
        load_id="l1",
        iam_role="arn:aws:iam::123456789012:role/copy",
        delete_mode=mode,  # type: ignore[arg-type]
    )


def _rebuild() -> list[str]:
    wider = {"pk": ColumnType.parse("VARCHAR(1024)")}
    rows = [("pk", "character varying", 256, None, None), ("sk", "character varying", 256, None, None)]
    target = [*rows, ("items", "super", None, None, None), ("_seq", "character varying", 40, None, None)]
    return rebuild_sql(SPEC, target, wider, [*rows, ("_seq", "character varying", 40, None, None)], wider)


def _all_statements() -> list[str]:
    return [
        *_load("hard"),
        *_load("soft"),
        *full_refresh_sql(SPEC, manifest_url="s3://lake/m", files=FILES, load_id="r1"),
        *ensure_bookkeeping_sql(),
        *ensure_table_sql(SPEC, None),
        *ensure_table_sql(SPEC, {"pk": "character varying", "sk": "character varying"}),
        widen_column_sql("orders", "pk", ColumnType.parse("VARCHAR(1024)")),
        *_rebuild(),
        ledger_lookup_sql([f.key for f in FILES]),
        table_columns_sql("orders"),
        load_error_detail_sql(42),
    ]


@pytest.mark.parametrize("sql", _all_statements())
def test_every_statement_parses_as_redshift(sql):
    tree = sqlglot.parse_one(sql, read="redshift")
    if parse_lock(sql) is None and parse_copy(sql) is None:
        # Not a fallback "Command": sqlglot understood the statement.
        assert not isinstance(tree, exp.Command), sql
    for dialect in ("duckdb", "postgres"):
        if parse_lock(sql) is None and parse_copy(sql) is None and "sys_load_error_detail" not in sql:
            assert translate(sql, dialect)


def test_one_load_fits_one_data_api_batch():
    assert len(_load("hard")) <= MAX_BATCH_STATEMENTS
    assert len(_load("soft")) <= MAX_BATCH_STATEMENTS


def test_order_of_a_load():
    statements = _load("hard")
    kinds = [s.split()[0] for s in statements]
    assert kinds[0] == "LOCK" and statements[0] == 'LOCK "thermocline"."load_lock__orders"'
    copy = kinds.index("COPY")
    insert = next(i for i, s in enumerate(statements) if s.startswith('INSERT INTO "orders"'))
    ledger = next(i for i, s in enumerate(statements) if "load_ledger" in s)
    dedupe = next(
        i for i, s in enumerate(statements) if s.startswith('CREATE TEMP TABLE "thermocline$newest"')
    )
    assert copy < dedupe < insert < ledger
    # Deletes are applied first; then the rows the versions replace go, just before the versions come in.
    replaced = (
        'DELETE FROM "orders" USING "thermocline$latest" WHERE "orders"."pk" = "thermocline$latest"."pk"'
    )
    assert statements[insert - 1].startswith(replaced) and "_op" not in statements[insert - 1]
    assert any(s.startswith('DELETE FROM "orders" USING') and "_op" in s for s in statements[dedupe:insert])
    assert statements[-3:] == [
        'DROP TABLE "thermocline$latest"',
        'DROP TABLE "thermocline$newest"',
        'DROP TABLE "thermocline$stage"',
    ]


def test_the_dedupe_sorts_no_whole_rows():
    """The newest version per key is found on the key and _seq alone; the one window sorts only the
    copies of a version that arrived more than once."""
    statements = _load("hard")
    newest = next(s for s in statements if s.startswith('CREATE TEMP TABLE "thermocline$newest"'))
    tree = sqlglot.parse_one(newest, read="redshift")
    assert {c.name for c in tree.find_all(exp.Column)} == {*SPEC.primary_key, "_seq"}
    windows = [s for s in statements if "OVER (" in s]
    assert len(windows) == 1 and '"thermocline$copies" > 1' in windows[0]


def test_staging_matches_the_files_columns_in_order_and_stages_super_as_text():
    create = next(s for s in _load() if s.startswith('CREATE TEMP TABLE "thermocline$stage"'))
    tree = sqlglot.parse_one(create, read="redshift")
    columns = [(c.name, c.args["kind"].sql("redshift")) for c in tree.find_all(exp.ColumnDef)]
    assert [name for name, _ in columns] == SPEC.column_names
    assert dict(columns)["items"] == "VARCHAR(65535)"
    assert dict(columns)["blob"] == "VARBYTE(16)"


def test_copy_uses_the_manifest_parquet_and_serializetojson():
    copy = next(s for s in _load() if s.startswith("COPY"))
    assert copy == (
        "COPY \"thermocline$stage\" FROM 's3://lake/_manifests/orders/l1.manifest' "
        "IAM_ROLE 'arn:aws:iam::123456789012:role/copy' FORMAT AS PARQUET SERIALIZETOJSON MANIFEST"
    )
    default_role = copy_sql("s", "s3://b/m", None)
    assert "IAM_ROLE default" in default_role


def test_super_is_json_parsed_into_the_target_and_identifiers_are_quoted():
    insert = next(s for s in _load() if s.startswith('INSERT INTO "orders"'))
    assert 'JSON_PARSE("thermocline$latest"."items")' in insert
    assert '"we""ird Col"' in insert and '"thermocline$latest"."we""ird Col"' in insert
    assert insert.endswith(', FALSE FROM "thermocline$latest"')


def test_ledger_records_every_file_once_with_literals_escaped():
    ledger = next(s for s in _load() if "load_ledger" in s)
    assert "CAST('cdc/orders/dt=2026-11-01/a''b.parquet' AS VARCHAR(1024)) AS file_key" in ledger
    assert "SELECT 'cdc/orders/b.parquet', 'loaded', 9, NULL, NULL" in ledger
    assert ledger.count("WHERE NOT EXISTS") == 1
    assert ledger.count("cdc/orders/b.parquet") == 1
    big = [
        LedgerEntry(f"cdc/orders/dt=2026-11-01/shardId-{i:020d}-{'9' * 40}-{'9' * 40}.parquet", 1, 1)
        for i in range(200)
    ]
    statements = load_sql(SPEC, manifest_url="s3://lake/m", files=big, load_id="l")
    assert max(len(s.encode()) for s in statements) < 100 * 1024


def test_soft_deletes_flag_instead_of_deleting():
    soft = _load("soft")
    # Rows go only to be replaced by their newer versions, never for a delete.
    assert not any(s.startswith('DELETE FROM "orders"') and '"_op"' in s for s in soft)
    assert any(s.startswith('UPDATE "orders" SET "_deleted" = TRUE') for s in soft)
    assert not any("tombstones" in s for s in soft)
    hard = _load("hard")
    assert any(s.startswith('INSERT INTO "thermocline"."tombstones__orders"') for s in hard)


def test_a_version_replaces_its_row_whole_so_columns_its_file_lacks_are_null():
    statements = _load("soft")
    insert = next(s for s in statements if s.startswith('INSERT INTO "orders"'))
    # No UPDATE of the target's rows: whatever columns the target has beyond the file's are NULL in a
    # replaced row, even those added by another loader after these statements were written.
    assert not any(s.startswith(("UPDATE", "MERGE")) and '"items" =' in s for s in statements)
    columns = insert.split(" (", 1)[1].split(") SELECT", 1)[0].split(", ")
    assert columns == [*(f'"{n}"' if '"' not in n else '"we""ird Col"' for n, _ in SPEC.data_columns)] + [
        '"_seq"',
        '"_event_time"',
        '"_ttl_expired"',
        '"_source"',
        '"_deleted"',
    ]
    assert insert.endswith(', "thermocline$latest"."_op" = \'D\' FROM "thermocline$latest"')


def test_full_refresh_replaces_without_truncate():
    statements = full_refresh_sql(SPEC, manifest_url="s3://lake/m", files=FILES, load_id="r1")
    assert statements[0] == 'LOCK "thermocline"."load_lock__orders"'
    assert 'DELETE FROM "orders"' in statements
    assert not any("TRUNCATE" in s.upper() for s in statements)
    insert = next(s for s in statements if s.startswith('INSERT INTO "orders"'))
    assert 'FROM "thermocline$stage" AS s WHERE s."_op" <> \'D\'' in insert


def test_ensure_table_declares_no_key_and_adds_only_missing_columns():
    create = ensure_table_sql(SPEC, None)[0]
    assert "PRIMARY KEY" not in create
    assert create.endswith('DISTKEY("pk") SORTKEY("pk")')
    assert "PRIMARY KEY" not in translate(create, "duckdb")
    assert "PRIMARY KEY" not in translate(create, "postgres")
    assert "JSONB" in translate(create, "postgres") and "JSON" in translate(create, "duckdb")
    existing = {name: "x" for name, _ in SPEC.target_columns() if name != "items"}
    alters = ensure_table_sql(SPEC, existing)
    assert alters[0] == 'ALTER TABLE "orders" ADD COLUMN "items" SUPER'
    assert alters[1].startswith('CREATE TABLE IF NOT EXISTS "thermocline"."tombstones__orders"')
    assert alters[2] == 'CREATE TABLE IF NOT EXISTS "thermocline"."load_lock__orders" (load_id VARCHAR(64))'
    assert len(alters) == 3


def test_a_create_too_big_for_one_statement_keeps_its_keys_and_adds_the_rest_in_order():
    names = [f"c{i:04d}_".ljust(127, "x") for i in range(1_590)]
    wide = TableSpec(
        table="wide",
        primary_key=(names[3],),
        columns=tuple((n, "VARCHAR(65535)") for n in names),
        sort_key=(names[5],),
        dist_key=names[3],
    )
    statements = ensure_table_sql(wide, None, 100_000)
    create, *alters = statements[:-2]
    assert len(create.encode()) <= 100_000 < len(ensure_table_sql(wide, None)[0].encode())
    assert create.endswith(f"DISTKEY({quote_ident(names[3])}) SORTKEY({quote_ident(names[5])})")
    # One column an ALTER; together: the columns of the one CREATE, in its order.
    added = [sqlglot.parse_one(a, read="redshift") for a in alters]
    created = sqlglot.parse_one(create, read="redshift").this.expressions
    assert [c.name for c in created] + [a.args["actions"][0].name for a in added] == [
        n for n, _ in wide.target_columns()
    ]
    assert all(len(a.args["actions"]) == 1 for a in added)
    # Narrow tables: one CREATE, as before.
    assert ensure_table_sql(SPEC, None, 100_000) == ensure_table_sql(SPEC, None)


def test_a_staging_table_too_big_for_one_statement_stages_data_columns_by_position():
    names = [f"c{i:04d}_".ljust(127, "x") for i in range(1_590)]
    wide = TableSpec(
        table="wide",
        primary_key=(names[0],),
        columns=(*((n, "VARCHAR(65535)") for n in names), *((c.name, c.type) for c in CDC_COLUMNS)),
    )
    files = [LedgerEntry("cdc/wide/a.parquet", 10, 1)]
    statements = load_sql(
        wide, manifest_url="s3://b/m", files=files, load_id="l", max_statement_bytes=100_000
    )
    assert max(len(s.encode()) for s in statements) <= 100_000 and len(statements) <= MAX_BATCH_STATEMENTS
    stage = sqlglot.parse_one(
        next(s for s in statements if s.startswith("CREATE TEMP TABLE")), read="redshift"
    )
    staged = [c.name for c in stage.this.expressions]
    # Keys and CDC columns keep their names (the load reads them); the others are named by position.
    assert staged[0] == names[0] and staged[1:3] == ["thermocline$1", "thermocline$2"]
    assert staged[-len(CDC_COLUMNS) :] == [c.name for c in CDC_COLUMNS]
    refresh = full_refresh_sql(
        TableSpec(table="wide", primary_key=(), columns=tuple((n, "VARCHAR(65535)") for n in names)),
        manifest_url="s3://b/m",
        files=files,
        load_id="l",
        max_statement_bytes=100_000,
        target_columns=[
            *names[:2],
            "added_later",
            *names[2:],
            "_seq",
            "_event_time",
            "_ttl_expired",
            "_source",
            "_deleted",
        ],
    )
    insert = next(s for s in refresh if s.startswith('INSERT INTO "wide"'))
    assert len(insert.encode()) <= 100_000
    assert insert.startswith(
        'INSERT INTO "wide" SELECT s."thermocline$0", s."thermocline$1", NULL, s."thermocline$2", '
    )
    assert insert.endswith('NULL, NULL, FALSE, NULL, FALSE FROM "thermocline$stage" AS s')


def test_spec_validation_and_literals():
    with pytest.raises(ValueError, match="primary key"):
        TableSpec(table="t", primary_key=("id",), columns=(("x", "BIGINT"),))
    assert sql_literal("a\\b") == "('a' || CHR(92) || 'b')"
    with pytest.raises(ValueError):
        sql_literal("a\x00b")
    assert sql_literal("O'Brien") == "'O''Brien'"
    assert len(tombstone_table("t" * 127).encode()) <= 127
    assert tombstone_table("t" * 127) != tombstone_table("t" * 126 + "u")
    with pytest.raises(ValueError, match="snapshot"):
        load_sql(
            TableSpec(table="t", primary_key=("id",), columns=(("id", "BIGINT"),)),
            manifest_url="s3://b/m",
            files=FILES,
            load_id="x",
        )


def test_report_style_redshift_sql_runs_on_duckdb():
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE TABLE o (region VARCHAR, created_at TIMESTAMP, total DECIMAL(38,2))")
    conn.execute(
        "INSERT INTO o VALUES ('eu', '2026-09-05', 10), ('eu', '2026-10-07', 30), ('us', '2026-10-01', 5)"
    )
    sql = (
        "WITH m AS (SELECT region, DATE_TRUNC('month', created_at) AS month, SUM(total) AS sales FROM o "
        "WHERE created_at >= DATEADD(month, -24, GETDATE()) GROUP BY 1, 2) "
        "SELECT region, month, sales, LAG(sales) OVER (PARTITION BY region ORDER BY month) AS prev FROM m "
        "ORDER BY region, month"
    )
    rows = conn.execute(translate(sql, "duckdb")).fetchall()
    assert [(r[0], str(r[1])[:10], float(r[2]), r[3] and float(r[3])) for r in rows] == [
        ("eu", "2026-09-01", 10.0, None),
        ("eu", "2026-10-01", 30.0, 10.0),
        ("us", "2026-10-01", 5.0, None),
    ]


def test_pure_modules_import_no_aws_sdk_and_no_driver():
    import subprocess
    import sys

    code = (
        "import sys, thermocline.load.sql, thermocline.lake.manifest; "
        "print(sorted(m for m in ('boto3', 'botocore', 'duckdb', 'psycopg', 'redshift_connector') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_only_integer_to_decimal_is_retyped():
    assert is_integer_to_decimal("bigint", ColumnType.parse("DECIMAL(38,18)"))
    assert is_integer_to_decimal("BIGINT", ColumnType.parse("DECIMAL(38,0)"))
    assert not is_integer_to_decimal("numeric", ColumnType.parse("DECIMAL(38,18)"))
    assert not is_integer_to_decimal("bigint", ColumnType.parse("VARCHAR(65535)"))


def test_a_rebuild_keeps_column_order_and_keys_and_swaps_target_and_tombstones_in_one_transaction():
    statements = _rebuild()
    guard = (
        "SELECT CAST(CASE WHEN (SELECT COUNT(*) FROM information_schema.columns WHERE {where}) = {n} "
        "AND (SELECT COUNT(*) FROM information_schema.columns WHERE {where} AND ((column_name = 'pk' AND "
        "LOWER(data_type) = 'character varying' AND character_maximum_length = 256))) = 1 THEN '0' "
        "ELSE '{table} changed while it was being rebuilt; the load is retried' END AS INTEGER)"
    )
    target = "table_schema = CURRENT_SCHEMA() AND table_name = 'orders'"
    tombs = "table_schema = 'thermocline' AND table_name = 'tombstones__orders'"
    assert statements == [
        'LOCK "thermocline"."load_lock__orders"',
        guard.format(where=target, n=4, table="orders"),
        'CREATE TABLE "orders$rebuild" DISTKEY("pk") SORTKEY("pk") AS SELECT CAST("pk" AS VARCHAR(1024)) '
        'AS "pk", "sk", "items", "_seq" FROM "orders"',
        'DROP TABLE "orders"',
        'ALTER TABLE "orders$rebuild" RENAME TO "orders"',
        guard.format(where=tombs, n=3, table="tombstones__orders"),
        'CREATE TABLE "thermocline"."tombstones__orders$rebuild" AS SELECT CAST("pk" AS VARCHAR(1024)) AS "pk", '
        '"sk", "_seq" FROM "thermocline"."tombstones__orders"',
        'DROP TABLE "thermocline"."tombstones__orders"',
        'ALTER TABLE "thermocline"."tombstones__orders$rebuild" RENAME TO "tombstones__orders"',
    ]


def test_a_large_snapshot_records_its_files_in_several_statements_of_one_transaction():
    files = [LedgerEntry(f"snapshot/orders/export-1/part-{i:05d}.parquet", 10, 1) for i in range(1000)]
    statements = full_refresh_sql(SPEC, manifest_url="s3://lake/m", files=files, load_id="r")
    ledger = [s for s in statements if s.startswith('INSERT INTO "thermocline"."load_ledger"')]
    assert len(ledger) == 5
    assert sum(s.count("snapshot/orders/export-1/part-") for s in ledger) == 1000
    assert len(statements) <= MAX_BATCH_STATEMENTS
    assert max(len(s.encode()) for s in statements) < 100 * 1024


def test_an_insert_over_the_statement_limit_becomes_an_insert_of_the_keys_and_updates_in_groups():
    columns = [("pk", "VARCHAR(64)")] + [
        (f"attribute_{i:04d}_of_a_wide_item", "VARCHAR(65535)") for i in range(1592)
    ]
    columns += [("items", "SUPER"), ("_overflow", "SUPER")] + [(c.name, c.type) for c in CDC_COLUMNS]
    wide = TableSpec(table="wide", primary_key=("pk",), columns=tuple(columns))
    whole = load_sql(wide, manifest_url="s3://b/m", files=FILES, load_id="l")
    (insert,) = [s for s in whole if s.startswith('INSERT INTO "wide" ("pk", "attribute_0000')]
    assert len(insert.encode()) > 100_000
    split = load_sql(wide, manifest_url="s3://b/m", files=FILES, load_id="l", max_statement_bytes=100_000)
    assert not any(s.startswith('INSERT INTO "wide" ("pk", ') for s in split)
    assert max(len(s.encode()) for s in split) <= 100_000 and len(split) <= MAX_BATCH_STATEMENTS
    insert = next(s for s in split if s.startswith('INSERT INTO "wide" ("pk") SELECT'))
    updates = [s for s in split if s.startswith('UPDATE "wide" SET')]
    assert split.index(insert) < split.index(updates[0]) and len(updates) == 2
    assert split[split.index(insert) - 1].startswith('DELETE FROM "wide" USING "thermocline$latest"')
    # Every column but the key, set once, in the same transaction; SUPER still parsed.
    assigned = [
        a.split(" = ")[0] for u in updates for a in u.split(" SET ", 1)[1].split(" FROM ")[0].split(", ")
    ]
    assert len(assigned) == len(set(assigned)) == len(wide.data_columns) - 1 + 4 + 1
    assert any('"items" = JSON_PARSE("thermocline$latest"."items")' in u for u in updates)
    for sql in [insert, updates[-1]]:
        for dialect in ("duckdb", "postgres"):
            assert translate(sql, dialect)


def test_text_keys_that_differ_only_in_trailing_blanks_stay_apart():
    """Redshift ignores trailing blanks when it compares VARCHAR values ('a' = 'a '), and DynamoDB keys
    'a' and 'a ' are two items: every comparison, grouping and window over a text key also compares its
    length, or one item's load would replace or delete the other's row. Number and binary keys need not."""
    spec = TableSpec(
        table="t",
        primary_key=("pk", "n", "b"),
        columns=(
            ("pk", "VARCHAR(2048)"),
            ("n", "DECIMAL(38,0)"),
            ("b", "VARBYTE(1024)"),
            *((c.name, c.type) for c in CDC_COLUMNS),
        ),
    )
    statements = [
        *load_sql(spec, manifest_url="s3://l/m", files=FILES, load_id="x", delete_mode="hard"),
        *load_sql(spec, manifest_url="s3://l/m", files=FILES, load_id="x", delete_mode="soft"),
        *load_sql(
            TableSpec(**{**spec.__dict__, "kind": "export"}),
            manifest_url="s3://l/m",
            files=FILES,
            load_id="x",
        ),
    ]
    checked = 0
    for sql in statements:
        tree = sqlglot.parse_one(sql, read="redshift")
        lengths = {
            (fn.this.table, fn.this.name)
            for fn in tree.find_all(exp.Length)
            if isinstance(fn.this, exp.Column)
        }
        for eq in tree.find_all(exp.EQ):
            if (
                isinstance(eq.this, exp.Column)
                and isinstance(eq.expression, exp.Column)
                and eq.this.name == "pk"
            ):
                assert {(eq.this.table, "pk"), (eq.expression.table, "pk")} <= lengths, sql
                checked += 1
        for grouping in [
            *tree.find_all(exp.Group),
            *(w.args.get("partition_by") and w for w in tree.find_all(exp.Window)),
        ]:
            if not grouping:
                continue
            parts = grouping.expressions if isinstance(grouping, exp.Group) else grouping.args["partition_by"]
            if any(isinstance(p, exp.Column) and p.name == "pk" for p in parts):
                assert any(isinstance(p, exp.Length) for p in parts), sql
                checked += 1
        assert not [fn for fn in tree.find_all(exp.Length) if fn.this.name in ("n", "b")], sql
    assert checked > 10
