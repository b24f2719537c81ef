"""Restoring the text an RDS export writes (numeric, dates, times, timestamps, arrays) exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from thermocline.sources.rds_export import values as v


def test_numeric_keeps_every_digit_and_the_column_scale() -> None:
    text = "123456789012345678901234567890.12345678"
    assert v.parse_decimal(text, 38, 8) == Decimal(text)
    assert str(v.parse_decimal("1.50", 10, 2)) == "1.50"
    assert str(v.parse_decimal("-7", 10, 2)) == "-7.00"


@pytest.mark.parametrize(
    ("text", "precision", "scale"),
    [
        ("NaN", 38, 2),
        ("Infinity", 38, 2),
        ("-Infinity", 38, 2),
        ("1.234", 10, 2),  # would round
        ("123456789", 10, 2),  # too many integer digits
        ("1" * 39, 38, 0),  # pyarrow's string cast would wrap this around silently
    ],
)
def test_numeric_that_the_decimal_cannot_hold_is_refused_not_rounded(
    text: str, precision: int, scale: int
) -> None:
    with pytest.raises(v.NotRepresentableError):
        v.parse_decimal(text, precision, scale)


def test_numeric_shape_reads_the_scale_postgres_prints() -> None:
    shape = v.numeric_shape("-00012.3400")
    assert shape is not None and (shape.int_digits, shape.scale) == (2, 4)
    assert v.numeric_shape("NaN") is None
    assert v.numeric_shape("١٢") is None  # digits of another script are not a database's output


def test_dates_before_1970_and_after_2100_and_the_ones_no_warehouse_holds() -> None:
    assert v.parse_date("1899-12-31") == dt.date(1899, 12, 31)
    assert v.parse_date("2150-06-01") == dt.date(2150, 6, 1)
    for text in ("infinity", "-infinity", "0044-03-15 BC", "0000-00-00", "10000-01-01"):
        with pytest.raises(v.NotRepresentableError):
            v.parse_date(text)


def test_timestamps_with_offsets_become_utc_and_without_keep_their_wall_clock() -> None:
    assert v.parse_timestamp("1969-07-20 20:17:40+05:30") == dt.datetime(
        1969, 7, 20, 14, 47, 40, tzinfo=dt.UTC
    )
    assert v.parse_timestamp("2024-02-29 23:59:59.5-03") == dt.datetime(
        2024, 3, 1, 2, 59, 59, 500000, tzinfo=dt.UTC
    )
    assert v.parse_timestamp("2150-06-01 12:00:00.123456") == dt.datetime(
        2150, 6, 1, 12, 0, 0, 123456, tzinfo=dt.UTC
    )
    with pytest.raises(v.NotRepresentableError):
        v.parse_timestamp("-infinity")


def test_time_of_day_and_the_ones_past_midnight() -> None:
    assert v.parse_time("23:59:59.999999") == dt.time(23, 59, 59, 999999)
    for text in ("24:00:00", "838:59:59", "-01:00:00"):
        with pytest.raises(v.NotRepresentableError):
            v.parse_time(text)


def test_postgres_array_literals() -> None:
    assert v.parse_pg_array("{1,2,NULL}") == (["1", "2", None], True)
    assert v.parse_pg_array('{"a b","c\\"d",NULL,"NULL",""}') == (["a b", 'c"d', None, "NULL", ""], False)
    assert v.parse_pg_array("{{1,2},{3,4}}") == ([["1", "2"], ["3", "4"]], True)
    assert v.parse_pg_array("[0:1]={7,8}") == (["7", "8"], True)
    assert v.parse_pg_array("{}") == ([], True)
    assert v.parse_pg_array('{"Zoë 😀"}') == (["Zoë 😀"], False)
    for bad in ("{1,2", "1,2}", '{"a}', "{a}b", "{,}"):
        with pytest.raises(v.ArrayLiteralError):
            v.parse_pg_array(bad)
