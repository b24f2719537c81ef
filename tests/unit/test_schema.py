from __future__ import annotations

import json

import pyarrow as pa
import pytest

from thermocline.lake.table_schema import TableSchema
from thermocline.lake.types import (
    AUTO_DECIMAL,
    BIGINT,
    INTEGRAL_DECIMAL,
    ColumnType,
    SchemaError,
    infer_number_type,
    number_shape,
    widen_for_number,
)


@pytest.mark.parametrize(
    ("text", "sql", "arrow"),
    [
        ("BIGINT", "BIGINT", pa.int64()),
        ("int8", "BIGINT", pa.int64()),
        ("decimal(12, 2)", "DECIMAL(12,2)", pa.decimal128(12, 2)),
        ("NUMERIC(38,18)", "DECIMAL(38,18)", pa.decimal128(38, 18)),
        ("varchar(64)", "VARCHAR(64)", pa.string()),
        ("VARCHAR(MAX)", "VARCHAR(65535)", pa.string()),
        ("VARBYTE(1024000)", "VARBYTE(1024000)", pa.binary()),
        ("double precision", "DOUBLE PRECISION", pa.float64()),
        ("BOOLEAN", "BOOLEAN", pa.bool_()),
        ("SUPER", "SUPER", pa.string()),
        ("TIMESTAMP", "TIMESTAMP", pa.timestamp("us", tz="UTC")),
    ],
)
def test_declared_types_parse_to_redshift_and_arrow_types(text: str, sql: str, arrow: pa.DataType) -> None:
    parsed = ColumnType.parse(text)
    assert parsed.sql == sql
    assert parsed.arrow() == arrow


@pytest.mark.parametrize(
    "text", ["DECIMAL(39,2)", "DECIMAL(5,6)", "VARCHAR(70000)", "VARCHAR(x)", "MONEY", "", "INT(3)"]
)
def test_types_redshift_cannot_hold_are_refused(text: str) -> None:
    # Twice: parsed types are remembered per process, refusals must not be.
    for _ in range(2):
        with pytest.raises(SchemaError):
            ColumnType.parse(text)


@pytest.mark.parametrize(
    ("text", "int_digits", "scale", "integer"),
    [
        ("150", 3, 0, "150"),
        ("-0.50", 0, 1, None),
        ("1E+3", 4, 0, "1000"),
        ("1.5E-1", 0, 2, None),
        ("007", 1, 0, "7"),
        ("0", 0, 0, "0"),
        ("1E-130", 0, 130, None),
        ("1E+125", 126, 0, None),
    ],
)
def test_number_shape_is_exact(text: str, int_digits: int, scale: int, integer: str | None) -> None:
    shape = number_shape(text)
    assert (shape.int_digits, shape.scale, shape.integer_text) == (int_digits, scale, integer)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "1_000", "١٢", "", "1e", "--1"])
def test_things_that_are_not_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        number_shape(text)


def test_new_number_columns_take_a_fixed_type_never_one_batch_s_scale() -> None:
    assert infer_number_type(number_shape("150")) == BIGINT
    assert infer_number_type(number_shape("9223372036854775808")) == INTEGRAL_DECIMAL
    assert infer_number_type(number_shape("150.5")) == AUTO_DECIMAL
    assert infer_number_type(number_shape("0.25")) == AUTO_DECIMAL


def test_only_bigint_widens_and_only_when_the_value_then_fits() -> None:
    assert widen_for_number(BIGINT, number_shape("2.5")) == AUTO_DECIMAL
    assert widen_for_number(BIGINT, number_shape("1" + "0" * 30)) == INTEGRAL_DECIMAL
    assert widen_for_number(BIGINT, number_shape("1E-30")) is None
    assert widen_for_number(AUTO_DECIMAL, number_shape("1" + "0" * 30)) is None


def test_column_names_collide_in_first_seen_order_and_avoid_reserved_names() -> None:
    schema = TableSchema("t")
    assert [schema.add(a, BIGINT).name for a in ["Email", "email", "EMAIL", "_seq", "_overflow"]] == [
        "email",
        "email_2",
        "email_3",
        "_seq_2",
        "_overflow_2",
    ]
    again = TableSchema.from_json(schema.to_json())
    assert again.same_as(schema)
    assert again.by_attribute["EMAIL"].name == "email_3"


def test_a_copy_of_a_schema_is_its_json_round_trip_and_independent_of_it() -> None:
    """Every batch decodes on copies of the recorded schemas: a copy is what reading the schema back from
    its JSON gives, and recording a column, a key or a wider type in it leaves the original as it was."""
    schema = TableSchema(
        "orders", primary_key=["pk"], sort_key=["at"], dist_key="pk", revision=7, source="contract"
    )
    for attribute, text in [
        ("pk", "DECIMAL(38,0)"),
        ("at", "TIMESTAMP"),
        ("Note", "varchar(64)"),
        ("blob", "VARBYTE(1024000)"),
        ("ok", "BOOLEAN"),
        ("x", "double precision"),
        ("doc", "SUPER"),
        ("n", "int8"),
    ]:
        schema.add(attribute, ColumnType.parse(text), declared=attribute == "Note")
    copied = schema.copy()
    assert copied.to_json() == TableSchema.from_json(schema.to_json()).to_json() == schema.to_json()
    assert copied.by_attribute.keys() == schema.by_attribute.keys()
    before = json.dumps(schema.to_json())
    copied.add("later", BIGINT)
    copied.primary_key.append("later")
    copied.sort_key.clear()
    copied.columns["n"].type = AUTO_DECIMAL
    assert json.dumps(schema.to_json()) == before and "later" not in schema.by_attribute


def test_a_schema_from_a_future_version_is_refused() -> None:
    with pytest.raises(SchemaError):
        TableSchema.from_json({"version": 2, "table": "t", "columns": {}})


def test_a_claim_that_s3_keeps_refusing_fails_with_a_reason_instead_of_looping() -> None:
    # A stand-in S3 client: a conditional write that conflicts every time is a fault moto's server cannot
    # be made to produce. Before, the claim retried forever and the export ran into its Lambda timeout.
    from botocore.exceptions import ClientError

    from thermocline.lake.schema_store import SchemaStore

    class Refusing:
        puts = 0

        def get_object(self, **_: object) -> None:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")

        def put_object(self, **_: object) -> None:
            Refusing.puts += 1
            raise ClientError({"Error": {"Code": "ConditionalRequestConflict"}}, "PutObject")

    store = SchemaStore(Refusing(), "lake", "_schemas/")
    with pytest.raises(RuntimeError, match="postgres:db.public.orders.*lost their race"):
        store.claim("orders", "postgres:db.public.orders")
    assert Refusing.puts == 20
