"""SUPER values through ingest and load, staged as VARCHAR sized by the longest JSON text the lake files
record (``super_bytes``): each load's staging column is the step that holds its files' longest value
(256 bytes exactly, 257 with multi-byte UTF-8), the largest VARCHAR when any file of the load records no
length (written before lengths were recorded), and the warehouse equals the source either way.
PostgreSQL enforces VARCHAR lengths, so a staging column too narrow fails its COPY there; DuckDB and
PostgreSQL under the local engines' rules."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Sequence
from typing import Any

import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from tests.integration.conftest import LOCAL_ENGINES
from thermocline import aws, warehouse
from thermocline.contracts import Contracts
from thermocline.lake.metadata import METADATA_KEY
from thermocline.load import load_files
from thermocline.services.stream_ingest import handle_stream_event
from thermocline.settings import StreamIngestSettings, WarehouseLoadSettings

pytestmark = LOCAL_ENGINES
TABLE = "documents"


class Recording:
    """The real warehouse, keeping every statement it is given so the test can read the staging table's
    CREATE."""

    def __init__(self, wh: Any) -> None:
        self.wh, self.statements = wh, []

    def execute(self, statements: Sequence[str]) -> Any:
        self.statements += list(statements)
        return self.wh.execute(statements)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wh, name)


def _doc(text: str) -> dict[str, Any]:
    """A map attribute whose JSON text in the lake is ``{"t":"<text>"}``: 8 bytes more than ``text``."""
    return {"M": {"t": {"S": text}}}


def _ingest(s3: Any, bucket: str, seq: int, key: str, text: str) -> str:
    """One INSERT through StreamIngestFunction; the lake file it wrote."""
    before = _lake_files(s3, bucket)
    record = {
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}/stream/x",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_790_000_000 + seq,
            "Keys": {"id": {"S": key}},
            "SequenceNumber": str(100_000 + seq),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "NewImage": {"id": {"S": key}, "doc": _doc(text)},
        },
    }
    response = handle_stream_event(
        {"Records": [record]},
        settings=StreamIngestSettings(lake_bucket=bucket),
        s3_client=s3,
        contracts=Contracts(),
    )
    assert response == {"batchItemFailures": []}
    (written,) = _lake_files(s3, bucket) - before
    return written


def _lake_files(s3: Any, bucket: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="cdc/").get("Contents", [])
    return {o["Key"] for o in listed if o["Key"].endswith(".parquet")}


def _lake_text_bytes(s3: Any, bucket: str, key: str) -> int:
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    return max(len(t.encode()) for t in table.column("doc").to_pylist())


def _as_written_before_lengths_were_recorded(s3: Any, bucket: str, key: str) -> None:
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    del meta["super_bytes"]
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()}), buffer)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


def _load(wh: Recording, url: str, s3: Any, bucket: str, keys: list[str]) -> str:
    """Load ``keys`` in one load; the staging type of ``doc`` it used."""
    wh.statements.clear()
    settings = WarehouseLoadSettings(lake_bucket=bucket, warehouse_url=url)
    report = load_files(keys, settings=settings, warehouse=wh, s3_client=s3)  # type: ignore[arg-type]
    assert sorted(report.loaded) == sorted(keys) and not report.quarantined and not report.failed
    (create,) = [s for s in wh.statements if s.startswith('CREATE TEMP TABLE "thermocline$stage"')]
    columns = sqlglot.parse_one(create, read="redshift").find_all(exp.ColumnDef)
    return next(c.args["kind"].sql("redshift") for c in columns if c.name == "doc")


def _rows(wh: Recording) -> dict[str, Any]:
    rows = wh.query(f'SELECT "id", "doc" FROM "{TABLE}"').rows  # noqa: S608
    return {str(k): json.loads(v) if isinstance(v, str) else v for k, v in rows}


def test_super_is_staged_by_its_files_longest_text_and_loads_whole(engine_url: str, aws_env: str) -> None:
    s3 = aws.client("s3")
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    texts = {
        "exactly-256": "x" * 248,
        "257-multibyte": "é" * 124 + "x",  # 133 characters, 257 bytes of JSON text
        "600": "y" * 592,
        "unrecorded-3000": "z" * 2992,
        "short": "s",
    }
    files = {key: _ingest(s3, bucket, i, key, text) for i, (key, text) in enumerate(texts.items())}
    assert _lake_text_bytes(s3, bucket, files["exactly-256"]) == 256
    assert _lake_text_bytes(s3, bucket, files["257-multibyte"]) == 257
    _as_written_before_lengths_were_recorded(s3, bucket, files["unrecorded-3000"])

    with contextlib.closing(warehouse.connect(engine_url, s3_client=s3)) as raw:
        wh = Recording(raw)
        assert _load(wh, engine_url, s3, bucket, [files["exactly-256"]]) == "VARCHAR(256)"
        assert _load(wh, engine_url, s3, bucket, [files["257-multibyte"], files["600"]]) == "VARCHAR(1024)"
        # One file of the load records no length: the whole load stages at the largest VARCHAR, so its
        # 3,000-byte value fits (sized by the other file alone, PostgreSQL's COPY would refuse it).
        staged = _load(wh, engine_url, s3, bucket, [files["short"], files["unrecorded-3000"]])
        assert staged == "VARCHAR(65535)"
        assert _rows(wh) == {key: {"t": text} for key, text in texts.items()}
