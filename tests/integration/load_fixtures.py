"""Lake files built by the contract (docs/architecture.md, "Lake files") and a model of the source table.

The model plays the source DynamoDB table: it applies inserts, updates and deletes, hands out stream
sequence numbers, and knows the rows the warehouse must end up with. Batches of its changes become lake
files exactly as the ingest leg writes them: Parquet with the ``thermocline`` schema metadata, CDC columns
last, under ``cdc/<table>/dt=YYYY-MM-DD/<shard>-<first-seq>-<last-seq>.parquet``.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from thermocline.names import quote_ident

ORDERS_COLUMNS: dict[str, str] = {
    "pk": "VARCHAR(256)",
    "sk": "VARCHAR(256)",
    "region": "VARCHAR(64)",
    "total": "DECIMAL(38,2)",
    "qty": "BIGINT",
    "score": "DOUBLE PRECISION",
    "paid": "BOOLEAN",
    "created_at": "TIMESTAMP",
    "items": "SUPER",
    "blob": "VARBYTE(1024)",
}
_ARROW = {
    "VARCHAR(256)": pa.string(),
    "VARCHAR(16)": pa.string(),
    "VARCHAR(64)": pa.string(),
    "VARCHAR(4096)": pa.string(),
    "DECIMAL(38,2)": pa.decimal128(38, 2),
    "DECIMAL(38,18)": pa.decimal128(38, 18),
    "DECIMAL(38,0)": pa.decimal128(38, 0),
    "BIGINT": pa.int64(),
    "DOUBLE PRECISION": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "SUPER": pa.string(),
    "VARBYTE(1024)": pa.binary(),
}
CDC_FIELDS = [
    pa.field("_op", pa.string()),
    pa.field("_seq", pa.string()),
    pa.field("_event_time", pa.timestamp("us", tz="UTC")),
    pa.field("_ttl_expired", pa.bool_()),
    pa.field("_source", pa.string()),
]
BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def parquet_bytes(
    table: str,
    columns: dict[str, str],
    rows: list[dict[str, Any]],
    *,
    primary_key: tuple[str, ...] = ("pk", "sk"),
    cdc: bool = True,
    kind: str | None = None,
) -> bytes:
    fields = [pa.field(name, _ARROW[ctype]) for name, ctype in columns.items()]
    if cdc:
        fields += CDC_FIELDS
    schema = pa.schema(fields)
    meta = {
        "version": 1,
        "table": table,
        "primary_key": list(primary_key),
        "columns": columns,
        "sort_key": list(primary_key),
        "dist_key": primary_key[0],
        "attributes": {c: c for c in columns},
    }
    if kind:
        meta["kind"] = kind
    arrays = [pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema]
    arrow = pa.Table.from_arrays(arrays, schema=schema.with_metadata({"thermocline": json.dumps(meta)}))
    buf = io.BytesIO()
    pq.write_table(arrow, buf)
    return buf.getvalue()


def put_lake_file(
    s3: Any,
    bucket: str,
    table: str,
    columns: dict[str, str],
    rows: list[dict[str, Any]],
    *,
    shard: str = "shardId-00000001",
    cdc: bool = True,
    prefix: str = "cdc",
    kind: str | None = None,
) -> str:
    seqs = [r["_seq"] for r in rows if r.get("_seq")] or ["0" * 40]
    key = f"{prefix}/{table}/dt=2026-11-01/{shard}-{min(seqs)}-{max(seqs)}.parquet"
    s3.put_object(Bucket=bucket, Key=key, Body=parquet_bytes(table, columns, rows, cdc=cdc, kind=kind))
    return key


@dataclass
class SourceModel:
    """The source table: the truth the warehouse must equal."""

    table: str = "orders"
    columns: dict[str, str] = field(default_factory=lambda: dict(ORDERS_COLUMNS))
    seed: int = 7
    seq: int = 10**20
    state: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _next_seq(self) -> str:
        self.seq += self.rng.randint(1, 10**6)
        return str(self.seq).zfill(40)

    def _item(self, pk: str, sk: str) -> dict[str, Any]:
        rng = self.rng
        n = rng.randint(1, 4)
        item = {
            "pk": pk,
            "sk": sk,
            "region": rng.choice(["eu-west", "us-east", "ap-south", 'O\'Brien "quoted"']),
            "total": Decimal(rng.randint(0, 10**7)) / 100,
            "qty": rng.randint(-5, 10**12),
            "score": rng.random() * 1000,
            "paid": rng.random() < 0.5,
            "created_at": BASE_TIME
            + timedelta(seconds=rng.randint(0, 10**7), microseconds=rng.randint(0, 999999)),
            "items": json.dumps(
                [{"sku": f"S{rng.randint(1, 99)}", "n": rng.randint(1, 9)} for _ in range(n)]
            ),
            "blob": bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 12))),
        }
        if rng.random() < 0.1:
            item["region"] = None
        return {k: v for k, v in item.items() if k in self.columns}

    def _record(self, op: str, image: dict[str, Any], ttl: bool = False) -> dict[str, Any]:
        seq = self._next_seq()
        row = dict(image)
        row.update(
            _op=op,
            _seq=seq,
            _event_time=BASE_TIME + timedelta(seconds=len(self.changes)),
            _ttl_expired=ttl,
            _source=f"dynamodb:{self.table}",
        )
        self.changes.append(row)
        return row

    def insert(self, pk: str, sk: str = "ORDER") -> dict[str, Any]:
        image = self._item(pk, sk)
        self.state[(pk, sk)] = image
        return self._record("I", image)

    def update(self, pk: str, sk: str = "ORDER") -> dict[str, Any]:
        image = self._item(pk, sk)
        self.state[(pk, sk)] = image
        return self._record("U", image)

    def delete(self, pk: str, sk: str = "ORDER", *, ttl: bool = False) -> dict[str, Any]:
        # A REMOVE carries the old image; the key is what matters.
        old = self.state.pop((pk, sk), None) or {"pk": pk, "sk": sk}
        return self._record("D", {k: old.get(k) for k in self.columns}, ttl=ttl)

    def random_changes(self, n: int, *, keys: int = 50) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            pk = f"USER#{self.rng.randint(1, keys):04d}"
            roll = self.rng.random()
            if (pk, "ORDER") not in self.state:
                out.append(self.insert(pk) if roll < 0.85 else self.delete(pk))
            elif roll < 0.6:
                out.append(self.update(pk))
            else:
                out.append(self.delete(pk, ttl=roll > 0.95))
        return out

    def batches(self, rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
        return [rows[i : i + size] for i in range(0, len(rows), size)]

    def expected(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {k: normalize_row(v, self.columns) for k, v in self.state.items()}


def normalize_value(value: Any, ctype: str) -> Any:
    """One engine-independent form per type, so rows from any engine compare value for value."""
    if value is None:
        return None
    if ctype == "SUPER":
        return json.loads(value) if isinstance(value, str | bytes) else value
    if ctype == "TIMESTAMP":
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if ctype.startswith("VARBYTE"):
        # redshift_connector does not know PostgreSQL's bytea and hands back its hex text form.
        return (
            bytes.fromhex(value[2:]) if isinstance(value, str) and value.startswith("\\x") else bytes(value)
        )
    if ctype.startswith("DECIMAL"):
        return Decimal(value)
    return value


def normalize_row(row: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    return {c: normalize_value(row.get(c), t) for c, t in columns.items()}


def warehouse_rows(
    wh: Any, table: str, columns: dict[str, str], *, where: str = ""
) -> dict[Any, dict[str, Any]]:
    cols = ", ".join(quote_ident(c) for c in columns)
    result = wh.query(f"SELECT {cols} FROM {quote_ident(table)} {where}")
    out: dict[Any, dict[str, Any]] = {}
    for row in result.rows:
        record = normalize_row(dict(zip(columns, row, strict=True)), columns)
        key = (record["pk"], record["sk"])
        assert key not in out, f"duplicate primary key in the warehouse: {key}"
        out[key] = record
    return out
