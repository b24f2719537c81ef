"""Hostile names and drifting types, through ingest and load, on DuckDB and PostgreSQL: warehouse = source.

Source table and attribute names include the loader's own names (`_deleted`, `_seq`, the temporary
tables), engine system columns (`xmin`, `ctid`, `oid`), reserved words, quotes and backslashes, names that
fold to one identifier (`my-table`, `my.table`, `My_Table`; `Email`, `email`) and catalog look-alikes
(`pg_class`, `STL_Query`); attribute types drift from record to record. Every item must come back from
the warehouse with every value, read through the recorded schemas (column → attribute, table → source).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thermocline import aws, warehouse
from thermocline.contracts import Contracts
from thermocline.load import load_files
from thermocline.names import quote_ident
from thermocline.services.stream_ingest import handle_stream_event
from thermocline.settings import StreamIngestSettings, WarehouseLoadSettings

pytestmark = pytest.mark.moto

HOSTILE_TABLES = [
    "my-table",
    "my.table",
    "My_Table",
    "thermocline-stage",
    "thermocline_latest",
    "pg_class",
    "STL_Query",
    "select",
    "Ünïcode-Tàble",
]
HOSTILE_ATTRIBUTES = [
    "_deleted",
    "_seq",
    "_op",
    "_overflow",
    "_source",
    "_thermocline_rn",
    "thermocline$rank",
    "xmin",
    "ctid",
    "oid",
    "tableoid",
    "rowid",
    "select",
    "Email",
    "email",
    'a"b',
    "a'b",
    "a\\b",
    "日本語",
]


def _value() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        # NUL included: no warehouse text type holds it, so it must arrive through _overflow, exactly.
        st.text(max_size=8)
        .filter(lambda s: s.encode("utf-8", "ignore").decode() == s)
        .map(lambda s: {"S": s}),
        st.integers(-(10**20), 10**20).map(lambda n: {"N": str(n)}),
        st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6).map(
            lambda d: {"N": str(d)}
        ),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.lists(st.integers(-5, 5), max_size=3).map(lambda xs: {"L": [{"N": str(x)} for x in xs]}),
        st.sampled_from(["a\x00b", "\x00"]).map(lambda s: {"L": [{"S": s}]}),
    )


_changes = st.lists(
    st.tuples(
        st.sampled_from(HOSTILE_TABLES),
        st.integers(0, 3),  # key
        st.sampled_from(["INSERT", "MODIFY", "REMOVE"]),
        st.dictionaries(
            st.sampled_from(HOSTILE_ATTRIBUTES) | st.text(min_size=1, max_size=6), _value(), max_size=5
        ),
    ),
    min_size=1,
    max_size=25,
)


def _records(changes: list[tuple[str, int, str, dict[str, Any]]]) -> tuple[list[dict], dict]:
    """Stream records for ``changes`` and the source's final state: {(source table, key): item}."""
    state: dict[tuple[str, str], dict[str, Any]] = {}
    records = []
    for seq, (table, key_n, op, attributes) in enumerate(changes, start=1000):
        key = {"id": {"S": f"k{key_n}"}}
        attributes = {k: v for k, v in attributes.items() if k != "id"}
        image = {**attributes, **key}
        if op == "REMOVE":
            state.pop((table, f"k{key_n}"), None)
        else:
            state[(table, f"k{key_n}")] = image
        body: dict[str, Any] = {
            "ApproximateCreationDateTime": 1_790_000_000 + seq,
            "Keys": key,
            "SequenceNumber": str(seq),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            ("OldImage" if op == "REMOVE" else "NewImage"): image,
        }
        records.append(
            {
                "eventName": op,
                "eventSource": "aws:dynamodb",
                "eventSourceARN": f"arn:aws:dynamodb:us-east-1:1:table/{table}/stream/x",
                "dynamodb": body,
            }
        )
    return records, state


def _json_value(av: dict[str, Any]) -> Any:
    ((tag, value),) = av.items()
    if tag == "N":
        return Decimal(value)
    if tag == "L":
        return [_json_value(x) for x in value]
    return value


_NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?(E[+-]?[0-9]+)?")


