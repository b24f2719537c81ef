"""The local engines refuse what Redshift refuses (warehouse/emulation.py's rulebook)."""

from __future__ import annotations

import pytest

from thermocline.load.sql import printable, sql_literal
from thermocline.warehouse import TerminalLoadError, connect
from thermocline.warehouse.emulation import translate
from thermocline.warehouse.port import DATA_API_LIMITS
from thermocline.warehouse.rules import check_batch


def test_alter_column_type_is_refused_inside_a_transaction_block() -> None:
    alter = 'ALTER TABLE "orders" ALTER COLUMN "pk" TYPE VARCHAR(64)'
    check_batch([alter], DATA_API_LIMITS)  # alone: fine
    with pytest.raises(TerminalLoadError, match="transaction block"):
        check_batch(['LOCK "orders"', alter], DATA_API_LIMITS)


def test_data_api_statement_size_and_batch_count() -> None:
    check_batch(["SELECT '" + "x" * (100_000 - 10) + "'"], DATA_API_LIMITS)
    with pytest.raises(TerminalLoadError, match="100000"):
        check_batch(["SELECT '" + "x" * 100_000 + "'"], DATA_API_LIMITS)
    with pytest.raises(TerminalLoadError, match="40"):
        check_batch(["SELECT 1"] * 41, DATA_API_LIMITS)


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_backslashes_in_literals_and_long_identifiers_are_refused(dialect: str) -> None:
    with pytest.raises(TerminalLoadError, match="backslash"):
        translate("SELECT 'C:\\temp'", dialect)
    # The loader's own spelling passes.
    assert translate("SELECT " + sql_literal("C:\\temp"), dialect)
    assert translate(f'SELECT 1 AS "{"a" * 127}"', dialect)
    with pytest.raises(TerminalLoadError, match="127 bytes"):
        translate(f'SELECT 1 AS "{"é" * 64}"', dialect)


def test_a_duckdb_warehouse_applies_the_rules(tmp_path) -> None:
    with connect(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        wh.execute(["CREATE TABLE t (pk VARCHAR(16))"])
        with pytest.raises(TerminalLoadError, match="transaction block"):
            wh.execute(["INSERT INTO t VALUES ('a')", "ALTER TABLE t ALTER COLUMN pk TYPE VARCHAR(64)"])
        wh.execute(["ALTER TABLE t ALTER COLUMN pk TYPE VARCHAR(64)"])


def test_ledger_reasons_are_cut_to_the_columns_bytes_not_characters() -> None:
    reason = printable("é" * 3000 + "\x00")
    assert len(reason.encode()) <= 4096 and reason == "é" * 2048
    assert printable("ok\x00") == "ok\\0"
    assert printable("\ud800x") == "?x"
