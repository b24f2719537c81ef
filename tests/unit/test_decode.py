"""Decoding Streams records into lake rows: types, CDC semantics, view types, routing, hostile input."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import load_event
from thermocline import decode_stream_records
from thermocline.contracts import load_contracts, parse_contracts
from thermocline.lake.keys import oversize_key
from thermocline.lake.metadata import read_lake_metadata
from thermocline.lake.parquet import to_parquet_bytes
from thermocline.lake.table_schema import TableSchema
from thermocline.sources.dynamodb_streams import RecordDecodeError, decode_batch

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Example-Table/stream/2026-01-01T00:00:00.000"
_seq = [10**20]


def record(
    image: dict[str, Any] | None,
    *,
    name: str = "INSERT",
    keys: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    arn: str = ARN,
    view: str = "NEW_AND_OLD_IMAGES",
    when: Any = 1_764_000_000,
    seq: str | None = None,
    ttl: bool = False,
) -> dict[str, Any]:
    _seq[0] += 1
    body: dict[str, Any] = {
        "Keys": keys or {"id": (image or old or {}).get("id", {"S": "k"})},
        "SequenceNumber": seq or str(_seq[0]),
        "SizeBytes": 10,
        "StreamViewType": view,
        "ApproximateCreationDateTime": when,
    }
    if image is not None:
        body["NewImage"] = image
    if old is not None:
        body["OldImage"] = old
    out = {
        "eventID": "e",
        "eventName": name,
        "eventSource": "aws:dynamodb",
        "eventSourceARN": arn,
        "dynamodb": body,
    }
    if ttl:
        out["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return out


def one_table(records: list[dict[str, Any]], contracts: Any = None) -> pa.Table:
    tables = decode_stream_records(records, contracts)
    assert len(tables) == 1, tables.keys()
    return next(iter(tables.values()))


def roundtrip(table: pa.Table) -> pa.Table:
    return pq.read_table(io.BytesIO(to_parquet_bytes(table)))


# ------------------------------------------------------------------------------------------------- types


def test_every_dynamodb_type_survives_parquet_exactly() -> None:
    (row,) = roundtrip(one_table(load_event("dynamodb-all-types.json")["Records"])).to_pylist()
    assert row["s"] == "héllo, wörld ✓"
    assert row["n_int"] == 42
    assert row["n_neg"] == -9223372036854775808
    assert row["b"] == b"\xde\xad\xbe\xef"
    assert row["bool"] is False
    assert json.loads(row["m"]) == {"nested": {"deeper": [1, "two", {}, [], None]}}
    assert json.loads(row["l"], parse_float=Decimal) == [["a"], [Decimal("1.5"), 2], ["AAE="]]
    assert sorted(json.loads(row["ss"])) == ["green", "red"]
    assert json.loads(row["ns"], parse_float=Decimal) == [1, Decimal("10.25"), -3]
    assert [base64.b64decode(x) for x in json.loads(row["bs"])] == [b"\x01\x02\x03", b"\x04\x05\x06"]
    assert row["empty_m"] == "{}" and row["empty_l"] == "[]"
    # DECIMAL(38,18) cannot hold these exactly: they are kept as text, never rounded.
    assert json.loads(row["_overflow"]) == {
        "n_dec": "3.14159265358979323846",
        "n_big": "123456789012345678901234567890123456789012345",
        "n_tiny": "1E-130",
    }
    assert row["n_dec"] is None and row["n_big"] is None
    # NULL is no value, and an attribute only ever NULL gets no column.
    assert "nul" not in row


def test_numbers_are_never_floats_and_keep_their_scale_from_the_contract() -> None:
    contracts = load_contracts(None)
    arn = "arn:aws:dynamodb:us-east-1:1:table/thermocline-store/stream/x"
    keys = {"pk": {"S": "USER#1"}, "sk": {"S": "ORDER#1"}}
    recs = [
        record({**keys, "total": {"N": "150"}}, keys=keys, arn=arn),  # 150.00 normalised by DynamoDB
        record({**keys, "total": {"N": "0.1"}}, keys=keys, arn=arn),
        record({**keys, "total": {"N": "9999999999.99"}}, keys=keys, arn=arn),
    ]
    orders = roundtrip(decode_stream_records(recs, contracts)["orders"])
    assert orders.schema.field("total").type == pa.decimal128(12, 2)
    assert orders.column("total").to_pylist() == [
        Decimal("150.00"),
        Decimal("0.10"),
        Decimal("9999999999.99"),
    ]


def test_a_number_column_widens_from_bigint_to_decimal_without_touching_earlier_rows() -> None:
    result = decode_batch(
        [record({"id": {"S": "a"}, "n": {"N": "7"}}), record({"id": {"S": "b"}, "n": {"N": "2.5"}})]
    )
    table = roundtrip(result.tables["example_table"].arrow)
    assert table.column("n").to_pylist() == [Decimal("7"), Decimal("2.5")]
    assert read_lake_metadata(table)["columns"]["n"] == "DECIMAL(38,18)"
    assert result.widened == [("example_table", "n", "DECIMAL(38,18)")]


def test_numbers_that_fit_their_decimal_column_but_are_spelled_long_do_not_fail_the_batch() -> None:
    # Other tools write zero with an exponent (Java's BigDecimal: 0E+116) or keep trailing zeros; the value
    # fits, but Arrow's cast counts the digits as written and failed the whole batch.
    contracts = parse_contracts(
        {
            "version": 1,
            "sources": [
                {"table": "Example-*", "routes": [{"target": "t", "columns": {"price": "DECIMAL(12,2)"}}]}
            ],
        }
    )
    spelled = ["0E+116", "1.50000000000000000000000000000000000000", "12.3400E+1", "5"]
    recs = [
        record({"id": {"S": str(i)}, "price": {"N": n}, "ratio": {"N": n}}) for i, n in enumerate(spelled)
    ]
    table = one_table([*recs, record({"id": {"S": "x"}, "ratio": {"N": "0.5"}})], contracts)
    assert table.column("price").to_pylist()[:4] == [
        Decimal("0"),
        Decimal("1.5"),
        Decimal("123.4"),
        Decimal("5"),
    ]
    assert table.column("ratio").to_pylist()[:4] == [
        Decimal("0"),
        Decimal("1.5"),
        Decimal("123.4"),
        Decimal("5"),
    ]
    assert table.column("_overflow").to_pylist() == [None] * 5


def test_integers_beyond_bigint_become_decimal_38_0_and_beyond_38_digits_text() -> None:
    big = "1" + "0" * 25
    huge = "9" * 39
    (row,) = one_table([record({"id": {"S": "a"}, "big": {"N": big}, "huge": {"N": huge}})]).to_pylist()
    assert row["big"] == Decimal(big)
    # 39 nines: pyarrow's cast would wrap around to a negative number; we keep the text instead.
    assert json.loads(row["_overflow"]) == {"huge": huge}


def test_a_type_conflict_lands_in_overflow_with_the_original_value() -> None:
    recs = [
        record({"id": {"S": "a"}, "zip": {"N": "2134"}}),
        record({"id": {"S": "b"}, "zip": {"M": {"x": {"S": "y"}}}}),
    ]
    table = one_table(recs)
    assert table.column("zip").to_pylist() == [2134, None]
    assert [json.loads(x) if x else None for x in table.column("_overflow").to_pylist()] == [
        None,
        {"zip": {"x": "y"}},
    ]


def test_strings_longer_than_redshift_varchar_are_truncated_and_kept_whole_in_overflow() -> None:
    long = "ab€" * 30_000  # 150,000 UTF-8 bytes
    (row,) = one_table([record({"id": {"S": "a"}, "text": {"S": long}})]).to_pylist()
    assert len(row["text"].encode()) <= 65_535
    assert long.startswith(row["text"])
    assert json.loads(row["_overflow"]) == {"text": long}


def test_with_a_spill_limit_no_row_value_exceeds_it_and_large_values_are_kept_whole_outside() -> None:
    long = "x" * 70_000
    big_map = {"M": {f"k{i}": {"S": "v" * 100} for i in range(1000)}}  # ~110 KB of JSON
    result = decode_batch(
        [record({"id": {"S": "a"}, "text": {"S": long}, "doc": big_map})],
        spill_over=65_535,
        oversize_key=lambda table, digest: oversize_key("big/", table, digest),
    )
    (row,) = result.tables["example_table"].arrow.to_pylist()
    assert len(row["text"]) == 65_535 and row["doc"] is None
    assert len(row["_overflow"].encode()) <= 65_535
    refs = {a: v["$oversize"] for a, v in json.loads(row["_overflow"]).items()}
    assert set(refs) == {"text", "doc"}
    assert json.loads(result.oversize[refs["text"]["key"]]) == long
    assert json.loads(result.oversize[refs["doc"]["key"]]) == {f"k{i}": "v" * 100 for i in range(1000)}
    assert refs["text"]["key"].startswith("big/example_table/_oversize/")
    assert refs["doc"]["bytes"] == len(result.oversize[refs["doc"]["key"]])


def test_a_number_longer_than_a_declared_varchar_is_kept_whole_in_overflow_not_in_the_column() -> None:
    contracts = parse_contracts(
        {
            "version": 1,
            "sources": [
                {"table": "Example-*", "routes": [{"target": "t", "columns": {"zip": "VARCHAR(5)"}}]}
            ],
        }
    )
    recs = [
        record({"id": {"S": "a"}, "zip": {"N": "2134"}}),
        record({"id": {"S": "b"}, "zip": {"N": "1234567"}}),
        record({"id": {"S": "c"}, "zip": {"N": "-1.5E+10"}}),
    ]
    table = one_table(recs, contracts)
    assert table.column("zip").to_pylist() == ["2134", None, None]
    assert [json.loads(x) if x else None for x in table.column("_overflow").to_pylist()] == [
        None,
        {"zip": "1234567"},
        {"zip": "-1.5E+10"},
    ]


def test_attributes_beyond_redshifts_column_limit_are_kept_in_overflow_not_given_columns() -> None:
    # A single-table design with attribute names made from data (one per day, per metric...): Redshift
    # refuses a table of more than 1,600 columns, which would stop every load of the table for good.
    first = {"id": {"S": "a"}} | {f"m{i:04}": {"N": str(i)} for i in range(1700)}
    later = {"id": {"S": "b"}, "m0001": {"N": "-1"}, "m1699": {"N": "-1699"}, "new": {"S": "x"}}
    table = one_table([record(first), record(later)])
    attribute_columns = [c for c in table.column_names if not c.startswith("_")]
    # With _overflow, the target table's five bookkeeping columns and one spare for a type change.
    assert len(attribute_columns) + 1 + 5 + 1 == 1600
    overflow = [json.loads(x) for x in table.column("_overflow").to_pylist()]
    assert overflow[1] == {"m1699": "-1699", "new": "x"}
    for row, item in enumerate([first, later]):
        in_columns = {c: table.column(c)[row].as_py() for c in attribute_columns}
        kept = {c: str(v) for c, v in in_columns.items() if v is not None} | overflow[row]
        assert kept == {a: av.get("N", av.get("S")) for a, av in item.items()}


def test_a_key_too_long_for_its_column_is_rejected_never_truncated() -> None:
    contracts = parse_contracts(
        {
            "version": 1,
            "sources": [{"table": "Example-*", "routes": [{"target": "t", "columns": {"id": "VARCHAR(8)"}}]}],
        }
    )
    result = decode_batch([record({"id": {"S": "short"}}), record({"id": {"S": "much-too-long"}})], contracts)
    assert result.tables["t"].arrow.column("id").to_pylist() == ["short"]
    assert [r.index for r in result.rejects] == [1]
    assert "primary key" in result.rejects[0].reason


def test_binary_from_boto3_bytes_and_from_lambda_base64_is_the_same() -> None:
    from_lambda = one_table([record({"id": {"S": "a"}, "b": {"B": base64.b64encode(b"\x00\xff").decode()}})])
    from_boto3 = one_table([record({"id": {"S": "a"}, "b": {"B": b"\x00\xff"}})])
    assert from_lambda.column("b").to_pylist() == from_boto3.column("b").to_pylist() == [b"\x00\xff"]


# --------------------------------------------------------------------------------------------------- CDC


def test_cdc_columns_follow_the_lake_contract() -> None:
    table = roundtrip(one_table(load_event("dynamodb-update.json")["Records"]))
    assert table.column("_op").to_pylist() == ["I", "U", "D"]
    assert table.column("_seq").to_pylist() == [
        s.rjust(40, "0")
        for s in (
            "4421584500000000017450439091",
            "4421584500000000017450439092",
            "4421584500000000017450439093",
        )
    ]
    assert all(len(s) == 40 for s in table.column("_seq").to_pylist())
    assert table.column("_event_time").to_pylist()[0] == datetime(2015, 4, 9, tzinfo=UTC)
    assert table.schema.field("_event_time").type == pa.timestamp("us", tz="UTC")
    assert table.column("_source").to_pylist() == ["dynamodb:ExampleTableWithStream"] * 3
    assert table.column("_ttl_expired").to_pylist() == [False, False, False]
    # The delete carries its old image, so a soft delete keeps the last known values.
    assert table.column("message").to_pylist() == [
        "New item!",
        "This item has changed",
        "This item has changed",
    ]


def test_sequence_number_padding_makes_text_order_numeric_order() -> None:
    short, long = "9" * 21, "1" + "0" * 39
    table = one_table([record({"id": {"S": "a"}}, seq=long), record({"id": {"S": "a"}}, seq=short)])
    seqs = table.column("_seq").to_pylist()
    assert sorted(seqs) == [seqs[1], seqs[0]]


def test_ttl_expiry_is_told_apart_from_a_user_delete() -> None:
    old = {"id": {"S": "a"}, "expires": {"N": "1700000000"}}
    table = one_table([record(None, name="REMOVE", old=old, ttl=True), record(None, name="REMOVE", old=old)])
    assert table.column("_op").to_pylist() == ["D", "D"]
    assert table.column("_ttl_expired").to_pylist() == [True, False]


def test_a_ttl_expiry_captured_through_the_streams_api_is_told_apart_too() -> None:
    # GetRecords (boto3, `aws dynamodbstreams get-records`, which replay takes) spells the identity's
    # fields Type/PrincipalId, where Lambda's events spell them type/principalId.
    old = {"id": {"S": "a"}}
    api = record(None, name="REMOVE", old=old)
    api["userIdentity"] = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
    user = record(None, name="REMOVE", old=old)
    user["userIdentity"] = {"Type": "Service", "PrincipalId": "someone.else"}
    table = one_table([api, user, record(None, name="REMOVE", old=old, ttl=True)])
    assert table.column("_ttl_expired").to_pylist() == [True, False, True]


@pytest.mark.parametrize("view", ["KEYS_ONLY", "OLD_IMAGE"])
def test_views_without_new_image_write_deletes_and_quarantine_the_changes_they_cannot(view: str) -> None:
    keys = {"id": {"S": "a"}}
    old = {"id": {"S": "a"}, "v": {"N": "1"}} if view == "OLD_IMAGE" else None
    recs = [
        record(None, keys=keys, view=view),
        record(None, name="MODIFY", keys=keys, old=old, view=view),
        record(None, name="REMOVE", keys=keys, old=old, view=view),
    ]
    result = decode_batch(recs)
    table = result.tables["example_table"].arrow
    assert table.column("_op").to_pylist() == ["D"]
    assert table.column("id").to_pylist() == ["a"]
    assert [(t, v) for t, v, _ in result.imageless] == [("example_table", view)] * 2
    assert [r.index for r in result.rejects] == [0, 1]
    assert all(f"no NewImage (stream view type {view})" in r.reason for r in result.rejects)


def test_new_image_view_writes_inserts_and_updates_and_deletes_by_key() -> None:
    keys = {"id": {"S": "a"}}
    recs = [
        record({"id": {"S": "a"}, "v": {"N": "1"}}, view="NEW_IMAGE"),
        record({"id": {"S": "a"}, "v": {"N": "2"}}, name="MODIFY", view="NEW_IMAGE"),
        record(None, name="REMOVE", keys=keys, view="NEW_IMAGE"),
    ]
    table = one_table(recs)
    assert table.column("_op").to_pylist() == ["I", "U", "D"]
    assert table.column("v").to_pylist() == [1, 2, None]


def test_event_times_in_every_shape_lambda_and_sdks_deliver() -> None:
    expected = datetime(2023, 9, 6, 10, 45, 55, tzinfo=UTC)
    for when in (1693997155, 1693997155.0, "2023-09-06T10:45:55Z", expected, "1693997155"):
        table = one_table([record({"id": {"S": "a"}}, when=when)])
        assert table.column("_event_time").to_pylist() == [expected], when
    assert one_table([record({"id": {"S": "a"}}, when=None)]).column("_event_time").to_pylist() == [None]


# ------------------------------------------------------------------------------------------------ routing


def test_default_routing_names_tables_after_the_source_table() -> None:
    tables = decode_stream_records(load_event("dynamodb-powertools.json"))
    assert sorted(tables) == ["eventsource_arn", "source_arn"]
    assert sorted(decode_stream_records(load_event("dynamodb-update.json"))) == ["exampletablewithstream"]


def test_the_demo_contract_splits_the_single_table_design() -> None:
    tables = decode_stream_records(load_event("dynamodb-store.json"), load_contracts(None))
    assert sorted(tables) == ["order_lines", "orders", "thermocline_store", "user_profiles", "users"]
    users = read_lake_metadata(tables["users"])
    assert users["columns"]["created_at"] == "TIMESTAMP"
    assert users["columns"]["marketing_opt_in"] == "BOOLEAN"
    assert tables["users"].column("created_at").to_pylist() == [datetime(2026, 11, 20, 9, 15, tzinfo=UTC)]
    lines = tables["order_lines"]
    assert lines.column("unit_price").to_pylist() == [Decimal("49.50"), Decimal("51.00"), Decimal("51.00")]
    assert lines.column("_op").to_pylist() == ["I", "I", "D"]
    orders = read_lake_metadata(tables["orders"])
    assert orders["primary_key"] == ["pk", "sk"] and orders["sort_key"] == ["created_at"]
    assert orders["dist_key"] == "pk"


def test_contracts_may_be_given_as_a_path() -> None:
    from thermocline.contracts import PACKAGED_CONTRACTS

    for contracts in (PACKAGED_CONTRACTS, str(PACKAGED_CONTRACTS / "demo-store.yaml")):
        tables = decode_stream_records(load_event("dynamodb-store.json"), contracts)
        assert "orders" in tables and "order_lines" in tables


def test_a_remove_under_keys_only_reaches_the_table_its_insert_went_to() -> None:
    arn = "arn:aws:dynamodb:us-east-1:1:table/prod-store/stream/x"
    keys = {"pk": {"S": "USER#9"}, "sk": {"S": "ORDER#77#LINE#002"}}
    tables = decode_stream_records(
        [record(None, name="REMOVE", keys=keys, arn=arn, view="KEYS_ONLY")], load_contracts(None)
    )
    assert list(tables) == ["order_lines"]


def test_unmatched_items_of_a_contracted_table_use_the_unmatched_target() -> None:
    contracts = parse_contracts(
        {
            "version": 1,
            "sources": [
                {
                    "table": "Example-*",
                    "unmatched": "other",
                    "routes": [{"target": "a", "match": {"id": "A#*"}}],
                }
            ],
        }
    )
    tables = decode_stream_records([record({"id": {"S": "A#1"}}), record({"id": {"S": "B#1"}})], contracts)
    assert {t: tables[t].num_rows for t in tables} == {"a": 1, "other": 1}


# --------------------------------------------------------------------------------------- names and schema


def test_hostile_unicode_long_and_case_colliding_names_get_safe_stable_columns() -> None:
    image = {
        "id": {"S": "a"},
        "Email": {"S": "upper"},
        "email": {"S": "lower"},
        'x"; DROP TABLE users; --': {"S": "sql"},
        "名前": {"S": "kanji"},
        "_op": {"S": "not the op"},
        "a" * 300: {"S": "long"},
    }
    result = decode_batch([record(image)])
    table = result.tables["example_table"].arrow
    meta = read_lake_metadata(table)
    assert meta["attributes"] == {
        "id": "id",
        "email": "Email",
        "email_2": "email",
        "x_drop_table_users_": 'x"; DROP TABLE users; --',
        "_": "名前",
        "_op_2": "_op",
        next(c for c in meta["attributes"] if c.startswith("aaa")): "a" * 300,
    }
    assert table.column("_op").to_pylist() == ["I"]
    assert table.column("_op_2").to_pylist() == ["not the op"]
    assert all(len(c.encode()) <= 127 for c in table.column_names)
    # Every column name works in real SQL once quoted.
    con = duckdb.connect()
    con.register("t", roundtrip(table))
    assert con.execute('SELECT "x_drop_table_users_", "_" FROM t').fetchall() == [("sql", "kanji")]


def test_a_recorded_mapping_is_never_renamed_by_a_later_batch() -> None:
    first = decode_batch([record({"id": {"S": "a"}, "email": {"S": "x"}})])
    schemas = first.schemas
    second = decode_batch(
        [record({"id": {"S": "a"}, "Email": {"S": "y"}, "email": {"S": "z"}})], schemas=schemas
    )
    table = second.tables["example_table"].arrow
    assert table.column("email").to_pylist() == ["z"]
    assert table.column("email_2").to_pylist() == ["y"]
    assert schemas["example_table"].columns.keys() == {"id", "email"}  # the input is not modified


def test_a_contract_changed_after_recording_does_not_retype_a_recorded_column() -> None:
    def contract(type_: str) -> Any:
        route = {"target": "t", "columns": {"v": type_}}
        return parse_contracts({"version": 1, "sources": [{"table": "Example-*", "routes": [route]}]})

    first = decode_batch([record({"id": {"S": "a"}, "v": {"N": "1.25"}})], contract("DECIMAL(12,2)"))
    second = decode_batch([record({"id": {"S": "b"}, "v": {"N": "2.5"}})], contract("BIGINT"), first.schemas)
    assert read_lake_metadata(second.tables["t"].arrow)["columns"]["v"] == "DECIMAL(12,2)"
    assert second.tables["t"].arrow.column("v").to_pylist() == [Decimal("2.50")]
    assert second.contract_conflicts == [("t", "v", "DECIMAL(12,2)", "BIGINT")]


def test_a_recorded_schema_round_trips_through_json() -> None:
    result = decode_batch(load_event("dynamodb-all-types.json")["Records"])
    schema = result.schemas["example_types"]
    again = TableSchema.from_json(json.loads(json.dumps(schema.to_json())))
    assert again.same_as(schema)


# ---------------------------------------------------------------------------------------- hostile input


def test_poison_records_are_rejected_with_reasons_and_do_not_block_the_batch() -> None:
    result = decode_batch(load_event("dynamodb-poison-record.json")["Records"])
    assert [r.index for r in result.rejects] == [1, 2, 3]
    assert "unknown DynamoDB type tag 'X'" in result.rejects[0].reason
    assert "not a number" in result.rejects[1].reason
    assert result.tables["example_table"].arrow.column("v").to_pylist() == [1, 2]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r.update(eventName="UPSERT"), "unknown eventName"),
        (lambda r: r["dynamodb"].update(SequenceNumber="12ab"), "SequenceNumber"),
        (lambda r: r["dynamodb"].pop("Keys"), "no Keys"),
        (lambda r: r.pop("eventSourceARN"), "eventSourceARN"),
        (lambda r: r["dynamodb"]["NewImage"].update(v={"S": "a", "N": "1"}), "not a DynamoDB AttributeValue"),
        (lambda r: r["dynamodb"]["NewImage"].update(v={"N": "NaN"}), "not a number"),
        (lambda r: r["dynamodb"]["NewImage"].update(v={"M": {"n": {"N": "١٢"}}}), "not a number"),
        (lambda r: r["dynamodb"]["NewImage"].update(v={"B": "***"}), "base64"),
        (lambda r: r["dynamodb"]["NewImage"].update(v={"S": "\ud800"}), "Unicode"),
        (lambda r: r["dynamodb"]["NewImage"].update(v={"M": {"x": {"Q": 1}}}), "unknown DynamoDB type tag"),
        (lambda r: r["dynamodb"]["NewImage"].update(v={"L": [{"S": "\udfff"}]}), "Unicode"),
        (lambda r: r["dynamodb"].update(ApproximateCreationDateTime="yesterday"), "not a time"),
    ],
)
def test_malformed_records_are_rejected_and_leave_no_trace(mutate: Any, reason: str) -> None:
    good = record({"id": {"S": "g"}, "v": {"S": "ok"}})
    bad = record({"id": {"S": "b"}, "w": {"S": "new column from a bad record"}})
    mutate(bad)
    result = decode_batch([good, bad])
    assert len(result.rejects) == 1 and reason in result.rejects[0].reason, result.rejects
    table = result.tables["example_table"].arrow
    assert table.column("id").to_pylist() == ["g"]
    assert "w" not in table.column_names


def test_the_public_decoder_raises_rather_than_dropping_a_record() -> None:
    with pytest.raises(RecordDecodeError, match="record 1 .*unknown DynamoDB type tag"):
        decode_stream_records(load_event("dynamodb-poison-record.json")["Records"])
    with pytest.raises(RecordDecodeError, match="Records"):
        decode_stream_records({"detail": {}})


def test_decoding_is_deterministic_byte_for_byte() -> None:
    records = load_event("dynamodb-store.json")["Records"]
    contracts = load_contracts(None)
    a = {t: to_parquet_bytes(x) for t, x in decode_stream_records(records, contracts).items()}
    b = {
        t: to_parquet_bytes(x)
        for t, x in decode_stream_records(json.loads(json.dumps(records)), contracts).items()
    }
    assert a == b


def test_the_pure_modules_import_no_aws_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, thermocline, thermocline.sources.dynamodb_streams, thermocline.lake, "
        "thermocline.lake.keys, thermocline.lake.manifest, thermocline.contracts, thermocline.names\n"
        "thermocline.decode_stream_records([])\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))\n"
        "assert not leaked, leaked\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_contract_primary_key_outside_the_keys_is_honoured_and_a_record_without_it_quarantined() -> None:
    contracts = parse_contracts(
        {
            "version": 1,
            "sources": [
                {"table": "Example-*", "routes": [{"target": "orders", "primary_key": ["order_id"]}]}
            ],
        }
    )
    user = {"id": {"S": "USER#1"}}
    recs = [
        record({**user, "order_id": {"S": f"o{n}"}, "total": {"N": str(n)}}, keys=user) for n in (1, 2, 3)
    ]
    recs.append(record({**user, "total": {"N": "9"}}, keys=user))  # no order_id: cannot be merged
    result = decode_batch(recs, contracts)
    batch = result.tables["orders"]
    assert batch.schema.primary_key == ["order_id"]
    assert batch.arrow.column("order_id").to_pylist() == ["o1", "o2", "o3"]
    assert read_lake_metadata(batch.arrow)["primary_key"] == ["order_id"]
    (reject,) = result.rejects
    assert reject.index == 3 and "primary key attribute 'order_id' is missing" in reject.reason


def test_a_new_image_without_its_key_attribute_takes_the_key_from_keys() -> None:
    table = one_table([record({"v": {"N": "1"}}, keys={"id": {"S": "a"}})])
    assert table.column("id").to_pylist() == ["a"]


# ------------------------------------------------------------------------------- record-level faults


def test_record_level_faults_are_quarantined_with_their_reason_and_the_batch_goes_on() -> None:
    deep: dict[str, Any] = {"S": "bottom"}
    for _ in range(3000):  # far beyond DynamoDB's 32 levels, and Python's recursion limit
        deep = {"M": {"k": deep}}
    good = record({"id": {"S": "ok"}})
    faults = {
        "year 33658": record({"id": {"S": "a"}}, when=10**12),
        "float far future": record({"id": {"S": "b"}}, when=1e20),
        "not a number": record({"id": {"S": "c"}}, when=float("nan")),
        "arabic digits": record({"id": {"S": "d"}}, seq="١٢٣"),
        "deep": record({"id": {"S": "e"}, "deep": deep}),
        "image a list": record([], name="MODIFY", keys={"id": {"S": "f"}}),  # type: ignore[arg-type]
        "image text": record("x", keys={"id": {"S": "g"}}),  # type: ignore[arg-type]
    }
    result = decode_batch([good, *faults.values()])
    reasons = {r.index: r.reason for r in result.rejects}
    assert sorted(reasons) == list(range(1, len(faults) + 1))
    assert "out of range" in reasons[1] and "out of range" in reasons[2] and "out of range" in reasons[3]
    assert "SequenceNumber is not 1 to 40 digits" in reasons[4]
    assert reasons[5] == "value nested too deep to decode"
    assert "not a map" in reasons[6] and "not a map" in reasons[7]
    assert result.tables["example_table"].arrow.column("id").to_pylist() == ["ok"]


def test_values_no_warehouse_column_can_hold_go_to_overflow_exactly() -> None:
    contracts = parse_contracts(
        {
            "version": 1,
            "sources": [
                {"table": "Example-*", "routes": [{"target": "t", "columns": {"x": "DOUBLE PRECISION"}}]}
            ],
        }
    )
    recs = [
        record({"id": {"S": "a"}, "note": {"S": "before\x00after"}, "x": {"N": "1e400"}}),
        record(
            {"id": {"S": "b"}, "note": {"S": "plain"}, "x": {"N": "-1.5"}, "m": {"M": {"k": {"S": "\x00"}}}}
        ),
        record({"id": {"S": "nul\x00key"}}),  # a key cannot move: quarantined
    ]
    result = decode_batch(recs, contracts)
    (reject,) = result.rejects
    assert reject.index == 2 and "primary key attribute 'id': text holds NUL" in reject.reason
    rows = result.tables["t"].arrow.to_pylist()
    assert [r["note"] for r in rows] == [None, "plain"]
    assert rows[0]["x"] is None and rows[1]["x"] == -1.5
    first = json.loads(rows[0]["_overflow"])
    assert base64.b64decode(first["note"]["$utf8_base64"]).decode() == "before\x00after"
    assert first["x"] == "1e400"
    second = json.loads(rows[1]["_overflow"])
    assert json.loads(base64.b64decode(second["m"]["$json_base64"])) == {"k": "\x00"}
    assert rows[1]["m"] is None