def _canonical(value: Any) -> Any:
    """One form for equal values. A number that arrives in a text column is stored as its exact text (the
    documented rule for drifting types), so number-shaped text and numbers compare by numeric value."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        value = Decimal(value)
    if isinstance(value, (int, float, Decimal)):
        return format(Decimal(value).normalize(), "f")
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _unmark(value: Any) -> Any:
    """Text holding NUL is kept in _overflow as {"$utf8_base64": ...} or {"$json_base64": ...}."""
    if isinstance(value, dict) and len(value) == 1:
        ((marker, encoded),) = value.items()
        if marker == "$utf8_base64":
            return base64.b64decode(encoded).decode("utf-8")
        if marker == "$json_base64":
            return json.loads(base64.b64decode(encoded).decode("utf-8"), parse_float=Decimal)
    return value


def _from_column(value: Any, ctype: str) -> Any:
    if ctype == "SUPER" and isinstance(value, str):
        return json.loads(value, parse_float=Decimal)
    return value


def _warehouse_items(wh: Any, s3: Any, bucket: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(source table, key) → item, read back through the recorded schemas."""
    items = {}
    schemas = [
        json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
        for o in s3.list_objects_v2(Bucket=bucket, Prefix="_schemas/").get("Contents", [])
    ]
    for schema in schemas:
        source = schema["source"].removeprefix("dynamodb:")
        columns = schema["columns"]
        names = [*columns, "_overflow"]
        # SUPER as its JSON text on every engine (psycopg would hand JSONB back already parsed).
        selected = [
            f"CAST({quote_ident(c)} AS VARCHAR)"
            if c == "_overflow" or columns[c]["type"] == "SUPER"
            else quote_ident(c)
            for c in names
        ]
        sql = f"SELECT {', '.join(selected)} FROM {quote_ident(schema['table'])}"
        for row in wh.query(sql).rows:
            values = dict(zip(names, row, strict=True))
            overflow = values.pop("_overflow")
            if isinstance(overflow, str):
                overflow = _unmark(json.loads(overflow, parse_float=Decimal))
            item = {
                columns[c]["attribute"]: _canonical(_from_column(v, columns[c]["type"]))
                for c, v in values.items()
                if v is not None
            }
            for attribute, value in (overflow or {}).items():
                item[attribute] = _canonical(_unmark(value))
            items[(source, item["id"])] = item
    return items


def _run(changes: list, engine_url: str) -> None:
    records, state = _records(changes)
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    # One batch per five records, so schemas and table owners are recorded and read back between batches.
    for start in range(0, len(records), 5):
        response = handle_stream_event(
            {"Records": records[start : start + 5]},
            settings=StreamIngestSettings(lake_bucket=bucket),
            s3_client=s3,
            contracts=Contracts(),
        )
        assert response == {"batchItemFailures": []}
    assert not s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/").get("Contents")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="cdc/").get("Contents", [])]
    keys = [k for k in keys if k.endswith(".parquet")]
    load_settings = WarehouseLoadSettings(lake_bucket=bucket, warehouse_url=engine_url)
    with contextlib.closing(warehouse.connect(engine_url, s3_client=s3)) as wh:
        report = load_files(keys, settings=load_settings, warehouse=wh, s3_client=s3)
        assert not report.quarantined and not report.failed, report.summary()
        got = _warehouse_items(wh, s3, bucket)
    expected = {
        key: {a: _canonical(_json_value(av)) for a, av in item.items() if "NULL" not in av}
        for key, item in state.items()
    }
    assert got == expected


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path, aws_env: str) -> Any:
    if request.param == "duckdb":
        return lambda: f"duckdb:///{tmp_path}/{uuid.uuid4().hex[:8]}.duckdb"
    server = request.getfixturevalue("postgres_server")
    import psycopg

    def fresh() -> str:
        name = f"h_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return server.dsn(name)

    return fresh


def test_distinct_source_tables_that_fold_to_one_name_stay_distinct(engine: Any) -> None:
    changes = [(t, 1, "INSERT", {"v": {"S": t}}) for t in ("my-table", "my.table", "My_Table")]
    changes += [("my.table", 1, "MODIFY", {"v": {"S": "second"}, "_deleted": {"BOOL": True}})]
    _run(changes, engine())


def test_loader_and_system_names_as_attributes_and_tables_load_exactly(engine: Any) -> None:
    attributes = {name: {"S": f"value of {name}"} for name in HOSTILE_ATTRIBUTES}
    changes = [(t, 1, "INSERT", attributes) for t in HOSTILE_TABLES]
    _run(changes, engine())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=_changes)
def test_hostile_names_and_drifting_types_leave_the_warehouse_equal_to_the_source(
    engine: Any, changes: list
) -> None:
    _run(changes, engine())
