"""Lake files are untrusted input, and the error path cannot fail: on DuckDB and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.load_fixtures import ORDERS_COLUMNS, SourceModel, put_lake_file
from thermocline import aws, warehouse
from thermocline.load import load_files
from thermocline.load.sql import (
    BOOKKEEPING_SCHEMA,
    LEDGER_TABLE,
    LedgerEntry,
    ensure_bookkeeping_sql,
    ledger_insert_sql,
    ledger_lookup_sql,
    printable,
)
from thermocline.names import qualified_name
from thermocline.settings import WarehouseLoadSettings

BUCKET = "lake"


@pytest.fixture
def s3(aws_env: str) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def wh(engine_url: str, s3: Any) -> Any:
    with contextlib.closing(warehouse.connect(engine_url, s3_client=s3)) as opened:
        yield opened


def _settings(engine_url: str) -> WarehouseLoadSettings:
    return WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=engine_url)


def _crafted(meta: dict[str, Any], columns: dict[str, pa.DataType] | None = None) -> bytes:
    fields = [pa.field(n, t) for n, t in (columns or {"id": pa.string()}).items()]
    fields += [
        pa.field("_op", pa.string()),
        pa.field("_seq", pa.string()),
        pa.field("_event_time", pa.timestamp("us", tz="UTC")),
        pa.field("_ttl_expired", pa.bool_()),
        pa.field("_source", pa.string()),
    ]
    schema = pa.schema(fields, metadata={b"thermocline": json.dumps(meta).encode()})
    row = {
        "id": "a",
        "_op": "I",
        "_seq": "1".zfill(40),
        "_event_time": None,
        "_ttl_expired": False,
        "_source": "x",
    }
    table = pa.Table.from_pylist([row], schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _ledger(wh: Any) -> dict[str, tuple[str, str]]:
    rows = wh.query(
        f"SELECT file_key, status, reason FROM {qualified_name(BOOKKEEPING_SCHEMA, LEDGER_TABLE)}"
    ).rows
    return {str(r[0]): (str(r[1]), str(r[2] or "")) for r in rows}


def test_a_crafted_footer_cannot_reach_sql_or_pick_a_target(wh: Any, s3: Any, engine_url: str) -> None:
    model = SourceModel()
    good = put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, [model.insert("u1")])
    base = {"version": 1, "table": "victim", "primary_key": ["id"], "sort_key": [], "dist_key": None}
    injected = {**base, "columns": {"id": "VARCHAR(10)); DROP TABLE orders; --"}}
    bad_name = {**base, "table": 'victim"; DROP TABLE orders; --', "columns": {"id": "VARCHAR(10)"}}
    elsewhere = {**base, "table": "orders", "columns": {"id": "VARCHAR(10)"}}
    crafted = {
        "cdc/victim/dt=2026-11-01/a.parquet": _crafted(injected),
        "cdc/victim/dt=2026-11-01/b.parquet": _crafted(bad_name),
        "cdc/victim/dt=2026-11-01/c.parquet": _crafted(elsewhere),  # claims another table
        "cdc/victim/dt=2026-11-01/d.parquet": _crafted({**base, "columns": {}}, {"id; drop": pa.string()}),
    }
    for key, body in crafted.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    assert load_files([good], settings=_settings(engine_url), warehouse=wh, s3_client=s3).loaded == [good]
    report = load_files(list(crafted), settings=_settings(engine_url), warehouse=wh, s3_client=s3)
    assert sorted(report.quarantined) == sorted(crafted)
    ledger = _ledger(wh)
    assert "unsupported column type" in ledger["cdc/victim/dt=2026-11-01/a.parquet"][1]
    assert "not a safe table name" in ledger["cdc/victim/dt=2026-11-01/b.parquet"][1]
    assert "but the file is under 'victim'" in ledger["cdc/victim/dt=2026-11-01/c.parquet"][1]
    assert "not a safe column name" in ledger["cdc/victim/dt=2026-11-01/d.parquet"][1]
    assert wh.query("SELECT COUNT(*) FROM orders").rows == [(1,)]
    reason = json.loads(
        s3.get_object(Bucket=BUCKET, Key="quarantine/load/cdc/victim/dt=2026-11-01/a.parquet.error.json")[
            "Body"
        ].read()
    )
    assert "DROP TABLE" in reason["reason"]


@pytest.mark.parametrize(
    "text",
    [
        "back\\slash\\",
        'quote\'s "double"',
        "nul\x00inside",
        "lone \udc80 surrogate",
        "日本語 ✓ 🧊",
        "\\'; DROP TABLE x; --",
    ],
)
def test_keys_and_reasons_with_any_characters_are_recorded_safely(wh: Any, text: str) -> None:
    wh.execute(ensure_bookkeeping_sql())
    key = "cdc/t/" + text.replace("\x00", "").encode("utf-8", "replace").decode() + ".parquet"
    entry = LedgerEntry(key=key, content_length=1, status="quarantined", reason=f"error: {text}")
    wh.execute(ledger_insert_sql("t", [entry], "load-1"))
    status, reason = _ledger(wh)[key]
    assert status == "quarantined"
    assert reason == "error: " + printable(text)
    if "\x00" not in text and "\udc80" not in text:
        assert reason == f"error: {text}"  # exact
    assert wh.query(ledger_lookup_sql([key])).rows[0][0] == key


def test_super_values_keep_every_digit(wh: Any, s3: Any, engine_url: str) -> None:
    long = "3.14159265358979323846264338327950288"
    columns = {"pk": "VARCHAR(256)", "sk": "VARCHAR(256)", "items": "SUPER"}
    row = {
        "pk": "p",
        "sk": "s",
        "items": f'{{"pi":{long},"big":123456789012345678901234567890123456}}',
        "_op": "I",
        "_seq": "1".zfill(40),
        "_ttl_expired": False,
        "_source": "dynamodb:x",
    }
    key = put_lake_file(s3, BUCKET, "exact", columns, [row])
    load_files([key], settings=_settings(engine_url), warehouse=wh, s3_client=s3)
    (text,) = wh.query("SELECT CAST(items AS VARCHAR) FROM exact").rows[0]
    value = json.loads(text, parse_float=Decimal)
    assert value == {"pi": Decimal(long), "big": 123456789012345678901234567890123456}


def test_a_type_conflict_with_the_table_keeps_every_value_and_the_table_loading(
    wh: Any, s3: Any, engine_url: str
) -> None:
    """The recorded schema is lost between two batches: the second infers text where the table holds
    BOOLEAN. Its values go to _overflow, exactly; a later BOOLEAN file loads into the column again."""
    from thermocline.contracts import Contracts
    from thermocline.services.stream_ingest import handle_stream_event
    from thermocline.settings import StreamIngestSettings

    def batch(seq: int, flag: dict[str, Any]) -> list[str]:
        record = {
            "eventName": "INSERT" if seq == 1 else "MODIFY",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/Drift/stream/x",
            "dynamodb": {
                "Keys": {"id": {"S": "a"}},
                "NewImage": {"id": {"S": "a"}, "Flag": flag, "n": {"N": str(seq)}},
                "SequenceNumber": str(seq),
                "ApproximateCreationDateTime": 1_790_000_000 + seq,
            },
        }
        before = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="cdc/").get("Contents", [])}
        handle_stream_event(
            {"Records": [record]},
            settings=StreamIngestSettings(lake_bucket=BUCKET),
            s3_client=s3,
            contracts=Contracts(),
        )
        after = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="cdc/").get("Contents", [])}
        return sorted(after - before)

    def load(keys: list[str]) -> None:
        report = load_files(keys, settings=_settings(engine_url), warehouse=wh, s3_client=s3)
        assert report.loaded == keys and not report.quarantined and not report.failed, report.summary()

    def row() -> tuple:
        return wh.query('SELECT "flag", CAST("_overflow" AS VARCHAR), "n" FROM drift').rows[0]

    load(batch(1, {"BOOL": True}))
    assert row()[0] is True
    s3.delete_object(Bucket=BUCKET, Key="_schemas/drift.json")  # the schema store is lost
    load(batch(2, {"S": 'maybe \\ "so"'}))
    flag, overflow, n = row()
    assert flag is None and json.loads(overflow) == {"Flag": 'maybe \\ "so"'} and n == 2
    s3.delete_object(Bucket=BUCKET, Key="_schemas/drift.json")
    load(batch(3, {"BOOL": False}))
    flag, overflow, n = row()
    assert flag is False and overflow is None and n == 3


def test_nul_text_and_deep_nesting_stay_record_level_through_ingest_and_load(
    wh: Any, s3: Any, engine_url: str
) -> None:
    import base64

    from thermocline.contracts import Contracts
    from thermocline.services.stream_ingest import handle_stream_event
    from thermocline.settings import StreamIngestSettings

    deep: dict[str, Any] = {"S": "bottom"}
    for _ in range(3000):
        deep = {"M": {"k": deep}}

    def rec(seq: int, image: dict[str, Any]) -> dict[str, Any]:
        return {
            "eventName": "INSERT",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/Notes/stream/x",
            "dynamodb": {"Keys": {"id": image["id"]}, "NewImage": image, "SequenceNumber": str(seq)},
        }

    records = [
        rec(1, {"id": {"S": "a"}, "note": {"S": "fine"}}),
        rec(2, {"id": {"S": "b"}, "note": {"S": "nul\x00inside"}}),
        rec(3, {"id": {"S": "c"}, "note": deep}),
    ]
    response = handle_stream_event(
        {"Records": records},
        settings=StreamIngestSettings(lake_bucket=BUCKET),
        s3_client=s3,
        contracts=Contracts(),
    )
    assert response == {"batchItemFailures": []}
    (quarantined,) = s3.list_objects_v2(Bucket=BUCKET, Prefix="quarantine/")["Contents"]
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # only for reading the quarantined record back here
    try:
        body = json.loads(s3.get_object(Bucket=BUCKET, Key=quarantined["Key"])["Body"].read())
    finally:
        sys.setrecursionlimit(limit)
    assert body["reason"] == "value nested too deep to decode"
    assert body["record"]["dynamodb"]["SequenceNumber"] == "3"  # the whole record is kept
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="cdc/")["Contents"]
        if o["Key"].endswith(".parquet")
    ]
    report = load_files(keys, settings=_settings(engine_url), warehouse=wh, s3_client=s3)
    assert report.loaded == keys and not report.quarantined
    rows = dict(wh.query('SELECT id, CAST("_overflow" AS VARCHAR) FROM notes ORDER BY id').rows)
    assert rows["a"] is None
    assert base64.b64decode(json.loads(rows["b"])["note"]["$utf8_base64"]).decode() == "nul\x00inside"
