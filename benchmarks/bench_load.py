"""Load benchmark on DuckDB: how fast 10,000 changes land, and how that scales with the target's size.

For target tables of 100k, 1M and 5M rows, one lake file of 10,000 changes (70% updates of existing rows,
20% inserts, 10% deletes) goes through the real load path — ``load_files``: footer read, manifest, COPY
emulated through moto's S3 over HTTP, dedupe, deletes, MERGE and ledger in one transaction. Each size is
measured three times (fresh changes each time) and the median is reported. Load time should follow the
number of changes, not the size of the target.

Run: ``make bench`` (or ``python benchmarks/bench_load.py``).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CHANGES = 10_000
SIZES = [100_000, 1_000_000, 5_000_000]
REPEATS = 3
BUCKET = "bench-lake"
COLUMNS = {
    "pk": "VARCHAR(64)",
    "sk": "VARCHAR(64)",
    "region": "VARCHAR(32)",
    "total": "DECIMAL(38,2)",
    "qty": "BIGINT",
    "items": "SUPER",
    "created_at": "TIMESTAMP",
}
_ARROW = {
    "VARCHAR(64)": pa.string(),
    "VARCHAR(32)": pa.string(),
    "DECIMAL(38,2)": pa.decimal128(38, 2),
    "BIGINT": pa.int64(),
    "SUPER": pa.string(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
}
BASE = datetime(2026, 11, 1, tzinfo=UTC)


def _changes_file(target_rows: int, round_no: int) -> bytes:
    """10,000 changes against a target of ``target_rows``: updates, inserts, deletes, newer _seq."""
    n_upd, n_ins = int(CHANGES * 0.7), int(CHANGES * 0.2)
    n_del = CHANGES - n_upd - n_ins
    stride = max(target_rows // (n_upd + n_del), 1)
    existing = [(i * stride + round_no) % target_rows for i in range(n_upd + n_del)]
    ids = existing[:n_upd] + [target_rows + round_no * CHANGES + i for i in range(n_ins)] + existing[n_upd:]
    ops = ["U"] * n_upd + ["I"] * n_ins + ["D"] * n_del
    seq0 = 10**30 * (round_no + 1)
    rows = {
        "pk": [f"USER#{i:09d}" for i in ids],
        "sk": ["ORDER"] * CHANGES,
        "region": [("eu-west", "us-east", "ap-south")[i % 3] for i in ids],
        "total": [Decimal(i % 100000) / 100 for i in ids],
        "qty": [i % 97 for i in ids],
        "items": [json.dumps([{"sku": f"S{i % 50}", "n": 1 + i % 5}]) for i in ids],
        "created_at": [BASE + timedelta(seconds=i) for i in ids],
        "_op": ops,
        "_seq": [str(seq0 + k).zfill(40) for k in range(CHANGES)],
        "_event_time": [BASE] * CHANGES,
        "_ttl_expired": [False] * CHANGES,
        "_source": ["dynamodb:Orders"] * CHANGES,
    }
    fields = [pa.field(n, _ARROW[t]) for n, t in COLUMNS.items()] + [
        pa.field("_op", pa.string()),
        pa.field("_seq", pa.string()),
        pa.field("_event_time", pa.timestamp("us", tz="UTC")),
        pa.field("_ttl_expired", pa.bool_()),
        pa.field("_source", pa.string()),
    ]
    meta = {"version": 1, "table": "orders", "primary_key": ["pk", "sk"], "columns": COLUMNS}
    schema = pa.schema(fields).with_metadata({"thermocline": json.dumps(meta)})
    table = pa.Table.from_arrays([pa.array(rows[f.name], type=f.type) for f in schema], schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _fill_target(wh, rows: int) -> None:
    """The target at ``rows`` rows, generated inside DuckDB (loading it through the lake would take minutes)."""
    wh._conn.execute(
        f"""
        INSERT INTO orders
        SELECT 'USER#' || lpad(CAST(i AS VARCHAR), 9, '0'), 'ORDER', ['eu-west', 'us-east', 'ap-south'][1 + i % 3],
               CAST((i % 100000) / 100 AS DECIMAL(38, 2)), i % 97,
               json('[{{"sku": "S' || (i % 50) || '", "n": 1}}]'),
               TIMESTAMP '2026-11-01' + INTERVAL (i) SECOND,
               lpad(CAST(i AS VARCHAR), 40, '0'), TIMESTAMP '2026-11-01', FALSE, 'dynamodb:Orders', FALSE
        FROM range({rows}) AS t(i)
        """  # noqa: S608
    )


def main() -> int:
    from thermocline.local import moto_server

    server = moto_server.start()
    os.environ.update(
        AWS_ENDPOINT_URL=server.endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    from thermocline import aws, warehouse
    from thermocline.load import load_files
    from thermocline.settings import WarehouseLoadSettings

    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    results: dict[int, float] = {}
    started = time.monotonic()
    try:
        for size in SIZES:
            with tempfile.TemporaryDirectory() as tmp:
                url = f"duckdb:///{Path(tmp) / 'bench.duckdb'}"
                settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=url)
                wh = warehouse.connect(url, s3_client=s3)
                # Create the table through the real path with one tiny file, then fill it.
                seed_key = f"cdc/orders/dt=2026-11-01/seed-{size}.parquet"
                s3.put_object(Bucket=BUCKET, Key=seed_key, Body=_changes_file(1, 99))
                load_files([seed_key], settings=settings, warehouse=wh, s3_client=s3)
                wh._conn.execute("DELETE FROM orders")
                _fill_target(wh, size)
                timings = []
                for round_no in range(REPEATS):
                    key = f"cdc/orders/dt=2026-11-01/changes-{size}-{round_no}.parquet"
                    s3.put_object(Bucket=BUCKET, Key=key, Body=_changes_file(size, round_no))
                    t0 = time.perf_counter()
                    report = load_files([key], settings=settings, warehouse=wh, s3_client=s3)
                    timings.append(time.perf_counter() - t0)
                    if report.loaded != [key]:
                        print(f"load failed: {report.summary()}", file=sys.stderr)
                        return 1
                rows = wh.query("SELECT COUNT(*) FROM orders").rows[0][0]
                t0 = time.perf_counter()
                wh.close()
                checkpoint = time.perf_counter() - t0
                results[size] = statistics.median(timings)
                print(
                    f"target {size:>9,} rows (now {rows:,}): {CHANGES:,} changes in {results[size]:6.3f} s "
                    f"(median of {REPEATS}) = {CHANGES / results[size]:>9,.0f} changes/s; "
                    f"checkpoint of all {REPEATS} loads on close {checkpoint:.3f} s",
                    flush=True,
                )
    finally:
        server.stop()

    growth = results[SIZES[-1]] / results[SIZES[0]]
    print()
    print(
        f"throughput, 1,000,000-row table receiving {CHANGES:,} changes: {CHANGES / results[1_000_000]:,.0f} rows/s"
    )
    print(
        f"load time 100k -> 1M -> 5M rows: {results[100_000]:.3f} s -> {results[1_000_000]:.3f} s -> "
        f"{results[5_000_000]:.3f} s ({growth:.1f}x for a 50x larger target)"
    )
    print(f"benchmark took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
