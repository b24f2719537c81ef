"""Names of 64 to 127 bytes on PostgreSQL: one short form each, the same in every statement."""

from __future__ import annotations

from thermocline.warehouse.emulation import postgres_lock_sql, translate, translate_query
from thermocline.warehouse.postgres_names import long_names, looks_short, register_sql, short_name

LONG = "a" * 127


def test_a_long_name_has_one_short_form_within_63_bytes_distinct_from_its_neighbours() -> None:
    assert short_name("a" * 63) == "a" * 63
    forms = {short_name(LONG), short_name("a" * 126 + "b"), short_name("a" * 64), short_name("a" * 70 + "1")}
    assert len(forms) == 4
    assert all(len(f.encode()) <= 63 and looks_short(f) for f in forms)
    assert short_name(LONG) == short_name("a" * 127)
    # Cut at a character boundary: the short form of a multi-byte name is still valid UTF-8.
    assert len(short_name("é" * 40).encode()) <= 63


def test_every_statement_and_catalog_query_uses_the_short_form() -> None:
    create = translate(f'CREATE TABLE "{LONG}" ("{LONG}" BIGINT, id VARCHAR(5))', "postgres")
    assert LONG not in create and create.count(f'"{short_name(LONG)}"') == 2
    # Unquoted names fold to lower case first, as on Redshift and PostgreSQL.
    assert f'"{short_name(LONG)}"' in translate(f"SELECT {LONG.upper()} FROM t", "postgres")
    query, _ = translate_query(
        f"SELECT column_name FROM information_schema.columns WHERE table_name = '{LONG}'", "postgres", {}
    )
    assert f"'{short_name(LONG)}'" in query
    # Outside the catalog a long text is data, kept as written; DuckDB takes long names as they are.
    assert f"'{LONG}'" in translate_query(f"SELECT '{LONG}' AS v", "postgres", {})[0]
    assert LONG in translate(f'SELECT "{LONG}" FROM t', "duckdb")
    assert short_name("load_lock__" + LONG) in postgres_lock_sql(f'"thermocline"."load_lock__{LONG}"')


def test_the_registry_records_each_long_name_beside_its_short_form() -> None:
    names = long_names(f'UPDATE "{LONG}" SET "we""ird{LONG}" = 1, {LONG.upper()}x = 2 WHERE short = 1')
    assert names == {LONG, f'we"ird{LONG}', LONG + "x"}
    sql, values = register_sql(names)
    assert sql.count("(%s, %s)") == 3
    assert values[values.index(LONG) - 1] == short_name(LONG)
