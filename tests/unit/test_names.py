from __future__ import annotations

import re

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from thermocline.names import (
    MAX_IDENTIFIER_BYTES,
    qualified_name,
    quote_ident,
    safe_identifier,
    unique_identifier,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Example-Table", "example_table"),
        ("orders", "orders"),
        ("Order Total ($)", "order_total_"),
        ("Prénom", "pr_nom"),
        ("日本語", "_"),
        ("", "_"),
        ("a--b..c", "a_b_c"),
        ('x"; DROP TABLE users; --', "x_drop_table_users_"),
        ("2fa", "2fa"),
    ],
)
def test_safe_identifier_follows_the_design_rule(name: str, expected: str) -> None:
    assert safe_identifier(name) == expected


def test_long_names_are_cut_to_127_bytes_with_a_stable_distinguishing_suffix() -> None:
    a = "x" * 200 + "a"
    b = "x" * 200 + "b"
    ia, ib = safe_identifier(a), safe_identifier(b)
    assert len(ia) == len(ib) == MAX_IDENTIFIER_BYTES
    assert ia != ib
    assert ia == safe_identifier(a)
    assert ia.startswith("x" * 100)


def test_a_name_of_exactly_127_characters_is_kept() -> None:
    assert safe_identifier("y" * 127) == "y" * 127


@given(st.text(max_size=300))
def test_safe_identifier_is_always_a_valid_lowercase_identifier(name: str) -> None:
    ident = safe_identifier(name)
    assert re.fullmatch(r"[a-z0-9_]{1,127}", ident)
    assert safe_identifier(name) == ident


def test_unique_identifier_suffixes_in_order_and_stays_within_the_limit() -> None:
    taken = {"email"}
    assert unique_identifier("email", taken) == "email_2"
    taken.add("email_2")
    assert unique_identifier("email", taken) == "email_3"
    assert unique_identifier("name", taken) == "name"
    long = "z" * 127
    assert unique_identifier(long, {long}) == "z" * 125 + "_2"


def test_quote_ident_doubles_quotes_and_rejects_impossible_names() -> None:
    assert quote_ident("orders") == '"orders"'
    assert quote_ident('we"ird') == '"we""ird"'
    assert qualified_name("public", "orders") == '"public"."orders"'
    for bad in ["", "a\x00b", "é" * 64]:
        with pytest.raises(ValueError):
            quote_ident(bad)


@pytest.mark.parametrize("name", ['we"ird', "select", "Drop Table", 'a"; DROP TABLE t; --', "名前"])
def test_quoted_names_round_trip_through_a_real_sql_engine(name: str) -> None:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t ({quote_ident(name)} INTEGER)")
    con.execute(f"INSERT INTO t ({quote_ident(name)}) VALUES (7)")
    assert con.execute(f"SELECT {quote_ident(name)} FROM t").fetchall() == [(7,)]
    assert [d[0] for d in con.description] == [name]


def test_tables_a_system_catalog_could_shadow_get_a_prefix() -> None:
    from thermocline.names import table_identifier

    assert table_identifier("STL_Query") == "src_stl_query"
    assert table_identifier("pg_class") == "src_pg_class"
    assert table_identifier("Example-Table") == "example_table"


def test_loader_owned_and_system_column_names_are_never_given_to_an_attribute() -> None:
    from thermocline.lake.table_schema import TableSchema
    from thermocline.lake.types import BIGINT

    schema = TableSchema("t")
    names = [schema.add(a, BIGINT).name for a in ("_deleted", "xmin", "CTID", "oid", "_seq", "rowid")]
    assert names == ["_deleted_2", "xmin_2", "ctid_2", "oid_2", "_seq_2", "rowid_2"]


def test_source_tables_that_fold_to_one_name_get_distinct_tables_recorded_as_theirs() -> None:
    from thermocline.sources.dynamodb_streams import decode_batch

    def rec(table: str, seq: int) -> dict:
        return {
            "eventName": "INSERT",
            "eventSourceARN": f"arn:aws:dynamodb:us-east-1:1:table/{table}/stream/x",
            "dynamodb": {
                "Keys": {"id": {"S": "a"}},
                "NewImage": {"id": {"S": "a"}},
                "SequenceNumber": str(seq),
            },
        }

    first = decode_batch([rec("my-table", 1), rec("my.table", 2), rec("My_Table", 3)])
    owners = {t: s.source for t, s in first.schemas.items()}
    assert owners == {
        "my_table": "dynamodb:my-table",
        "my_table_2": "dynamodb:my.table",
        "my_table_3": "dynamodb:My_Table",
    }
    # A later batch of one of them alone, given the recorded schemas, decides the same.
    later = decode_batch([rec("My_Table", 4)], schemas=first.schemas)
    assert list(later.tables) == ["my_table_3"]
