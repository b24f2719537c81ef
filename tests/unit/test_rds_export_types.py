"""Source column types of an RDS export → warehouse types: PostgreSQL and MySQL (AWS's conversion table)."""

from __future__ import annotations

import pytest

from thermocline.sources.rds_export.layout import SourceColumn
from thermocline.sources.rds_export.types import ArrayStats, NumericStats, restore_plan


def _sql(engine: str, original: str, **kwargs: int) -> str:
    return restore_plan(engine, SourceColumn("c", original, **kwargs)).type.sql


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("smallint", "SMALLINT"),
        ("integer", "INTEGER"),
        ("bigint", "BIGINT"),
        ("real", "REAL"),
        ("double precision", "DOUBLE PRECISION"),
        ("boolean", "BOOLEAN"),
        ("text", "VARCHAR(65535)"),
        ("date", "DATE"),
        ("time without time zone", "TIME"),
        ("timestamp without time zone", "TIMESTAMP"),
        ("timestamp with time zone", "TIMESTAMPTZ"),
        ("interval", "VARCHAR(96)"),
        ("json", "SUPER"),
        ("jsonb", "SUPER"),
        ("uuid", "VARCHAR(36)"),
        ("bytea", "VARBYTE(1024000)"),
        ("USER-DEFINED", "VARCHAR(65535)"),  # enums, and any type the warehouse has no equivalent of
        ("money", "VARCHAR(65535)"),
        ("time with time zone", "VARCHAR(65535)"),
        ("ARRAY", "SUPER"),
    ],
)
def test_postgres_types(original: str, expected: str) -> None:
    assert _sql("postgres", original) == expected


def test_postgres_character_lengths_count_characters_and_redshift_counts_bytes() -> None:
    assert _sql("postgres", "character varying", char_max_length=5) == "VARCHAR(20)"
    assert _sql("postgres", "character", char_max_length=3) == "VARCHAR(12)"
    assert _sql("postgres", "character varying", char_max_length=100000) == "VARCHAR(65535)"
    assert _sql("postgres", "character varying") == "VARCHAR(65535)"


def test_numeric_scale_comes_from_the_values_and_precision_from_the_metadata() -> None:
    column = SourceColumn("price", "numeric", num_precision=10)
    assert restore_plan("postgres", column, NumericStats(int_digits=3, scale=2)).type.sql == "DECIMAL(10,2)"
    unconstrained = SourceColumn("n", "numeric")
    # No precision: 38 digits, and as many decimals as the values show while the widest value still fits.
    assert (
        restore_plan("postgres", unconstrained, NumericStats(int_digits=30, scale=12)).type.sql
        == "DECIMAL(38,8)"
    )
    assert (
        restore_plan("postgres", unconstrained, NumericStats(int_digits=44, scale=1)).type.sql
        == "DECIMAL(38,0)"
    )


def test_arrays_are_numbers_only_when_every_element_was_an_unquoted_integer() -> None:
    column = SourceColumn("a", "ARRAY")
    assert restore_plan("postgres", column, array=ArrayStats(integers=True, seen=True)).kind == "array_int"
    assert restore_plan("postgres", column, array=ArrayStats(integers=False, seen=True)).kind == "array"
    assert restore_plan("postgres", column, array=ArrayStats(integers=True, seen=False)).kind == "array"


# AWS's MySQL and MariaDB table ("Data conversion when exporting to an Amazon S3 bucket"): the export
# writes these physical types, and the warehouse gets back the source type.
@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("tinyint", "SMALLINT"),
        ("tinyint(1)", "SMALLINT"),
        ("smallint", "SMALLINT"),
        ("smallint unsigned", "INTEGER"),
        ("mediumint", "INTEGER"),
        ("mediumint unsigned", "INTEGER"),
        ("int", "INTEGER"),
        ("int(10) unsigned", "BIGINT"),  # INT UNSIGNED is exported as INT64
        ("bigint", "BIGINT"),
        ("bigint unsigned", "DECIMAL(20,0)"),  # exported as FIXED_LEN_BYTE_ARRAY(9) DECIMAL(20,0)
        ("float", "REAL"),  # exported as DOUBLE; single precision comes back exactly
        ("double", "DOUBLE PRECISION"),
        ("year", "SMALLINT"),
        ("bit", "VARBYTE(8)"),
        ("date", "DATE"),  # exported as a string
        ("time", "TIME"),  # exported as a string
        ("datetime", "TIMESTAMP"),  # exported as INT64 TIMESTAMP_MICROS
        ("timestamp", "TIMESTAMP"),
        ("json", "SUPER"),
        ("varchar", "VARCHAR(65535)"),
        ("longtext", "VARCHAR(65535)"),
        ("enum('a','b')", "VARCHAR(65535)"),
        ("set('x','y')", "VARCHAR(65535)"),
        ("blob", "VARBYTE(1024000)"),
        ("varbinary", "VARBYTE(1024000)"),
        ("geometry", "VARBYTE(1024000)"),
    ],
)
def test_mysql_types(original: str, expected: str) -> None:
    assert _sql("mysql", original) == expected


def test_mysql_decimal_takes_its_precision_and_the_exported_scale() -> None:
    column = SourceColumn("amount", "decimal", num_precision=12)
    assert restore_plan("mysql", column, NumericStats(int_digits=8, scale=4)).type.sql == "DECIMAL(12,4)"
    wide = SourceColumn("wide", "decimal", num_precision=65)  # over 38: exported as a string
    assert restore_plan("mysql", wide, NumericStats(int_digits=35, scale=30)).type.sql == "DECIMAL(38,3)"


def test_mysql_varchar_length() -> None:
    assert _sql("mysql", "varchar", char_max_length=255) == "VARCHAR(1020)"
